// dlopen-based NCCL loader (see nccl_loader.hpp).
#include "gpu/nccl_loader.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <vector>

#include "gpu/errors.hpp"

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

}  // namespace xattn::gpu
