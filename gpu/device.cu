#include "gpu/device.hpp"

#include <cuda_runtime.h>

namespace xattn::gpu {

DeviceReport query_devices() {
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
