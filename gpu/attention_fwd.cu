// Attention forward of one query block against one key/value block (gpu/attention.hpp),
// FlashAttention-2 style: a CTA of 4 warps owns a tile of 64 query rows of one (batch, head),
// each warp 16 rows; K and V tiles of 64 rows stream through shared memory, double-buffered
// with cp.async; S = Q K^T and O += P V run on the tensor cores (mma.m16n8k16, fp32
// accumulation) and the softmax is kept online in registers, so S never leaves the chip.
//
// Two variants, side by side:
//  - single pass (kv_splits = 1): one CTA per query tile walks every key tile, and writes O
//    and LSE directly. Wins whenever the grid already fills the GPU.
//  - split-KV (kv_splits > 1): the key tiles are cut into kv_splits contiguous chunks, one
//    CTA per (query tile, chunk) writes a normalised fp32 partial O and its LSE into a
//    workspace, and a second kernel merges the partials by their LSEs. Wins for short query
//    blocks against long key blocks with few heads, where the single pass would leave most
//    SMs idle (q_rows = 128, 32 heads: 64 CTAs on a 132-SM H100).
// attention_forward picks by a simple rule (attention_forward_plan): split when the single
// pass launches fewer CTAs than the GPU has SMs.
#include <algorithm>
#include <cmath>

#include "gpu/attention_common.cuh"

namespace xattn::gpu {
namespace {

using namespace attn;

// A CTA of W warps owns 16 W query rows (W = 4 or 8: ForwardPlan::q_tile_rows 64 or 128);
// the 8-warp tile reads each K/V tile from L2 once for twice the rows.
constexpr int kBc = 64;  // key rows per shared-memory tile
constexpr int kDefaultQTile = 64;  // what attention_forward_plan picks (docs/gpu_kernels.md)

struct FwdParams {
  const void* q;
  const void* k;
  const void* v;
  void* o;           // [batch][q_rows][heads][D], single pass
  float* lse;        // [batch][heads][q_rows], single pass
  float* part_o;     // [splits][batch][heads][q_rows][D], split-KV
  float* part_lse;   // [splits][batch][heads][q_rows], split-KV
  std::int64_t batch, q_rows, kv_rows, heads, kv_heads, group;
  std::int64_t q_offset, kv_offset;
  bool causal;
  float scale_log2;  // softmax scale times log2(e): the exponentials run in base 2
  int splits;
  int tiles_per_split;
};

template <int D, int W>
constexpr int fwd_smem_bytes() {
  return (16 * W * D + 4 * kBc * D) * 2;  // Q, and K and V double-buffered, 2-byte elements
}

template <class T, int D, int W, bool kSplit>
__global__ void __launch_bounds__(W * 32) attention_fwd_kernel(FwdParams p) {
  constexpr int kBr = 16 * W, kThreads = 32 * W;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* q_s = reinterpret_cast<T*>(smem_raw);
  T* k_s = q_s + kBr * D;        // two buffers of kBc x D
  T* v_s = k_s + 2 * kBc * D;    // two buffers of kBc x D

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int g = lane >> 2, t = lane & 3;
  const std::int64_t q0 = static_cast<std::int64_t>(blockIdx.x) * kBr;
  const std::int64_t h = blockIdx.y;
  const std::int64_t b = kSplit ? blockIdx.z / p.splits : blockIdx.z;
  const int split = kSplit ? static_cast<int>(blockIdx.z % p.splits) : 0;
  const std::int64_t kvh = h / p.group;

  const std::int64_t q_stride = p.heads * D, kv_stride = p.kv_heads * D;
  const T* qg = static_cast<const T*>(p.q) + (b * p.q_rows * p.heads + h) * D;
  const T* kg = static_cast<const T*>(p.k) + (b * p.kv_rows * p.kv_heads + kvh) * D;
  const T* vg = static_cast<const T*>(p.v) + (b * p.kv_rows * p.kv_heads + kvh) * D;

  // Key tiles this CTA visits: its split's chunk, cut at the last key any row may see.
  const int kv_tiles = static_cast<int>((p.kv_rows + kBc - 1) / kBc);
  int tile_begin = split * p.tiles_per_split;
  int tile_end = imin(kv_tiles, tile_begin + p.tiles_per_split);
  if (p.causal) {
    std::int64_t q_last = imin<std::int64_t>(q0 + kBr, p.q_rows) - 1;
    std::int64_t kv_end = p.q_offset + q_last - p.kv_offset + 1;  // keys [0, kv_end) allowed for some row
    kv_end = imax<std::int64_t>(0, imin(kv_end, p.kv_rows));
    tile_end = imin(tile_end, static_cast<int>((kv_end + kBc - 1) / kBc));
  }

  load_tile_async<kBr, D, kThreads>(q_s, qg, q_stride, q0, p.q_rows, tid);
  if (tile_begin < tile_end) {
    load_tile_async<kBc, D, kThreads>(k_s, kg, kv_stride, std::int64_t(tile_begin) * kBc, p.kv_rows, tid);
    load_tile_async<kBc, D, kThreads>(v_s, vg, kv_stride, std::int64_t(tile_begin) * kBc, p.kv_rows, tid);
  }
  cp_async_commit();

  float o_acc[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; ++i) o_acc[i][0] = o_acc[i][1] = o_acc[i][2] = o_acc[i][3] = 0.f;
  float m_row[2] = {-INFINITY, -INFINITY};  // running max of the scaled scores, base-2 units
  float l_row[2] = {0.f, 0.f};              // this thread's part of the running sum
  std::uint32_t q_frag[D / 16][4];

  const int wrow = warp * 16;
  for (int tile = tile_begin; tile < tile_end; ++tile) {
    const int buf = (tile - tile_begin) & 1;
    if (tile + 1 < tile_end) {
      load_tile_async<kBc, D, kThreads>(k_s + (buf ^ 1) * kBc * D, kg, kv_stride, std::int64_t(tile + 1) * kBc,
                                        p.kv_rows, tid);
      load_tile_async<kBc, D, kThreads>(v_s + (buf ^ 1) * kBc * D, vg, kv_stride, std::int64_t(tile + 1) * kBc,
                                        p.kv_rows, tid);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if (tile == tile_begin) {
#pragma unroll
      for (int kc = 0; kc < D / 16; ++kc) load_a<D>(q_frag[kc], q_s, wrow, kc * 16, lane);
    }
    const T* kt = k_s + buf * kBc * D;
    const T* vt = v_s + buf * kBc * D;

    // S = Q K^T for this warp's 16 rows x kBc keys.
    float s[kBc / 8][4];
#pragma unroll
    for (int j = 0; j < kBc / 8; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
    for (int kc = 0; kc < D / 16; ++kc) {
#pragma unroll
      for (int j = 0; j < kBc / 16; ++j) {
        std::uint32_t bf[4];
        load_b_nk<D>(bf, kt, j * 16, kc * 16, lane);
        mma_16816<T>(s[2 * j], q_frag[kc], bf[0], bf[1]);
        mma_16816<T>(s[2 * j + 1], q_frag[kc], bf[2], bf[3]);
      }
    }

    // Scale to base-2 units and mask keys past the block or after the query (causal).
    const std::int64_t kv0 = std::int64_t(tile) * kBc;
    const bool edge = kv0 + kBc > p.kv_rows ||
                      (p.causal && p.kv_offset + kv0 + kBc - 1 > p.q_offset + q0 + wrow);
#pragma unroll
    for (int j = 0; j < kBc / 8; ++j) {
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        float x = s[j][r] * p.scale_log2;
        if (edge) {
          std::int64_t kj = kv0 + j * 8 + 2 * t + (r & 1);
          std::int64_t qi = q0 + wrow + g + (r >> 1) * 8;
          bool ok = kj < p.kv_rows && (!p.causal || p.q_offset + qi >= p.kv_offset + kj);
          if (!ok) x = -INFINITY;
        }
        s[j][r] = x;
      }
    }

    // Online softmax: new row max over the 4 lanes sharing a row, rescale, exponentiate.
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      float mx = -INFINITY;
#pragma unroll
      for (int j = 0; j < kBc / 8; ++j) mx = fmaxf(mx, fmaxf(s[j][2 * half], s[j][2 * half + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      float m_new = fmaxf(m_row[half], mx);
      float m_use = m_new == -INFINITY ? 0.f : m_new;  // no key yet: keep exp2 finite
      float alpha = exp2f(m_row[half] - m_use);
      m_row[half] = m_new;
      float sum = 0.f;
#pragma unroll
      for (int j = 0; j < kBc / 8; ++j) {
        s[j][2 * half] = exp2f(s[j][2 * half] - m_use);
        s[j][2 * half + 1] = exp2f(s[j][2 * half + 1] - m_use);
        sum += s[j][2 * half] + s[j][2 * half + 1];
      }
      l_row[half] = l_row[half] * alpha + sum;
#pragma unroll
      for (int i = 0; i < D / 8; ++i) {
        o_acc[i][2 * half] *= alpha;
        o_acc[i][2 * half + 1] *= alpha;
      }
    }

    // O += P V: P's accumulators, packed to the input type, are the A fragments.
#pragma unroll
    for (int kc = 0; kc < kBc / 16; ++kc) {
      std::uint32_t a[4];
      a[0] = Elem<T>::pack(s[2 * kc][0], s[2 * kc][1]);
      a[1] = Elem<T>::pack(s[2 * kc][2], s[2 * kc][3]);
      a[2] = Elem<T>::pack(s[2 * kc + 1][0], s[2 * kc + 1][1]);
      a[3] = Elem<T>::pack(s[2 * kc + 1][2], s[2 * kc + 1][3]);
#pragma unroll
      for (int dn = 0; dn < D / 16; ++dn) {
        std::uint32_t bf[4];
        load_b_kn<D>(bf, vt, kc * 16, dn * 16, lane);
        mma_16816<T>(o_acc[2 * dn], a, bf[0], bf[1]);
        mma_16816<T>(o_acc[2 * dn + 1], a, bf[2], bf[3]);
      }
    }
    __syncthreads();  // the next iteration's prefetch overwrites the buffer just read
  }
  cp_async_wait<0>();

  // Normalise and write. A row that saw no allowed key has l = 0: O = 0, LSE = -inf.
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    float l = l_row[half];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const float inv = l > 0.f ? 1.f / l : 0.f;
    const float lse = l > 0.f ? (m_row[half] + log2f(l)) * kLn2 : -INFINITY;
    const std::int64_t qi = q0 + wrow + g + half * 8;
    if (qi >= p.q_rows) continue;
    if constexpr (kSplit) {
      const std::int64_t row = ((std::int64_t(split) * p.batch + b) * p.heads + h) * p.q_rows + qi;
      float* out = p.part_o + row * D;
#pragma unroll
      for (int i = 0; i < D / 8; ++i)
        *reinterpret_cast<float2*>(out + i * 8 + 2 * t) =
            make_float2(o_acc[i][2 * half] * inv, o_acc[i][2 * half + 1] * inv);
      if (t == 0) p.part_lse[row] = lse;
    } else {
      T* out = static_cast<T*>(p.o) + ((b * p.q_rows + qi) * p.heads + h) * D;
#pragma unroll
      for (int i = 0; i < D / 8; ++i)
        *reinterpret_cast<std::uint32_t*>(out + i * 8 + 2 * t) =
            Elem<T>::pack(o_acc[i][2 * half] * inv, o_acc[i][2 * half + 1] * inv);
      if (t == 0) p.lse[(b * p.heads + h) * p.q_rows + qi] = lse;
    }
  }
}

// Merges the split-KV partials: one warp per (batch, head, query row).
template <class T, int D>
__global__ void attention_fwd_combine_kernel(FwdParams p) {
  const std::int64_t warp_id = (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  const std::int64_t rows = p.batch * p.heads * p.q_rows;
  if (warp_id >= rows) return;
  const std::int64_t qi = warp_id % p.q_rows;
  const std::int64_t bh = warp_id / p.q_rows;
  const std::int64_t h = bh % p.heads, b = bh / p.heads;
  const std::int64_t split_stride = rows;
  float mx = -INFINITY;
  for (int s = 0; s < p.splits; ++s) mx = fmaxf(mx, p.part_lse[s * split_stride + warp_id]);
  constexpr int kPer = D / 32;
  float acc[kPer] = {};
  float total = 0.f;
  if (mx != -INFINITY) {
    for (int s = 0; s < p.splits; ++s) {
      float w = expf(p.part_lse[s * split_stride + warp_id] - mx);  // 0 for an empty split
      total += w;
      const float* src = p.part_o + (s * split_stride + warp_id) * D;
#pragma unroll
      for (int i = 0; i < kPer; ++i) acc[i] += w * src[lane + 32 * i];
    }
  }
  const float inv = total > 0.f ? 1.f / total : 0.f;
  T* out = static_cast<T*>(p.o) + ((b * p.q_rows + qi) * p.heads + h) * D;
#pragma unroll
  for (int i = 0; i < kPer; ++i) out[lane + 32 * i] = Elem<T>::from_float(acc[i] * inv);
  if (lane == 0) p.lse[(b * p.heads + h) * p.q_rows + qi] = total > 0.f ? mx + logf(total) : -INFINITY;
}

template <class T, int D, int W>
std::string launch_forward(const FwdParams& p, cudaStream_t stream) {
  constexpr int kBr = 16 * W, kThreads = 32 * W;
  const int q_tiles = static_cast<int>((p.q_rows + kBr - 1) / kBr);
  constexpr int smem = fwd_smem_bytes<D, W>();
  if (p.splits > 1) {
    auto kernel = attention_fwd_kernel<T, D, W, true>;
    if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem) != cudaSuccess)
      return last_error();
    dim3 grid(q_tiles, static_cast<unsigned>(p.heads), static_cast<unsigned>(p.batch * p.splits));
    kernel<<<grid, kThreads, smem, stream>>>(p);
    if (auto e = last_error(); !e.empty()) return e;
    const std::int64_t rows = p.batch * p.heads * p.q_rows;
    const int per_block = 8;  // warps
    attention_fwd_combine_kernel<T, D>
        <<<static_cast<unsigned>((rows + per_block - 1) / per_block), per_block * 32, 0, stream>>>(p);
    return last_error();
  }
  auto kernel = attention_fwd_kernel<T, D, W, false>;
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem) != cudaSuccess)
    return last_error();
  dim3 grid(q_tiles, static_cast<unsigned>(p.heads), static_cast<unsigned>(p.batch));
  kernel<<<grid, kThreads, smem, stream>>>(p);
  return last_error();
}

std::size_t split_workspace_bytes(const AttnDims& d, int splits) {
  if (splits <= 1) return 0;
  const std::size_t rows = static_cast<std::size_t>(d.batch * d.heads * d.q_rows);
  return static_cast<std::size_t>(splits) * rows * static_cast<std::size_t>(d.head_dim + 1) * sizeof(float);
}

}  // namespace

std::string attention_supported(const AttnDims& d) {
  if (d.head_dim != 64 && d.head_dim != 128) return "head_dim " + std::to_string(d.head_dim) + " unsupported (64, 128)";
  if (d.batch < 0 || d.q_rows < 0 || d.kv_rows < 0) return "negative dimension";
  if (d.heads <= 0 || d.kv_heads <= 0 || d.heads % d.kv_heads != 0)
    return "heads (" + std::to_string(d.heads) + ") must be a positive multiple of kv_heads (" +
           std::to_string(d.kv_heads) + ")";
  if (d.heads > 65535 || d.batch > 65535) return "heads and batch must each be below 65536";
  return {};
}

ForwardPlan attention_forward_plan(const AttnDims& d) {
  ForwardPlan plan;
  if (!attention_supported(d).empty() || d.q_rows == 0 || d.kv_rows == 0) return plan;
  int dev = 0, sms = 132;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) {
    cudaGetLastError();
    sms = 132;
  }
  plan.q_tile_rows = kDefaultQTile;
  const std::int64_t ctas = (d.q_rows + plan.q_tile_rows - 1) / plan.q_tile_rows * d.heads * d.batch;
  const std::int64_t kv_tiles = (d.kv_rows + kBc - 1) / kBc;
  if (ctas >= sms) return plan;
  // Fill one wave of resident CTAs (two per SM of 4 warps, one of 8: the register file
  // holds 8 such warps) without spilling into a second, partial one, and keep at least 8
  // key tiles (512 keys) per split so that the merge stays cheap next to the work.
  const std::int64_t slots = static_cast<std::int64_t>(sms) * (plan.q_tile_rows == 64 ? 2 : 1);
  std::int64_t want = std::max<std::int64_t>(1, slots / ctas);
  std::int64_t most = std::max<std::int64_t>(1, kv_tiles / 8);
  plan.kv_splits = static_cast<int>(std::min({want, most, std::int64_t{64}}));
  plan.workspace_bytes = split_workspace_bytes(d, plan.kv_splits);
  return plan;
}

std::size_t attention_forward_workspace_bytes(const AttnDims& d, int kv_splits) {
  return split_workspace_bytes(d, kv_splits);
}

std::string attention_forward_split(ElemType t, const AttnDims& d, const void* q, const void* k, const void* v,
                                    void* o, float* lse, const ForwardPlan& plan, void* workspace,
                                    std::size_t workspace_bytes, void* stream) {
  if (plan.q_tile_rows != 64 && plan.q_tile_rows != 128) return "q_tile_rows must be 64 or 128";
  const int kv_splits = plan.kv_splits;
  if (auto why = attention_supported(d); !why.empty()) return why;
  if (d.q_rows == 0 || d.batch == 0) return {};
  const auto s = static_cast<cudaStream_t>(stream);
  // kv_rows == 0 needs no special case: the kernel visits no key tile and writes O = 0 and
  // LSE = -inf for every row.
  FwdParams p{};
  p.q = q; p.k = k; p.v = v; p.o = o; p.lse = lse;
  p.batch = d.batch; p.q_rows = d.q_rows; p.kv_rows = d.kv_rows;
  p.heads = d.heads; p.kv_heads = d.kv_heads; p.group = d.heads / d.kv_heads;
  p.q_offset = d.q_offset; p.kv_offset = d.kv_offset; p.causal = d.causal;
  p.scale_log2 = softmax_scale(d) * kLog2e;
  const int kv_tiles = static_cast<int>((d.kv_rows + kBc - 1) / kBc);
  int splits = std::max(1, std::min(kv_splits, std::max(1, kv_tiles)));
  if (splits > 1 && workspace_bytes < split_workspace_bytes(d, splits))
    return "attention_forward_split: workspace of " + std::to_string(workspace_bytes) + " bytes, needs " +
           std::to_string(split_workspace_bytes(d, splits));
  p.tiles_per_split = (std::max(1, kv_tiles) + splits - 1) / splits;
  splits = (std::max(1, kv_tiles) + p.tiles_per_split - 1) / p.tiles_per_split;  // no empty tail split
  p.splits = splits;
  if (splits > 1) {
    p.part_o = static_cast<float*>(workspace);
    p.part_lse = p.part_o + static_cast<std::size_t>(splits) * d.batch * d.heads * d.q_rows * d.head_dim;
  }
  const bool bf = t == ElemType::bf16;
  const bool wide = plan.q_tile_rows == 128;
  if (d.head_dim == 64) {
    if (wide) return bf ? launch_forward<__nv_bfloat16, 64, 8>(p, s) : launch_forward<__half, 64, 8>(p, s);
    return bf ? launch_forward<__nv_bfloat16, 64, 4>(p, s) : launch_forward<__half, 64, 4>(p, s);
  }
  if (wide) return bf ? launch_forward<__nv_bfloat16, 128, 8>(p, s) : launch_forward<__half, 128, 8>(p, s);
  return bf ? launch_forward<__nv_bfloat16, 128, 4>(p, s) : launch_forward<__half, 128, 4>(p, s);
}

std::string attention_forward(ElemType t, const AttnDims& d, const void* q, const void* k, const void* v, void* o,
                              float* lse, void* stream) {
  if (auto why = attention_supported(d); !why.empty()) return why;
  const ForwardPlan plan = attention_forward_plan(d);
  if (plan.kv_splits <= 1) return attention_forward_split(t, d, q, k, v, o, lse, plan, nullptr, 0, stream);
  // Stream-ordered scratch from the device's default pool. The pool would hand freed memory
  // back to the driver at every synchronisation (release threshold 0) and map it again on
  // the next call, which costs more than a short kernel: keep up to 256 MiB cached.
  const auto s = static_cast<cudaStream_t>(stream);
  int dev = 0;
  cudaMemPool_t pool;
  if (cudaGetDevice(&dev) == cudaSuccess && cudaDeviceGetDefaultMemPool(&pool, dev) == cudaSuccess) {
    std::uint64_t keep = 0;
    cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
    if (keep < (256ull << 20)) {
      keep = 256ull << 20;
      cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
    }
  }
  cudaGetLastError();
  void* ws = nullptr;
  if (cudaMallocAsync(&ws, plan.workspace_bytes, s) != cudaSuccess) return last_error();
  std::string err = attention_forward_split(t, d, q, k, v, o, lse, plan, ws, plan.workspace_bytes, stream);
  if (cudaFreeAsync(ws, s) != cudaSuccess && err.empty()) err = last_error();
  return err;
}

}  // namespace xattn::gpu
