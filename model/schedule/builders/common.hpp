// Shared machinery of the schedule builders: the build context (shape, byte sizes, the
// op emitter) and the four ring "cores" every ring-family mechanism is made of. A core
// runs on one ring of members (ranks in ring order, each with the query and key/value
// tokens it starts with) and only names buffers, so LV-XAttn, Ring, the causal layouts,
// StarTrail's sub-rings and USP's rings are all the same code.
#pragma once

#include <string>
#include <vector>

#include "model/schedule/builders.hpp"
#include "model/schedule/schedule.hpp"

namespace xattn::build {

struct Ctx {
  Schedule& s;
  ProgramBuilder b;
  const BuildOptions& opt;
  int P;
  std::vector<int> order;  // position -> rank
  std::string pass_tag;    // "fwd" / "bwd": keeps tags of a fwd+bwd schedule unique
  int round_base = 0;      // round number of this pass's first round
  bool count_rounds = true;  // false: ops are outside any ring round (Ulysses' local attention)
  bool backward_follows = false;  // fwd of a fwd+bwd schedule: room is reserved for both passes

  // Room for the `ops` this pass is about to add to `rank`. When the backward follows, three
  // times as many (a ring backward adds at most 7/4 of its forward's ops): the program's
  // vector then never moves its forward ops, and capacity never written costs no memory.
  void reserve(int rank, std::size_t ops) { b.reserve(rank, backward_follows ? 3 * ops : ops); }

  Ctx(Schedule& sched, const BuildOptions& o);
  [[nodiscard]] int rank_at(int position) const { return order[static_cast<std::size_t>(position)]; }
  [[nodiscard]] std::string tag(const std::string& what) const { return pass_tag + "." + what; }
  [[nodiscard]] int round(int r) const { return r < 0 || !count_rounds ? -1 : round_base + r; }

  // Bytes of `rows` rows of `heads` heads of width d in the activation dtype, of the
  // accumulator dtype, and of the fp32 per-row statistics (LSE, delta).
  [[nodiscard]] Bytes act(std::int64_t rows, std::int64_t heads) const;
  [[nodiscard]] Bytes acc(std::int64_t rows, std::int64_t heads) const;
  [[nodiscard]] Bytes stat(std::int64_t rows, std::int64_t heads) const;
  [[nodiscard]] Flops forward_flops(std::int64_t heads, std::int64_t pairs) const;
  [[nodiscard]] Flops backward_flops(std::int64_t heads, std::int64_t pairs) const;
  [[nodiscard]] BlockShape block(const IndexSet& q, const IndexSet& kv, std::int64_t heads, std::int64_t kv_heads,
                                 std::int64_t pairs) const;

  // Ops. Labels are left to Op::describe() except where they say more than the op does.
  void attention_forward(int rank, Name q, Name k, Name v, Name o, Name lse, BlockShape blk, std::int64_t heads,
                         int round, Name label = {}, BlockCall call = BlockCall::whole);
  void merge(int rank, Name o, Name lse, Name po, Name plse, std::int64_t rows, std::int64_t heads, int round);
  void fill_empty_output(int rank, Name like_q, Name o, Name lse, int round);
  void fill_zero(int rank, Name like, Name dst, int round);
  void copy(int rank, Name src, Name dst, Bytes size, int round);
  // dst += src, elementwise over `size` bytes of src (read two, write one).
  void accumulate(int rank, Name src, Name dst, Bytes size, int round);
};

struct RingMember {
  int rank = 0;
  IndexSet q_tokens;   // the queries it starts with
  IndexSet kv_tokens;  // the keys/values it starts with
};

// Buffer names, the same on every member.
struct RingBuffers {
  Name q, k, v, o, lse;
  Name delta;  // backward: when set, delta = rowsum(dO∘O) travels instead of O
  Name dout, dq, dk, dv;
};

struct RingSpec {
  std::vector<RingMember> members;  // ring order: member i sends to member i+1
  // The members' token layout. Zigzag: a step whose keys are not the member's own runs its
  // allowed half as one kernel call (BlockCall; docs/schedules.md §3).
  Layout layout = Layout::contiguous;
  std::int64_t heads = 0;           // query heads in every block
  std::int64_t kv_heads = 0;        // key/value heads in every block
  RingBuffers buf;
  std::string name;                 // unique per ring and phase: prefixes tags and slot buffers
};

// Ring Attention forward: Q stays, K, V rotate (prefetched one round ahead, double
// buffered); (O, LSE) merge locally.
void kv_ring_forward(Ctx& c, const RingSpec& r);
// Ring Attention backward: K, V rotate again and the dK, dV accumulators follow one round
// behind (the last hop brings them home); dQ accumulates locally.
void kv_ring_backward(Ctx& c, const RingSpec& r);
// LV-XAttn forward: K, V stay; query blocks rotate ahead and their (O, LSE) accumulators
// follow one round behind (the last hop brings the finished output home).
void q_ring_forward(Ctx& c, const RingSpec& r);
// LV-XAttn backward: K, V stay; Q, O (or delta), dO and LSE rotate together; dQ
// accumulators follow one round behind; dK, dV accumulate locally.
void q_ring_backward(Ctx& c, const RingSpec& r);

// Mechanism builders (one pass each; the context's pass_tag says which).
void lv_xattn(Ctx& c, Pass pass);
void ring(Ctx& c, Pass pass, Layout layout);
void no_comm(Ctx& c, Pass pass);
void usp(Ctx& c, Pass pass, int ulysses_degree);  // Ulysses is usp with degree P
void startrail(Ctx& c, Pass pass, int team);

}  // namespace xattn::build
