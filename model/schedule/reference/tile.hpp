// Tile: the numerical reference's tensor. Rows are tokens (global indices, so that masks
// and the final comparison need no bookkeeping), one Eigen matrix per head (global head
// indices), `width` columns: d for Q, K, V, O and gradients, 1 for LSE and delta.
// Collectives split and concatenate tiles by token or head index sets.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "model/schedule/index_set.hpp"
#include "model/schedule/schedule.hpp"

namespace xattn::reference {

struct Tile {
  std::vector<std::int64_t> tokens;
  std::vector<std::int64_t> heads;
  std::int64_t width = 0;
  std::vector<Eigen::MatrixXd> data;  // data[h]: tokens.size() x width

  [[nodiscard]] std::int64_t rows() const { return static_cast<std::int64_t>(tokens.size()); }
  [[nodiscard]] static Tile zeros(std::vector<std::int64_t> tokens, std::vector<std::int64_t> heads, std::int64_t width,
                                  double value = 0.0);
  // Position of a head in `heads`, or -1.
  [[nodiscard]] int head_index(std::int64_t head) const;
};

// The rows (axis tokens) or heads (axis heads) whose index lies in `keep`, in order.
[[nodiscard]] Tile select(const Tile& t, Axis axis, const IndexSet& keep);
// Concatenation along an axis; pieces must agree on the other axis. Pieces meeting at the
// same index are combined as `combine` says (distinct: an error).
[[nodiscard]] Tile concat(const std::vector<Tile>& pieces, Axis axis, Combine combine);

}  // namespace xattn::reference
