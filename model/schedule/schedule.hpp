// The Schedule IR (ARCHITECTURE.md, "The one idea"): for each rank, an ordered program of
// Compute, Send, Recv and Collective ops, each on a named stream, with explicit
// dependencies and a stable id "rank/index". The numerical reference, the simulator and
// the GPU backend all execute exactly these programs.
//
// Execution semantics, defined once here and followed by every executor:
//  * Streams are in order: an op (or a transfer group, below) starts only after the
//    previous op on the same stream of the same rank has completed, and after every op in
//    its `deps` (indices into the same rank's program, always earlier ones) has completed.
//  * Transfer groups: consecutive Send/Recv ops of one rank on the same stream with the
//    same `group` number (>= 0) are posted together, as ncclGroupStart/End or
//    batch_isend_irecv post them. The group starts when all members may start; every
//    member then proceeds concurrently; the group completes when all members have. A ring
//    round's send to the next rank and receive from the previous one form one group:
//    with strict rendezvous and one in-order stream they would otherwise deadlock.
//  * A Send and a Recv match by (source rank, destination rank, tag), first in, first out:
//    the k-th Send of a key in program order pairs with the k-th Recv of it. The transfer
//    happens once both are posted (rendezvous); both complete when it has. The Send reads
//    its buffers and the Recv writes its buffers during the whole time in flight.
//  * A Collective instance is the k-th op with a given tag on every rank of its group; it
//    starts when all of them are posted and completes on all of them together.
//  * structure.hpp implements these rules once (streams, runs, pairs, instances, and what
//    the rules refuse); every executor and the checks read it.
//  * Any two ops of one rank that touch the same buffer, one of them writing it, must be
//    ordered by these rules (checks.hpp proves it): double buffering is explicit.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "model/hardware.hpp"
#include "model/mechanism.hpp"
#include "model/step_part.hpp"
#include "model/core/hash.hpp"
#include "model/schedule/index_set.hpp"
#include "model/schedule/layout.hpp"
#include "model/schedule/name.hpp"
#include "model/schedule/small_vec.hpp"
#include "model/types.hpp"
#include "model/core/units.hpp"

namespace xattn {

enum class StreamKind : std::uint8_t { compute, comm };

// Four bytes: a 40-million-op step carries one per op.
struct Stream {
  StreamKind kind = StreamKind::compute;
  std::int16_t index = 0;  // several communication streams: comm0, comm1, ...
  [[nodiscard]] std::string name() const;
  friend bool operator==(const Stream&, const Stream&) = default;
};

inline constexpr Stream compute_stream{StreamKind::compute, 0};
[[nodiscard]] constexpr Stream comm_stream(int i) { return Stream{StreamKind::comm, static_cast<std::int16_t>(i)}; }

// Stable op id, "rank/index".
struct OpId {
  int rank = 0;
  int index = 0;
  [[nodiscard]] std::string str() const;
  friend auto operator<=>(const OpId&, const OpId&) = default;
};

enum class ComputeKind : std::uint8_t {
  attention_forward,   // (q, k, v) -> (o, lse): one block, normalized, with its log-sum-exp
  attention_backward,  // (q, k, v, o or delta, dout, lse) -> dq, dk, dv, using the final lse
  merge,               // (o, lse) <- stable log-sum-exp merge of (o, lse) and (part_o, part_lse)
  softmax_delta,       // delta = rowsum(dout * o), per query row and head
  lse_combine,         // lse <- log-sum-exp over the rows of `src` with the same token
  rescale,             // o *= exp(lse_local - lse_merged)
  accumulate,          // dst += src
  copy,                // dst = src (a local hand-over where a send would go to itself)
  fill_empty_output,   // (o, lse) = (0, -inf) shaped like q: no keys seen yet
  fill_zero,           // dst = 0 shaped like src
  // The rest of a training step (sim/iteration_sim.hpp); no data, only a cost, so the
  // numerical reference passes over them:
  gemm,                // a projection: `flops` = 2·M·K·N, `touched` = its operands' bytes (eq. 22)
  encoder,             // a frozen vision encoder's forward: `flops` at η_vision (eq. 19)
  elementwise,         // a memory-bound pass over `touched` bytes: loss, optimizer (eq. 5)
  host_sync,           // torch.cuda.synchronize(): waits for every stream (its deps), then the host cost
};

[[nodiscard]] std::string_view to_string(ComputeKind k);

enum class Accumulate : std::uint8_t { overwrite, add };

// The shape of one attention block, for FLOPs, the simulator and the GPU kernels. Rows
// and pair counts are 64-bit; heads, head size and batch fit 32 bits (their products with
// each other stay far below 2^31: 1024 x 128 x 256 is 2^25), which keeps a 10-million-op
// schedule about 180 MB smaller.
struct BlockShape {
  std::int64_t q_rows = 0;
  std::int64_t kv_rows = 0;
  std::int32_t heads = 0;     // query heads in the block
  std::int32_t kv_heads = 0;  // key/value heads in the block
  std::int32_t head_dim = 0;
  std::int32_t batch = 1;
  Mask mask = Mask::dense;
  std::int64_t allowed_pairs = 0;  // (query, key) pairs the mask allows, per head and batch
  // For people: which ring members' query and key/value blocks meet here (-1: not a ring
  // block). Op::describe() turns them into "round 3: Q1 x KV2" without a string per op.
  std::int32_t q_block = -1;
  std::int32_t kv_block = -1;
};

// An optional value kept on the heap and copied with its owner: 8 bytes in place of an
// optional's 40, for a field almost every op leaves empty.
template <class T>
class Boxed {
 public:
  Boxed() = default;
  Boxed(T value) : p_(std::make_unique<T>(std::move(value))) {}  // NOLINT(google-explicit-constructor)
  Boxed(const Boxed& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
  Boxed(Boxed&&) noexcept = default;
  Boxed& operator=(const Boxed& o) {
    if (this != &o) p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
    return *this;
  }
  Boxed& operator=(Boxed&&) noexcept = default;
  ~Boxed() = default;
  explicit operator bool() const { return p_ != nullptr; }
  const T& operator*() const { return *p_; }
  const T* operator->() const { return p_.get(); }

 private:
  std::unique_ptr<T> p_;
};

// Buffers are named per rank (interned: name.hpp). Which fields an op uses depends on its
// kind (see ComputeKind); unused names stay empty. The fields are ordered so that the op
// packs tightly (a 1024-GPU schedule holds millions of them).
struct ComputeOp {
  ComputeKind kind = ComputeKind::attention_forward;
  Accumulate dq_mode = Accumulate::overwrite;
  Accumulate dkv_mode = Accumulate::overwrite;
  // attention ops: the kernel call a production kernel makes for the block (a zigzag step
  // computes its allowed half as one unmasked call; docs/model.md eq. 3c). Only the cost
  // model reads it: every executor computes exactly the block's allowed pairs.
  BlockCall call = BlockCall::whole;
  Name q, k, v, o, lse, dout, delta, dq, dk, dv;
  Name part_o, part_lse;         // merge: the partial merged in
  Name merged_lse;               // rescale: the team's merged lse
  Name src, dst;                 // lse_combine, accumulate, copy, fill_zero
  Boxed<IndexSet> rows;          // copy: keep only these tokens (all when empty)
  BlockShape block;              // attention ops
  Flops flops;
  Bytes touched;                 // elementwise ops: bytes read and written (for the simulator)
};

// One message part: a buffer and its size in bytes.
struct Part {
  Name buffer;
  Bytes size;
};
// A message's parts: up to four without a heap allocation.
using Parts = SmallVec<Part, 4>;

struct TransferOp {
  int peer = 0;
  Name tag;
  Parts parts;  // a message may carry several buffers (O with its LSE)
  int group = -1;           // >= 0: posted together with the neighbouring ops of that group
  [[nodiscard]] Bytes size() const;
};
struct SendOp : TransferOp {};
struct RecvOp : TransferOp {};

enum class CollectiveKind { all_gather, all_to_all, reduce_scatter, all_reduce };
enum class Axis { tokens, heads };
// How pieces that meet at the same (token, head) are combined on the receiving side:
// `distinct` forbids it, `stack` keeps every piece (an LSE all-gather before lse_combine),
// `sum` adds them (gradients of replicated key/value heads).
enum class Combine { distinct, stack, sum };

[[nodiscard]] std::string_view to_string(CollectiveKind k);

// all_gather: every member's input, concatenated along `concat` in group order.
// all_to_all: member m's input split along `split` into parts[j] (global indices) for
//   member j; the pieces received concatenated along `concat` in group order.
// reduce_scatter: inputs summed; member j keeps the rows (split = tokens) or heads in
//   parts[j].
// all_reduce: inputs (of one layout) summed; every member keeps the whole sum. bytes_to
//   counts what a ring or direct algorithm sends each peer: 2·size/n.
struct CollectiveOp {
  CollectiveKind kind = CollectiveKind::all_gather;
  std::vector<int> group;        // ranks, in group order; includes this rank
  Name tag;
  Name input, output;
  Axis split = Axis::tokens;
  Axis concat = Axis::tokens;
  Combine combine = Combine::distinct;
  std::vector<IndexSet> parts;   // all_to_all, reduce_scatter: one per group member
  std::vector<Bytes> bytes_to;   // what this rank sends to each member (0 for itself)
  // false: one ring in group order, each hop priced as a message (the mechanisms'
  // collectives). true: as NCCL runs it on the cluster (model/collective_model.hpp): one
  // ring channel per NIC across nodes, each step's flows on the wire without latency, and
  // the collective model's fixed cost (base latency, hops, local traffic) once at the end
  // (SimOptions::nccl_fixed). The step's FSDP/ZeRO/DDP collectives run so.
  bool nccl = false;
  [[nodiscard]] Bytes bytes_sent() const;
};

using OpBody = std::variant<ComputeOp, SendOp, RecvOp, CollectiveOp>;

enum class OpKind { compute, send, recv, collective };
[[nodiscard]] std::string_view to_string(OpKind k);

// The distinct buffers an op reads or writes, in a fixed order, without allocating for
// the usual handful (an attention backward names ten).
class NameList {
 public:
  void push(Name n) {  // ignores empty names and repeats
    if (!n.empty() && !contains(n)) names_.push_back(n);
  }
  [[nodiscard]] const Name* begin() const { return names_.begin(); }
  [[nodiscard]] const Name* end() const { return names_.end(); }
  [[nodiscard]] std::size_t size() const { return names_.size(); }
  [[nodiscard]] bool empty() const { return names_.empty(); }
  [[nodiscard]] bool contains(Name n) const { return std::find(begin(), end(), n) != end(); }

 private:
  SmallVec<Name, 12> names_;
};

struct Op {
  OpBody body;
  Stream stream;
  SmallVec<int, 2> deps;  // indices of earlier ops in the same program (ring ops have at most 2)
  int round = -1;         // the ring round it belongs to (-1: outside the rounds)
  Name label;             // for people; empty where describe() derives it from the op
  // In a training step (sim/iteration_sim.hpp): the layer (LM position, or the vision
  // encoder's layer for its ops; -1 outside layers), what the op is spent on and in which
  // direction. Layer-scope schedules leave them unset.
  std::int16_t layer = -1;
  StepPart part = StepPart::none;
  StepDirection direction = StepDirection::none;

  [[nodiscard]] OpKind kind() const { return static_cast<OpKind>(body.index()); }
  [[nodiscard]] const ComputeOp* compute() const { return std::get_if<ComputeOp>(&body); }
  [[nodiscard]] const TransferOp* transfer() const;  // Send or Recv
  [[nodiscard]] const CollectiveOp* collective() const { return std::get_if<CollectiveOp>(&body); }
  // Buffers this op reads and writes (a Send reads its parts, a Recv writes them).
  [[nodiscard]] NameList reads() const;
  [[nodiscard]] NameList writes() const;
  // The label, or where it is empty one made from what the op is ("send fwd.kv3 to 5",
  // "merge ring.part_o into o"): builders leave the obvious ones empty, which keeps ten
  // million ops from carrying ten million strings.
  [[nodiscard]] std::string describe() const;
  // Where in a training step the op sits, for people and trace viewers: "layer 12
  // self-attention fwd round 3", "layer 13 all-gather", "vision layer 4 fwd", "optimizer";
  // empty for an op outside a step.
  [[nodiscard]] std::string phase() const;
};

// What a Send and its Recv match by (see the semantics at the top): source rank,
// destination rank and tag. Executors index pending transfers by it.
struct TransferKey {
  int src = 0;
  int dst = 0;
  Name tag;
  friend bool operator==(const TransferKey&, const TransferKey&) = default;
};
// The key of `op`, a Send or a Recv of `rank` (op.transfer() must be set).
[[nodiscard]] TransferKey transfer_key(int rank, const Op& op);

struct Program {
  int rank = 0;
  std::vector<Op> ops;
};

// What a rank holds before the schedule starts and what it must hold at the end, for the
// numerical reference: tokens of Q (and O, dO, dQ) and of K, V (and dK, dV) in sequence
// layout. LSE may end in another layout (Ulysses and USP keep it by head group); every
// buffer carries its token and head indices, so the reference gathers it either way.
struct RankData {
  IndexSet q_tokens;
  IndexSet kv_tokens;
};

struct Schedule {
  Mechanism mechanism;
  Pass pass = Pass::fwd;
  AttentionShape shape;
  MaskSpec mask;
  std::vector<Program> programs;         // programs[r].rank == r
  std::vector<RankData> data;            // per rank: sequence layout of inputs and outputs
  std::vector<std::string> inputs;       // buffers every rank holds at the start
  std::vector<std::string> outputs;      // buffers every rank must hold at the end

  [[nodiscard]] int ranks() const { return static_cast<int>(programs.size()); }
  [[nodiscard]] const Op& op(OpId id) const { return programs.at(id.rank).ops.at(id.index); }
  [[nodiscard]] int rounds() const;      // 1 + the largest round number (0 if none)
};

// Appends the ops of `rank` one by one and infers their dependencies from the buffers
// they touch: a read waits for the last write of that buffer (read after write); a write
// waits for the reads since the last write and for that write (write after read, write
// after write). Dependencies already implied by the stream order are left out.
class ProgramBuilder {
 public:
  explicit ProgramBuilder(Schedule& s) : s_(s) {}
  int add(int rank, Op op);  // returns the op's index in the rank's program
  // An empty label leaves it to Op::describe().
  int compute(int rank, ComputeOp c, int round, Name label = {});
  int send(int rank, int peer, Name tag, Parts parts, Stream stream, int group, int round);
  int recv(int rank, int peer, Name tag, Parts parts, Stream stream, int group, int round);
  int collective(int rank, CollectiveOp c, Stream stream, int round, Name label);
  // A new transfer-group number for `rank`.
  int next_group(int rank);
  // Room for `more` ops on `rank` ahead of adding them (a builder that knows its count
  // spares the program's vector its doublings; growth stays geometric).
  void reserve(int rank, std::size_t more);

 private:
  struct Access {
    int last_write = -1;
    std::vector<int> reads_since;
  };
  Schedule& s_;
  std::vector<std::unordered_map<Name, Access>> history_;  // per rank, by buffer
  std::vector<int> groups_;
  std::vector<int> scratch_;  // add(): the dependencies being gathered
  Access& access(int rank, Name buffer);
};

// ---- summaries, computed from the Schedule itself --------------------------------------

struct RankSummary {
  Flops flops;
  Bytes bytes_sent;
  Bytes bytes_intra;  // sent to ranks on the same node
  Bytes bytes_inter;  // sent to ranks on other nodes
  int messages = 0;   // point-to-point sends
  int collectives = 0;
};

struct RoundSummary {
  Flops flops;  // per rank: the busiest rank's
  Bytes bytes;  // per rank: the most any rank sends in the round
  int messages = 0;
};

struct ScheduleSummary {
  std::vector<RankSummary> ranks;
  std::vector<RoundSummary> rounds;  // per round number
  int round_count = 0;
  [[nodiscard]] Flops max_flops() const;
  [[nodiscard]] Bytes max_bytes_sent() const;
};

// Link classes follow the cluster's placement; without a cluster every byte counts as
// intra-node.
[[nodiscard]] ScheduleSummary summarize(const Schedule& s, const Cluster* cluster = nullptr);

}  // namespace xattn

template <>
struct std::hash<xattn::TransferKey> {
  std::size_t operator()(const xattn::TransferKey& k) const noexcept {
    return xattn::splitmix64(k.tag.hash() ^ ((static_cast<std::uint64_t>(k.src) << 32) | static_cast<std::uint32_t>(k.dst)));
  }
};
