#include "gpu/merge.hpp"

#include <cmath>

#include <cuda_runtime.h>

namespace xattn::gpu {
namespace {

// One block of threads per row; threads stride over the head dimension.
__global__ void merge_kernel(float* o_acc, float* lse_acc, const float* o_part, const float* lse_part,
                             std::int64_t rows, int head_dim) {
  std::int64_t row = blockIdx.x;
  if (row >= rows) return;
  float wa, wb, l;
  merge_weights(lse_acc[row], lse_part[row], &wa, &wb, &l);
  float* oa = o_acc + row * head_dim;
  const float* ob = o_part + row * head_dim;
  for (int j = threadIdx.x; j < head_dim; j += blockDim.x) oa[j] = wa * oa[j] + wb * ob[j];
  __syncthreads();
  if (threadIdx.x == 0) lse_acc[row] = l;
}

}  // namespace

void merge_reference(float* o_acc, float* lse_acc, const float* o_part, const float* lse_part,
                     std::int64_t rows, int head_dim) {
  for (std::int64_t r = 0; r < rows; ++r) {
    float wa, wb, l;
    merge_weights(lse_acc[r], lse_part[r], &wa, &wb, &l);
    for (int j = 0; j < head_dim; ++j) o_acc[r * head_dim + j] = wa * o_acc[r * head_dim + j] + wb * o_part[r * head_dim + j];
    lse_acc[r] = l;
  }
}

std::string merge_on_device(float* o_acc, float* lse_acc, const float* o_part, const float* lse_part,
                            std::int64_t rows, int head_dim, void* stream) {
  if (rows <= 0) return {};
  int threads = head_dim >= 128 ? 128 : 64;
  merge_kernel<<<static_cast<unsigned>(rows), threads, 0, static_cast<cudaStream_t>(stream)>>>(
      o_acc, lse_acc, o_part, lse_part, rows, head_dim);
  cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? std::string() : std::string(cudaGetErrorString(err));
}

}  // namespace xattn::gpu

namespace xattn::gpu {

std::string merge_via_device(float* o_acc, float* lse_acc, const float* o_part, const float* lse_part,
                             std::int64_t rows, int head_dim) {
  const std::size_t o_bytes = static_cast<std::size_t>(rows) * head_dim * sizeof(float);
  const std::size_t l_bytes = static_cast<std::size_t>(rows) * sizeof(float);
  float *d_oa = nullptr, *d_la = nullptr, *d_ob = nullptr, *d_lb = nullptr;
  auto fail = [&](cudaError_t e) {
    cudaFree(d_oa); cudaFree(d_la); cudaFree(d_ob); cudaFree(d_lb);
    cudaGetLastError();
    return std::string(cudaGetErrorString(e));
  };
  cudaError_t e;
  if ((e = cudaMalloc(&d_oa, o_bytes)) != cudaSuccess) return fail(e);
  if ((e = cudaMalloc(&d_ob, o_bytes)) != cudaSuccess) return fail(e);
  if ((e = cudaMalloc(&d_la, l_bytes)) != cudaSuccess) return fail(e);
  if ((e = cudaMalloc(&d_lb, l_bytes)) != cudaSuccess) return fail(e);
  cudaMemcpy(d_oa, o_acc, o_bytes, cudaMemcpyHostToDevice);
  cudaMemcpy(d_ob, o_part, o_bytes, cudaMemcpyHostToDevice);
  cudaMemcpy(d_la, lse_acc, l_bytes, cudaMemcpyHostToDevice);
  cudaMemcpy(d_lb, lse_part, l_bytes, cudaMemcpyHostToDevice);
  std::string err = merge_on_device(d_oa, d_la, d_ob, d_lb, rows, head_dim, nullptr);
  if (!err.empty()) { fail(cudaSuccess); return err; }
  if ((e = cudaMemcpy(o_acc, d_oa, o_bytes, cudaMemcpyDeviceToHost)) != cudaSuccess) return fail(e);
  if ((e = cudaMemcpy(lse_acc, d_la, l_bytes, cudaMemcpyDeviceToHost)) != cudaSuccess) return fail(e);
  cudaFree(d_oa); cudaFree(d_la); cudaFree(d_ob); cudaFree(d_lb);
  return {};
}

}  // namespace xattn::gpu
