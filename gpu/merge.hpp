// Merge of two partial attention results over disjoint key sets (MECHANISMS.md,
// "Merging partial results"): every ring-family mechanism calls it once per round.
//
//   L = max(La, Lb) + log1p(exp(-|La - Lb|))
//   O = exp(La - L) * Oa + exp(Lb - L) * Ob
//
// A partial with no allowed keys has L = -inf and contributes nothing. exp(L) is never
// formed, so LSE values far above 88 do not overflow fp32. merge_reference() is the plain
// CPU version the kernel is tested against.
#pragma once

#include <cstdint>
#include <string>

#if defined(__CUDACC__)
#include <cmath>
#endif

#if defined(__CUDACC__)
namespace xattn::gpu {
// The merge's weights, shared by every CUDA merge (this file's kernel and the executor's
// activation-dtype merge in elementwise.cu). Visible to nvcc only.
// The two weights of a stable merge; (1, 0) or (0, 1) when one side is empty.
__host__ __device__ inline void merge_weights(float la, float lb, float* wa, float* wb, float* l) {
  if (isinf(la) && la < 0) { *wa = 0.f; *wb = 1.f; *l = lb; return; }
  if (isinf(lb) && lb < 0) { *wa = 1.f; *wb = 0.f; *l = la; return; }
  // Weights from the difference of the two LSEs (exact when they are close), not from
  // la - L: with L near 1000 an fp32 L carries an absolute error of 6e-5 that exp() would
  // turn into the same relative error in O.
  float gap = fabsf(la - lb);
  float soft = log1pf(expf(-gap));
  float w_hi = expf(-soft), w_lo = expf(-gap - soft);
  *wa = la >= lb ? w_hi : w_lo;
  *wb = la >= lb ? w_lo : w_hi;
  *l = fmaxf(la, lb) + soft;
}

}  // namespace xattn::gpu
#endif

namespace xattn::gpu {

// Rows are (batch, head, query) triples; o has `rows * head_dim` floats, lse `rows`.
// The result overwrites (o_acc, lse_acc).
void merge_reference(float* o_acc, float* lse_acc, const float* o_part, const float* lse_part,
                     std::int64_t rows, int head_dim);

// Device pointers; runs on the given stream (a cudaStream_t passed as void* so that this
// header needs no CUDA include). Returns an empty string or the CUDA error.
std::string merge_on_device(float* o_acc, float* lse_acc, const float* o_part, const float* lse_part,
                            std::int64_t rows, int head_dim, void* stream);

}  // namespace xattn::gpu

namespace xattn::gpu {

// Copies host arrays to the first GPU, merges there, copies the result back. Returns an
// empty string or why it could not run (no GPU, CUDA error).
std::string merge_via_device(float* o_acc, float* lse_acc, const float* o_part, const float* lse_part,
                             std::int64_t rows, int head_dim);

}  // namespace xattn::gpu
