// The GPU Schedule executor (see executor.hpp). Host C++20 with the CUDA runtime API;
// kernels live in elementwise.cu, transport.cu and attention*.cu.
#include "gpu/executor.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <map>
#include <stdexcept>
#include <span>
#include <tuple>

#include <unistd.h>

#include <cuda_runtime.h>
#include <nvtx3/nvToolsExt.h>
#include <nvtx3/nvToolsExtCudaRt.h>

#include "gpu/attention.hpp"
#include "gpu/cuda_check.hpp"
#include "gpu/device.hpp"
#include "gpu/elementwise.hpp"
#include "gpu/nccl_loader.hpp"

namespace xattn::gpu {

std::string_view to_string(ComputePlacement p) {
  return p == ComputePlacement::one_device_stream ? "one_device_stream" : "per_rank_streams";
}

namespace {

// Allowed pairs of a causal block of q query rows and kv key rows whose first query sits
// `delta` positions after the first key: sum over rows of clamp(delta + i + 1, 0, kv).
std::int64_t causal_pairs(std::int64_t q, std::int64_t kv, std::int64_t delta) {
  std::int64_t n = 0;
  for (std::int64_t i = 0; i < q; ++i) n += std::clamp<std::int64_t>(delta + i + 1, 0, kv);
  return n;
}

}  // namespace

MaskMapping map_mask(const BlockShape& b) {
  MaskMapping m;
  const std::int64_t full = b.q_rows * b.kv_rows;
  if (b.q_rows <= 0 || b.kv_rows <= 0 || (b.mask != Mask::dense && b.allowed_pairs <= 0)) {
    m.skip = true;
    return m;
  }
  if (b.mask == Mask::dense || b.allowed_pairs >= full) {
    m.pairs = full;
    return m;
  }
  if (b.mask == Mask::media_local) {
    // Not reproduced: the kernel has no media-local mask; the block runs dense.
    m.pairs = full;
    return m;
  }
  // Causal: the offset whose pair count equals allowed_pairs (monotone in delta), or the
  // nearest one when none does exactly (a block made of several causal runs).
  std::int64_t lo = -b.q_rows, hi = b.kv_rows;
  while (lo < hi) {
    std::int64_t mid = lo + (hi - lo) / 2;
    if (causal_pairs(b.q_rows, b.kv_rows, mid) < b.allowed_pairs) lo = mid + 1;
    else hi = mid;
  }
  m.causal = true;
  m.q_offset = lo;
  m.pairs = causal_pairs(b.q_rows, b.kv_rows, lo);
  return m;
}

namespace {

ElemType act_type(DType t) {
  if (t == DType::fp16) return ElemType::f16;
  if (t == DType::bf16) return ElemType::bf16;
  throw std::invalid_argument("the GPU kernels run fp16 or bf16 activations, not fp32 (--dtype fp16|bf16)");
}

}  // namespace

// ---- the executor -------------------------------------------------------------------------

struct Executor::Impl : WalkCallbacks {
  const Schedule& s;
  ExecOptions o;
  ScheduleStructure st;
  BufferPlan plan;
  int P;
  ElemType act;
  Elem act_elem;
  bool nccl_mode;
  Bootstrap* boot;              // multi-process: this process runs rank boot->rank() only
  std::vector<char> local;      // per rank: run by this process
  std::vector<int> locals;      // the ranks this process runs, ascending
  std::vector<int> dev;         // per rank: its GPU (-1: another process's)
  std::vector<std::string> rank_device;  // per rank: its GPU's name (multi-process: from every process)
  std::string unique_id;        // multi-process rank 0: NCCL's unique id, made before the processes settle
  std::vector<OpId> order;

  std::vector<char*> arena;
  std::vector<std::map<std::string, char*>> ptr;
  std::vector<std::map<std::string, char>> written;

  std::vector<std::vector<cudaStream_t>> rank_streams;  // [rank][local stream]
  cudaStream_t device_stream = nullptr;                 // one_device_stream compute
  std::vector<cudaStream_t> roots;                      // per rank: where the origin goes
  std::map<std::tuple<int, int, int>, cudaStream_t> xfer;  // (rank, local stream, slot)
  std::map<std::tuple<int, int, int>, void*> staging;      // pinned, per transfer stream
  std::map<std::tuple<int, int, int>, std::int64_t> staging_bytes;
  std::vector<std::vector<cudaEvent_t>> ev_post, ev_start, ev_end;
  std::vector<cudaEvent_t> origin;  // per rank (its device's origin)
  std::vector<cudaEvent_t> scratch_events;
  std::size_t scratch_next = 0;
  std::map<cudaStream_t, std::pair<void*, std::size_t>> workspace;  // per compute stream
  std::map<cudaStream_t, float*> delta_scratch;
  std::int64_t* slots = nullptr;
  std::size_t slot_count = 0, slot_next = 0;
  std::int64_t* link_free = nullptr;
  std::vector<ncclComm_t> comms;
  std::vector<float*> barrier_word;  // nccl: per rank, the all-reduce that aligns the origins
  nvtxDomainHandle_t domain = nullptr;
  int lo_prio = 0, hi_prio = 0;

  Impl(const Schedule& sched, ExecOptions opt)
      : s(sched), o(std::move(opt)), st(walk_structure(sched)), plan(plan_buffers(sched)), P(sched.ranks()), act(act_type(sched.shape.dtype)),
        act_elem(act == ElemType::f16 ? Elem::f16 : Elem::bf16), nccl_mode(o.transport == TransportKind::nccl),
        boot(o.bootstrap) {
    if (boot != nullptr) {
      if (!nccl_mode)
        throw std::invalid_argument("the loopback transport runs every rank in one process; one process per rank needs the "
                                    "nccl transport");
      if (boot->world() != P)
        throw std::invalid_argument("this process is rank " + std::to_string(boot->rank()) + " of " +
                                    std::to_string(boot->world()) + " processes, but the schedule has " + std::to_string(P) +
                                    " ranks: start one process per rank");
    }
    local.assign(static_cast<std::size_t>(P), boot == nullptr ? 1 : 0);
    if (boot != nullptr) local[static_cast<std::size_t>(boot->rank())] = 1;
    for (int r = 0; r < P; ++r)
      if (local[static_cast<std::size_t>(r)]) locals.push_back(r);
    dev.assign(static_cast<std::size_t>(P), -1);
    rank_device.assign(static_cast<std::size_t>(P), std::string());
    // What can fail in one process only — its GPU, NCCL, memory — runs before NCCL's
    // initialization, which would wait forever for a process that failed; in a
    // multi-process run the processes then settle: all go on, or all fail with its error.
    std::exception_ptr failed;
    try {
      choose_devices();
      if (o.placement == ComputePlacement::one_device_stream) {
        if (o.compute_order.empty()) order = default_compute_order(s);
        else { validate_compute_order(s, o.compute_order); order = o.compute_order; }
      }
      domain = nvtxDomainCreateA("xattn");
      setup();
    } catch (...) {
      failed = std::current_exception();
    }
    if (boot != nullptr) settle(failed);
    else if (failed) {
      release();
      std::rethrow_exception(failed);
    }
    try {
      init_comms();
    } catch (...) {
      release();
      throw;
    }
  }
  ~Impl() override { release(); }

  void set(int r) { check(cudaSetDevice(dev[static_cast<std::size_t>(r)]), "cudaSetDevice"); }
  bool is_local(int r) const { return local[static_cast<std::size_t>(r)] != 0; }

  // The GPU of every rank this process runs: loopback, all on o.device; nccl in one
  // process, rank r on GPU r; nccl with one process per rank, the GPU of its rank on the
  // node (choose_local_device).
  void choose_devices() {
    DeviceReport rep = query_devices();
    if (rep.devices.empty()) throw GpuUnavailable("this needs a GPU: " + rep.why_none);
    const int visible = static_cast<int>(rep.devices.size());
    if (nccl_mode) {
      if (o.placement == ComputePlacement::one_device_stream)
        throw std::invalid_argument("one device compute stream is for ranks sharing one GPU (loopback); NCCL runs one rank per GPU");
      if (boot != nullptr) {
        const int r = boot->rank();
        dev[static_cast<std::size_t>(r)] = choose_local_device(r, boot->local_rank(), visible);
      } else {
        if (visible < P)
          throw GpuUnavailable("the nccl transport runs one rank per GPU: " + std::to_string(P) + " ranks, " +
                               std::to_string(visible) + " GPU(s) here (use --transport loopback, or one process per GPU "
                               "on several machines: docs/gpu_backend.md)");
        for (int r = 0; r < P; ++r) dev[static_cast<std::size_t>(r)] = r;
      }
      for (int c = 0; c < st.instance_count(); ++c) {
        const std::span<const OpId> members = st.members(c);
        const CollectiveOp& op = *s.op(members.front()).collective();
        if (op.kind != CollectiveKind::all_to_all && static_cast<int>(members.size()) != P)
          throw std::invalid_argument("collective " + std::string(op.tag) + " runs over " + std::to_string(members.size()) +
                                      " of " + std::to_string(P) + " ranks; the nccl transport runs collectives on the "
                                      "communicator of all ranks and has no sub-communicators yet (use --transport loopback)");
      }
      const NcclApi& n = nccl();  // throws GpuUnavailable without NCCL
      if (boot != nullptr && boot->rank() == 0) {
        ncclUniqueId id{};
        nccl_check(n.GetUniqueId(&id), "ncclGetUniqueId");
        unique_id.assign(reinterpret_cast<const char*>(&id), sizeof id);
      }
    } else {
      if (o.device < 0 || o.device >= visible) throw GpuUnavailable("no GPU " + std::to_string(o.device));
      for (int r : locals) dev[static_cast<std::size_t>(r)] = o.device;
    }
    for (int r : locals) rank_device[static_cast<std::size_t>(r)] = rep.devices[static_cast<std::size_t>(dev[static_cast<std::size_t>(r)])].name;
  }

  // Multi-process: every process says whether its set-up succeeded, and on which GPU of
  // which host it runs. When one failed, every process throws (its own error, or the
  // first failed rank's, of the same kind); when two ranks share a GPU, every process
  // throws GpuUnavailable. Releases everything before throwing.
  void settle(const std::exception_ptr& failed) {
    std::string mine;
    if (failed) {
      try {
        std::rethrow_exception(failed);
      } catch (const GpuUnavailable& e) {
        mine = std::string("U") + e.what();
      } catch (const std::invalid_argument& e) {
        mine = std::string("I") + e.what();
      } catch (const std::exception& e) {
        mine = std::string("E") + e.what();
      } catch (...) {
        mine = "Ean unknown failure";
      }
    } else {
      char host[256] = {};
      ::gethostname(host, sizeof host - 1);
      char bus[32] = {};
      cudaDeviceGetPCIBusId(bus, sizeof bus, dev[static_cast<std::size_t>(boot->rank())]);
      mine = "K" + std::string(host) + " " + bus + "\t" + rank_device[static_cast<std::size_t>(boot->rank())];
    }
    std::vector<std::string> all;
    try {
      all = boot->all_gather(mine);
    } catch (...) {
      release();
      throw;
    }
    std::map<std::string, int> gpu_of;
    for (int r = 0; r < P; ++r) {
      const std::string& a = all[static_cast<std::size_t>(r)];
      if (!a.empty() && a[0] == 'K') {
        const std::size_t tab = a.find('\t');
        const std::string where = a.substr(1, tab - 1);
        rank_device[static_cast<std::size_t>(r)] = tab == std::string::npos ? std::string() : a.substr(tab + 1);
        auto [it, fresh] = gpu_of.emplace(where, r);
        if (!fresh && !failed) {
          release();
          throw GpuUnavailable("ranks " + std::to_string(it->second) + " and " + std::to_string(r) + " both run on GPU " +
                               where + ": give every process its own GPU (at most one process per GPU on each node)");
        }
        continue;
      }
      release();
      if (failed) std::rethrow_exception(failed);
      const std::string why = "rank " + std::to_string(r) + " failed to set up: " + (a.empty() ? std::string("?") : a.substr(1));
      if (!a.empty() && a[0] == 'U') throw GpuUnavailable(why);
      if (!a.empty() && a[0] == 'I') throw std::invalid_argument(why);
      throw GpuError(why);
    }
  }

  // NCCL communicators: one process, ncclCommInitAll over every rank's GPU; one process
  // per rank, ncclCommInitRank with the unique id rank 0 made, shared by the bootstrap.
  void init_comms() {
    if (!nccl_mode) return;
    const NcclApi& n = nccl();
    comms.assign(static_cast<std::size_t>(P), nullptr);
    if (boot == nullptr) {
      std::vector<int> devs(dev.begin(), dev.end());
      nccl_check(n.CommInitAll(comms.data(), P, devs.data()), "ncclCommInitAll");
      return;
    }
    const std::string id_bytes = boot->broadcast(unique_id);
    ncclUniqueId id{};
    if (id_bytes.size() != sizeof id)
      throw GpuError("NCCL's unique id from rank 0 has " + std::to_string(id_bytes.size()) + " bytes, not " +
                     std::to_string(sizeof id) + " (different NCCL versions on the nodes?)");
    std::memcpy(&id, id_bytes.data(), sizeof id);
    const int r = boot->rank();
    set(r);
    nccl_check(n.CommInitRank(&comms[static_cast<std::size_t>(r)], P, id, r), "ncclCommInitRank");
  }

  cudaStream_t make_stream(int r, bool high, const std::string& name) {
    set(r);
    cudaStream_t x = nullptr;
    check(cudaStreamCreateWithPriority(&x, cudaStreamNonBlocking, high ? hi_prio : lo_prio), "cudaStreamCreate");
    nvtxNameCudaStreamA(x, name.c_str());
    return x;
  }

  void setup() {
    set(locals.front());
    check(cudaDeviceGetStreamPriorityRange(&lo_prio, &hi_prio), "cudaDeviceGetStreamPriorityRange");
    // Buffers: one arena per rank, 256-byte aligned pieces, zeroed.
    ptr.resize(static_cast<std::size_t>(P));
    written.resize(static_cast<std::size_t>(P));
    for (int r : locals) {
      set(r);
      const auto& rb = plan.ranks[static_cast<std::size_t>(r)];
      std::size_t total = 0;
      for (const auto& b : rb.buffers) total += (static_cast<std::size_t>(b.bytes) + 255) / 256 * 256;
      char* base = nullptr;
      check(cudaMalloc(&base, std::max<std::size_t>(total, 256)), "cudaMalloc (rank " + std::to_string(r) + ", " + std::to_string(total) + " bytes)");
      arena.push_back(base);
      check(cudaMemset(base, 0, std::max<std::size_t>(total, 256)), "cudaMemset");
      std::size_t off = 0;
      for (const auto& b : rb.buffers) {
        ptr[static_cast<std::size_t>(r)][b.name] = base + off;
        off += (static_cast<std::size_t>(b.bytes) + 255) / 256 * 256;
      }
    }
    // Streams.
    rank_streams.resize(static_cast<std::size_t>(P));
    roots.assign(static_cast<std::size_t>(P), nullptr);
    for (int r : locals) {
      // By stream slot (ScheduleStructure), made in the order the program first uses them.
      rank_streams[static_cast<std::size_t>(r)].assign(static_cast<std::size_t>(st.stream_count(r)), nullptr);
      for (const ScheduleStructure::StreamUse& u : st.streams(r)) {
        const Stream x = slot_stream(u.slot);
        rank_streams[static_cast<std::size_t>(r)][static_cast<std::size_t>(u.slot)] =
            make_stream(r, x.kind == StreamKind::comm, "r" + std::to_string(r) + " " + x.name());
      }
      roots[static_cast<std::size_t>(r)] = make_stream(r, false, "r" + std::to_string(r) + " root");
    }
    if (o.placement == ComputePlacement::one_device_stream) device_stream = make_stream(0, false, "device compute");
    // Transfer streams and their staging, sized from the schedule.
    auto need = [&](std::tuple<int, int, int> key, std::int64_t bytes) {
      if (!is_local(std::get<0>(key))) return;  // another process's stream
      if (xfer.find(key) == xfer.end()) {
        auto [r, sid, slot] = key;
        xfer[key] = make_stream(r, true, "r" + std::to_string(r) + " xfer " + slot_stream(sid).name() + "." + std::to_string(slot));
      }
      auto& b = staging_bytes[key];
      b = std::max(b, bytes);
    };
    for (int r = 0; r < P; ++r) {  // every rank: a local receiver's stream is named by the sender's op
      const auto& ops = s.programs[static_cast<std::size_t>(r)].ops;
      for (std::size_t i = 0; i < ops.size(); ++i) {
        const OpId id{r, static_cast<int>(i)};
        const int sid = st.slot(id);
        if (ops[i].kind() == OpKind::send) {
          need({r, sid, send_slot(id)}, static_cast<std::int64_t>(ops[i].transfer()->size().value()));
          ++slot_count;
          if (nccl_mode) {  // the receiving side's stream
            OpId rc = st.partner(id);
            need({rc.rank, st.slot(rc), 1000}, 0);
          }
        }
        if (const CollectiveOp* c = ops[i].collective()) {
          const int n = static_cast<int>(c->group.size());
          std::int64_t most = 0;
          for (const Bytes& b : c->bytes_to) most = std::max(most, static_cast<std::int64_t>(b.value()));
          if (nccl_mode) need({r, sid, 2000}, 0);
          else if (c->kind == CollectiveKind::all_to_all)
            for (int j = 0; j < n; ++j) need({r, sid, 100 + j}, most);
          else
            need({r, sid, 50}, most);
          slot_count += static_cast<std::size_t>(2 * n + 2);
        }
      }
    }
    if (!nccl_mode)
      for (auto& [key, bytes] : staging_bytes) {
        void* h = nullptr;
        check(cudaMallocHost(&h, static_cast<std::size_t>(std::max<std::int64_t>(bytes, 1))), "cudaMallocHost (staging)");
        staging[key] = h;
      }
    set(locals.front());
    check(cudaMalloc(&slots, std::max<std::size_t>(slot_count, 1) * sizeof(std::int64_t)), "cudaMalloc (slots)");
    check(cudaMalloc(&link_free, static_cast<std::size_t>(P * P) * sizeof(std::int64_t)), "cudaMalloc (links)");
    // Events, one set per op.
    ev_post.resize(static_cast<std::size_t>(P));
    ev_start.resize(static_cast<std::size_t>(P));
    ev_end.resize(static_cast<std::size_t>(P));
    origin.assign(static_cast<std::size_t>(P), nullptr);
    for (int r : locals) {
      set(r);
      const std::size_t n = s.programs[static_cast<std::size_t>(r)].ops.size();
      for (auto* v : {&ev_post, &ev_start, &ev_end}) {
        auto& e = (*v)[static_cast<std::size_t>(r)];
        e.assign(n, nullptr);
        for (auto& x : e) check(cudaEventCreate(&x), "cudaEventCreate");
      }
      check(cudaEventCreate(&origin[static_cast<std::size_t>(r)]), "cudaEventCreate");
    }
    // Workspaces per compute stream.
    for (int r : locals) {
      const auto& ops = s.programs[static_cast<std::size_t>(r)].ops;
      for (std::size_t i = 0; i < ops.size(); ++i) {
        const ComputeOp* c = ops[i].compute();
        if (c == nullptr) continue;
        cudaStream_t x = compute_stream(OpId{r, static_cast<int>(i)});
        auto& ws = workspace[x];
        auto& ds = delta_scratch[x];
        (void)ds;
        if (c->kind == ComputeKind::attention_backward) {
          AttnDims d = dims(*c);
          ws.second = std::max(ws.second, attention_backward_workspace_bytes(d));
          const std::size_t dbytes = static_cast<std::size_t>(d.batch * d.heads * d.q_rows) * sizeof(float);
          auto& sz = delta_bytes[x];
          sz = std::max(sz, dbytes);
        }
      }
    }
    for (auto& [x, ws] : workspace) {
      if (ws.second > 0) check(cudaMalloc(&ws.first, ws.second), "cudaMalloc (workspace)");
      if (delta_bytes[x] > 0) check(cudaMalloc(&delta_scratch[x], delta_bytes[x]), "cudaMalloc (delta)");
    }
    if (nccl_mode) {
      barrier_word.assign(static_cast<std::size_t>(P), nullptr);
      for (int r : locals) {
        set(r);
        check(cudaMalloc(&barrier_word[static_cast<std::size_t>(r)], sizeof(float)), "cudaMalloc (barrier)");
        check(cudaMemset(barrier_word[static_cast<std::size_t>(r)], 0, sizeof(float)), "cudaMemset");
      }
    }
    for (int r : locals) {
      set(r);
      check(cudaDeviceSynchronize(), "setup");
    }
  }
  std::map<cudaStream_t, std::size_t> delta_bytes;

  void release() {
    for (auto c : comms) if (c != nullptr) nccl().CommDestroy(c);
    comms.clear();
    for (auto* v : {&ev_post, &ev_start, &ev_end})
      for (auto& e : *v) for (auto x : e) if (x) cudaEventDestroy(x);
    ev_post.clear(); ev_start.clear(); ev_end.clear();
    for (auto x : origin) if (x) cudaEventDestroy(x);
    origin.clear();
    for (auto w : barrier_word) cudaFree(w);
    barrier_word.clear();
    for (auto x : scratch_events) cudaEventDestroy(x);
    scratch_events.clear();
    for (auto& [x, ws] : workspace) cudaFree(ws.first);
    workspace.clear();
    for (auto& [x, d] : delta_scratch) cudaFree(d);
    delta_scratch.clear();
    for (auto& [k, h] : staging) cudaFreeHost(h);
    staging.clear();
    for (auto& [k, x] : xfer) cudaStreamDestroy(x);
    xfer.clear();
    for (auto& v : rank_streams) for (auto x : v) if (x) cudaStreamDestroy(x);
    rank_streams.clear();
    for (auto x : roots) if (x) cudaStreamDestroy(x);
    roots.clear();
    if (device_stream) cudaStreamDestroy(device_stream);
    device_stream = nullptr;
    for (auto a : arena) cudaFree(a);
    arena.clear();
    cudaFree(slots); slots = nullptr;
    cudaFree(link_free); link_free = nullptr;
    cudaGetLastError();
  }

  // ---- helpers ----
  cudaStream_t stream_of(OpId id) {
    return rank_streams[static_cast<std::size_t>(id.rank)][static_cast<std::size_t>(st.slot(id))];
  }
  // A send's position among the sends of its transfer group run: which of its stream's
  // transfer streams it goes out on.
  int send_slot(OpId id) const {
    int k = 0;
    for (int i = st.run_first(id); i != id.index; i = st.next(OpId{id.rank, i}))
      if (s.op(OpId{id.rank, i}).kind() == OpKind::send) ++k;
    return k;
  }
  cudaStream_t compute_stream(OpId id) {
    return o.placement == ComputePlacement::one_device_stream ? device_stream : stream_of(id);
  }
  char* buf(int r, const std::string& name) {
    auto it = ptr[static_cast<std::size_t>(r)].find(name);
    if (it == ptr[static_cast<std::size_t>(r)].end()) throw GpuError("rank " + std::to_string(r) + " has no buffer '" + name + "'");
    return it->second;
  }
  std::int64_t bytes_of(int r, const std::string& name) const {
    return plan.ranks[static_cast<std::size_t>(r)].at(name).bytes;
  }
  cudaEvent_t scratch_event() {
    if (scratch_next == scratch_events.size()) {
      cudaEvent_t e = nullptr;
      check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
      scratch_events.push_back(e);
    }
    return scratch_events[scratch_next++];
  }
  std::int64_t* next_slot() {
    if (slot_next >= slot_count) throw GpuError("out of pacing slots");
    return slots + slot_next++;
  }
  AttnDims dims(const ComputeOp& c) const {
    const BlockShape& b = c.block;
    AttnDims d;
    d.batch = b.batch;
    d.q_rows = b.q_rows;
    d.kv_rows = b.kv_rows;
    d.heads = b.heads;
    d.kv_heads = b.kv_heads;
    d.head_dim = b.head_dim;
    const MaskMapping m = map_mask(b);
    d.causal = m.causal;
    d.q_offset = m.q_offset;
    d.kv_offset = 0;
    return d;
  }
  RowDims row_dims(int r, const std::string& o_name, const std::string& lse_name) const {
    const auto& rb = plan.ranks[static_cast<std::size_t>(r)];
    RowDims d;
    d.batch = s.shape.batch;
    d.head_dim = s.shape.head_dim;
    const BufferSpec& ob = rb.at(o_name);
    d.rows = ob.rows;
    d.heads = ob.heads;
    if (d.rows == 0 || d.heads == 0) {
      const BufferSpec& lb = rb.at(lse_name);
      d.heads = lb.heads > 0 ? lb.heads : s.shape.heads;
      d.rows = lb.bytes / 4 / std::max<std::int64_t>(1, d.batch * d.heads);
    }
    return d;
  }
  void wait_deps(OpId id, cudaStream_t x) {
    for (int d : s.op(id).deps)
      check(cudaStreamWaitEvent(x, ev_end[static_cast<std::size_t>(id.rank)][static_cast<std::size_t>(d)], 0), "cudaStreamWaitEvent");
  }
  cudaEvent_t& post_ev(OpId id) { return ev_post[static_cast<std::size_t>(id.rank)][static_cast<std::size_t>(id.index)]; }
  cudaEvent_t& start_ev(OpId id) { return ev_start[static_cast<std::size_t>(id.rank)][static_cast<std::size_t>(id.index)]; }
  cudaEvent_t& end_ev(OpId id) { return ev_end[static_cast<std::size_t>(id.rank)][static_cast<std::size_t>(id.index)]; }

  struct Range {
    nvtxDomainHandle_t d;
    Range(nvtxDomainHandle_t dom, const std::string& msg) : d(dom) {
      nvtxEventAttributes_t a{};
      a.version = NVTX_VERSION;
      a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
      a.messageType = NVTX_MESSAGE_TYPE_ASCII;
      a.message.ascii = msg.c_str();
      nvtxDomainRangePushEx(d, &a);
    }
    ~Range() { nvtxDomainRangePop(d); }
  };

  // ---- callbacks of the walk ----
  void compute(OpId id) override {
    if (!is_local(id.rank)) return;  // another process runs it
    const Op& op = s.op(id);
    const ComputeOp& c = *op.compute();
    Range nv(domain, id.str() + " " + std::string(xattn::to_string(c.kind)) + ": " + op.describe());
    const int r = id.rank;
    set(r);
    cudaStream_t x = compute_stream(id);
    wait_deps(id, x);
    check(cudaEventRecord(post_ev(id), x), "cudaEventRecord");
    check(cudaEventRecord(start_ev(id), x), "cudaEventRecord");
    const std::string where = "op " + id.str() + " (" + op.describe() + ")";
    auto B = [&](const std::string& n) -> void* { return n.empty() ? nullptr : buf(r, n); };
    auto F = [&](const std::string& n) -> float* { return n.empty() ? nullptr : reinterpret_cast<float*>(buf(r, n)); };
    switch (c.kind) {
      case ComputeKind::attention_forward: {
        const MaskMapping m = map_mask(c.block);
        AttnDims d = dims(c);
        if (m.skip) {
          check(cudaMemsetAsync(B(c.o), 0, static_cast<std::size_t>(bytes_of(r, c.o)), x), where);
          check(fill_f32(F(c.lse), bytes_of(r, c.lse) / 4, -INFINITY, x), where);
        } else {
          check(attention_forward(act, d, B(c.q), B(c.k), B(c.v), B(c.o), F(c.lse), x), where);
        }
        break;
      }
      case ComputeKind::attention_backward: {
        const MaskMapping m = map_mask(c.block);
        if (m.skip) break;
        AttnDims d = dims(c);
        const float* delta = F(c.delta);
        if (delta == nullptr) {
          float* scratch = delta_scratch[x];
          check(attention_softmax_delta(act, d, B(c.o), B(c.dout), scratch, x), where + " (delta)");
          delta = scratch;
        }
        auto& ws = workspace[x];
        check(attention_backward(act, d, B(c.q), B(c.k), B(c.v), B(c.dout), F(c.lse), delta, B(c.dq),
                                 c.dq_mode == Accumulate::add, B(c.dk), B(c.dv), c.dkv_mode == Accumulate::add, ws.first,
                                 ws.second, x),
              where);
        break;
      }
      case ComputeKind::merge:
        check(merge_rows(act_elem, row_dims(r, c.o, c.lse), B(c.o), F(c.lse), B(c.part_o), F(c.part_lse), x), where);
        break;
      case ComputeKind::rescale:
        check(rescale_rows(act_elem, row_dims(r, c.o, c.lse), B(c.o), F(c.lse), F(c.merged_lse), x), where);
        break;
      case ComputeKind::softmax_delta: {
        AttnDims d;
        if (c.block.q_rows > 0) d = dims(c);
        else {
          RowDims rd = row_dims(r, c.o, c.delta);
          d.batch = rd.batch; d.q_rows = rd.rows; d.heads = rd.heads; d.kv_heads = rd.heads; d.head_dim = rd.head_dim; d.kv_rows = 1;
        }
        check(attention_softmax_delta(act, d, B(c.o), B(c.dout), F(c.delta), x), where);
        break;
      }
      case ComputeKind::lse_combine:
        check(lse_combine_rows(F(c.src), bytes_of(r, c.src) / 4, F(c.dst), bytes_of(r, c.dst) / 4, x), where);
        break;
      case ComputeKind::accumulate: {
        const auto& spec = plan.ranks[static_cast<std::size_t>(r)].at(c.dst);
        const Elem e = spec.cls == BufferClass::stat ? Elem::f32 : act_elem;
        const std::int64_t n = std::min(bytes_of(r, c.src), bytes_of(r, c.dst)) / elem_bytes(e);
        check(accumulate_elems(e, B(c.dst), B(c.src), n, x), where);
        break;
      }
      case ComputeKind::copy:
        check(cudaMemcpyAsync(B(c.dst), B(c.src), static_cast<std::size_t>(std::min(bytes_of(r, c.src), bytes_of(r, c.dst))),
                              cudaMemcpyDeviceToDevice, x),
              where);
        break;
      case ComputeKind::fill_zero:
        check(cudaMemsetAsync(B(c.dst), 0, static_cast<std::size_t>(bytes_of(r, c.dst)), x), where);
        break;
      case ComputeKind::fill_empty_output:
        check(cudaMemsetAsync(B(c.o), 0, static_cast<std::size_t>(bytes_of(r, c.o)), x), where);
        check(fill_f32(F(c.lse), bytes_of(r, c.lse) / 4, -INFINITY, x), where);
        break;      case ComputeKind::gemm:
      case ComputeKind::encoder:
      case ComputeKind::elementwise:
      case ComputeKind::host_sync:
        break;  // a training step's other work: only the simulator times it (sim/iteration_sim.hpp)
    }
    check(cudaEventRecord(end_ev(id), x), "cudaEventRecord");
  }

  void post(int r, const std::vector<int>& members) override {
    if (!is_local(r)) return;
    set(r);
    cudaStream_t x = stream_of(OpId{r, members.front()});
    Range nv(domain, "post " + OpId{r, members.front()}.str() + (members.size() > 1 ? " (group)" : ""));
    for (int m : members) wait_deps(OpId{r, m}, x);
    for (int m : members) check(cudaEventRecord(post_ev(OpId{r, m}), x), "cudaEventRecord");
  }

  // One paced loopback message of `bytes` from (src rank, pointer) to (dst rank, pointer),
  // through the pinned staging of transfer stream `key`.
  void loopback_copy(cudaStream_t x, std::tuple<int, int, int> key, int src_rank, int dst_rank,
                     const std::vector<std::tuple<const char*, char*, std::int64_t>>& pieces) {
    std::int64_t total = 0;
    for (const auto& p : pieces) total += std::get<2>(p);
    std::int64_t* slot = next_slot();
    const std::int64_t wire = o.link.pace && o.link.bandwidth_GBps > 0
                                  ? static_cast<std::int64_t>(static_cast<double>(total) / o.link.bandwidth_GBps + 0.5)
                                  : 0;
    const std::int64_t lat = o.link.pace ? static_cast<std::int64_t>(o.link.latency_us * 1e3 + 0.5) : 0;
    if (o.link.pace) enqueue_mark_link(slot, link_free + src_rank * P + dst_rank, wire, lat, x);
    char* stage = static_cast<char*>(staging.at(key));
    std::int64_t off = 0;
    for (const auto& [from, to, n] : pieces) {
      if (n <= 0) continue;
      check(cudaMemcpyAsync(stage + off, from, static_cast<std::size_t>(n), cudaMemcpyDeviceToHost, x), "D2H");
      check(cudaMemcpyAsync(to, stage + off, static_cast<std::size_t>(n), cudaMemcpyHostToDevice, x), "H2D");
      off += n;
    }
    if (o.link.pace) enqueue_pace(slot, 0, x);
  }

  // A matched pair. Loopback: one paced copy on the sender's transfer stream. NCCL: the
  // send on the sender's GPU and the receive on the receiver's, in one group, for the
  // sides this process runs (both in one process; its own side with one process per
  // rank, where NCCL itself waits for the peer). A side's stream waits for every posted
  // event this process has, so its start is "both sides posted" in one process and "my
  // side posted" across processes (rank_timeline.hpp evens the starts out afterwards).
  void transfer(OpId send, OpId recv) override {
    const bool mine_s = is_local(send.rank), mine_r = is_local(recv.rank);
    if (!mine_s && !mine_r) return;
    Range nv(domain, "transfer " + send.str() + " -> " + recv.str());
    const TransferOp& so = *s.op(send).transfer();
    const TransferOp& ro = *s.op(recv).transfer();
    const int ssid = st.slot(send);
    const int rsid = st.slot(recv);
    auto key = std::make_tuple(send.rank, ssid, send_slot(send));
    // The side of `me` on stream x: waits for the posted events here, records its start.
    auto open_side = [&](OpId me, cudaStream_t x) {
      set(me.rank);
      if (mine_s) check(cudaStreamWaitEvent(x, post_ev(send), 0), "wait");
      if (mine_r) check(cudaStreamWaitEvent(x, post_ev(recv), 0), "wait");
      check(cudaEventRecord(start_ev(me), x), "record");
    };
    if (!nccl_mode) {
      cudaStream_t x = xfer.at(key);
      open_side(send, x);
      check(cudaEventRecord(start_ev(recv), x), "record");
      std::vector<std::tuple<const char*, char*, std::int64_t>> pieces;
      for (std::size_t k = 0; k < so.parts.size(); ++k) {
        const Part& sp = so.parts[k];
        std::int64_t n = static_cast<std::int64_t>(sp.size.value());
        char* to = nullptr;
        if (k < ro.parts.size()) {
          to = buf(recv.rank, ro.parts[k].buffer);
          n = std::min({n, static_cast<std::int64_t>(ro.parts[k].size.value()), bytes_of(recv.rank, ro.parts[k].buffer)});
        }
        n = std::min(n, bytes_of(send.rank, sp.buffer));
        if (to != nullptr) pieces.emplace_back(buf(send.rank, sp.buffer), to, n);
      }
      loopback_copy(x, key, send.rank, recv.rank, pieces);
      check(cudaEventRecord(end_ev(send), x), "record");
      check(cudaEventRecord(end_ev(recv), x), "record");
      return;
    }
    cudaStream_t x = mine_s ? xfer.at(key) : nullptr;
    cudaStream_t y = mine_r ? xfer.at({recv.rank, rsid, 1000}) : nullptr;
    if (mine_s) open_side(send, x);
    if (mine_r) open_side(recv, y);
    const NcclApi& n = nccl();
    nccl_check(n.GroupStart(), "ncclGroupStart");
    for (std::size_t k = 0; k < so.parts.size(); ++k) {
      const auto bytes = static_cast<std::size_t>(so.parts[k].size.value());
      if (mine_s)
        nccl_check(n.Send(buf(send.rank, so.parts[k].buffer), bytes, ncclInt8, recv.rank, comms[static_cast<std::size_t>(send.rank)], x), "ncclSend");
      if (mine_r && k < ro.parts.size())
        nccl_check(n.Recv(buf(recv.rank, ro.parts[k].buffer), bytes, ncclInt8, send.rank, comms[static_cast<std::size_t>(recv.rank)], y), "ncclRecv");
    }
    nccl_check(n.GroupEnd(), "ncclGroupEnd");
    if (mine_s) {
      set(send.rank);
      check(cudaEventRecord(end_ev(send), x), "record");
    }
    if (mine_r) {
      set(recv.rank);
      check(cudaEventRecord(end_ev(recv), y), "record");
    }
  }

  void collective(int ci) override {
    const std::span<const OpId> members = st.members(ci);
    const int n = static_cast<int>(members.size());
    // The members this process runs (all of them in one process; its own across processes).
    std::vector<int> mine;
    for (int m = 0; m < n; ++m)
      if (is_local(members[static_cast<std::size_t>(m)].rank)) mine.push_back(m);
    if (mine.empty()) return;
    const CollectiveOp& c0 = *s.op(members[0]).collective();
    Range nv(domain, "collective " + std::string(c0.tag));
    auto sid_of = [&](OpId id) { return st.slot(id); };
    auto op_of = [&](int m) -> const CollectiveOp& { return *s.op(members[static_cast<std::size_t>(m)]).collective(); };
    auto bytes_to = [&](int m, int j) {
      const auto& b = op_of(m).bytes_to;
      return static_cast<std::size_t>(j) < b.size() ? static_cast<std::int64_t>(b[static_cast<std::size_t>(j)].value()) : 0;
    };
    // Start: every member here posted. The fan-in runs on the first local member's first
    // transfer stream (across processes NCCL itself waits for the other members).
    const OpId m0 = members[static_cast<std::size_t>(mine.front())];
    const int key0 = nccl_mode ? 2000 : (c0.kind == CollectiveKind::all_to_all ? 100 : 50);
    cudaStream_t fan = xfer.at({m0.rank, sid_of(m0), key0});
    set(m0.rank);
    for (int m : mine) check(cudaStreamWaitEvent(fan, post_ev(members[static_cast<std::size_t>(m)]), 0), "wait");
    for (int m : mine) check(cudaEventRecord(start_ev(members[static_cast<std::size_t>(m)]), fan), "record");
    cudaEvent_t go = scratch_event();
    check(cudaEventRecord(go, fan), "record");
    std::vector<cudaEvent_t> ends;
    if (nccl_mode) {
      const NcclApi& api = nccl();
      const ncclDataType_t t = act == ElemType::f16 ? ncclFloat16 : ncclBfloat16;
      std::vector<cudaStream_t> xs(static_cast<std::size_t>(n), nullptr);
      for (int m : mine) {
        const OpId id = members[static_cast<std::size_t>(m)];
        cudaStream_t y = xfer.at({id.rank, sid_of(id), 2000});
        set(id.rank);
        check(cudaStreamWaitEvent(y, go, 0), "wait");
        xs[static_cast<std::size_t>(m)] = y;
      }
      nccl_check(api.GroupStart(), "ncclGroupStart");
      for (int m : mine) {
        const OpId id = members[static_cast<std::size_t>(m)];
        const CollectiveOp& c = op_of(m);
        ncclComm_t comm = comms[static_cast<std::size_t>(id.rank)];
        char* in = buf(id.rank, c.input);
        char* out = buf(id.rank, c.output);
        std::int64_t most = 0;
        for (int j = 0; j < n; ++j) most = std::max(most, bytes_to(m, j));
        switch (c.kind) {
          case CollectiveKind::all_gather:
            nccl_check(api.AllGather(in, out, static_cast<std::size_t>(most), ncclInt8, comm, xs[static_cast<std::size_t>(m)]), "ncclAllGather");
            break;
          case CollectiveKind::reduce_scatter:
            nccl_check(api.ReduceScatter(in, out, static_cast<std::size_t>(most / 2), t, ncclSum, comm, xs[static_cast<std::size_t>(m)]), "ncclReduceScatter");
            break;
          case CollectiveKind::all_reduce:
            nccl_check(api.AllReduce(in, out, static_cast<std::size_t>(most * n / 2 / 2), t, ncclSum, comm, xs[static_cast<std::size_t>(m)]), "ncclAllReduce");
            break;
          case CollectiveKind::all_to_all: {
            std::int64_t soff = 0;
            for (int j = 0; j < n; ++j) {
              const std::int64_t b = bytes_to(m, j);
              const int peer = c.group[static_cast<std::size_t>(j)];
              if (j != m && b > 0) nccl_check(api.Send(in + soff, static_cast<std::size_t>(b), ncclInt8, peer, comm, xs[static_cast<std::size_t>(m)]), "ncclSend");
              std::int64_t roff = 0;
              for (int k = 0; k < m; ++k) roff += bytes_to(k, m);
              (void)roff;
              soff += b;
            }
            std::int64_t roff = 0;
            for (int j = 0; j < n; ++j) {
              const std::int64_t b = bytes_to(j, m);
              if (j != m && b > 0)
                nccl_check(api.Recv(out + roff, static_cast<std::size_t>(b), ncclInt8, c.group[static_cast<std::size_t>(j)], comm, xs[static_cast<std::size_t>(m)]), "ncclRecv");
              roff += b;
            }
            break;
          }
        }
      }
      nccl_check(api.GroupEnd(), "ncclGroupEnd");
      for (int m : mine) {
        set(members[static_cast<std::size_t>(m)].rank);
        cudaEvent_t e = scratch_event();
        check(cudaEventRecord(e, xs[static_cast<std::size_t>(m)]), "record");
        ends.push_back(e);
      }
    } else if (c0.kind == CollectiveKind::all_to_all) {
      // Every pairwise message posted at once, each paced on its own pair link.
      for (int m = 0; m < n; ++m) {
        const OpId id = members[static_cast<std::size_t>(m)];
        const CollectiveOp& c = op_of(m);
        std::int64_t soff = 0;
        for (int j = 0; j < n; ++j) {
          const std::int64_t b = bytes_to(m, j);
          if (j != m && b > 0) {
            const OpId to = members[static_cast<std::size_t>(j)];
            const CollectiveOp& ct = op_of(j);
            std::int64_t roff = 0;
            for (int k = 0; k < m; ++k) roff += bytes_to(k, j);
            const std::int64_t nb = std::max<std::int64_t>(0, std::min({b, bytes_of(id.rank, c.input) - soff, bytes_of(to.rank, ct.output) - roff}));
            auto key = std::make_tuple(id.rank, sid_of(id), 100 + j);
            cudaStream_t y = xfer.at(key);
            check(cudaStreamWaitEvent(y, go, 0), "wait");
            loopback_copy(y, key, id.rank, to.rank, {{buf(id.rank, c.input) + soff, buf(to.rank, ct.output) + roff, nb}});
            cudaEvent_t e = scratch_event();
            check(cudaEventRecord(e, y), "record");
            ends.push_back(e);
          }
          soff += b;
        }
      }
    } else {
      // Ring steps, as sim/executor.cpp models them: member m forwards to m+1 once it has
      // received the previous step's chunk. Bytes only: the numerics are not reproduced.
      const int steps = c0.kind == CollectiveKind::all_reduce ? 2 * (n - 1) : n - 1;
      std::vector<cudaEvent_t> prev(static_cast<std::size_t>(n), go);
      for (int step = 0; step < steps; ++step) {
        std::vector<cudaEvent_t> cur(static_cast<std::size_t>(n), nullptr);
        for (int m = 0; m < n; ++m) {
          const OpId id = members[static_cast<std::size_t>(m)];
          const OpId to = members[static_cast<std::size_t>((m + 1) % n)];
          std::int64_t chunk = 0;
          if (c0.kind == CollectiveKind::all_reduce) {
            for (int j = 0; j < n; ++j) chunk = std::max(chunk, bytes_to(m, j));
            chunk /= 2;
          } else if (c0.kind == CollectiveKind::all_gather) {
            const int origin_m = ((m - step) % n + n) % n;
            for (int j = 0; j < n; ++j) chunk = std::max(chunk, bytes_to(origin_m, j));
          } else {
            chunk = bytes_to(m, ((m - step - 1) % n + n) % n);
          }
          const CollectiveOp& c = op_of(m);
          const CollectiveOp& ct = op_of((m + 1) % n);
          const std::int64_t nb = std::max<std::int64_t>(0, std::min({chunk, bytes_of(id.rank, step == 0 ? c.input : c.output), bytes_of(to.rank, ct.output)}));
          auto key = std::make_tuple(id.rank, sid_of(id), 50);
          cudaStream_t y = xfer.at(key);
          check(cudaStreamWaitEvent(y, prev[static_cast<std::size_t>(m)], 0), "wait");
          if (step > 0) check(cudaStreamWaitEvent(y, go, 0), "wait");
          loopback_copy(y, key, id.rank, to.rank, {{buf(id.rank, step == 0 ? c.input : c.output), buf(to.rank, ct.output), nb}});
          cudaEvent_t e = scratch_event();
          check(cudaEventRecord(e, y), "record");
          cur[static_cast<std::size_t>((m + 1) % n)] = e;
          ends.push_back(e);
        }
        prev = cur;
      }
    }
    // Completes on all members here together.
    set(m0.rank);
    for (cudaEvent_t e : ends) check(cudaStreamWaitEvent(fan, e, 0), "wait");
    for (int m : mine) check(cudaEventRecord(end_ev(members[static_cast<std::size_t>(m)]), fan), "record");
  }

  void complete(int r, const std::vector<int>& members) override {
    if (!is_local(r)) return;
    set(r);
    cudaStream_t x = stream_of(OpId{r, members.front()});
    for (int m : members) check(cudaStreamWaitEvent(x, end_ev(OpId{r, m}), 0), "wait");
  }

  // The event a rank's times are measured from: its GPU's origin.
  cudaEvent_t origin_of(int r) { return origin[static_cast<std::size_t>(nccl_mode ? r : 0)]; }

  // ---- one run ----
  void fill_inputs() {
    for (int r : locals) {
      set(r);
      for (const auto& b : plan.ranks[static_cast<std::size_t>(r)].buffers) {
        if (!b.input || written[static_cast<std::size_t>(r)].count(b.name)) continue;
        const std::uint64_t seed = o.seed * 1000003ULL + static_cast<std::uint64_t>(r) * 7919ULL + std::hash<std::string>{}(b.name);
        if (b.cls == BufferClass::stat)
          check(fill_random(Elem::f32, buf(r, b.name), b.bytes / 4, seed, 4.f, 6.f, roots[static_cast<std::size_t>(r)]), "fill");
        else
          check(fill_random(act_elem, buf(r, b.name), b.bytes / 2, seed, -1.f, 1.f, roots[static_cast<std::size_t>(r)]), "fill");
      }
      check(cudaStreamSynchronize(roots[static_cast<std::size_t>(r)]), "fill");
    }
  }

  Timeline run() {
    fill_inputs();
    for (int r : locals) { set(r); check(cudaDeviceSynchronize(), "sync"); }
    const int first = locals.front();
    const cudaStream_t first_root = roots[static_cast<std::size_t>(first)];
    set(first);
    check(cudaMemsetAsync(link_free, 0, static_cast<std::size_t>(P * P) * sizeof(std::int64_t), first_root), "memset");
    check(cudaStreamSynchronize(first_root), "sync");
    slot_next = 0;
    scratch_next = 0;
    // The origin: recorded first, once per GPU (loopback: one for every rank, so all
    // ranks' times share one clock); every stream waits for it. NCCL: right after an
    // all-reduce of one word over every rank, a barrier on the GPUs, so that each GPU's
    // origin fires when the barrier completes there — in one process or one process per
    // rank alike. The origins of different GPUs then differ by how far apart the
    // barrier's completions are (docs/gpu_backend.md, "Multi-process runs").
    if (nccl_mode) {
      const NcclApi& n = nccl();
      nccl_check(n.GroupStart(), "ncclGroupStart");
      for (int r : locals) {
        set(r);
        float* w = barrier_word[static_cast<std::size_t>(r)];
        nccl_check(n.AllReduce(w, w, 1, ncclFloat32, ncclSum, comms[static_cast<std::size_t>(r)], roots[static_cast<std::size_t>(r)]),
                   "ncclAllReduce (origin barrier)");
      }
      nccl_check(n.GroupEnd(), "ncclGroupEnd");
    }
    for (int r : locals) {
      set(r);
      if (nccl_mode || r == first) check(cudaEventRecord(origin_of(r), roots[static_cast<std::size_t>(r)]), "record");
      for (cudaStream_t x : rank_streams[static_cast<std::size_t>(r)])
        if (x != nullptr) check(cudaStreamWaitEvent(x, origin_of(r), 0), "wait");
      for (auto& [k, x] : xfer)
        if (std::get<0>(k) == r) check(cudaStreamWaitEvent(x, origin_of(r), 0), "wait");
      if (device_stream != nullptr && r == first) check(cudaStreamWaitEvent(device_stream, origin_of(first), 0), "wait");
    }
    Walker w(s, st, o.placement == ComputePlacement::one_device_stream, &order);
    {
      Range nv(domain, "enqueue schedule");
      w.walk(*this);
    }
    for (int r : locals) { set(r); check(cudaDeviceSynchronize(), "running the schedule"); }
    // This process's ranks only; another process's rank keeps an empty op list
    // (rank_timeline.hpp merges the processes' slices).
    Timeline t;
    t.ops.resize(static_cast<std::size_t>(P));
    t.compute_busy.assign(static_cast<std::size_t>(P), Time{});
    auto at = [&](int r, cudaEvent_t e) {
      float ms = 0.f;
      check(cudaEventElapsedTime(&ms, origin_of(r), e), "cudaEventElapsedTime");
      return Time::ps(std::max<std::int64_t>(1, static_cast<std::int64_t>(std::llround(static_cast<double>(ms) * 1e9))));
    };
    for (int r : locals) {
      const auto& ops = s.programs[static_cast<std::size_t>(r)].ops;
      auto& out = t.ops[static_cast<std::size_t>(r)];
      out.resize(ops.size());
      for (std::size_t i = 0; i < ops.size(); ++i) {
        const OpId id{r, static_cast<int>(i)};
        // On one GPU a transfer (or collective) is one event pair for all its sides: the
        // receive reads the send's start and end, a collective member its first member's
        // (back-to-back cudaEventRecord calls differ by about a microsecond).
        OpId same = id;
        if (!nccl_mode) {
          if (ops[i].kind() == OpKind::recv) same = st.partner(id);
          if (ops[i].kind() == OpKind::collective) same = st.members(st.instance(id))[0];
        }
        OpTimes& ot = out[i];
        ot.posted = at(r, post_ev(id));
        ot.start = std::max(ot.posted, at(r, start_ev(same)));
        ot.end = std::max(ot.start, at(r, end_ev(same)));
        if (ops[i].kind() == OpKind::compute) t.compute_busy[static_cast<std::size_t>(r)] = t.compute_busy[static_cast<std::size_t>(r)] + (ot.end - ot.start);
        t.makespan = max(t.makespan, ot.end);
      }
    }
    return t;
  }
};

Executor::Executor(const Schedule& s, ExecOptions options) : impl_(std::make_unique<Impl>(s, std::move(options))) {}
Executor::~Executor() = default;
Timeline Executor::run() { return impl_->run(); }
const BufferPlan& Executor::plan() const { return impl_->plan; }
const std::vector<OpId>& Executor::compute_order() const { return impl_->order; }
std::string Executor::device_name() const {
  std::vector<std::string> names;
  for (const std::string& n : impl_->rank_device)
    if (!n.empty() && std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}
std::vector<std::string> Executor::rank_devices() const { return impl_->rank_device; }
const std::vector<int>& Executor::local_ranks() const { return impl_->locals; }

std::vector<float> Executor::read(int rank, const std::string& name) const {
  Impl& m = *impl_;
  if (!m.is_local(rank)) throw std::invalid_argument("rank " + std::to_string(rank) + " runs in another process");
  const BufferSpec& b = m.plan.ranks.at(static_cast<std::size_t>(rank)).at(name);
  const Elem e = b.cls == BufferClass::stat ? Elem::f32 : m.act_elem;
  const std::int64_t n = b.bytes / elem_bytes(e);
  m.set(rank);
  float* tmp = nullptr;
  check(cudaMalloc(&tmp, static_cast<std::size_t>(std::max<std::int64_t>(n, 1)) * sizeof(float)), "cudaMalloc");
  std::vector<float> out(static_cast<std::size_t>(n));
  std::string err = to_f32(e, m.buf(rank, name), tmp, n, m.roots[static_cast<std::size_t>(rank)]);
  cudaError_t ce = cudaStreamSynchronize(m.roots[static_cast<std::size_t>(rank)]);
  if (err.empty() && ce == cudaSuccess) ce = cudaMemcpy(out.data(), tmp, out.size() * sizeof(float), cudaMemcpyDeviceToHost);
  cudaFree(tmp);
  check(err, "read " + name);
  check(ce, "read " + name);
  return out;
}

void Executor::write(int rank, const std::string& name, const std::vector<float>& values) {
  Impl& m = *impl_;
  if (!m.is_local(rank)) throw std::invalid_argument("rank " + std::to_string(rank) + " runs in another process");
  const BufferSpec& b = m.plan.ranks.at(static_cast<std::size_t>(rank)).at(name);
  const Elem e = b.cls == BufferClass::stat ? Elem::f32 : m.act_elem;
  const std::int64_t n = std::min<std::int64_t>(b.bytes / elem_bytes(e), static_cast<std::int64_t>(values.size()));
  m.set(rank);
  float* tmp = nullptr;
  check(cudaMalloc(&tmp, static_cast<std::size_t>(std::max<std::int64_t>(n, 1)) * sizeof(float)), "cudaMalloc");
  cudaError_t ce = cudaMemcpy(tmp, values.data(), static_cast<std::size_t>(n) * sizeof(float), cudaMemcpyHostToDevice);
  std::string err = ce == cudaSuccess ? from_f32(e, tmp, m.buf(rank, name), n, m.roots[static_cast<std::size_t>(rank)]) : std::string();
  if (ce == cudaSuccess) ce = cudaStreamSynchronize(m.roots[static_cast<std::size_t>(rank)]);
  cudaFree(tmp);
  check(ce, "write " + name);
  check(err, "write " + name);
  m.written[static_cast<std::size_t>(rank)][name] = 1;
}

}  // namespace xattn::gpu
