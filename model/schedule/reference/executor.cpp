// The numerical reference executor (see executor.hpp).
#include "model/schedule/reference/executor.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <unordered_map>

#include <fmt/format.h>

#include "model/schedule/checks.hpp"

namespace xattn::reference {

namespace {
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

std::vector<std::int64_t> all_heads(std::int64_t n) {
  std::vector<std::int64_t> v;
  for (std::int64_t h = 0; h < n; ++h) v.push_back(h);
  return v;
}

Tile cut(const std::vector<Eigen::MatrixXd>& global, const IndexSet& tokens) {
  Tile t;
  t.tokens = tokens.to_vector();
  t.heads = all_heads(static_cast<std::int64_t>(global.size()));
  t.width = global.empty() ? 0 : global.front().cols();
  for (const Eigen::MatrixXd& m : global) {
    Eigen::MatrixXd s(static_cast<Eigen::Index>(t.tokens.size()), t.width);
    for (std::size_t i = 0; i < t.tokens.size(); ++i) s.row(static_cast<Eigen::Index>(i)) = m.row(t.tokens[i]);
    t.data.push_back(std::move(s));
  }
  return t;
}

class Runner {
 public:
  Runner(const Schedule& s, std::vector<RankState>& state) : s_(s), state_(state) {
    ctx_.mask = s.mask;
    ctx_.group = s.shape.heads / s.shape.kv_heads;
    ctx_.scale = 1.0 / std::sqrt(static_cast<double>(s.shape.head_dim));
  }

  void run() {
    for (const ExecutionStep& step : execution_order(s_)) {
      try {
        switch (step.kind) {
          case ExecutionStep::Kind::compute: compute(step.ops.front()); break;
          case ExecutionStep::Kind::transfer: transfer(step.ops[0], step.ops[1]); break;
          case ExecutionStep::Kind::collective: collective(step.ops); break;
        }
      } catch (const std::logic_error& e) {
        throw std::logic_error(fmt::format("{} {}: {}", s_.mechanism.name(), step.ops.front().str(), e.what()));
      }
    }
  }

 private:
  const Schedule& s_;
  std::vector<RankState>& state_;
  BlockContext ctx_;

  Tile& get(int rank, const std::string& name) {
    auto& st = state_.at(static_cast<std::size_t>(rank));
    auto it = st.find(name);
    if (it == st.end()) throw std::logic_error(fmt::format("buffer '{}' is missing on rank {}", name, rank));
    return it->second;
  }
  Tile& put(int rank, const std::string& name) { return state_.at(static_cast<std::size_t>(rank))[name]; }

  void compute(OpId id) {
    const ComputeOp& c = *s_.op(id).compute();
    const int r = id.rank;
    switch (c.kind) {
      case ComputeKind::attention_forward: {
        Tile o, lse;
        block_forward(ctx_, get(r, c.q), get(r, c.k), get(r, c.v), o, lse);
        if (o.rows() != c.block.q_rows || get(r, c.k).rows() != c.block.kv_rows)
          throw std::logic_error(fmt::format("block declared {} x {} rows but the tiles hold {} x {}", c.block.q_rows,
                                             c.block.kv_rows, o.rows(), get(r, c.k).rows()));
        put(r, c.o) = std::move(o);
        put(r, c.lse) = std::move(lse);
        break;
      }
      case ComputeKind::attention_backward: {
        const Tile& q = get(r, c.q);
        Tile delta = c.delta.empty() ? softmax_delta(get(r, c.dout), get(r, c.o)) : get(r, c.delta);
        Tile dq = c.dq_mode == Accumulate::add ? get(r, c.dq) : Tile{};
        Tile dk = c.dkv_mode == Accumulate::add ? get(r, c.dk) : Tile{};
        Tile dv = c.dkv_mode == Accumulate::add ? get(r, c.dv) : Tile{};
        block_backward(ctx_, q, get(r, c.k), get(r, c.v), delta, get(r, c.dout), get(r, c.lse), dq,
                       c.dq_mode == Accumulate::add, dk, dv, c.dkv_mode == Accumulate::add);
        put(r, c.dq) = std::move(dq);
        put(r, c.dk) = std::move(dk);
        put(r, c.dv) = std::move(dv);
        break;
      }
      case ComputeKind::merge: {
        Tile& o = get(r, c.o);
        Tile& lse = get(r, c.lse);
        merge_into(o, lse, get(r, c.part_o), get(r, c.part_lse));
        break;
      }
      case ComputeKind::softmax_delta: put(r, c.delta) = softmax_delta(get(r, c.dout), get(r, c.o)); break;
      case ComputeKind::lse_combine: {
        const Tile& src = get(r, c.src);
        Tile out;
        out.heads = src.heads;
        out.width = 1;
        std::unordered_map<std::int64_t, std::size_t> row_of;
        std::vector<std::vector<double>> vals(src.heads.size());
        for (std::size_t i = 0; i < src.tokens.size(); ++i) {
          auto [it, fresh] = row_of.emplace(src.tokens[i], out.tokens.size());
          if (fresh) out.tokens.push_back(src.tokens[i]);
          for (std::size_t h = 0; h < src.heads.size(); ++h) {
            double x = src.data[h](static_cast<Eigen::Index>(i), 0);
            if (fresh) vals[h].push_back(x);
            else vals[h][it->second] = merge_lse(vals[h][it->second], x);
          }
        }
        for (std::size_t h = 0; h < src.heads.size(); ++h)
          out.data.push_back(Eigen::Map<Eigen::MatrixXd>(vals[h].data(), static_cast<Eigen::Index>(vals[h].size()), 1));
        put(r, c.dst) = std::move(out);
        break;
      }
      case ComputeKind::rescale: {
        Tile& o = get(r, c.o);
        const Tile& local = get(r, c.lse);
        const Tile& merged = get(r, c.merged_lse);
        std::unordered_map<std::int64_t, Eigen::Index> row_of;
        for (std::size_t i = 0; i < merged.tokens.size(); ++i) row_of[merged.tokens[i]] = static_cast<Eigen::Index>(i);
        if (local.tokens != o.tokens) throw std::logic_error("rescale: O and its LSE hold different rows");
        for (std::size_t h = 0; h < o.heads.size(); ++h) {
          int mh = merged.head_index(o.heads[h]);
          if (mh < 0) throw std::logic_error("rescale: merged LSE lacks a head of O");
          for (std::size_t i = 0; i < o.tokens.size(); ++i) {
            auto it = row_of.find(o.tokens[i]);
            if (it == row_of.end()) throw std::logic_error("rescale: merged LSE lacks a row of O");
            const double a = local.data[h](static_cast<Eigen::Index>(i), 0);
            const double m = merged.data[static_cast<std::size_t>(mh)](it->second, 0);
            const double w = (a == kNegInf || m == kNegInf) ? 0.0 : std::exp(a - m);
            o.data[h].row(static_cast<Eigen::Index>(i)) *= w;
          }
        }
        break;
      }
      case ComputeKind::accumulate: {
        Tile& dst = get(r, c.dst);
        const Tile& src = get(r, c.src);
        if (dst.tokens != src.tokens || dst.heads != src.heads) throw std::logic_error("accumulate: tiles differ in layout");
        for (std::size_t h = 0; h < dst.heads.size(); ++h) dst.data[h] += src.data[h];
        break;
      }
      case ComputeKind::copy:
        put(r, c.dst) = c.rows ? select(get(r, c.src), Axis::tokens, *c.rows) : get(r, c.src);
        break;
      case ComputeKind::fill_empty_output: {
        const Tile& q = get(r, c.q);
        put(r, c.o) = Tile::zeros(q.tokens, q.heads, q.width);
        put(r, c.lse) = Tile::zeros(q.tokens, q.heads, 1, kNegInf);
        break;
      }
      case ComputeKind::fill_zero: {
        const Tile& like = get(r, c.src);
        put(r, c.dst) = Tile::zeros(like.tokens, like.heads, like.width);
        break;
      }      case ComputeKind::gemm:
      case ComputeKind::encoder:
      case ComputeKind::elementwise:
      case ComputeKind::host_sync:
        break;  // the rest of a training step: a cost, no attention data
    }
  }

  void transfer(OpId send, OpId recv) {
    const TransferOp& sp = *s_.op(send).transfer();
    const TransferOp& rp = *s_.op(recv).transfer();
    for (std::size_t i = 0; i < sp.parts.size(); ++i) put(recv.rank, rp.parts[i].buffer) = get(send.rank, sp.parts[i].buffer);
  }

  void collective(const std::vector<OpId>& members) {
    const CollectiveOp& first = *s_.op(members.front()).collective();
    std::vector<Tile> inputs;
    for (const OpId& id : members) inputs.push_back(get(id.rank, s_.op(id).collective()->input));
    for (std::size_t j = 0; j < members.size(); ++j) {
      const CollectiveOp& mine = *s_.op(members[j]).collective();
      Tile out;
      switch (first.kind) {
        case CollectiveKind::all_gather: out = concat(inputs, mine.concat, mine.combine); break;
        case CollectiveKind::all_to_all: {
          std::vector<Tile> pieces;
          for (std::size_t m = 0; m < members.size(); ++m) {
            const CollectiveOp& theirs = *s_.op(members[m]).collective();
            pieces.push_back(select(inputs[m], theirs.split, theirs.parts[j]));
          }
          out = concat(pieces, mine.concat, mine.combine);
          break;
        }
        case CollectiveKind::all_reduce: {
          out = inputs.front();
          for (std::size_t m = 1; m < members.size(); ++m) {
            if (inputs[m].tokens != out.tokens || inputs[m].heads != out.heads)
              throw std::logic_error("all-reduce: members hold different layouts");
            for (std::size_t h = 0; h < out.heads.size(); ++h) out.data[h] += inputs[m].data[h];
          }
          break;
        }
        case CollectiveKind::reduce_scatter: {
          for (std::size_t m = 0; m < members.size(); ++m) {
            Tile piece = select(inputs[m], mine.split, mine.parts[j]);
            if (m == 0) {
              out = std::move(piece);
            } else {
              if (piece.tokens != out.tokens || piece.heads != out.heads)
                throw std::logic_error("reduce-scatter: members hold different layouts");
              for (std::size_t h = 0; h < out.heads.size(); ++h) out.data[h] += piece.data[h];
            }
          }
          break;
        }
      }
      put(members[j].rank, mine.output) = std::move(out);
    }
  }
};

void place(const Tile& t, std::vector<Eigen::MatrixXd>& global, std::vector<std::vector<int>>& count, const char* what) {
  for (std::size_t h = 0; h < t.heads.size(); ++h) {
    const auto head = static_cast<std::size_t>(t.heads[h]);
    if (head >= global.size()) throw std::logic_error(fmt::format("{}: head {} out of range", what, t.heads[h]));
    for (std::size_t i = 0; i < t.tokens.size(); ++i) {
      const auto tok = t.tokens[i];
      if (tok < 0 || tok >= global[head].rows()) throw std::logic_error(fmt::format("{}: token {} out of range", what, tok));
      global[head].row(tok) = t.data[h].row(static_cast<Eigen::Index>(i));
      count[head][static_cast<std::size_t>(tok)] += 1;
    }
  }
}

std::vector<Eigen::MatrixXd> gather(const Schedule& s, const std::vector<RankState>& state, const std::string& name,
                                    std::int64_t heads, std::int64_t rows, std::int64_t width) {
  std::vector<Eigen::MatrixXd> g(static_cast<std::size_t>(heads), Eigen::MatrixXd::Zero(rows, width));
  std::vector<std::vector<int>> count(static_cast<std::size_t>(heads), std::vector<int>(static_cast<std::size_t>(rows), 0));
  for (int r = 0; r < s.ranks(); ++r) {
    auto it = state[static_cast<std::size_t>(r)].find(name);
    if (it == state[static_cast<std::size_t>(r)].end()) throw std::logic_error(fmt::format("rank {} holds no '{}'", r, name));
    place(it->second, g, count, name.c_str());
  }
  for (std::size_t h = 0; h < count.size(); ++h)
    for (std::size_t i = 0; i < count[h].size(); ++i)
      if (count[h][i] != 1)
        throw std::logic_error(fmt::format("'{}' of token {} head {} is held by {} ranks, not one", name, i, h, count[h][i]));
  return g;
}

}  // namespace

std::vector<RankState> scatter_inputs(const Schedule& s, const AttentionProblem& p) {
  std::vector<RankState> state(static_cast<std::size_t>(s.ranks()));
  for (int r = 0; r < s.ranks(); ++r) {
    const RankData& d = s.data[static_cast<std::size_t>(r)];
    RankState& st = state[static_cast<std::size_t>(r)];
    st["q"] = cut(p.q, d.q_tokens);
    st["k"] = cut(p.k, d.kv_tokens);
    st["v"] = cut(p.v, d.kv_tokens);
    st["do"] = cut(p.dout, d.q_tokens);
  }
  return state;
}

void execute(const Schedule& s, std::vector<RankState>& state) {
  if (static_cast<int>(state.size()) != s.ranks()) throw std::logic_error("execute: one state per rank needed");
  Runner(s, state).run();
}

AttentionResult gather_outputs(const Schedule& s, const std::vector<RankState>& state, bool forward, bool backward) {
  AttentionResult r;
  const AttentionShape& sh = s.shape;
  if (forward) {
    r.o = gather(s, state, "o", sh.heads, sh.q_tokens, sh.head_dim);
    auto lse = gather(s, state, "lse", sh.heads, sh.q_tokens, 1);
    r.lse = Eigen::MatrixXd(sh.q_tokens, sh.heads);
    for (std::int64_t h = 0; h < sh.heads; ++h) r.lse.col(h) = lse[static_cast<std::size_t>(h)].col(0);
  }
  if (backward) {
    r.dq = gather(s, state, "dq", sh.heads, sh.q_tokens, sh.head_dim);
    r.dk = gather(s, state, "dk", sh.kv_heads, sh.kv_tokens, sh.head_dim);
    r.dv = gather(s, state, "dv", sh.kv_heads, sh.kv_tokens, sh.head_dim);
  }
  return r;
}

}  // namespace xattn::reference
