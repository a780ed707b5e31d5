// Loopback pacing kernels, link measurement and the NCCL self test (see transport.hpp).
//
// Pacing: the mark kernel stamps the transfer's start from %globaltimer (the GPU's
// nanosecond clock, the same one every SM reads), the copies run on the DMA engines, and
// the pace kernel then sleeps in steps of at most 1 µs until start + latency +
// bytes/bandwidth. Both kernels are one thread of one block: they hold one thread slot of
// one SM while they run (the pace kernel for up to the whole transfer), which the
// attention kernels of other streams lose. On a 132-SM H100 that is under 1% of one SM's
// thread slots; docs/gpu_backend.md discusses it.
#include "gpu/transport.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include <cuda_runtime.h>

#include "gpu/cuda_check.hpp"
#include "gpu/device.hpp"
#include "gpu/nccl_loader.hpp"

namespace xattn::gpu {
namespace {

__device__ __forceinline__ std::int64_t global_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return static_cast<std::int64_t>(t);
}

__global__ void mark_kernel(std::int64_t* slot) { *slot = global_ns(); }

__global__ void mark_link_kernel(std::int64_t* slot, std::int64_t* link_free, std::int64_t wire_ns,
                                 std::int64_t latency_ns) {
  auto* free_at = reinterpret_cast<unsigned long long*>(link_free);
  const std::int64_t now = global_ns();
  unsigned long long old = *free_at, seen;
  std::int64_t done;
  do {
    seen = old;
    const std::int64_t start = static_cast<std::int64_t>(seen) > now ? static_cast<std::int64_t>(seen) : now;
    done = start + wire_ns;
    old = atomicCAS(free_at, seen, static_cast<unsigned long long>(done));
  } while (old != seen);
  *slot = done + latency_ns;
}

__global__ void pace_kernel(const std::int64_t* slot, std::int64_t ns) {
  const std::int64_t until = *slot + ns;
  for (;;) {
    const std::int64_t now = global_ns();
    if (now >= until) break;
    const std::int64_t left = until - now;
    __nanosleep(static_cast<unsigned>(left > 1000 ? 1000 : (left > 32 ? left / 2 : 32)));
  }
}

void need_gpu() {
  DeviceReport r = query_devices();
  if (r.devices.empty()) throw GpuUnavailable("this needs a GPU: " + r.why_none);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

std::string_view to_string(TransportKind k) { return k == TransportKind::nccl ? "nccl" : "loopback"; }

std::int64_t paced_duration_ns(const LoopbackOptions& o, std::int64_t bytes) {
  if (!o.pace) return 0;
  double ns = o.latency_us * 1e3;
  if (o.bandwidth_GBps > 0) ns += static_cast<double>(bytes) / o.bandwidth_GBps;  // bytes / (GB/s) = ns
  return static_cast<std::int64_t>(ns + 0.5);
}

void enqueue_mark(std::int64_t* slot, void* stream) {
  mark_kernel<<<1, 1, 0, static_cast<cudaStream_t>(stream)>>>(slot);
  check(cudaGetLastError(), "mark kernel");
}

void enqueue_mark_link(std::int64_t* slot, std::int64_t* link_free, std::int64_t wire_ns, std::int64_t latency_ns,
                       void* stream) {
  mark_link_kernel<<<1, 1, 0, static_cast<cudaStream_t>(stream)>>>(slot, link_free, wire_ns, latency_ns);
  check(cudaGetLastError(), "mark kernel");
}

void enqueue_pace(const std::int64_t* slot, std::int64_t ns, void* stream) {
  pace_kernel<<<1, 1, 0, static_cast<cudaStream_t>(stream)>>>(slot, ns);
  check(cudaGetLastError(), "pace kernel");
}

std::vector<LinkSample> measure_link(TransportKind kind, const LoopbackOptions& o,
                                     const std::vector<std::int64_t>& sizes, int reps) {
  need_gpu();
  reps = std::max(reps, 1);
  std::int64_t max_bytes = 1;
  for (auto b : sizes) max_bytes = std::max(max_bytes, b);
  const std::size_t cap = static_cast<std::size_t>(max_bytes);
  check(cudaSetDevice(0), "cudaSetDevice");
  void *src = nullptr, *dst = nullptr, *host = nullptr;
  std::int64_t* slot = nullptr;
  cudaStream_t stream = nullptr;
  cudaEvent_t a = nullptr, b = nullptr;
  ncclComm_t comm = nullptr;
  auto release = [&] {
    if (comm != nullptr) nccl().CommDestroy(comm);
    cudaFree(src); cudaFree(dst); cudaFree(slot); cudaFreeHost(host);
    if (a) cudaEventDestroy(a);
    if (b) cudaEventDestroy(b);
    if (stream) cudaStreamDestroy(stream);
  };
  std::vector<LinkSample> out;
  try {
    check(cudaMalloc(&src, cap), "cudaMalloc");
    check(cudaMalloc(&dst, cap), "cudaMalloc");
    check(cudaMalloc(&slot, sizeof(std::int64_t)), "cudaMalloc");
    check(cudaMemset(src, 1, cap), "cudaMemset");
    int lo = 0, hi = 0;
    check(cudaDeviceGetStreamPriorityRange(&lo, &hi), "priority range");
    check(cudaStreamCreateWithPriority(&stream, cudaStreamNonBlocking, hi), "stream");
    check(cudaEventCreate(&a), "event");
    check(cudaEventCreate(&b), "event");
    if (kind == TransportKind::loopback) {
      check(cudaMallocHost(&host, cap), "cudaMallocHost");
    } else {
      int dev = 0;
      nccl_check(nccl().CommInitAll(&comm, 1, &dev), "ncclCommInitAll");
    }
    for (std::int64_t bytes : sizes) {
      std::vector<double> t;
      for (int r = -1; r < reps; ++r) {
        check(cudaEventRecord(a, stream), "record");
        if (kind == TransportKind::loopback) {
          enqueue_mark(slot, stream);
          if (bytes > 0) {
            check(cudaMemcpyAsync(host, src, static_cast<std::size_t>(bytes), cudaMemcpyDeviceToHost, stream), "D2H");
            check(cudaMemcpyAsync(dst, host, static_cast<std::size_t>(bytes), cudaMemcpyHostToDevice, stream), "H2D");
          }
          if (o.pace) enqueue_pace(slot, paced_duration_ns(o, bytes), stream);
        } else {
          const NcclApi& n = nccl();
          nccl_check(n.GroupStart(), "ncclGroupStart");
          nccl_check(n.Send(src, static_cast<std::size_t>(bytes), ncclInt8, 0, comm, stream), "ncclSend");
          nccl_check(n.Recv(dst, static_cast<std::size_t>(bytes), ncclInt8, 0, comm, stream), "ncclRecv");
          nccl_check(n.GroupEnd(), "ncclGroupEnd");
        }
        check(cudaEventRecord(b, stream), "record");
        check(cudaEventSynchronize(b), "sync");
        float ms = 0.f;
        check(cudaEventElapsedTime(&ms, a, b), "elapsed");
        if (r >= 0) t.push_back(ms * 1e-3);
      }
      out.push_back(LinkSample{bytes, median(t)});
    }
  } catch (...) {
    release();
    throw;
  }
  release();
  return out;
}

double nccl_self_test(std::int64_t bytes) {
  need_gpu();
  const NcclApi& n = nccl();
  check(cudaSetDevice(0), "cudaSetDevice");
  const std::size_t sz = static_cast<std::size_t>(std::max<std::int64_t>(bytes, 1));
  std::vector<unsigned char> pattern(sz), back(sz, 0);
  for (std::size_t i = 0; i < sz; ++i) pattern[i] = static_cast<unsigned char>((i * 131u + 7u) & 0xff);
  void *src = nullptr, *dst = nullptr;
  cudaStream_t stream = nullptr;
  cudaEvent_t a = nullptr, b = nullptr;
  ncclComm_t comm = nullptr;
  auto release = [&] {
    if (comm != nullptr) n.CommDestroy(comm);
    cudaFree(src); cudaFree(dst);
    if (a) cudaEventDestroy(a);
    if (b) cudaEventDestroy(b);
    if (stream) cudaStreamDestroy(stream);
  };
  double seconds = 0;
  try {
    check(cudaMalloc(&src, sz), "cudaMalloc");
    check(cudaMalloc(&dst, sz), "cudaMalloc");
    check(cudaMemcpy(src, pattern.data(), sz, cudaMemcpyHostToDevice), "H2D");
    check(cudaMemset(dst, 0, sz), "cudaMemset");
    check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream");
    check(cudaEventCreate(&a), "event");
    check(cudaEventCreate(&b), "event");
    int dev = 0;
    nccl_check(n.CommInitAll(&comm, 1, &dev), "ncclCommInitAll");
    check(cudaEventRecord(a, stream), "record");
    nccl_check(n.GroupStart(), "ncclGroupStart");
    nccl_check(n.Send(src, sz, ncclInt8, 0, comm, stream), "ncclSend");
    nccl_check(n.Recv(dst, sz, ncclInt8, 0, comm, stream), "ncclRecv");
    nccl_check(n.GroupEnd(), "ncclGroupEnd");
    check(cudaEventRecord(b, stream), "record");
    check(cudaStreamSynchronize(stream), "sync");
    float ms = 0.f;
    check(cudaEventElapsedTime(&ms, a, b), "elapsed");
    seconds = ms * 1e-3;
    check(cudaMemcpy(back.data(), dst, sz, cudaMemcpyDeviceToHost), "D2H");
    if (std::memcmp(back.data(), pattern.data(), sz) != 0) throw GpuError("NCCL self send/recv: the bytes that arrived differ");
  } catch (...) {
    release();
    throw;
  }
  release();
  return seconds;
}

}  // namespace xattn::gpu
