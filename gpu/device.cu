#include "gpu/device.hpp"

#include <cstdlib>

#include <cuda_runtime.h>

namespace xattn::gpu {

namespace {

// CUDA multiplexes a process's streams onto CUDA_DEVICE_MAX_CONNECTIONS hardware queues
// (8 by default). Our executor uses tens of streams (compute and communication per rank,
// one per transfer slot); aliased onto 8 queues, a message waited for unrelated work on
// another stream: on the H100 a loopback transfer posted on both sides by 2.4 ms started
// at 6.6 ms, when another rank's transfer ended, and P = 4 runs came out 12-18% slower
// than the simulator. With 32 queues the validation set's worst case went from 18% to 5%
// (docs/validation.md §6). Set before the first CUDA call creates a context; a value the
// user set wins.
void widen_hardware_queues() { setenv("CUDA_DEVICE_MAX_CONNECTIONS", "32", /*overwrite=*/0); }

}  // namespace

DeviceReport query_devices() {
  widen_hardware_queues();
  DeviceReport r;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    r.why_none = std::string("no usable GPU: ") + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error for later calls
    return r;
  }
  if (count == 0) {
    r.why_none = "no GPU found";
    return r;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    r.devices.push_back(DeviceInfo{i, p.name, p.major, p.minor, p.multiProcessorCount,
                                   static_cast<unsigned long long>(p.totalGlobalMem)});
  }
  return r;
}

}  // namespace xattn::gpu
