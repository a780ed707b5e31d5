// NCCL, loaded with dlopen at run time so that xattn starts (and reports "no NCCL") on
// machines without it. nccl.h is used for its types only; no symbol of libnccl is linked.
//
// Where it looks, in order: $XATTN_NCCL_LIBRARY (a path), libnccl.so.2 on the loader's
// path, /usr/local/cuda/lib64/libnccl.so.2, and the pip wheel's copy
// (<python site-packages>/nvidia/nccl/lib/libnccl.so.2 for the python3 found under
// /usr/lib, /usr/local/lib and $VIRTUAL_ENV).
#pragma once

#include <string>

#include <nccl.h>

namespace xattn::gpu {

struct NcclApi {
  std::string path;  // the file that was loaded
  int version = 0;   // e.g. 22703 for 2.27.3
  const char* (*GetErrorString)(ncclResult_t) = nullptr;
  ncclResult_t (*GetVersion)(int*) = nullptr;
  ncclResult_t (*GetUniqueId)(ncclUniqueId*) = nullptr;
  ncclResult_t (*CommInitRank)(ncclComm_t*, int, ncclUniqueId, int) = nullptr;
  ncclResult_t (*CommInitAll)(ncclComm_t*, int, const int*) = nullptr;
  ncclResult_t (*CommDestroy)(ncclComm_t) = nullptr;
  ncclResult_t (*GroupStart)() = nullptr;
  ncclResult_t (*GroupEnd)() = nullptr;
  ncclResult_t (*Send)(const void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*Recv)(void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*AllGather)(const void*, void*, size_t, ncclDataType_t, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*ReduceScatter)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t,
                                cudaStream_t) = nullptr;
  ncclResult_t (*AllReduce)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t,
                            cudaStream_t) = nullptr;
};

// The loaded library (loaded once); throws GpuUnavailable naming every place it looked.
[[nodiscard]] const NcclApi& nccl();

// Throws GpuError "what: <NCCL's message>" unless r is ncclSuccess.
void nccl_check(ncclResult_t r, const char* what);

// Multi-process runs (one process per GPU) find each other through launch.hpp and
// rendezvous.hpp, and the executor calls CommInitRank with the id rank 0 shares.

}  // namespace xattn::gpu
