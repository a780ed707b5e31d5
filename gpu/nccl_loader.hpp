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

// Multi-process bootstrap without MPI: the communicator of this process's rank. Rank
// $XATTN_RANK of $XATTN_WORLD; rank 0 writes the unique id to $XATTN_NCCL_ID_FILE (written
// to a temporary name and renamed, so readers never see half of it), the others wait for
// the file (up to 120 s). Uses the GPU $XATTN_LOCAL_DEVICE (default: rank modulo the
// visible GPUs). Throws GpuUnavailable when the variables are not set.
struct NcclRankComm {
  ncclComm_t comm = nullptr;
  int rank = 0;
  int world = 1;
  int device = 0;
};
[[nodiscard]] NcclRankComm nccl_init_rank_from_env();

}  // namespace xattn::gpu
