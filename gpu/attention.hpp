// Attention block kernels on the GPU (issue 6, "Kernels"): the forward of one query block
// against one key/value block, returning O and its log-sum-exp, and the backward returning
// dQ, dK, dV from Q, K, V, dO, LSE and delta = rowsum(dO ∘ O). fp16 or bf16 in and out,
// fp32 accumulation on tensor cores; dense or causal; grouped-query attention without
// expanding K and V (query head h reads key/value head h / (heads / kv_heads)).
//
// Layouts (all contiguous, row-major, what the executor's buffers hold):
//   Q, O, dO, dQ   [batch][q_rows][heads][head_dim]       activation dtype
//   K, V, dK, dV   [batch][kv_rows][kv_heads][head_dim]   activation dtype
//   LSE, delta     [batch][heads][q_rows]                 fp32, natural log
// Softmax scale `scale` (0: 1/sqrt(head_dim)). A query row with no allowed key gets
// O = 0 and LSE = -inf, and contributes no gradient.
//
// Causal: query row i and key row j hold global positions q_offset + i and kv_offset + j;
// the pair is allowed when q_offset + i >= kv_offset + j (the causal layouts' blocks are
// contiguous runs, or split into runs by the executor).
//
// Every function takes a cudaStream_t as void* (so that this header needs no CUDA include)
// and returns an empty string or what went wrong (an unsupported head dim, a CUDA error).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace xattn::gpu {

enum class ElemType { f16, bf16 };

struct AttnDims {
  std::int64_t batch = 1;
  std::int64_t q_rows = 0;
  std::int64_t kv_rows = 0;
  std::int64_t heads = 0;
  std::int64_t kv_heads = 0;  // divides heads
  std::int64_t head_dim = 0;  // 64 and 128 are supported
  bool causal = false;
  std::int64_t q_offset = 0;
  std::int64_t kv_offset = 0;
  float scale = 0.f;          // 0: 1/sqrt(head_dim)
};

// Why these dims cannot run (empty when they can).
[[nodiscard]] std::string attention_supported(const AttnDims& d);

// (o, lse) = attention of q against (k, v). Overwrites o and lse.
[[nodiscard]] std::string attention_forward(ElemType t, const AttnDims& d, const void* q, const void* k,
                                            const void* v, void* o, float* lse, void* stream);

// The forward has two variants (docs/gpu_kernels.md): a single pass, one CTA per 64 query
// rows, and split-KV, which cuts the key tiles into kv_splits chunks run by separate CTAs
// and merges their partial results by LSE. attention_forward splits when the single pass
// would launch fewer CTAs than the current device has SMs, taking its fp32 scratch from the
// stream-ordered pool (cudaMallocAsync); this says what it would choose.
struct ForwardPlan {
  int kv_splits = 1;
  int q_tile_rows = 64;             // query rows per CTA: 64 (4 warps) or 128 (8 warps)
  std::size_t workspace_bytes = 0;  // for attention_forward_split with kv_splits
};
[[nodiscard]] ForwardPlan attention_forward_plan(const AttnDims& d);
[[nodiscard]] std::size_t attention_forward_workspace_bytes(const AttnDims& d, int kv_splits);
// The forward with an explicit plan (kv_splits 1: single pass; q_tile_rows) and caller-owned
// scratch of at least attention_forward_workspace_bytes(d, plan.kv_splits) bytes, 256-byte
// aligned (none for one split). What an executor that owns its memory should call.
[[nodiscard]] std::string attention_forward_split(ElemType t, const AttnDims& d, const void* q, const void* k,
                                                  const void* v, void* o, float* lse, const ForwardPlan& plan,
                                                  void* workspace, std::size_t workspace_bytes, void* stream);

// delta = rowsum(dout ∘ o) per (batch, head, query row), fp32.
[[nodiscard]] std::string attention_softmax_delta(ElemType t, const AttnDims& d, const void* o, const void* dout,
                                                  float* delta, void* stream);

// Fp32 scratch the backward needs (dQ accumulation across key blocks, dK/dV across the
// query heads of a GQA group); the caller allocates it once, at least this large.
[[nodiscard]] std::size_t attention_backward_workspace_bytes(const AttnDims& d);

// Gradients of one block with the final lse and delta. dq has q's layout, dk and dv k's;
// each is overwritten, or added to when its flag says so (the schedules accumulate dQ over
// rounds and dK, dV over query blocks).
[[nodiscard]] std::string attention_backward(ElemType t, const AttnDims& d, const void* q, const void* k,
                                             const void* v, const void* dout, const float* lse,
                                             const float* delta, void* dq, bool dq_add, void* dk, void* dv,
                                             bool dkv_add, void* workspace, std::size_t workspace_bytes,
                                             void* stream);

// CPU references in double precision over the same layouts (inputs as float arrays),
// which the device tests compare the kernels with.
void attention_forward_reference(const AttnDims& d, const float* q, const float* k, const float* v, float* o,
                                 float* lse);
void attention_backward_reference(const AttnDims& d, const float* q, const float* k, const float* v,
                                  const float* dout, const float* lse, const float* delta, float* dq, float* dk,
                                  float* dv);

}  // namespace xattn::gpu
