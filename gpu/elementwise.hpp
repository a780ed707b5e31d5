// The schedule's elementwise ops on the GPU (model/schedule/schedule.hpp, ComputeKind):
// merge, rescale, lse_combine, accumulate, and the helpers the executor fills and reads
// its buffers with. Activations are fp16 or bf16 in the attention layout (BSHD, gpu/
// attention.hpp); per-row statistics (LSE) are fp32 [batch][heads][rows]. Arithmetic is
// fp32. Every function takes a cudaStream_t as void* and returns an empty string or the
// CUDA error.
#pragma once

#include <cstdint>
#include <string>

namespace xattn::gpu {

enum class Elem { f16, bf16, f32 };
[[nodiscard]] int elem_bytes(Elem e);

// An activation block and its statistics: x [batch][rows][heads][head_dim], stat
// [batch][heads][rows].
struct RowDims {
  std::int64_t batch = 1, rows = 0, heads = 0, head_dim = 0;
};

// (o, lse) <- stable merge of (o, lse) and (po, plse) (gpu/merge.hpp's weights).
[[nodiscard]] std::string merge_rows(Elem t, const RowDims& d, void* o, float* lse, const void* po, const float* plse,
                                     void* stream);
// o *= exp(lse_local - lse_merged); rows whose lse_local is -inf become 0.
[[nodiscard]] std::string rescale_rows(Elem t, const RowDims& d, void* o, const float* lse_local,
                                       const float* lse_merged, void* stream);
// dst[i] = log-sum-exp over j of src[j * dst_n + i] (src holds src_n = k * dst_n values,
// the pieces stacked), -inf when every piece is.
[[nodiscard]] std::string lse_combine_rows(const float* src, std::int64_t src_n, float* dst, std::int64_t dst_n,
                                           void* stream);
// dst[i] += src[i] for i < n.
[[nodiscard]] std::string accumulate_elems(Elem t, void* dst, const void* src, std::int64_t n, void* stream);
// dst[i] = value for i < n (fp32).
[[nodiscard]] std::string fill_f32(float* dst, std::int64_t n, float value, void* stream);
// Deterministic pseudo-random values in [lo, hi), never 0 (a hash of (seed, i)).
[[nodiscard]] std::string fill_random(Elem t, void* dst, std::int64_t n, std::uint64_t seed, float lo, float hi,
                                      void* stream);
// Conversions between a device array of type t and a device fp32 array.
[[nodiscard]] std::string to_f32(Elem t, const void* src, float* dst, std::int64_t n, void* stream);
[[nodiscard]] std::string from_f32(Elem t, const float* src, void* dst, std::int64_t n, void* stream);

}  // namespace xattn::gpu
