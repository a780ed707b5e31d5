// The vocabulary every part of xattn speaks: data types, passes, masks and the shape of
// one attention layer (MECHANISMS.md, "Notation").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "model/core/units.hpp"

namespace xattn {

enum class DType { fp16, bf16, fp32 };

[[nodiscard]] int bytes_per_element(DType t);
[[nodiscard]] std::string_view to_string(DType t);
[[nodiscard]] std::optional<DType> parse_dtype(std::string_view s);

// One attention pass. `fwd_bwd` is both, as in a training iteration.
enum class Pass { fwd, bwd, fwd_bwd };

[[nodiscard]] std::string_view to_string(Pass p);
[[nodiscard]] std::optional<Pass> parse_pass(std::string_view s);

// What a result covers (ARCHITECTURE.md, `scope`): one attention layer, or one training
// step of the whole model (model/iteration.hpp).
enum class Scope { layer, iteration };

[[nodiscard]] std::string_view to_string(Scope s);
[[nodiscard]] std::optional<Scope> parse_scope(std::string_view s);

// Which (query, key) pairs may attend. `causal` is for self-attention (S_q == S_kv).
// `media_local`: each text span sees one media item's tokens (model/schedule/layout.hpp).
enum class Mask { dense, causal, media_local };

[[nodiscard]] std::string_view to_string(Mask m);
[[nodiscard]] std::optional<Mask> parse_mask(std::string_view s);

// Which part of an attention block one kernel call computes (docs/model.md eq. 3c): the
// whole block with its mask (dense, or the kernel's causal mask), or, for a zigzag ring
// step, the allowed half as one unmasked call — all query rows against the first half of
// the keys when the keys come from an earlier rank, the second half of the query rows
// against all keys when they come from a later one (ring-flash-attention's zigzag).
enum class BlockCall : std::uint8_t { whole, kv_first_half, q_second_half };

// One attention layer as the mechanisms see it (MECHANISMS.md notation).
struct AttentionShape {
  std::int64_t batch = 1;     // B
  std::int64_t heads = 1;     // H, query heads
  std::int64_t kv_heads = 1;  // H_kv, key/value heads (GQA when < H)
  std::int64_t head_dim = 64; // d
  std::int64_t q_tokens = 1;  // S_q
  std::int64_t kv_tokens = 1; // S_kv
  DType dtype = DType::fp16;
  Mask mask = Mask::dense;

  [[nodiscard]] int element_bytes() const { return bytes_per_element(dtype); }
  // Forward FLOPs of the whole layer's attention: 4·B·H·S_q·S_kv·d, halved when causal
  // (docs/model.md, eq. 1).
  [[nodiscard]] Flops forward_flops() const;
};

// Integer ceiling division for block sizes: the busiest rank holds ceil(S/P) tokens.
[[nodiscard]] constexpr std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

}  // namespace xattn
