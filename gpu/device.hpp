// What GPUs this process can see. Safe to call on a machine without a GPU or without a
// driver: it then reports zero devices and why, instead of failing. Every GPU entry point
// calls it first; it also raises CUDA_DEVICE_MAX_CONNECTIONS to 32 unless the user set it
// (device.cu says why).
#pragma once

#include <string>
#include <vector>

namespace xattn::gpu {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int major = 0, minor = 0;          // compute capability
  int sms = 0;
  unsigned long long memory_bytes = 0;
};

struct DeviceReport {
  std::vector<DeviceInfo> devices;
  std::string why_none;  // set when devices is empty: no driver, no device, ...
};

[[nodiscard]] DeviceReport query_devices();

}  // namespace xattn::gpu
