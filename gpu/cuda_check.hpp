// The one way gpu/ turns a failed CUDA call (or a kernel wrapper's error string) into a
// GpuError naming what was being done. Internal to gpu/: it includes the CUDA runtime.
#pragma once

#include <string>
#include <string_view>

#include <cuda_runtime.h>

#include "gpu/transport.hpp"

namespace xattn::gpu {

// Throws GpuError "what: <CUDA's message>" unless e is cudaSuccess (and clears the error).
inline void check(cudaError_t e, std::string_view what) {
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw GpuError(std::string(what) + ": " + cudaGetErrorString(e));
  }
}

// The kernel wrappers report errors as strings (empty: none).
inline void check(const std::string& error, std::string_view what) {
  if (!error.empty()) throw GpuError(std::string(what) + ": " + error);
}

}  // namespace xattn::gpu
