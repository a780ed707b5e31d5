// Token layouts and masks for schedule builders. A layout says which query and key/value
// tokens each ring position holds (contiguous blocks, zigzag chunk pairs, stripes; block
// sizes differ by at most one token when P does not divide S). A MaskSpec says which
// (query, key) pairs may attend, and counts the allowed pairs of a block exactly: that
// count is what a block's FLOPs are made of, and a block with none is skipped
// (MECHANISMS.md, "Masks").
#pragma once

#include <cstdint>
#include <vector>

#include "model/schedule/index_set.hpp"
#include "model/types.hpp"

namespace xattn {

// The mask of one layer. media_local: the S_q text tokens are cut into `media_items`
// consecutive spans and the S_kv visual tokens into as many items; text span i sees item
// i only (query q is in span floor(q·M/S_q), key k in item floor(k·M/S_kv)).
struct MaskSpec {
  Mask kind = Mask::dense;
  std::int64_t q_tokens = 0;
  std::int64_t kv_tokens = 0;
  std::int64_t media_items = 1;

  [[nodiscard]] bool allows(std::int64_t q, std::int64_t k) const;
  // Allowed (query, key) pairs between the two sets.
  [[nodiscard]] std::int64_t allowed_pairs(const IndexSet& q, const IndexSet& k) const;
};

enum class Layout { contiguous, zigzag, striped };

// Block p of S tokens cut into n nearly equal consecutive blocks (the first S mod n blocks
// hold one token more).
[[nodiscard]] IndexSet contiguous_block(std::int64_t tokens, int n, int p);
// The tokens position p holds under a layout of P positions.
[[nodiscard]] IndexSet layout_block(Layout layout, std::int64_t tokens, int positions, int p);
[[nodiscard]] std::vector<IndexSet> layout_blocks(Layout layout, std::int64_t tokens, int positions);

}  // namespace xattn
