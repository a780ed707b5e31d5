// Speed of the attention block kernels (gpu/attention.hpp) over the shapes the mechanisms
// use: short query blocks against long key/value blocks, and square blocks. Times the
// forward (attention_forward, which picks single pass or split-KV) and the backward
// (attention_softmax_delta + attention_backward) with CUDA events: warm-up, then the median
// of many repetitions, rotating among input sets that together exceed twice the L2 cache,
// on random non-zero data. Prints a fixed-column table (nccl-tests style: '#' header and a
// units row) and writes the same figures as JSON; bench/gpu/sdpa_reference.py reads that
// JSON and times PyTorch's scaled_dot_product_attention on the same shapes.
//
// FLOPs: forward 4 * batch * heads * head_dim * (allowed query-key pairs) (two matrix
// products, 2 FLOPs per multiply-add; a causal block counts only its allowed pairs);
// backward 2.5 times the forward (five products instead of two), the FlashAttention
// convention, with no credit for recomputation.
//
// The forward runs through attention_forward_split with the plan attention_forward_plan
// makes (its query tile overridden by --q-tile) and a workspace allocated here, as an
// executor that owns its memory would call it.
//
// Usage: bench_attention_speed [--json FILE] [--reps N] [--fwd-only] [--quick] [--q-tile 64|128]
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "gpu/attention.hpp"

namespace {

using xattn::gpu::AttnDims;
using xattn::gpu::ElemType;

#define CHECK_CUDA(x)                                                                        \
  do {                                                                                       \
    cudaError_t e_ = (x);                                                                    \
    if (e_ != cudaSuccess) {                                                                 \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      return false;                                                                          \
    }                                                                                        \
  } while (0)

// Fills with N(0, 1)-ish values (a sum of uniform hashes), in the element type, never all zero.
__global__ void fill_random(std::uint16_t* x, std::size_t n, std::uint32_t seed, bool bf16) {
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    std::uint32_t h = static_cast<std::uint32_t>(i) * 2654435761u ^ seed * 0x9E3779B9u;
    float s = 0.f;
    for (int r = 0; r < 4; ++r) {
      h ^= h >> 15; h *= 0x2c1b3c6du; h ^= h >> 12; h *= 0x297a2d39u; h ^= h >> 15;
      s += (h & 0xFFFFFF) / 16777216.f - 0.5f;
    }
    s *= 1.732f;  // variance 4/12 -> 1
    if (bf16) {
      std::uint32_t u = __float_as_uint(s);
      x[i] = static_cast<std::uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
    } else {
      x[i] = __half_as_ushort(__float2half_rn(s));
    }
  }
}

struct Shape {
  ElemType t;
  std::int64_t head_dim, heads, kv_heads, q_rows, kv_rows;
  bool causal;
};

struct Result {
  Shape s;
  int kv_splits = 1;
  int q_tile = 64;
  double fwd_us = 0, fwd_tflops = 0, bwd_us = 0, bwd_tflops = 0;
};

double allowed_pairs(const AttnDims& d) {
  if (!d.causal) return static_cast<double>(d.q_rows) * static_cast<double>(d.kv_rows);
  double n = 0;  // q_offset + i >= kv_offset + j, both offsets 0 here
  for (std::int64_t i = 0; i < d.q_rows; ++i) n += static_cast<double>(std::min(d.kv_rows, i + 1));
  return n;
}

struct Buffers {
  std::vector<void*> ptrs;
  ~Buffers() {
    for (void* p : ptrs) cudaFree(p);
  }
  void* alloc(std::size_t bytes) {
    void* p = nullptr;
    if (cudaMalloc(&p, bytes) != cudaSuccess) return nullptr;
    ptrs.push_back(p);
    return p;
  }
};

template <class F>
bool time_median(F&& run, int sets, int warmup, int reps, double* us) {
  cudaEvent_t a, b;
  CHECK_CUDA(cudaEventCreate(&a));
  CHECK_CUDA(cudaEventCreate(&b));
  for (int i = 0; i < warmup; ++i)
    if (!run(i % sets)) return false;
  std::vector<float> ms;
  for (int i = 0; i < reps; ++i) {
    CHECK_CUDA(cudaEventRecord(a));
    if (!run(i % sets)) return false;
    CHECK_CUDA(cudaEventRecord(b));
    CHECK_CUDA(cudaEventSynchronize(b));
    float t = 0;
    CHECK_CUDA(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  *us = 1e3 * ms[ms.size() / 2];
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return true;
}

bool measure(const Shape& s, int reps, bool fwd_only, int q_tile, std::size_t l2_bytes, Result* out) {
  AttnDims d;
  d.batch = 1; d.q_rows = s.q_rows; d.kv_rows = s.kv_rows; d.heads = s.heads; d.kv_heads = s.kv_heads;
  d.head_dim = s.head_dim; d.causal = s.causal;
  const std::size_t qn = static_cast<std::size_t>(d.q_rows * d.heads * d.head_dim);
  const std::size_t kvn = static_cast<std::size_t>(d.kv_rows * d.kv_heads * d.head_dim);
  const std::size_t rows = static_cast<std::size_t>(d.heads * d.q_rows);
  const std::size_t set_bytes = (3 * qn + 2 * kvn) * 2;  // q, o, dO, k, v
  const int sets = static_cast<int>(std::clamp<std::size_t>((2 * l2_bytes + set_bytes - 1) / set_bytes, 1, 8));
  Buffers mem;
  struct Set { void *q, *k, *v, *o, *dout; float *lse, *delta; };
  std::vector<Set> in(sets);
  const bool bf = s.t == ElemType::bf16;
  for (int i = 0; i < sets; ++i) {
    Set& x = in[i];
    x.q = mem.alloc(qn * 2); x.k = mem.alloc(kvn * 2); x.v = mem.alloc(kvn * 2);
    x.o = mem.alloc(qn * 2); x.dout = mem.alloc(qn * 2);
    x.lse = static_cast<float*>(mem.alloc(rows * 4)); x.delta = static_cast<float*>(mem.alloc(rows * 4));
    if (!x.q || !x.k || !x.v || !x.o || !x.dout || !x.lse || !x.delta) {
      std::fprintf(stderr, "out of device memory\n");
      return false;
    }
    fill_random<<<1024, 256>>>(static_cast<std::uint16_t*>(x.q), qn, 10 * i + 1, bf);
    fill_random<<<1024, 256>>>(static_cast<std::uint16_t*>(x.k), kvn, 10 * i + 2, bf);
    fill_random<<<1024, 256>>>(static_cast<std::uint16_t*>(x.v), kvn, 10 * i + 3, bf);
    fill_random<<<1024, 256>>>(static_cast<std::uint16_t*>(x.dout), qn, 10 * i + 4, bf);
  }
  CHECK_CUDA(cudaGetLastError());
  void* dq = mem.alloc(qn * 2);
  void* dk = mem.alloc(kvn * 2);
  void* dv = mem.alloc(kvn * 2);
  const std::size_t ws_bytes = xattn::gpu::attention_backward_workspace_bytes(d);
  void* ws = mem.alloc(ws_bytes);
  if (!dq || !dk || !dv || !ws) {
    std::fprintf(stderr, "out of device memory\n");
    return false;
  }
  const double fwd_flops = 4.0 * d.heads * d.head_dim * allowed_pairs(d);
  out->s = s;
  xattn::gpu::ForwardPlan plan = xattn::gpu::attention_forward_plan(d);
  if (q_tile != 0 && q_tile != plan.q_tile_rows) {  // re-plan the splits for the other tile
    plan.q_tile_rows = q_tile;
    const std::int64_t ctas = (d.q_rows + q_tile - 1) / q_tile * d.heads;
    int sms = 132;
    cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
    const std::int64_t slots = static_cast<std::int64_t>(sms) * (q_tile == 64 ? 2 : 1);
    plan.kv_splits = ctas >= sms ? 1
                                 : static_cast<int>(std::min<std::int64_t>(
                                       {std::max<std::int64_t>(1, slots / ctas),
                                        std::max<std::int64_t>(1, (d.kv_rows + 63) / 64 / 8), 64}));
  }
  plan.workspace_bytes = xattn::gpu::attention_forward_workspace_bytes(d, plan.kv_splits);
  void* fwd_ws = plan.workspace_bytes ? mem.alloc(plan.workspace_bytes) : nullptr;
  out->kv_splits = plan.kv_splits;
  out->q_tile = plan.q_tile_rows;

  std::string err;
  auto fwd = [&](int i) {
    err = xattn::gpu::attention_forward_split(s.t, d, in[i].q, in[i].k, in[i].v, in[i].o, in[i].lse, plan, fwd_ws,
                                              plan.workspace_bytes, nullptr);
    return err.empty();
  };
  if (!time_median(fwd, sets, 3, reps, &out->fwd_us)) {
    std::fprintf(stderr, "forward: %s\n", err.c_str());
    return false;
  }
  out->fwd_tflops = fwd_flops / (out->fwd_us * 1e-6) / 1e12;
  if (fwd_only) return true;
  for (int i = 0; i < sets; ++i)  // every set's o and lse, for the backward
    if (!fwd(i)) return false;
  auto bwd = [&](int i) {
    err = xattn::gpu::attention_softmax_delta(s.t, d, in[i].o, in[i].dout, in[i].delta, nullptr);
    if (err.empty())
      err = xattn::gpu::attention_backward(s.t, d, in[i].q, in[i].k, in[i].v, in[i].dout, in[i].lse, in[i].delta,
                                           dq, false, dk, dv, false, ws, ws_bytes, nullptr);
    return err.empty();
  };
  if (!time_median(bwd, sets, 2, reps, &out->bwd_us)) {
    std::fprintf(stderr, "backward: %s\n", err.c_str());
    return false;
  }
  out->bwd_tflops = 2.5 * fwd_flops / (out->bwd_us * 1e-6) / 1e12;
  return true;
}

std::vector<Shape> shapes(bool quick) {
  const ElemType bf = ElemType::bf16, f16 = ElemType::f16;
  std::vector<Shape> v;
  // Short query blocks against long key blocks, then square blocks: bf16, d 128, GQA 32/8.
  for (std::int64_t q : {128, 512, 2048})
    for (std::int64_t kv : {4096, 16384, 65536}) v.push_back({bf, 128, 32, 8, q, kv, false});
  for (std::int64_t n : {4096, 8192, 16384}) v.push_back({bf, 128, 32, 8, n, n, false});
  if (quick) return v;
  v.push_back({bf, 128, 32, 8, 8192, 8192, true});
  v.push_back({bf, 128, 32, 32, 512, 16384, false});
  v.push_back({bf, 128, 32, 32, 4096, 4096, false});
  v.push_back({f16, 128, 32, 8, 512, 16384, false});
  v.push_back({f16, 128, 32, 8, 4096, 4096, false});
  v.push_back({bf, 64, 32, 8, 512, 16384, false});
  v.push_back({bf, 64, 32, 8, 4096, 4096, false});
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path;
  int reps = 20;
  bool fwd_only = false, quick = false;
  int q_tile = 0;  // 0: what attention_forward_plan picks
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json" && i + 1 < argc) json_path = argv[++i];
    else if (a == "--reps" && i + 1 < argc) reps = std::max(1, std::atoi(argv[++i]));
    else if (a == "--fwd-only") fwd_only = true;
    else if (a == "--quick") quick = true;
    else if (a == "--q-tile" && i + 1 < argc) q_tile = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--json FILE] [--reps N] [--fwd-only] [--quick] [--q-tile 64|128]\n", argv[0]);
      return 2;
    }
  }
  int dev = 0;
  cudaDeviceProp prop{};
  if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&prop, dev) != cudaSuccess) {
    std::fprintf(stderr, "no CUDA device\n");
    return 1;
  }
  std::printf("# attention block kernels on %s (%d SMs, L2 %d MiB), batch 1, median of %d reps\n", prop.name,
              prop.multiProcessorCount, prop.l2CacheSize >> 20, reps);
  std::printf("# %5s %4s %5s %8s %7s %7s %6s %6s %6s %10s %9s %10s %9s\n", "dtype", "d", "heads", "kv_heads", "q_rows",
              "kv_rows", "causal", "q_tile", "splits", "fwd_time", "fwd_rate", "bwd_time", "bwd_rate");
  std::printf("# %5s %4s %5s %8s %7s %7s %6s %6s %6s %10s %9s %10s %9s\n", "-", "-", "-", "-", "rows", "rows", "-", "rows", "-",
              "us", "TFLOP/s", "us", "TFLOP/s");
  std::vector<Result> results;
  for (const Shape& s : shapes(quick)) {
    Result r;
    if (!measure(s, reps, fwd_only, q_tile, static_cast<std::size_t>(prop.l2CacheSize), &r)) return 1;
    results.push_back(r);
    std::printf("  %5s %4lld %5lld %8lld %7lld %7lld %6s %6d %6d %10.1f %9.1f %10.1f %9.1f\n",
                s.t == ElemType::bf16 ? "bf16" : "fp16", (long long)s.head_dim, (long long)s.heads,
                (long long)s.kv_heads, (long long)s.q_rows, (long long)s.kv_rows, s.causal ? "yes" : "no",
                r.q_tile, r.kv_splits, r.fwd_us, r.fwd_tflops, r.bwd_us, r.bwd_tflops);
    std::fflush(stdout);
  }
  if (!json_path.empty()) {
    FILE* f = std::fopen(json_path.c_str(), "w");
    if (!f) {
      std::fprintf(stderr, "cannot write %s\n", json_path.c_str());
      return 1;
    }
    std::fprintf(f, "{\n  \"device\": \"%s\",\n  \"flops_convention\": \"forward 4*B*H*d*allowed_pairs; backward 2.5x forward\",\n  \"results\": [\n", prop.name);
    for (std::size_t i = 0; i < results.size(); ++i) {
      const Result& r = results[i];
      std::fprintf(f,
                   "    {\"dtype\": \"%s\", \"head_dim\": %lld, \"batch\": 1, \"heads\": %lld, \"kv_heads\": %lld, "
                   "\"q_rows\": %lld, \"kv_rows\": %lld, \"causal\": %s, \"q_tile\": %d, \"kv_splits\": %d, "
                   "\"fwd_time_us\": %.2f, \"fwd_rate_tflops\": %.2f, \"bwd_time_us\": %.2f, "
                   "\"bwd_rate_tflops\": %.2f}%s\n",
                   r.s.t == ElemType::bf16 ? "bf16" : "fp16", (long long)r.s.head_dim, (long long)r.s.heads,
                   (long long)r.s.kv_heads, (long long)r.s.q_rows, (long long)r.s.kv_rows,
                   r.s.causal ? "true" : "false", r.q_tile, r.kv_splits, r.fwd_us, r.fwd_tflops, r.bwd_us, r.bwd_tflops,
                   i + 1 < results.size() ? "," : "");
    }
    std::fprintf(f, "  ]\n}\n");
    std::fclose(f);
  }
  return 0;
}
