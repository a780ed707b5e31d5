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
