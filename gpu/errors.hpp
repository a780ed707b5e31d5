// The two ways the GPU backend fails that are not bad input (issue 6). Host-only: the
// launch and rendezvous code (built without CUDA) throws them too.
#pragma once

#include <stdexcept>

namespace xattn::gpu {

// No GPU, no driver, no NCCL library: the machine cannot run this, the input is fine.
struct GpuUnavailable : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A CUDA or NCCL call failed.
struct GpuError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace xattn::gpu
