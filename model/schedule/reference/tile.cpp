// Tile selection and concatenation (see tile.hpp).
#include "model/schedule/reference/tile.hpp"

#include <map>
#include <stdexcept>

#include <fmt/format.h>

namespace xattn::reference {

Tile Tile::zeros(std::vector<std::int64_t> tokens, std::vector<std::int64_t> heads, std::int64_t width, double value) {
  Tile t;
  t.tokens = std::move(tokens);
  t.heads = std::move(heads);
  t.width = width;
  for (std::size_t h = 0; h < t.heads.size(); ++h)
    t.data.push_back(Eigen::MatrixXd::Constant(static_cast<Eigen::Index>(t.tokens.size()), width, value));
  return t;
}

int Tile::head_index(std::int64_t head) const {
  for (std::size_t i = 0; i < heads.size(); ++i)
    if (heads[i] == head) return static_cast<int>(i);
  return -1;
}

Tile select(const Tile& t, Axis axis, const IndexSet& keep) {
  Tile out;
  out.width = t.width;
  if (axis == Axis::heads) {
    out.tokens = t.tokens;
    for (std::size_t h = 0; h < t.heads.size(); ++h)
      if (keep.contains(t.heads[h])) {
        out.heads.push_back(t.heads[h]);
        out.data.push_back(t.data[h]);
      }
    return out;
  }
  std::vector<Eigen::Index> rows;
  for (std::size_t i = 0; i < t.tokens.size(); ++i)
    if (keep.contains(t.tokens[i])) {
      rows.push_back(static_cast<Eigen::Index>(i));
      out.tokens.push_back(t.tokens[i]);
    }
  out.heads = t.heads;
  for (const Eigen::MatrixXd& m : t.data) {
    Eigen::MatrixXd s(static_cast<Eigen::Index>(rows.size()), t.width);
    for (std::size_t i = 0; i < rows.size(); ++i) s.row(static_cast<Eigen::Index>(i)) = m.row(rows[i]);
    out.data.push_back(std::move(s));
  }
  return out;
}

Tile concat(const std::vector<Tile>& pieces, Axis axis, Combine combine) {
  if (pieces.empty()) throw std::logic_error("concat of no tiles");
  Tile out;
  out.width = pieces.front().width;
  if (axis == Axis::heads) {
    out.tokens = pieces.front().tokens;
    for (const Tile& p : pieces) {
      if (p.tokens != out.tokens) throw std::logic_error("concat along heads: pieces hold different tokens");
      for (std::size_t h = 0; h < p.heads.size(); ++h) {
        int at = out.head_index(p.heads[h]);
        if (at < 0 || combine == Combine::stack) {
          out.heads.push_back(p.heads[h]);
          out.data.push_back(p.data[h]);
        } else if (combine == Combine::sum) {
          out.data[static_cast<std::size_t>(at)] += p.data[h];
        } else {
          throw std::logic_error(fmt::format("concat along heads: head {} arrives twice", p.heads[h]));
        }
      }
    }
    return out;
  }
  out.heads = pieces.front().heads;
  std::map<std::int64_t, Eigen::Index> row_of;
  std::vector<std::vector<Eigen::RowVectorXd>> rows(out.heads.size());
  for (const Tile& p : pieces) {
    if (p.heads != out.heads) throw std::logic_error("concat along tokens: pieces hold different heads");
    for (std::size_t i = 0; i < p.tokens.size(); ++i) {
      auto it = row_of.find(p.tokens[i]);
      if (it == row_of.end() || combine == Combine::stack) {
        row_of[p.tokens[i]] = static_cast<Eigen::Index>(out.tokens.size());
        out.tokens.push_back(p.tokens[i]);
        for (std::size_t h = 0; h < out.heads.size(); ++h) rows[h].push_back(p.data[h].row(static_cast<Eigen::Index>(i)));
      } else if (combine == Combine::sum) {
        for (std::size_t h = 0; h < out.heads.size(); ++h)
          rows[h][static_cast<std::size_t>(it->second)] += p.data[h].row(static_cast<Eigen::Index>(i));
      } else {
        throw std::logic_error(fmt::format("concat along tokens: token {} arrives twice", p.tokens[i]));
      }
    }
  }
  for (std::size_t h = 0; h < out.heads.size(); ++h) {
    Eigen::MatrixXd m(static_cast<Eigen::Index>(out.tokens.size()), out.width);
    for (std::size_t i = 0; i < rows[h].size(); ++i) m.row(static_cast<Eigen::Index>(i)) = rows[h][i];
    out.data.push_back(std::move(m));
  }
  return out;
}

}  // namespace xattn::reference
