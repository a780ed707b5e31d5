// Building blocks shared by the attention forward and backward kernels (gpu/attention_fwd.cu,
// gpu/attention_bwd.cu): the element types, swizzled shared-memory tiles filled by cp.async,
// ldmatrix fragment loads and the m16n8k16 tensor-core product, all in inline PTX so that
// nothing beyond the CUDA runtime is needed. Internal to gpu/; include from .cu files only.
//
// Fragment layout of mma.m16n8k16 (lane = 4 g + t, g = lane / 4, t = lane % 4):
//   A (16 x 16, row-major)  a0 = (g, 2t..2t+1)  a1 = (g+8, 2t..)  a2 = (g, 2t+8..)  a3 = (g+8, 2t+8..)
//   B (16 x 8,  col-major)  b0 = (k 2t..2t+1, n g)                b1 = (k 2t+8.., n g)
//   C (16 x 8,  fp32)       c0, c1 = (g, 2t), (g, 2t+1)           c2, c3 = (g+8, 2t), (g+8, 2t+1)
// The C fragments of two adjacent 8-column tiles are, packed in pairs, the A fragment of
// the next product (P V in the forward, dS Q in the backward) without a shared-memory trip.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "gpu/attention.hpp"

namespace xattn::gpu::attn {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// std::min/max are host-only constexpr functions; kernels use these.
template <class I> __host__ __device__ inline I imin(I a, I b) { return a < b ? a : b; }
template <class I> __host__ __device__ inline I imax(I a, I b) { return a > b ? a : b; }

// ---- element types --------------------------------------------------------------------

template <class T> struct Elem;
template <> struct Elem<__half> {
  __device__ static float to_float(__half x) { return __half2float(x); }
  __device__ static __half from_float(float x) { return __float2half_rn(x); }
  // Two floats as one 32-bit register of two elements, the low half first.
  __device__ static std::uint32_t pack(float lo, float hi) {
    __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<std::uint32_t*>(&h);
  }
};
template <> struct Elem<__nv_bfloat16> {
  __device__ static float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
  __device__ static __nv_bfloat16 from_float(float x) { return __float2bfloat16_rn(x); }
  __device__ static std::uint32_t pack(float lo, float hi) {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<std::uint32_t*>(&h);
  }
};

// c += a b on the tensor cores, fp32 accumulation.
template <class T>
__device__ inline void mma_16816(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0, std::uint32_t b1);
template <>
__device__ inline void mma_16816<__half>(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0,
                                         std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ inline void mma_16816<__nv_bfloat16>(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0,
                                                std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// ---- shared memory: tiles of `rows` x D elements, 16-byte chunks XOR-swizzled by row ----
// Chunk c of row r lives at chunk c ^ (r % 8): the 8 rows one ldmatrix reads at a fixed
// column then fall in 8 different bank groups (D >= 64, so a row has at least 8 chunks).

__device__ inline std::uint32_t smem_addr(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

template <int D>
__device__ inline int swz(int row, int col) {  // col in elements, a multiple of 8
  return row * D + ((((col >> 3) ^ (row & 7))) << 3);
}

__device__ inline void cp_async_16(std::uint32_t dst, const void* src, bool valid) {
  // src-size 0 fills the 16 bytes with zeros: rows past the end read as zeros.
  int n = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(n));
}
__device__ inline void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ inline void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

// Copies rows [row0, row0 + ROWS) of one head from a [rows_total][heads][D] slab (already
// offset to the batch and head) into a swizzled tile; rows at or past rows_total read as 0.
template <int ROWS, int D, int THREADS, class T>
__device__ inline void load_tile_async(T* tile, const T* src, std::int64_t row_stride, std::int64_t row0,
                                       std::int64_t rows_total, int tid) {
  constexpr int kChunksPerRow = D / 8;
  constexpr int kChunks = ROWS * kChunksPerRow;
  static_assert(kChunks % THREADS == 0, "tile chunks must divide among the threads");
#pragma unroll
  for (int i = 0; i < kChunks / THREADS; ++i) {
    int c = tid + i * THREADS;
    int r = c / kChunksPerRow;
    int col = (c % kChunksPerRow) * 8;
    std::int64_t grow = row0 + r;
    bool valid = grow < rows_total;
    const T* g = src + (valid ? grow : 0) * row_stride + col;
    cp_async_16(smem_addr(tile + swz<D>(r, col)), g, valid);
  }
}

// ldmatrix: four 8x8 matrices; lane l supplies the address of row l % 8 of matrix l / 8.
__device__ inline void ldsm_x4(std::uint32_t (&r)[4], std::uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ inline void ldsm_x4_t(std::uint32_t (&r)[4], std::uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// A fragment (16 rows x 16 k) of a row-major [row][k] swizzled tile, rows row0.., k k0..
template <int D, class T>
__device__ inline void load_a(std::uint32_t (&a)[4], const T* tile, int row0, int k0, int lane) {
  int r = row0 + (lane & 15);
  int c = k0 + ((lane >> 4) << 3);
  ldsm_x4(a, smem_addr(tile + swz<D>(r, c)));
}
// B fragments of two adjacent n-tiles (n0.., n0+8..) x 16 k, from a tile stored [n][k]
// (B = tile^T: K for S = Q K^T). b[0], b[1] for n-tile 0; b[2], b[3] for n-tile 1.
template <int D, class T>
__device__ inline void load_b_nk(std::uint32_t (&b)[4], const T* tile, int n0, int k0, int lane) {
  int r = n0 + ((lane >> 4) << 3) + (lane & 7);
  int c = k0 + (((lane >> 3) & 1) << 3);
  ldsm_x4(b, smem_addr(tile + swz<D>(r, c)));
}
// B fragments of two adjacent n-tiles x 16 k from a tile stored [k][n] (V for O = P V).
template <int D, class T>
__device__ inline void load_b_kn(std::uint32_t (&b)[4], const T* tile, int k0, int n0, int lane) {
  int r = k0 + (((lane >> 3) & 1) << 3) + (lane & 7);
  int c = n0 + ((lane >> 4) << 3);
  ldsm_x4_t(b, smem_addr(tile + swz<D>(r, c)));
}

// Error string of the last launch (empty on success).
inline std::string last_error() {
  cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? std::string() : std::string("CUDA: ") + cudaGetErrorString(e);
}

inline float softmax_scale(const AttnDims& d) {
  return d.scale != 0.f ? d.scale : 1.f / std::sqrt(static_cast<float>(d.head_dim));
}

}  // namespace xattn::gpu::attn
