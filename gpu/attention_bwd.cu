// Attention backward of one query block against one key/value block (gpu/attention.hpp),
// FlashAttention-2 style: a CTA of 4 warps owns a tile of 64 key rows of one (batch, key/value
// head), each warp 16 rows, and keeps their dK and dV in fp32 registers while it walks every
// query tile of every query head of the GQA group (so dK and dV come out summed over the
// group, without atomics and without expanding K and V). Per query tile, on the tensor cores:
//   S^T = K Q^T,  P^T = exp(scale S^T - LSE),  dV += P^T dO,  dP^T = V dO^T,
//   dS^T = P^T o (dP^T - delta),  dK += scale dS^T Q,  dQ += scale dS K.
// dQ sums over key tiles held by different CTAs: each adds its share into an fp32 workspace
// with atomics, and a last elementwise pass converts (or adds) it into dq. Q and dO tiles
// are double-buffered with cp.async. delta = rowsum(dO o O) comes from its own small kernel.
#include <algorithm>

#include "gpu/attention_common.cuh"

namespace xattn::gpu {
namespace {

using namespace attn;

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kBc = 64;  // key rows per CTA (16 per warp)

struct BwdParams {
  const void* q;
  const void* k;
  const void* v;
  const void* dout;
  const float* lse;
  const float* delta;
  void* dk;
  void* dv;
  float* dq_acc;  // [batch][q_rows][heads][D] fp32, zeroed before the launch
  std::int64_t batch, q_rows, kv_rows, heads, kv_heads, group;
  std::int64_t q_offset, kv_offset;
  bool causal;
  bool dkv_add;
  float scale;
  float scale_log2;
};

// Query rows per tile of the backward loop: 64 at head_dim 64; 64 at 128 as well unless the
// register report shows spills (then 32: S^T and dP^T take half the registers).
template <int D> struct BwdTile { static constexpr int kBr = D == 128 ? 32 : 64; };

template <int D>
constexpr int bwd_smem_bytes() {
  constexpr int br = BwdTile<D>::kBr;
  return (2 * kBc * D + 4 * br * D + kBc * (br + 8)) * 2 + 4 * br * static_cast<int>(sizeof(float));
}

template <class T, int D>
__global__ void __launch_bounds__(kThreads, 1) attention_bwd_kernel(BwdParams p) {
  constexpr int kBr = BwdTile<D>::kBr;
  constexpr int kDsStride = kBr + 8;  // padded rows: ldmatrix and the pair stores avoid bank conflicts
  extern __shared__ __align__(128) unsigned char smem_raw[];
  T* k_s = reinterpret_cast<T*>(smem_raw);
  T* v_s = k_s + kBc * D;
  T* q_s = v_s + kBc * D;         // two buffers of kBr x D
  T* do_s = q_s + 2 * kBr * D;    // two buffers of kBr x D
  T* ds_s = do_s + 2 * kBr * D;   // kBc x kDsStride: dS^T of the current query tile
  float* lse_s = reinterpret_cast<float*>(ds_s + kBc * kDsStride);  // two buffers of kBr
  float* dl_s = lse_s + 2 * kBr;                                     // two buffers of kBr

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int g = lane >> 2, t = lane & 3;
  const std::int64_t kv0 = static_cast<std::int64_t>(blockIdx.x) * kBc;
  const std::int64_t kvh = blockIdx.y;
  const std::int64_t b = blockIdx.z;
  const std::int64_t q_stride = p.heads * D, kv_stride = p.kv_heads * D;
  const T* kg = static_cast<const T*>(p.k) + (b * p.kv_rows * p.kv_heads + kvh) * D;
  const T* vg = static_cast<const T*>(p.v) + (b * p.kv_rows * p.kv_heads + kvh) * D;

  // Query tiles that see any key of this tile: with causal masking, those whose last row is
  // at or after the tile's first key.
  const int q_tiles = static_cast<int>((p.q_rows + kBr - 1) / kBr);
  int qt_begin = 0;
  if (p.causal) {
    std::int64_t first = imax<std::int64_t>(0, p.kv_offset + kv0 - p.q_offset);
    qt_begin = static_cast<int>(imin<std::int64_t>(q_tiles, first / kBr));
  }
  const int n_q = q_tiles - qt_begin;
  const int items = n_q > 0 ? static_cast<int>(p.group) * n_q : 0;

  // Issues the loads of item i (query head, query tile) into buffer buf.
  auto load_item = [&](int i, int buf) {
    const std::int64_t h = kvh * p.group + i / n_q;
    const std::int64_t q0 = std::int64_t(qt_begin + i % n_q) * kBr;
    const T* qg = static_cast<const T*>(p.q) + (b * p.q_rows * p.heads + h) * D;
    const T* dog = static_cast<const T*>(p.dout) + (b * p.q_rows * p.heads + h) * D;
    load_tile_async<kBr, D, kThreads>(q_s + buf * kBr * D, qg, q_stride, q0, p.q_rows, tid);
    load_tile_async<kBr, D, kThreads>(do_s + buf * kBr * D, dog, q_stride, q0, p.q_rows, tid);
    for (int r = tid; r < kBr; r += kThreads) {
      // Rows past the block and rows that saw no key get LSE = +inf: their P is exactly 0.
      float l = INFINITY, dd = 0.f;
      if (q0 + r < p.q_rows) {
        const std::int64_t at = (b * p.heads + h) * p.q_rows + q0 + r;
        float x = p.lse[at];
        if (x != -INFINITY) { l = x * kLog2e; dd = p.delta[at]; }
      }
      lse_s[buf * kBr + r] = l;
      dl_s[buf * kBr + r] = dd;
    }
  };

  load_tile_async<kBc, D, kThreads>(k_s, kg, kv_stride, kv0, p.kv_rows, tid);
  load_tile_async<kBc, D, kThreads>(v_s, vg, kv_stride, kv0, p.kv_rows, tid);
  if (items > 0) load_item(0, 0);
  cp_async_commit();

  float dk[D / 8][4], dv[D / 8][4];
#pragma unroll
  for (int i = 0; i < D / 8; ++i)
#pragma unroll
    for (int r = 0; r < 4; ++r) dk[i][r] = dv[i][r] = 0.f;

  const int wrow = warp * 16;  // this warp's key rows within the tile
  for (int item = 0; item < items; ++item) {
    const int buf = item & 1;
    if (item + 1 < items) {
      load_item(item + 1, buf ^ 1);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const std::int64_t h = kvh * p.group + item / n_q;
    const std::int64_t q0 = std::int64_t(qt_begin + item % n_q) * kBr;
    const T* qt = q_s + buf * kBr * D;
    const T* dot = do_s + buf * kBr * D;
    const float* lse_t = lse_s + buf * kBr;
    const float* dl_t = dl_s + buf * kBr;

    // S^T = K Q^T: 16 keys x kBr queries per warp.
    float st[kBr / 8][4];
#pragma unroll
    for (int j = 0; j < kBr / 8; ++j) st[j][0] = st[j][1] = st[j][2] = st[j][3] = 0.f;
#pragma unroll
    for (int kc = 0; kc < D / 16; ++kc) {
      std::uint32_t a[4];
      load_a<D>(a, k_s, wrow, kc * 16, lane);
#pragma unroll
      for (int j = 0; j < kBr / 16; ++j) {
        std::uint32_t bf[4];
        load_b_nk<D>(bf, qt, j * 16, kc * 16, lane);
        mma_16816<T>(st[2 * j], a, bf[0], bf[1]);
        mma_16816<T>(st[2 * j + 1], a, bf[2], bf[3]);
      }
    }
    // P^T = exp2(scale log2e S^T - log2e LSE), zero where the pair is not allowed.
    const bool edge = kv0 + kBc > p.kv_rows || (p.causal && p.kv_offset + kv0 + kBc - 1 > p.q_offset + q0);
#pragma unroll
    for (int j = 0; j < kBr / 8; ++j) {
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const int col = j * 8 + 2 * t + (r & 1);
        float pv = exp2f(st[j][r] * p.scale_log2 - lse_t[col]);
        if (edge) {
          const std::int64_t kj = kv0 + wrow + g + (r >> 1) * 8;
          const std::int64_t qi = q0 + col;
          const bool ok = kj < p.kv_rows && (!p.causal || p.q_offset + qi >= p.kv_offset + kj);
          if (!ok) pv = 0.f;
        }
        st[j][r] = pv;
      }
    }
    // dV += P^T dO.
#pragma unroll
    for (int kc = 0; kc < kBr / 16; ++kc) {
      std::uint32_t a[4];
      a[0] = Elem<T>::pack(st[2 * kc][0], st[2 * kc][1]);
      a[1] = Elem<T>::pack(st[2 * kc][2], st[2 * kc][3]);
      a[2] = Elem<T>::pack(st[2 * kc + 1][0], st[2 * kc + 1][1]);
      a[3] = Elem<T>::pack(st[2 * kc + 1][2], st[2 * kc + 1][3]);
#pragma unroll
      for (int dn = 0; dn < D / 16; ++dn) {
        std::uint32_t bf[4];
        load_b_kn<D>(bf, dot, kc * 16, dn * 16, lane);
        mma_16816<T>(dv[2 * dn], a, bf[0], bf[1]);
        mma_16816<T>(dv[2 * dn + 1], a, bf[2], bf[3]);
      }
    }
    // dP^T = V dO^T, then dS^T = P^T o (dP^T - delta), kept in dp.
    float dp[kBr / 8][4];
#pragma unroll
    for (int j = 0; j < kBr / 8; ++j) dp[j][0] = dp[j][1] = dp[j][2] = dp[j][3] = 0.f;
#pragma unroll
    for (int kc = 0; kc < D / 16; ++kc) {
      std::uint32_t a[4];
      load_a<D>(a, v_s, wrow, kc * 16, lane);
#pragma unroll
      for (int j = 0; j < kBr / 16; ++j) {
        std::uint32_t bf[4];
        load_b_nk<D>(bf, dot, j * 16, kc * 16, lane);
        mma_16816<T>(dp[2 * j], a, bf[0], bf[1]);
        mma_16816<T>(dp[2 * j + 1], a, bf[2], bf[3]);
      }
    }
#pragma unroll
    for (int j = 0; j < kBr / 8; ++j) {
#pragma unroll
      for (int r = 0; r < 4; ++r) dp[j][r] = st[j][r] * (dp[j][r] - dl_t[j * 8 + 2 * t + (r & 1)]);
#pragma unroll
      for (int half = 0; half < 2; ++half)
        *reinterpret_cast<std::uint32_t*>(ds_s + (wrow + g + half * 8) * kDsStride + j * 8 + 2 * t) =
            Elem<T>::pack(dp[j][2 * half], dp[j][2 * half + 1]);
    }
    // dK += dS^T Q (the scale is applied once, at the end).
#pragma unroll
    for (int kc = 0; kc < kBr / 16; ++kc) {
      std::uint32_t a[4];
      a[0] = Elem<T>::pack(dp[2 * kc][0], dp[2 * kc][1]);
      a[1] = Elem<T>::pack(dp[2 * kc][2], dp[2 * kc][3]);
      a[2] = Elem<T>::pack(dp[2 * kc + 1][0], dp[2 * kc + 1][1]);
      a[3] = Elem<T>::pack(dp[2 * kc + 1][2], dp[2 * kc + 1][3]);
#pragma unroll
      for (int dn = 0; dn < D / 16; ++dn) {
        std::uint32_t bf[4];
        load_b_kn<D>(bf, qt, kc * 16, dn * 16, lane);
        mma_16816<T>(dk[2 * dn], a, bf[0], bf[1]);
        mma_16816<T>(dk[2 * dn + 1], a, bf[2], bf[3]);
      }
    }
    __syncthreads();  // dS^T of all four warps is in shared memory

    // dQ (kBr x D) += dS (kBr x kBc) K (kBc x D): the warps split the query rows into groups
    // of 16 and, when there are fewer than 4 such groups, the columns among them.
    {
      constexpr int kRowGroups = kBr / 16;
      constexpr int kColGroups = kWarps / kRowGroups;
      constexpr int kCols = D / kColGroups;
      constexpr int kChunk = kCols < 64 ? kCols : 64;
      const int qrow = (warp % kRowGroups) * 16;
      const int col0 = (warp / kRowGroups) * kCols;
#pragma unroll
      for (int chunk = 0; chunk < kCols / kChunk; ++chunk) {
        float dq[kChunk / 8][4];
#pragma unroll
        for (int i = 0; i < kChunk / 8; ++i) dq[i][0] = dq[i][1] = dq[i][2] = dq[i][3] = 0.f;
#pragma unroll
        for (int kc = 0; kc < kBc / 16; ++kc) {
          // A = dS rows qrow.., keys kc*16..: the transpose of the stored dS^T.
          std::uint32_t a[4];
          const int r = kc * 16 + ((lane >> 4) << 3) + (lane & 7);
          const int c = qrow + (((lane >> 3) & 1) << 3);
          ldsm_x4_t(a, smem_addr(ds_s + r * kDsStride + c));
#pragma unroll
          for (int dn = 0; dn < kChunk / 16; ++dn) {
            std::uint32_t bf[4];
            load_b_kn<D>(bf, k_s, kc * 16, col0 + chunk * kChunk + dn * 16, lane);
            mma_16816<T>(dq[2 * dn], a, bf[0], bf[1]);
            mma_16816<T>(dq[2 * dn + 1], a, bf[2], bf[3]);
          }
        }
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const std::int64_t qi = q0 + qrow + g + half * 8;
          if (qi >= p.q_rows) continue;
          float* dst = p.dq_acc + ((b * p.q_rows + qi) * p.heads + h) * D + col0 + chunk * kChunk + 2 * t;
#pragma unroll
          for (int i = 0; i < kChunk / 8; ++i) {
            atomicAdd(dst + i * 8, dq[i][2 * half] * p.scale);
            atomicAdd(dst + i * 8 + 1, dq[i][2 * half + 1] * p.scale);
          }
        }
      }
    }
    __syncthreads();  // the next prefetch and dS^T overwrite what was just read
  }
  cp_async_wait<0>();

  // dK = scale dS^T Q and dV, written (or added) for this warp's key rows.
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const std::int64_t kj = kv0 + wrow + g + half * 8;
    if (kj >= p.kv_rows) continue;
    const std::int64_t at = ((b * p.kv_rows + kj) * p.kv_heads + kvh) * D + 2 * t;
    T* dkp = static_cast<T*>(p.dk) + at;
    T* dvp = static_cast<T*>(p.dv) + at;
#pragma unroll
    for (int i = 0; i < D / 8; ++i) {
      float k0 = dk[i][2 * half] * p.scale, k1 = dk[i][2 * half + 1] * p.scale;
      float v0 = dv[i][2 * half], v1 = dv[i][2 * half + 1];
      if (p.dkv_add) {
        k0 += Elem<T>::to_float(dkp[i * 8]);
        k1 += Elem<T>::to_float(dkp[i * 8 + 1]);
        v0 += Elem<T>::to_float(dvp[i * 8]);
        v1 += Elem<T>::to_float(dvp[i * 8 + 1]);
      }
      *reinterpret_cast<std::uint32_t*>(dkp + i * 8) = Elem<T>::pack(k0, k1);
      *reinterpret_cast<std::uint32_t*>(dvp + i * 8) = Elem<T>::pack(v0, v1);
    }
  }
}

// dq = acc (+ dq when adding): the fp32 workspace into the activation type.
template <class T>
__global__ void dq_convert_kernel(T* dq, const float* acc, std::int64_t n, bool add) {
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    float x = acc[i];
    if (add) x += Elem<T>::to_float(dq[i]);
    dq[i] = Elem<T>::from_float(x);
  }
}

// delta[b][h][i] = sum_d dout[b][i][h][d] o[b][i][h][d]: one warp per row.
template <class T, int D>
__global__ void softmax_delta_kernel(const T* o, const T* dout, float* delta, std::int64_t q_rows,
                                     std::int64_t heads, std::int64_t rows) {
  const std::int64_t row = (static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;  // rows ordered [b][i][h], as the activations
  const T* a = o + row * D;
  const T* c = dout + row * D;
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < D / 32; ++i) s += Elem<T>::to_float(a[lane + 32 * i]) * Elem<T>::to_float(c[lane + 32 * i]);
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
  if (lane == 0) {
    const std::int64_t h = row % heads, i = (row / heads) % q_rows, b = row / heads / q_rows;
    delta[(b * heads + h) * q_rows + i] = s;
  }
}

template <class T, int D>
std::string launch_backward(const BwdParams& p, void* dq, bool dq_add, cudaStream_t s) {
  const std::size_t acc_elems = static_cast<std::size_t>(p.batch * p.q_rows * p.heads * D);
  if (cudaMemsetAsync(p.dq_acc, 0, acc_elems * sizeof(float), s) != cudaSuccess) return last_error();
  if (p.kv_rows > 0) {
    auto kernel = attention_bwd_kernel<T, D>;
    constexpr int smem = bwd_smem_bytes<D>();
    if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem) != cudaSuccess)
      return last_error();
    dim3 grid(static_cast<unsigned>((p.kv_rows + kBc - 1) / kBc), static_cast<unsigned>(p.kv_heads),
              static_cast<unsigned>(p.batch));
    kernel<<<grid, kThreads, smem, s>>>(p);
    if (auto e = last_error(); !e.empty()) return e;
  }
  if (acc_elems > 0) {
    const std::int64_t n = static_cast<std::int64_t>(acc_elems);
    const unsigned blocks = static_cast<unsigned>(std::min<std::int64_t>((n + 255) / 256, 4096));
    dq_convert_kernel<T><<<blocks, 256, 0, s>>>(static_cast<T*>(dq), p.dq_acc, n, dq_add);
  }
  return last_error();
}

template <class T>
std::string launch_delta(const AttnDims& d, const void* o, const void* dout, float* delta, cudaStream_t s) {
  const std::int64_t rows = d.batch * d.q_rows * d.heads;
  if (rows == 0) return {};
  const unsigned blocks = static_cast<unsigned>((rows + 7) / 8);
  if (d.head_dim == 64)
    softmax_delta_kernel<T, 64><<<blocks, 256, 0, s>>>(static_cast<const T*>(o), static_cast<const T*>(dout),
                                                       delta, d.q_rows, d.heads, rows);
  else
    softmax_delta_kernel<T, 128><<<blocks, 256, 0, s>>>(static_cast<const T*>(o), static_cast<const T*>(dout),
                                                        delta, d.q_rows, d.heads, rows);
  return last_error();
}

}  // namespace

std::string attention_softmax_delta(ElemType t, const AttnDims& d, const void* o, const void* dout, float* delta,
                                    void* stream) {
  if (auto why = attention_supported(d); !why.empty()) return why;
  const auto s = static_cast<cudaStream_t>(stream);
  return t == ElemType::bf16 ? launch_delta<__nv_bfloat16>(d, o, dout, delta, s)
                             : launch_delta<__half>(d, o, dout, delta, s);
}

std::size_t attention_backward_workspace_bytes(const AttnDims& d) {
  return static_cast<std::size_t>(d.batch * d.q_rows * d.heads * d.head_dim) * sizeof(float);
}

std::string attention_backward(ElemType t, const AttnDims& d, const void* q, const void* k, const void* v,
                               const void* dout, const float* lse, const float* delta, void* dq, bool dq_add,
                               void* dk, void* dv, bool dkv_add, void* workspace, std::size_t workspace_bytes,
                               void* stream) {
  if (auto why = attention_supported(d); !why.empty()) return why;
  if (workspace_bytes < attention_backward_workspace_bytes(d))
    return "attention_backward: workspace of " + std::to_string(workspace_bytes) + " bytes, needs " +
           std::to_string(attention_backward_workspace_bytes(d));
  if (d.batch == 0) return {};
  BwdParams p{};
  p.q = q; p.k = k; p.v = v; p.dout = dout; p.lse = lse; p.delta = delta;
  p.dk = dk; p.dv = dv; p.dq_acc = static_cast<float*>(workspace);
  p.batch = d.batch; p.q_rows = d.q_rows; p.kv_rows = d.kv_rows;
  p.heads = d.heads; p.kv_heads = d.kv_heads; p.group = d.heads / d.kv_heads;
  p.q_offset = d.q_offset; p.kv_offset = d.kv_offset; p.causal = d.causal; p.dkv_add = dkv_add;
  p.scale = softmax_scale(d);
  p.scale_log2 = p.scale * kLog2e;
  const auto s = static_cast<cudaStream_t>(stream);
  const bool bf = t == ElemType::bf16;
  if (d.head_dim == 64)
    return bf ? launch_backward<__nv_bfloat16, 64>(p, dq, dq_add, s) : launch_backward<__half, 64>(p, dq, dq_add, s);
  return bf ? launch_backward<__nv_bfloat16, 128>(p, dq, dq_add, s) : launch_backward<__half, 128>(p, dq, dq_add, s);
}

}  // namespace xattn::gpu
