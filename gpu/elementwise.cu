// Elementwise kernels of the executor (see elementwise.hpp). One thread per element, or a
// few threads per row for the row kernels; these ops are memory-bound and small next to
// the attention blocks.
#include "gpu/elementwise.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "gpu/merge.hpp"

namespace xattn::gpu {
namespace {

template <class T> __device__ __forceinline__ float ld(const T* p, std::int64_t i);
template <> __device__ __forceinline__ float ld<__half>(const __half* p, std::int64_t i) { return __half2float(p[i]); }
template <> __device__ __forceinline__ float ld<__nv_bfloat16>(const __nv_bfloat16* p, std::int64_t i) { return __bfloat162float(p[i]); }
template <> __device__ __forceinline__ float ld<float>(const float* p, std::int64_t i) { return p[i]; }
template <class T> __device__ __forceinline__ void st(T* p, std::int64_t i, float v);
template <> __device__ __forceinline__ void st<__half>(__half* p, std::int64_t i, float v) { p[i] = __float2half(v); }
template <> __device__ __forceinline__ void st<__nv_bfloat16>(__nv_bfloat16* p, std::int64_t i, float v) { p[i] = __float2bfloat16(v); }
template <> __device__ __forceinline__ void st<float>(float* p, std::int64_t i, float v) { p[i] = v; }

constexpr int threads = 256;
unsigned blocks_for(std::int64_t n) { return static_cast<unsigned>((n + threads - 1) / threads); }

std::string last_error() {
  cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? std::string() : std::string(cudaGetErrorString(e));
}

// Row kernels (merge, rescale): a row is one (b, query, head) group of head_dim values.
// `lanes` threads share a row, each owning `chunk` consecutive values, so a warp reads
// contiguous memory (a thread per row, walking its own 256 bytes, ran at a seventh of
// HBM bandwidth on the H100). A block holds whole rows: its lse writes wait for every
// lane of the row at one barrier.
struct RowSplit {
  int chunk = 1;          // values per thread
  int lanes = 1;          // threads per row
  int rows_per_block = 1;
  [[nodiscard]] int threads_per_block() const { return lanes * rows_per_block; }
  [[nodiscard]] unsigned blocks(std::int64_t rows) const {
    return static_cast<unsigned>((rows + rows_per_block - 1) / rows_per_block);
  }
};

RowSplit split_rows(std::int64_t head_dim) {
  RowSplit r;
  r.chunk = head_dim % 8 == 0 ? 8 : head_dim % 4 == 0 ? 4 : head_dim % 2 == 0 ? 2 : 1;
  r.lanes = static_cast<int>(std::min<std::int64_t>(head_dim / r.chunk, threads));
  r.chunk = static_cast<int>((head_dim + r.lanes - 1) / r.lanes);
  r.rows_per_block = std::max(1, threads / r.lanes);
  return r;
}

template <class T>
__global__ void merge_kernel(RowDims d, RowSplit sp, T* o, float* lse, const T* po, const float* plse) {
  const std::int64_t g = blockIdx.x * static_cast<std::int64_t>(sp.rows_per_block) + threadIdx.x / sp.lanes;
  const int lane = static_cast<int>(threadIdx.x % sp.lanes);
  const std::int64_t n = d.batch * d.rows * d.heads;
  const bool active = g < n;
  std::int64_t s = 0;
  float wa = 0.f, wb = 0.f, l = 0.f;
  if (active) {
    const std::int64_t h = g % d.heads, r = (g / d.heads) % d.rows, b = g / (d.heads * d.rows);
    s = (b * d.heads + h) * d.rows + r;
    merge_weights(lse[s], plse[s], &wa, &wb, &l);
    T* x = o + g * d.head_dim;
    const T* y = po + g * d.head_dim;
    const std::int64_t begin = static_cast<std::int64_t>(lane) * sp.chunk;
    const std::int64_t end = begin + sp.chunk < d.head_dim ? begin + sp.chunk : d.head_dim;
    for (std::int64_t j = begin; j < end; ++j) st(x, j, wa * ld(x, j) + wb * ld(y, j));
  }
  __syncthreads();  // every lane of the row has read lse[s]
  if (active && lane == 0) lse[s] = l;
}

template <class T>
__global__ void rescale_kernel(RowDims d, RowSplit sp, T* o, const float* local, const float* merged) {
  const std::int64_t g = blockIdx.x * static_cast<std::int64_t>(sp.rows_per_block) + threadIdx.x / sp.lanes;
  const int lane = static_cast<int>(threadIdx.x % sp.lanes);
  const std::int64_t n = d.batch * d.rows * d.heads;
  if (g >= n) return;
  const std::int64_t h = g % d.heads, r = (g / d.heads) % d.rows, b = g / (d.heads * d.rows);
  const std::int64_t s = (b * d.heads + h) * d.rows + r;
  const float w = isinf(local[s]) && local[s] < 0 ? 0.f : expf(local[s] - merged[s]);
  T* x = o + g * d.head_dim;
  const std::int64_t begin = static_cast<std::int64_t>(lane) * sp.chunk;
  const std::int64_t end = begin + sp.chunk < d.head_dim ? begin + sp.chunk : d.head_dim;
  for (std::int64_t j = begin; j < end; ++j) st(x, j, w * ld(x, j));
}

__global__ void lse_combine_kernel(const float* src, std::int64_t src_n, float* dst, std::int64_t dst_n) {
  const std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (i >= dst_n) return;
  const std::int64_t k = src_n / dst_n;
  float m = -INFINITY;
  for (std::int64_t j = 0; j < k; ++j) m = fmaxf(m, src[j * dst_n + i]);
  if (isinf(m) && m < 0) { dst[i] = m; return; }
  float s = 0.f;
  for (std::int64_t j = 0; j < k; ++j) s += expf(src[j * dst_n + i] - m);
  dst[i] = m + logf(s);
}

template <class T>
__global__ void accumulate_kernel(T* dst, const T* src, std::int64_t n) {
  const std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) st(dst, i, ld(dst, i) + ld(src, i));
}

__global__ void fill_kernel(float* dst, std::int64_t n, float v) {
  const std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) dst[i] = v;
}

__device__ __forceinline__ std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
  return x;
}

template <class T>
__global__ void random_kernel(T* dst, std::int64_t n, std::uint64_t seed, float lo, float hi) {
  const std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const float u = static_cast<float>(mix(seed * 0x9e3779b97f4a7c15ULL + static_cast<std::uint64_t>(i)) >> 40) * (1.f / 16777216.f);
  float v = lo + (hi - lo) * u;
  if (v == 0.f) v = 1e-3f;
  st(dst, i, v);
}

template <class T>
__global__ void to_f32_kernel(const T* src, float* dst, std::int64_t n) {
  const std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) dst[i] = ld(src, i);
}
template <class T>
__global__ void from_f32_kernel(const float* src, T* dst, std::int64_t n) {
  const std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) st(dst, i, src[i]);
}

// Calls f with a typed null pointer of the element type (for template dispatch).
template <class F>
std::string dispatch(Elem t, F f) {
  switch (t) {
    case Elem::f16: f(static_cast<__half*>(nullptr)); break;
    case Elem::bf16: f(static_cast<__nv_bfloat16*>(nullptr)); break;
    case Elem::f32: f(static_cast<float*>(nullptr)); break;
  }
  return last_error();
}

}  // namespace

int elem_bytes(Elem e) { return e == Elem::f32 ? 4 : 2; }

std::string merge_rows(Elem t, const RowDims& d, void* o, float* lse, const void* po, const float* plse, void* stream) {
  const std::int64_t n = d.batch * d.rows * d.heads;
  if (n <= 0) return {};
  return dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const RowSplit sp = split_rows(d.head_dim);
    merge_kernel<T><<<sp.blocks(n), sp.threads_per_block(), 0, static_cast<cudaStream_t>(stream)>>>(
        d, sp, static_cast<T*>(o), lse, static_cast<const T*>(po), plse);
  });
}

std::string rescale_rows(Elem t, const RowDims& d, void* o, const float* local, const float* merged, void* stream) {
  const std::int64_t n = d.batch * d.rows * d.heads;
  if (n <= 0) return {};
  return dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const RowSplit sp = split_rows(d.head_dim);
    rescale_kernel<T><<<sp.blocks(n), sp.threads_per_block(), 0, static_cast<cudaStream_t>(stream)>>>(
        d, sp, static_cast<T*>(o), local, merged);
  });
}

std::string lse_combine_rows(const float* src, std::int64_t src_n, float* dst, std::int64_t dst_n, void* stream) {
  if (dst_n <= 0) return {};
  lse_combine_kernel<<<blocks_for(dst_n), threads, 0, static_cast<cudaStream_t>(stream)>>>(src, src_n, dst, dst_n);
  return last_error();
}

std::string accumulate_elems(Elem t, void* dst, const void* src, std::int64_t n, void* stream) {
  if (n <= 0) return {};
  return dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    accumulate_kernel<T><<<blocks_for(n), threads, 0, static_cast<cudaStream_t>(stream)>>>(
        static_cast<T*>(dst), static_cast<const T*>(src), n);
  });
}

std::string fill_f32(float* dst, std::int64_t n, float value, void* stream) {
  if (n <= 0) return {};
  fill_kernel<<<blocks_for(n), threads, 0, static_cast<cudaStream_t>(stream)>>>(dst, n, value);
  return last_error();
}

std::string fill_random(Elem t, void* dst, std::int64_t n, std::uint64_t seed, float lo, float hi, void* stream) {
  if (n <= 0) return {};
  return dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    random_kernel<T><<<blocks_for(n), threads, 0, static_cast<cudaStream_t>(stream)>>>(static_cast<T*>(dst), n, seed, lo, hi);
  });
}

std::string to_f32(Elem t, const void* src, float* dst, std::int64_t n, void* stream) {
  if (n <= 0) return {};
  return dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    to_f32_kernel<T><<<blocks_for(n), threads, 0, static_cast<cudaStream_t>(stream)>>>(static_cast<const T*>(src), dst, n);
  });
}

std::string from_f32(Elem t, const float* src, void* dst, std::int64_t n, void* stream) {
  if (n <= 0) return {};
  return dispatch(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    from_f32_kernel<T><<<blocks_for(n), threads, 0, static_cast<cudaStream_t>(stream)>>>(src, static_cast<T*>(dst), n);
  });
}

}  // namespace xattn::gpu
