// dlopen-based NCCL loader and the file rendezvous (see nccl_loader.hpp).
#include "gpu/nccl_loader.hpp"

#include <dlfcn.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include <cuda_runtime.h>

#include "gpu/transport.hpp"

namespace xattn::gpu {
namespace {

std::vector<std::string> candidates() {
  std::vector<std::string> c;
  if (const char* p = std::getenv("XATTN_NCCL_LIBRARY"); p != nullptr && *p != '\0') c.emplace_back(p);
  c.emplace_back("libnccl.so.2");
  c.emplace_back("libnccl.so");
  c.emplace_back("/usr/local/cuda/lib64/libnccl.so.2");
  // The pip wheel (nvidia-nccl-cu12/13) puts it under site-packages/nvidia/nccl/lib.
  std::vector<std::string> roots{"/usr/lib", "/usr/local/lib"};
  if (const char* v = std::getenv("VIRTUAL_ENV"); v != nullptr) roots.insert(roots.begin(), std::string(v) + "/lib");
  for (const auto& root : roots) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(root, ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("python3", 0) != 0) continue;
      for (const char* sp : {"site-packages", "dist-packages"}) {
        auto lib = e.path() / sp / "nvidia" / "nccl" / "lib" / "libnccl.so.2";
        if (std::filesystem::exists(lib, ec)) c.push_back(lib.string());
      }
    }
  }
  return c;
}

template <class F>
void bind(void* h, const char* name, F*& f, std::string& missing) {
  f = reinterpret_cast<F*>(dlsym(h, name));
  if (f == nullptr) missing += std::string(missing.empty() ? "" : ", ") + name;
}

NcclApi load() {
  std::string tried;
  for (const auto& path : candidates()) {
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      tried += "\n  " + path + ": " + dlerror();
      continue;
    }
    NcclApi a;
    a.path = path;
    std::string missing;
    bind(h, "ncclGetErrorString", a.GetErrorString, missing);
    bind(h, "ncclGetVersion", a.GetVersion, missing);
    bind(h, "ncclGetUniqueId", a.GetUniqueId, missing);
    bind(h, "ncclCommInitRank", a.CommInitRank, missing);
    bind(h, "ncclCommInitAll", a.CommInitAll, missing);
    bind(h, "ncclCommDestroy", a.CommDestroy, missing);
    bind(h, "ncclGroupStart", a.GroupStart, missing);
    bind(h, "ncclGroupEnd", a.GroupEnd, missing);
    bind(h, "ncclSend", a.Send, missing);
    bind(h, "ncclRecv", a.Recv, missing);
    bind(h, "ncclAllGather", a.AllGather, missing);
    bind(h, "ncclReduceScatter", a.ReduceScatter, missing);
    bind(h, "ncclAllReduce", a.AllReduce, missing);
    if (!missing.empty()) {
      tried += "\n  " + path + ": lacks " + missing;
      dlclose(h);
      continue;
    }
    a.GetVersion(&a.version);
    return a;
  }
  throw GpuUnavailable("NCCL not found (set XATTN_NCCL_LIBRARY to libnccl.so.2); tried:" + tried);
}

}  // namespace

const NcclApi& nccl() {
  static std::once_flag once;
  static NcclApi api;
  static std::string error;
  std::call_once(once, [] {
    try {
      api = load();
    } catch (const GpuUnavailable& e) {
      error = e.what();
    }
  });
  if (!error.empty()) throw GpuUnavailable(error);
  return api;
}

void nccl_check(ncclResult_t r, const char* what) {
  if (r == ncclSuccess) return;
  throw GpuError(std::string(what) + ": " + nccl().GetErrorString(r));
}

NcclRankComm nccl_init_rank_from_env() {
  const char* file = std::getenv("XATTN_NCCL_ID_FILE");
  const char* rank = std::getenv("XATTN_RANK");
  const char* world = std::getenv("XATTN_WORLD");
  if (file == nullptr || rank == nullptr || world == nullptr)
    throw GpuUnavailable("multi-process NCCL needs XATTN_NCCL_ID_FILE, XATTN_RANK and XATTN_WORLD");
  NcclRankComm rc;
  rc.rank = std::atoi(rank);
  rc.world = std::atoi(world);
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) throw GpuUnavailable("no GPU for this rank");
  const char* local = std::getenv("XATTN_LOCAL_DEVICE");
  rc.device = local != nullptr ? std::atoi(local) : rc.rank % count;
  cudaSetDevice(rc.device);
  const NcclApi& n = nccl();
  ncclUniqueId id{};
  if (rc.rank == 0) {
    nccl_check(n.GetUniqueId(&id), "ncclGetUniqueId");
    const std::string tmp = std::string(file) + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary);
      out.write(reinterpret_cast<const char*>(&id), sizeof id);
      if (!out) throw GpuError("cannot write " + tmp);
    }
    std::filesystem::rename(tmp, file);
  } else {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    for (;;) {
      std::ifstream in(file, std::ios::binary);
      if (in && in.read(reinterpret_cast<char*>(&id), sizeof id)) break;
      if (std::chrono::steady_clock::now() > deadline) throw GpuError(std::string("no NCCL id in ") + file + " after 120 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  nccl_check(n.CommInitRank(&rc.comm, rc.world, id, rc.rank), "ncclCommInitRank");
  return rc;
}

}  // namespace xattn::gpu
