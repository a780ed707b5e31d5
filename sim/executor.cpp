// The Schedule executor (see executor.hpp). One object per run holds all state; the main
// loop alternates between the event queue and the network, whichever is due first, and
// turns the network's completed transfers into queue events so that everything that
// happens at one instant is handled in canonical order.
//
// A run is a sequence of segments appended as the ranks reach them: execute() appends the
// whole Schedule as one segment at the start; execute_streaming() asks its source for the
// next segment whenever a stream runs dry and a later segment has ops for it, and drops a
// segment once all its ops are done. Ops are named by their index in the rank's whole
// program (the segments' ops one after the other), which is what `deps`, the stream
// successors and the transfer partners hold; a rank's records cover the indices from its
// `base` (everything before it done and dropped) to the end of what was appended.
#include "sim/executor.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <deque>
#include <functional>
#include <memory>
#include <string_view>

#include <fmt/format.h>

#include "model/schedule/structure.hpp"
#include "sim/event_queue.hpp"

namespace xattn::sim {

namespace {

constexpr int max_streams = 16;       // compute + up to 15 communication streams per rank
constexpr std::int64_t step_bits = 20;  // collective flow number within its instance
// The step number that marks the end of a collective's fixed cost (no real step has it).
constexpr int base_latency_done = (1 << step_bits) - 1;

enum class OpState : std::uint8_t { waiting, posted, done };

// A stream's ops are chained through OpInfo::next; the stream holds its head.
struct StreamState {
  std::int32_t head = -1;  // the first op not yet completed (-1: none appended)
  std::int32_t running = 0;  // members of the op or group at the head still running (0: idle)
  std::int32_t width = 0;    // how many ops the running op or group spans
};

// Backward blocks that add into an accumulator still holding fill_zero's zeros: the add is
// free (compute_cost.hpp). Bits per op.
enum AddsIntoZeros : std::uint8_t { dq_zero = 1, dkv_zero = 2 };

// What the run loop needs of an op, packed (48 bytes, its state, critical-path
// predecessor, successor on its stream and first two dependencies included: one cache
// line serves the checks an event makes) so that a 10-million-op schedule is walked from
// one compact array per rank instead of the Schedule's rich ops (about 184 bytes each).
// An OpKind in one byte (OpKind itself is int-sized), so that OpInfo stays 48 bytes.
struct KindByte {
  std::uint8_t v = 0;
  KindByte() = default;
  KindByte(OpKind k) : v(static_cast<std::uint8_t>(k)) {}  // NOLINT: converts both ways on purpose
  operator OpKind() const { return static_cast<OpKind>(v); }
};

struct OpInfo {
  union {
    std::int64_t duration_ps = 0;  // compute: its time, jitter included
    double bytes;              // send, recv: the message size
  };
  std::int32_t peer = -1;      // send, recv: the other rank
  std::int32_t match = -1;     // send, recv: the partner's op index; collective: its instance
  // Dependencies: up to two held here (dep[0], dep[1]: most ops have one or two), more
  // as the slice [dep[0], dep[0] + dep_count) of its segment's Segment::deps.
  std::uint16_t dep_count = 0;
  std::uint16_t width = 1;     // ops posted together when this op reaches its stream's head
  KindByte kind = OpKind::compute;
  std::uint8_t slot = 0;       // stream
  OpState state = OpState::waiting;
  std::uint8_t tag = 0;        // streaming: what OpSink::appended said of it
  std::uint16_t segment = 0;   // the segment it came in, modulo 65536 (Executor::segment_of)
  OpId pred{-1, -1};           // what this op last waited for (critical path)
  std::int32_t next = -1;      // the next op on the same stream of the rank (-1: none yet)
  std::int32_t dep[2] = {0, 0};
};
static_assert(sizeof(OpInfo) == 48);

// Compute slowed by communication (ComputeCalibration::comm_interference): the compute op
// running on a rank, the work it has left (picoseconds at full speed) and since when, and
// how many of the rank's transfers and collectives are in flight.
struct Interference {
  int running = -1;       // op index of the running compute op, -1 when none
  double left_ps = 0.0;   // its work left at `since`
  Time since;
  int comm_active = 0;
};

struct RankState {
  Interference busy;
  std::int32_t base = 0;     // program index of info[0]: every op before it is done and dropped
  std::int32_t count = 0;    // ops appended so far
  std::int32_t retired = 0;  // ops before this index are done and may be dropped
  std::vector<OpInfo> info;
  std::vector<OpTimes> times;
  std::array<StreamState, max_streams> streams{};
  std::array<std::int32_t, max_streams> tail{};  // the last op appended on each stream (-1: none)
  int stream_count = 0;
  Time compute_free;          // when its last compute op ended
  OpId last_done{-1, -1};     // the op of this rank that completed last
  bool wake = false;          // a segment just gave one of its dry streams ops

  RankState() { tail.fill(-1); }
  OpInfo& at(std::int32_t index) { return info[static_cast<std::size_t>(index - base)]; }
  const OpInfo& at(std::int32_t index) const { return info[static_cast<std::size_t>(index - base)]; }
  OpTimes& time_of(std::int32_t index) { return times[static_cast<std::size_t>(index - base)]; }
};

struct Instance {
  CollectiveKind kind = CollectiveKind::all_gather;
  bool nccl = false;
  std::vector<OpId> members;               // in group order
  std::vector<const CollectiveOp*> ops;    // each member's op
  int posted = 0;
  int flows_left = 0;
  Time base_latency;  // the protocol regime's once-per-collective cost (nccl: the fixed cost), after the last hop
  Time started;
  Time host;          // nccl: the call takes at least this long
  // Ring collectives: per channel and ring position, the last step sent and received, and
  // the steps launched. One channel in group order, unless nccl lays one per NIC.
  int channels = 1;
  std::vector<int> sent, received, launched;
  std::vector<int> ring;  // nccl: channels x n, the member at each ring position
  std::vector<int> pos;   // nccl: channels x n, each member's ring position
  std::vector<int> member_of;  // nccl: rank - first_rank -> member index
  int first_rank = 0;
  double cap_intra = 0.0, cap_inter = 0.0;
  // Ring collectives: each member's largest piece (largest_piece of its op), found once
  // when the collective starts rather than per step (a step would scan all n pieces).
  std::vector<double> piece;
};

// A device shared by several ranks (device_share.hpp): runs one compute op at a time.
struct DeviceState {
  bool busy = false;
  Time dispatch_at = Time::never();  // a device event is queued for this instant
  std::vector<OpId> order;           // in_order: the whole order
  std::size_t cursor = 0;            // in_order: the next op to run
  // fifo: ops waiting for the device, by (posted time, rank, index); a min-heap.
  struct Waiting {
    Time posted;
    OpId op;
    bool operator>(const Waiting& o) const { return posted != o.posted ? posted > o.posted : o.op < op; }
  };
  std::vector<Waiting> ready;
  OpId last{-1, -1};                 // the op that last ran (critical path of the next)
};

// One appended piece of the program and what is left of it to run.
struct Segment {
  std::unique_ptr<Schedule> owned;  // streaming: the source's; execute(): none
  const Schedule* s = nullptr;
  std::vector<std::int32_t> base;   // per rank: program index of its first op here
  std::vector<std::vector<std::int32_t>> deps;  // per rank: dependencies of ops with more than two
  int instance_base = 0, instances = 0;
  std::int64_t ops = 0, pending = 0;
  const Op& op(int rank, std::int32_t index) const {
    return s->programs[static_cast<std::size_t>(rank)].ops[static_cast<std::size_t>(index - base[static_cast<std::size_t>(rank)])];
  }
};

// Follows a program op by op, tracking which buffers hold only fill_zero's zeros, and
// says of each op which of its adds land on zeros (AddsIntoZeros bits). The set is
// almost always empty, so it costs a branch per op.
class ZeroTracker {
 public:
  void reset() { zero_.clear(); }
  std::uint8_t step(const Op& op) {
    const ComputeOp* c = op.compute();
    if (c != nullptr && c->kind == ComputeKind::fill_zero) {
      if (!holds_zero(c->dst)) zero_.emplace_back(c->dst);
      return 0;
    }
    if (zero_.empty()) return 0;
    std::uint8_t bits = 0;
    if (c != nullptr) {
      if (c->kind == ComputeKind::attention_backward) {
        if (c->dq_mode == Accumulate::add && holds_zero(c->dq)) bits |= dq_zero;
        if (c->dkv_mode == Accumulate::add && holds_zero(c->dk) && holds_zero(c->dv)) bits |= dkv_zero;
      }
      for (Name b : {c->o, c->lse, c->dq, c->dk, c->dv, c->dst}) written(b);
    } else if (op.kind() == OpKind::recv) {
      for (const Part& p : op.transfer()->parts) written(p.buffer);
    } else if (const CollectiveOp* col = op.collective()) {
      written(col->output);
    }
    return bits;
  }

 private:
  [[nodiscard]] bool holds_zero(Name b) const {
    return !b.empty() && std::find(zero_.begin(), zero_.end(), b) != zero_.end();
  }
  void written(Name b) {
    if (!b.empty()) zero_.erase(std::remove(zero_.begin(), zero_.end(), b), zero_.end());
  }
  std::vector<Name> zero_;
};

class Executor {
 public:
  Executor(int ranks, Network& net, const ComputeCostModel& cost, const SimOptions& o, SegmentSource* source,
           OpSink* sink)
      : P_(ranks),
        net_(net),
        cost_(cost),
        o_(o),
        slowdown_(1.0 + std::max(cost.calibration.comm_interference, 0.0)),
        source_(source),
        sink_(sink) {
    if (P_ >= (1 << Event::rank_bits)) throw SimulationError("too many ranks for the event key");
    ranks_.resize(static_cast<std::size_t>(P_));
    tl_.compute_busy.assign(static_cast<std::size_t>(P_), Time());
  }

  // execute(): the whole schedule, kept to the end (per-op times, critical path).
  Timeline run_whole(const Schedule& s) {
    append(nullptr, &s, Time());
    setup_devices();
    for (int r = 0; r < P_; ++r) try_start(r, Time(), OpId{-1, -1});
    loop();
    finish_whole();
    return std::move(tl_);
  }

  // execute_streaming(): segments from the source as ranks reach them.
  StreamRun run_streaming() {
    if (!o_.device_of.empty()) throw SimulationError("a streamed run cannot share devices between ranks");
    segment_count_ = source_->segments();
    suffix_.assign(static_cast<std::size_t>(segment_count_) + 1, 0u);
    for (int k = segment_count_ - 1; k >= 0; --k)
      suffix_[static_cast<std::size_t>(k)] = suffix_[static_cast<std::size_t>(k) + 1] | source_->stream_slots(k);
    waiting_slots_ = suffix_[0];
    load(Time(), false);
    for (int r = 0; r < P_; ++r) {
      ranks_[static_cast<std::size_t>(r)].wake = false;
      try_start(r, Time(), OpId{-1, -1});
    }
    loop();
    finish_streaming();
    StreamRun out;
    out.ops = ops_;
    out.messages = tl_.messages;
    out.peak_live_ops = peak_live_;
    out.segments = segment_count_;
    out.timeline = std::move(tl_);
    return out;
  }

 private:
  void loop() {
    std::vector<std::uint64_t> done;
    Time now;
    for (;;) {
      const Time tq = queue_.next_time();
      const Time tn = net_.next_event_after(now);
      if (tq.is_never() && tn.is_never()) break;
      if (tn <= tq) {
        done.clear();
        net_.advance(now, tn - now, done);
        now = tn;
        for (std::uint64_t id : done) queue_.push(Event{tn, id});
        continue;
      }
      const Event e = queue_.pop();
      now = e.time;
      ++tl_.events;
      handle(e);
      if (source_ != nullptr) {
        if (need_load_) load(now, true);
        if (retire_ready_) retire();
      }
    }
  }

  // ---- appending segments ------------------------------------------------------------
  // Loads segments while a dry stream waits for a later one, then lets the ranks whose
  // dry streams got ops look for ops to start (at the same instant: as if they had been
  // there all along).
  void load(Time now, bool wake) {
    need_load_ = false;
    bool any = false;
    while (next_segment_ < segment_count_ && (waiting_slots_ & suffix_[static_cast<std::size_t>(next_segment_)]) != 0) {
      const int k = next_segment_++;
      auto s = std::make_unique<Schedule>(source_->build(k));
      const Schedule* raw = s.get();
      append(std::move(s), raw, now);
      waiting_slots_ &= ~source_->stream_slots(k);
      any = true;
    }
    if (!any || !wake) return;
    for (int r = 0; r < P_; ++r) {
      RankState& rs = ranks_[static_cast<std::size_t>(r)];
      if (!rs.wake) continue;
      rs.wake = false;
      // What the rank waited for, in the whole run, is the op of its own that completed
      // last (if it is still held).
      try_start(r, now, live(rs.last_done) ? rs.last_done : OpId{-1, -1});
    }
  }

  // Whether an op's records and rich op are still held (its segment not retired).
  bool live(OpId id) const {
    return id.rank >= 0 && id.index >= ranks_[static_cast<std::size_t>(id.rank)].retired;
  }

  void append(std::unique_ptr<Schedule> owned, const Schedule* s, Time now) {
    (void)now;
    if (s->ranks() != P_)
      throw SimulationError(fmt::format("a segment has {} ranks; the run has {}", s->ranks(), P_));
    if (live_.size() >= 65535) throw SimulationError("more than 65535 segments in flight at once");
    Segment seg;
    seg.owned = std::move(owned);
    seg.s = s;
    seg.base.resize(static_cast<std::size_t>(P_));
    seg.deps.resize(static_cast<std::size_t>(P_));
    for (int r = 0; r < P_; ++r) seg.base[static_cast<std::size_t>(r)] = ranks_[static_cast<std::size_t>(r)].count;
    seg.instance_base = instance_base_ + static_cast<int>(instances_.size());
    live_.push_back(std::move(seg));
    Segment& g = live_.back();
    const std::uint16_t ordinal = static_cast<std::uint16_t>(loaded_ & 0xffff);
    ++loaded_;
    // The structure (streams, transfer group runs, partners, collective instances) is
    // copied into the ops' records and dropped before anything else is allocated. Each
    // rank's records are filled as soon as the structure has scanned its ops, while they
    // are in cache; the matches, final only at the end, are copied then.
    ZeroTracker zeros;
    const ScheduleStructure st(*s, StructureDetail::lean, [&](const ScheduleStructure& so_far, int r) {
      fill_rank(so_far, g, ordinal, r, zeros);
    });
    if (!st.ok())
      throw SimulationError(source_ == nullptr ? st.summary()
                                               : fmt::format("{} (segment {}, op indices within it)", st.summary(), loaded_ - 1));
    const std::int64_t instance_end = static_cast<std::int64_t>(g.instance_base) + st.instance_count();
    if (instance_end >= (std::int64_t{1} << (Event::index_bits - step_bits)))
      throw SimulationError("too many collectives for the event key");
    g.instances = st.instance_count();
    for (int id = 0; id < st.instance_count(); ++id) {
      Instance inst;
      const CollectiveOp& first = *s->op(st.instance_first(id)).collective();
      inst.kind = first.kind;
      inst.nccl = first.nccl;
      for (const OpId& m : st.members(id)) {
        inst.members.push_back(OpId{m.rank, g.base[static_cast<std::size_t>(m.rank)] + m.index});
        inst.ops.push_back(s->op(m).collective());
      }
      instances_.push_back(std::move(inst));
    }
    for (int r = 0; r < P_; ++r) {
      RankState& rs = ranks_[static_cast<std::size_t>(r)];
      const std::int32_t b = g.base[static_cast<std::size_t>(r)];
      const auto n = static_cast<std::int32_t>(s->programs[static_cast<std::size_t>(r)].ops.size());
      for (std::int32_t i = 0; i < n; ++i) {
        OpInfo& info = rs.at(b + i);
        if (info.kind == OpKind::compute) continue;
        const int m = st.match(OpId{r, i});
        if (info.kind == OpKind::collective) info.match = g.instance_base + m;
        else info.match = g.base[static_cast<std::size_t>(info.peer)] + m;
      }
    }
    ops_ += static_cast<std::uint64_t>(g.ops);
    live_ops_ += static_cast<std::uint64_t>(g.ops);
    peak_live_ = std::max(peak_live_, live_ops_);
    if (g.ops == 0) retire_ready_ = true;
  }

  // Rank r's records of segment `g`, all but their matches.
  void fill_rank(const ScheduleStructure& st, Segment& g, std::uint16_t ordinal, int r, ZeroTracker& zeros) {
    const Program& prog = g.s->programs[static_cast<std::size_t>(r)];
    const auto n = static_cast<std::int64_t>(prog.ops.size());
    RankState& rs = ranks_[static_cast<std::size_t>(r)];
    const std::int32_t b = g.base[static_cast<std::size_t>(r)];
    if (static_cast<std::int64_t>(b) + n >= (std::int64_t{1} << 31) - 1)
      throw SimulationError("too many ops on one rank for the event key");
    g.ops += n;
    g.pending += n;
    rs.stream_count = std::max(rs.stream_count, st.stream_count(r));
    std::array<std::int32_t, max_streams> last{};
    last.fill(-1);
    for (const ScheduleStructure::StreamUse& u : st.streams(r)) {
      if (u.slot >= max_streams)
        throw SimulationError(fmt::format("stream {} is beyond the simulator's {} streams per rank",
                                          prog.ops[static_cast<std::size_t>(u.first)].stream.name(), max_streams));
      // Chain the stream on from what was appended before: after its last op while the
      // stream still has something to complete (a group's other member may still run
      // after the last one ended), or as the head of a stream that ran dry.
      StreamState& ss = rs.streams[static_cast<std::size_t>(u.slot)];
      const std::int32_t t = rs.tail[static_cast<std::size_t>(u.slot)];
      if (ss.head >= 0) {
        rs.at(t).next = b + u.first;
      } else {
        ss.head = b + u.first;
        rs.wake = true;
      }
    }
    rs.info.resize(rs.info.size() + static_cast<std::size_t>(n));
    rs.times.resize(rs.times.size() + static_cast<std::size_t>(n));
    rs.count = b + static_cast<std::int32_t>(n);
    zeros.reset();
    std::vector<std::int32_t>& extra = g.deps[static_cast<std::size_t>(r)];
    for (std::int64_t i = 0; i < n; ++i) {
      const Op& op = prog.ops[static_cast<std::size_t>(i)];
      const auto idx = static_cast<int>(i);
      const auto global = static_cast<std::int32_t>(b + i);
      const OpId id{r, idx};
      OpInfo& info = rs.at(global);
      const std::uint8_t zero_adds = zeros.step(op);
      info.kind = op.kind();
      info.segment = ordinal;
      info.slot = static_cast<std::uint8_t>(st.slot(id));
      const int nx = st.next(id);
      info.next = nx >= 0 ? b + nx : -1;
      last[info.slot] = global;
      // A run of a transfer group is posted as one when its first op heads its stream.
      if (st.run_head(id) && st.run_last(id) != idx) {
        const int width = st.run_size(id);
        if (width > 0xffff) throw SimulationError("a transfer group has more than 65535 members");
        info.width = static_cast<std::uint16_t>(width);
      }
      if (op.deps.size() > 0xffff) throw SimulationError("an op has more than 65535 dependencies");
      for (int d : op.deps)
        if (d < 0 || d >= global)
          throw SimulationError(fmt::format("op {}/{} ({}) depends on op {}, which does not come before it", r, global,
                                            op.describe(), d));
      info.dep_count = static_cast<std::uint16_t>(op.deps.size());
      if (op.deps.size() <= 2) {
        for (std::size_t j = 0; j < op.deps.size(); ++j) info.dep[j] = op.deps[j];
      } else {
        info.dep[0] = static_cast<std::int32_t>(extra.size());
        extra.insert(extra.end(), op.deps.begin(), op.deps.end());
      }
      if (sink_ != nullptr) info.tag = sink_->appended(r, global, op);
      if (const ComputeOp* c = op.compute()) {
        info.duration_ps = compute_time(r, global, *c, zero_adds).ps();
      } else if (const TransferOp* t = op.transfer()) {
        info.bytes = t->size().value();
        info.peer = t->peer;
      }
    }
    for (int slot = 0; slot < max_streams; ++slot)
      if (last[static_cast<std::size_t>(slot)] >= 0) rs.tail[static_cast<std::size_t>(slot)] = last[static_cast<std::size_t>(slot)];
  }

  // Drops the oldest segments whose ops are all done: their records, times and instances.
  void retire() {
    retire_ready_ = false;
    while (!live_.empty() && live_.front().pending == 0) {
      Segment& g = live_.front();
      for (int r = 0; r < P_; ++r) {
        RankState& rs = ranks_[static_cast<std::size_t>(r)];
        const std::size_t n = g.s->programs[static_cast<std::size_t>(r)].ops.size();
        rs.retired = g.base[static_cast<std::size_t>(r)] + static_cast<std::int32_t>(n);
        const auto dead = static_cast<std::size_t>(rs.retired - rs.base);
        // Compact once the dead prefix is half the records: amortized O(1) per op.
        if (dead > 0 && dead >= rs.info.size() / 2) {
          rs.info.erase(rs.info.begin(), rs.info.begin() + static_cast<std::ptrdiff_t>(dead));
          rs.times.erase(rs.times.begin(), rs.times.begin() + static_cast<std::ptrdiff_t>(dead));
          rs.base = rs.retired;
        }
      }
      for (int i = 0; i < g.instances; ++i) instances_.pop_front();
      instance_base_ += g.instances;
      live_ops_ -= static_cast<std::uint64_t>(g.ops);
      live_.pop_front();
      ++first_live_;
    }
  }

  Segment& segment_of(const OpInfo& info) {
    return live_[static_cast<std::size_t>(static_cast<std::uint16_t>(info.segment - static_cast<std::uint16_t>(first_live_ & 0xffff)))];
  }
  Instance& instance(int id) { return instances_[static_cast<std::size_t>(id - instance_base_)]; }

  // Several ranks on one device (execute() only): check the placement and the in_order order.
  void setup_devices() {
    if (o_.device_of.empty()) return;
    const int P = P_;
    if (static_cast<int>(o_.device_of.size()) != P)
      throw SimulationError(fmt::format("device placement names {} ranks; the schedule has {}", o_.device_of.size(), P));
    for (int r = 0; r < P; ++r)
      if (o_.device_of[static_cast<std::size_t>(r)] < 0)
        throw SimulationError(fmt::format("rank {} is placed on device {}", r, o_.device_of[static_cast<std::size_t>(r)]));
    devices_.resize(static_cast<std::size_t>(device_count(o_.device_of)));
    if (o_.sharing != DeviceSharing::in_order) return;
    if (o_.compute_order.size() != devices_.size())
      throw SimulationError(fmt::format("in-order device sharing needs a compute order for each of the {} devices; got {} "
                                        "(sim::device_compute_order makes one)",
                                        devices_.size(), o_.compute_order.size()));
    std::vector<std::vector<bool>> seen(static_cast<std::size_t>(P));
    for (int r = 0; r < P; ++r) seen[static_cast<std::size_t>(r)].assign(ranks_[static_cast<std::size_t>(r)].info.size(), false);
    for (std::size_t d = 0; d < devices_.size(); ++d) {
      for (const OpId& id : o_.compute_order[d]) {
        if (id.rank < 0 || id.rank >= P || id.index < 0 ||
            id.index >= static_cast<int>(ranks_[static_cast<std::size_t>(id.rank)].info.size()))
          throw SimulationError(fmt::format("compute order of device {}: op {} is not in the schedule", d, id.str()));
        if (o_.device_of[static_cast<std::size_t>(id.rank)] != static_cast<int>(d))
          throw SimulationError(fmt::format("compute order of device {}: op {} belongs to rank {}, which runs on device {}", d,
                                            id.str(), id.rank, o_.device_of[static_cast<std::size_t>(id.rank)]));
        if (ranks_[static_cast<std::size_t>(id.rank)].info[static_cast<std::size_t>(id.index)].kind != OpKind::compute)
          throw SimulationError(fmt::format("compute order of device {}: op {} is not a compute op", d, id.str()));
        auto seen_it = seen[static_cast<std::size_t>(id.rank)].begin() + id.index;
        if (*seen_it) throw SimulationError(fmt::format("compute order of device {}: op {} appears twice", d, id.str()));
        *seen_it = true;
      }
      devices_[d].order = o_.compute_order[d];
    }
    for (int r = 0; r < P; ++r)
      for (std::size_t i = 0; i < seen[static_cast<std::size_t>(r)].size(); ++i)
        if (ranks_[static_cast<std::size_t>(r)].info[i].kind == OpKind::compute && !seen[static_cast<std::size_t>(r)][i])
          throw SimulationError(fmt::format("compute order of device {}: op {}/{} is missing",
                                            o_.device_of[static_cast<std::size_t>(r)], r, i));
  }

  // ---- starting ops -------------------------------------------------------------------
  static bool ready(const RankState& rs, const OpInfo& info, const Segment* seg, int rank) {
    const std::int32_t* d = info.dep_count <= 2 ? info.dep
                                                : seg->deps[static_cast<std::size_t>(rank)].data() + info.dep[0];
    for (int k = 0; k < info.dep_count; ++k)
      if (d[k] >= rs.base && rs.at(d[k]).state != OpState::done) return false;
    return true;
  }

  void try_start(int rank, Time now, OpId trigger) {
    RankState& rs = ranks_[static_cast<std::size_t>(rank)];
    for (int slot = 0; slot < rs.stream_count; ++slot) {
      StreamState& st = rs.streams[static_cast<std::size_t>(slot)];
      if (st.running > 0 || st.head < 0) continue;
      const int width = rs.at(st.head).width;
      bool ok = true;
      for (std::int32_t k = 0, i = st.head; ok && k < width; ++k, i = rs.at(i).next) {
        const OpInfo& info = rs.at(i);
        ok = ready(rs, info, info.dep_count > 2 ? &segment_of(info) : nullptr, rank);
      }
      if (!ok) continue;
      st.running = width;
      st.width = width;
      for (std::int32_t k = 0, i = st.head; k < width; ++k, i = rs.at(i).next) post(rank, i, now, trigger);
    }
  }

  void post(int rank, std::int32_t index, Time now, OpId trigger) {
    RankState& rs = ranks_[static_cast<std::size_t>(rank)];
    OpInfo& me = rs.at(index);
    me.state = OpState::posted;
    me.pred = trigger;
    OpTimes& t = rs.time_of(index);
    t.posted = now;
    switch (me.kind) {
      case OpKind::compute: {
        if (!devices_.empty()) {  // a shared device starts it when its turn comes
          const int d = o_.device_of[static_cast<std::size_t>(rank)];
          DeviceState& dev = devices_[static_cast<std::size_t>(d)];
          if (o_.sharing == DeviceSharing::fifo) {
            dev.ready.push_back({now, OpId{rank, index}});
            std::push_heap(dev.ready.begin(), dev.ready.end(), std::greater<>());
          }
          wake_device(d, now);
          break;
        }
        start_compute(rank, index, now);
        break;
      }
      case OpKind::send:
      case OpKind::recv: {
        const int peer = me.peer;
        const int other = me.match;
        RankState& ps = ranks_[static_cast<std::size_t>(peer)];
        OpInfo& them = ps.at(other);
        if (them.state != OpState::posted) break;  // rendezvous: wait
        // The partner waited for this side.
        them.pred = OpId{rank, index};
        ps.time_of(other).start = now;
        t.start = now;
        const bool send = me.kind == OpKind::send;
        const int src = send ? rank : peer, sidx = send ? index : other;
        ++tl_.messages;
        net_.start(now, src, send ? peer : rank, me.bytes, Event::make(now, EventKind::transfer_done, src, sidx).key,
                   FlowSpec{Traffic::sequence_parallel, false, 0.0});
        communicating(rank, +1, now);
        communicating(peer, +1, now);
        break;
      }
      case OpKind::collective: {
        const int id = me.match;
        Instance& inst = instance(id);
        if (++inst.posted < static_cast<int>(inst.members.size())) break;
        for (const OpId& m : inst.members) {
          RankState& ms = ranks_[static_cast<std::size_t>(m.rank)];
          ms.time_of(m.index).start = now;
          if (m.rank != rank || m.index != index) ms.at(m.index).pred = OpId{rank, index};
        }
        for (const OpId& m : inst.members) communicating(m.rank, +1, now);
        start_collective(id, now);
        break;
      }
    }
  }

  void start_compute(int rank, std::int32_t index, Time now) {
    RankState& rs = ranks_[static_cast<std::size_t>(rank)];
    OpTimes& t = rs.time_of(index);
    t.start = now;
    const OpInfo& info = rs.at(index);
    if (sink_ != nullptr) {
      const OpId cause = info.pred;
      const std::optional<std::uint8_t> by =
          live(cause) ? std::optional<std::uint8_t>(ranks_[static_cast<std::size_t>(cause.rank)].at(cause.index).tag)
                      : std::nullopt;
      sink_->compute_started(rank, info.tag, min(rs.compute_free, now), now, by);
    }
    const std::int64_t work = info.duration_ps;
    if (slowdown_ == 1.0) {
      t.end = now + Time::ps(work);
    } else {
      rs.busy.running = index;
      rs.busy.left_ps = static_cast<double>(work);
      rs.busy.since = now;
      t.end = now + Time::ps(Time::nearest_ps(static_cast<double>(work) * rate_factor(rs)));
    }
    queue_.push(Event::make(t.end, EventKind::compute_done, rank, index));
  }

  // ---- compute slowed by communication -----------------------------------------------------
  // Wall time per picosecond of work on this rank right now.
  double rate_factor(const RankState& rs) const { return rs.busy.comm_active > 0 ? slowdown_ : 1.0; }

  // A transfer or collective starts (+1) or ends (-1) on `rank`. When that switches the
  // rank between communicating and not, its running compute op is re-timed from the work
  // it has left; the event queued for its old end is then stale (handle() skips it).
  void communicating(int rank, int delta, Time now) {
    if (slowdown_ == 1.0) return;
    RankState& rs = ranks_[static_cast<std::size_t>(rank)];
    const bool before = rs.busy.comm_active > 0;
    rs.busy.comm_active += delta;
    const bool after = rs.busy.comm_active > 0;
    if (before == after || rs.busy.running < 0) return;
    const int index = rs.busy.running;
    rs.busy.left_ps -= static_cast<double>((now - rs.busy.since).ps()) / (before ? slowdown_ : 1.0);
    rs.busy.left_ps = std::max(rs.busy.left_ps, 0.0);
    rs.busy.since = now;
    OpTimes& t = rs.time_of(index);
    const Time end = now + Time::ps(Time::nearest_ps(rs.busy.left_ps * rate_factor(rs)));
    if (end == t.end) return;
    t.end = end;
    queue_.push(Event::make(end, EventKind::compute_done, rank, index));
  }

  // ---- shared devices --------------------------------------------------------------------
  // The device looks for its next op at the end of this instant, once every completion of
  // the instant has made its ops ready (EventKind::device sorts after them).
  void wake_device(int d, Time now) {
    DeviceState& dev = devices_[static_cast<std::size_t>(d)];
    if (dev.busy || dev.dispatch_at == now) return;
    dev.dispatch_at = now;
    queue_.push(Event::make(now, EventKind::device, d, 0));
  }

  void dispatch(int d, Time now) {
    DeviceState& dev = devices_[static_cast<std::size_t>(d)];
    dev.dispatch_at = Time::never();
    if (dev.busy) return;
    OpId next{-1, -1};
    if (o_.sharing == DeviceSharing::fifo) {
      if (dev.ready.empty()) return;
      std::pop_heap(dev.ready.begin(), dev.ready.end(), std::greater<>());
      next = dev.ready.back().op;
      dev.ready.pop_back();
    } else {
      if (dev.cursor >= dev.order.size()) return;
      next = dev.order[dev.cursor];
      // Head-of-line: the next op of the order runs only once its own stream posted it.
      if (ranks_[static_cast<std::size_t>(next.rank)].at(next.index).state != OpState::posted) return;
      ++dev.cursor;
    }
    dev.busy = true;
    RankState& rs = ranks_[static_cast<std::size_t>(next.rank)];
    // It waited for the device when the device was what it was waiting for.
    if (rs.time_of(next.index).posted < now && dev.last.rank >= 0) rs.at(next.index).pred = dev.last;
    dev.last = next;
    start_compute(next.rank, next.index, now);
  }

  Time compute_time(int rank, std::int32_t index, const ComputeOp& c, std::uint8_t zero_adds) const {
    double factor = 1.0;
    if (o_.jitter > 0.0) {
      const std::uint64_t h = splitmix64(o_.seed ^ splitmix64((static_cast<std::uint64_t>(rank) << 40) ^ static_cast<std::uint64_t>(index)));
      const double u = static_cast<double>(h >> 11) * (1.0 / 9007199254740992.0);  // [0, 1)
      factor *= 1.0 + o_.jitter * (2.0 * u - 1.0);
    }
    if (rank == o_.straggler) factor *= o_.straggler_factor;
    const bool dq_adds = c.dq_mode == Accumulate::add && (zero_adds & dq_zero) == 0;
    const bool dkv_adds = c.dkv_mode == Accumulate::add && (zero_adds & dkv_zero) == 0;
    return Time::from(cost_.time(c, dq_adds, dkv_adds) * factor);
  }

  // ---- collectives ---------------------------------------------------------------------
  static double bytes_at(const CollectiveOp& c, int j) {
    return j < static_cast<int>(c.bytes_to.size()) ? c.bytes_to[static_cast<std::size_t>(j)].value() : 0.0;
  }
  static double largest_piece(const CollectiveOp& c) {
    double b = 0.0;
    for (const Bytes& x : c.bytes_to) b = std::max(b, x.value());
    return b;
  }

  void collective_flow(int id, int m, int to, std::int64_t number, double bytes, Time now) {
    Instance& inst = instance(id);
    const int src = inst.members[static_cast<std::size_t>(m)].rank;
    const int dst = inst.members[static_cast<std::size_t>(to)].rank;
    const std::int64_t index = (static_cast<std::int64_t>(id) << step_bits) | number;
    const std::uint64_t key = Event::make(now, EventKind::collective_step, src, index).key;
    if (inst.nccl) {
      const bool intra = net_.topology().link_class(src, dst) == LinkClass::intra_node;
      net_.start(now, src, dst, bytes, key, FlowSpec{Traffic::sharding, true, intra ? inst.cap_intra : inst.cap_inter});
      return;
    }
    // The collective pays its regime's base latency once: the largest of its hops' (the
    // regime follows the message size and the link class each hop crosses).
    if (number == 0 || inst.kind == CollectiveKind::all_to_all)
      inst.base_latency = max(inst.base_latency, net_.collective_base_latency(src, dst, bytes));
    net_.start(now, src, dst, bytes, key, FlowSpec{Traffic::sequence_parallel, false, 0.0});
  }

  // Steps of a ring collective over n members: all-reduce is a reduce-scatter followed by
  // an all-gather.
  static int ring_steps(const Instance& inst) {
    const int n = static_cast<int>(inst.members.size());
    return inst.kind == CollectiveKind::all_reduce ? 2 * (n - 1) : n - 1;
  }

  // Ring step `step` of the member at ring position i of channel c: what it forwards to
  // the next position. One channel in group order unless nccl (ring, pos).
  double ring_chunk(const Instance& inst, int c, int i, int step) const {
    const int n = static_cast<int>(inst.members.size());
    const double share = 1.0 / inst.channels;
    auto member = [&](int position) {
      const int p = ((position % n) + n) % n;
      return inst.nccl ? inst.ring[static_cast<std::size_t>(c * n + p)] : p;
    };
    const int m = member(i);
    if (inst.kind == CollectiveKind::all_reduce) {
      // bytes_to counts 2·size/n per peer (schedule.hpp); every step moves size/n.
      return inst.piece[static_cast<std::size_t>(m)] / 2.0 * share;
    }
    if (inst.kind == CollectiveKind::all_gather)  // whose piece travels
      return inst.piece[static_cast<std::size_t>(member(i - step))] * share;
    // reduce-scatter: the partial sum of the piece that ends at the position step + 1 behind.
    return bytes_at(*inst.ops[static_cast<std::size_t>(m)], member(i - step - 1)) * share;
  }

  // NCCL's rings on the cluster (collective_sim.hpp): across nodes one channel per NIC,
  // channel k entering node j at local GPU (k - j) mod g and leaving it from the GPU
  // before, so that it crosses each node boundary through its own NIC; inside one node (or
  // where the members are not whole nodes in order) one ring in group order. And its
  // fixed cost and caps.
  void lay_nccl(Instance& inst, Time now) {
    const int n = static_cast<int>(inst.members.size());
    const Topology& topo = net_.topology();
    const int g = topo.gpus_per_node();
    int lo = inst.members.front().rank, hi = lo;
    for (const OpId& m : inst.members) lo = std::min(lo, m.rank), hi = std::max(hi, m.rank);
    inst.first_rank = lo;
    inst.member_of.assign(static_cast<std::size_t>(hi - lo + 1), -1);
    for (int m = 0; m < n; ++m) inst.member_of[static_cast<std::size_t>(inst.members[static_cast<std::size_t>(m)].rank - lo)] = m;
    // Whole nodes in group order: blocks of g consecutive members on one node each.
    int blocks = 0;
    bool whole = g > 0 && n % g == 0;
    for (int m = 0; whole && m < n; m += g) {
      const int node = inst.members[static_cast<std::size_t>(m)].rank / g;
      for (int i = 0; whole && i < g; ++i) whole = inst.members[static_cast<std::size_t>(m + i)].rank / g == node;
      ++blocks;
    }
    inst.channels = whole && blocks > 1 ? std::max(1, topo.nics_per_node()) : 1;
    const int C = inst.channels;
    inst.ring.resize(static_cast<std::size_t>(C * n));
    inst.pos.resize(static_cast<std::size_t>(C * n));
    for (int c = 0; c < C; ++c) {
      for (int j = 0, p = 0; p < n; ++j) {
        const int block = C > 1 ? g : n;
        const int rot = C > 1 ? (((c - j) % g) + g) % g : 0;
        for (int i = 0; i < block; ++i, ++p) inst.ring[static_cast<std::size_t>(c * n + p)] = j * block + (rot + i) % block;
      }
      for (int p = 0; p < n; ++p) inst.pos[static_cast<std::size_t>(c * n + inst.ring[static_cast<std::size_t>(c * n + p)])] = p;
    }
    if (o_.nccl_cost) {
      const CollectiveOp& op = *inst.ops.front();
      const double piece = largest_piece(op);
      const double size = inst.kind == CollectiveKind::all_reduce ? piece * n / 2.0 : piece * n;
      const NcclCost cost = o_.nccl_cost(inst.kind, n, size);
      inst.base_latency = cost.fixed;
      inst.host = cost.host;
      inst.cap_intra = cost.cap_intra;
      inst.cap_inter = cost.cap_inter;
    }
    inst.started = now;
  }

  void start_collective(int id, Time now) {
    Instance& inst = instance(id);
    const int n = static_cast<int>(inst.members.size());
    inst.flows_left = 0;
    inst.started = now;
    if (n > 1 && inst.kind == CollectiveKind::all_to_all) {
      for (int m = 0; m < n; ++m) {
        const CollectiveOp& c = *inst.ops[static_cast<std::size_t>(m)];
        for (int j = 0; j < n; ++j) {
          if (j == m) continue;
          ++inst.flows_left;
          collective_flow(id, m, j, j, bytes_at(c, j), now);
        }
      }
    } else if (n > 1) {
      if (inst.nccl) lay_nccl(inst, now);
      const int C = inst.channels, steps = ring_steps(inst);
      if (static_cast<std::int64_t>(C) * steps >= base_latency_done)
        throw SimulationError("a collective has more steps than the event key holds");
      inst.piece.resize(static_cast<std::size_t>(n));
      for (int m = 0; m < n; ++m) inst.piece[static_cast<std::size_t>(m)] = largest_piece(*inst.ops[static_cast<std::size_t>(m)]);
      inst.sent.assign(static_cast<std::size_t>(C * n), -1);
      inst.received.assign(static_cast<std::size_t>(C * n), -1);
      inst.launched.assign(static_cast<std::size_t>(C * n), 1);
      inst.flows_left = C * n * steps;
      for (int c = 0; c < C; ++c)
        for (int i = 0; i < n; ++i) {
          const int from = inst.nccl ? inst.ring[static_cast<std::size_t>(c * n + i)] : i;
          const int to = inst.nccl ? inst.ring[static_cast<std::size_t>(c * n + (i + 1) % n)] : (i + 1) % n;
          collective_flow(id, from, to, static_cast<std::int64_t>(c) * steps, ring_chunk(inst, c, i, 0), now);
        }
    }
    if (inst.flows_left == 0) finish_collective(id, now);
  }

  void ring_launch(int id, int c, int i, Time now) {
    Instance& inst = instance(id);
    const int n = static_cast<int>(inst.members.size());
    const std::size_t at = static_cast<std::size_t>(c * n + i);
    const int step = inst.launched[at];
    const int steps = ring_steps(inst);
    if (step >= steps) return;
    if (inst.sent[at] < step - 1 || inst.received[at] < step - 1) return;
    ++inst.launched[at];
    const int from = inst.nccl ? inst.ring[at] : i;
    const int to = inst.nccl ? inst.ring[static_cast<std::size_t>(c * n + (i + 1) % n)] : (i + 1) % n;
    collective_flow(id, from, to, static_cast<std::int64_t>(c) * steps + step, ring_chunk(inst, c, i, step), now);
  }

  void collective_step_done(const Event& e) {
    const int id = static_cast<int>(e.index() >> step_bits);
    const int number = static_cast<int>(e.index() & ((std::int64_t{1} << step_bits) - 1));
    Instance& inst = instance(id);
    if (number == base_latency_done) {
      complete_collective(id, e.time);
      return;
    }
    --inst.flows_left;
    if (inst.kind != CollectiveKind::all_to_all) {
      const int n = static_cast<int>(inst.members.size());
      const int steps = ring_steps(inst);
      const int c = number / steps, step = number % steps;
      int i = 0;
      if (inst.nccl) {
        const int m = inst.member_of[static_cast<std::size_t>(e.rank() - inst.first_rank)];
        i = inst.pos[static_cast<std::size_t>(c * n + m)];
      } else {
        while (inst.members[static_cast<std::size_t>(i)].rank != e.rank()) ++i;
      }
      const int next = (i + 1) % n;
      inst.sent[static_cast<std::size_t>(c * n + i)] = step;
      inst.received[static_cast<std::size_t>(c * n + next)] = step;
      ring_launch(id, c, i, e.time);
      ring_launch(id, c, next, e.time);
    }
    if (inst.flows_left > 0) return;
    finish_collective(id, e.time);
  }

  // The last flow is done: the fixed cost (or the host's floor) still to pay, then done.
  void finish_collective(int id, Time now) {
    Instance& inst = instance(id);
    const Time end = max(now + inst.base_latency, inst.started + inst.host);
    if (end > now) {
      const std::int64_t index = (static_cast<std::int64_t>(id) << step_bits) | base_latency_done;
      queue_.push(Event::make(end, EventKind::collective_step, inst.members.front().rank, index));
      return;
    }
    complete_collective(id, now);
  }

  void complete_collective(int id, Time now) {
    for (const OpId& m : instance(id).members) {
      communicating(m.rank, -1, now);
      queue_.push(Event::make(now, EventKind::compute_done, m.rank, m.index));
    }
  }

  // ---- completion ----------------------------------------------------------------------
  void handle(const Event& e) {
    switch (e.kind()) {
      case EventKind::compute_done: {
        const int rank = e.rank();
        const auto index = static_cast<std::int32_t>(e.index());
        if (slowdown_ != 1.0) {
          // A compute op re-timed by communication left its earlier end event behind.
          RankState& rs = ranks_[static_cast<std::size_t>(rank)];
          if (index < rs.base || rs.at(index).state == OpState::done) break;
          if (rs.at(index).kind == OpKind::compute && rs.time_of(index).end != e.time) break;
        }
        complete(rank, index, e.time);
        break;
      }
      case EventKind::transfer_done: {
        const int rank = e.rank();
        const auto index = static_cast<std::int32_t>(e.index());
        const OpInfo& info = ranks_[static_cast<std::size_t>(rank)].at(index);
        const int peer = info.peer, other = info.match;
        communicating(rank, -1, e.time);
        communicating(peer, -1, e.time);
        complete(rank, index, e.time);
        complete(peer, other, e.time);
        break;
      }
      case EventKind::collective_step:
        collective_step_done(e);
        break;
      case EventKind::wake:
        try_start(e.rank(), e.time, OpId{-1, -1});
        break;
      case EventKind::device:
        dispatch(e.rank(), e.time);
        break;
    }
  }

  void complete(int rank, std::int32_t index, Time now) {
    RankState& rs = ranks_[static_cast<std::size_t>(rank)];
    OpInfo& info = rs.at(index);
    info.state = OpState::done;
    OpTimes& t = rs.time_of(index);
    t.end = now;
    rs.last_done = OpId{rank, index};
    if (info.kind == OpKind::compute) {
      if (rs.busy.running == index) rs.busy.running = -1;
      tl_.compute_busy[static_cast<std::size_t>(rank)] += t.end - t.start;
      rs.compute_free = max(rs.compute_free, now);
      if (!devices_.empty()) {
        const int d = o_.device_of[static_cast<std::size_t>(rank)];
        devices_[static_cast<std::size_t>(d)].busy = false;
        wake_device(d, now);
      }
    }
    if (now >= tl_.makespan) {
      tl_.makespan = now;
      last_ = OpId{rank, index};
    }
    Segment& seg = segment_of(info);
    if (sink_ != nullptr) sink_->completed(rank, index, info.slot, info.tag, t, seg.op(rank, index));
    if (--seg.pending == 0) retire_ready_ = true;
    StreamState& st = rs.streams[info.slot];
    if (--st.running == 0) {
      for (std::int32_t k = 0; k < st.width; ++k) st.head = rs.at(st.head).next;
      // A stream that ran dry waits for the next segment with ops on it.
      if (st.head < 0 && source_ != nullptr && (suffix_[static_cast<std::size_t>(next_segment_)] >> info.slot & 1u) != 0) {
        waiting_slots_ |= 1u << info.slot;
        need_load_ = true;
      }
    }
    try_start(rank, now, OpId{rank, index});
  }

  // ---- results ---------------------------------------------------------------------------
  void links_into_timeline(Time end) {
    const auto stats = net_.link_stats(end);
    const Topology& topo = net_.topology();
    tl_.links.resize(stats.size());
    for (std::size_t l = 0; l < stats.size(); ++l) {
      const Link& link = topo.link(static_cast<int>(l));
      tl_.links[l] = LinkUsage{link.name, link.link_class, stats[l].bytes, stats[l].busy, stats[l].max_flows, stats[l].mixed};
    }
    tl_.link_shared = net_.any_link_shared();
  }

  void finish_whole() {
    const Segment& g = live_.front();
    for (int r = 0; r < P_; ++r) {
      const RankState& rs = ranks_[static_cast<std::size_t>(r)];
      for (std::size_t i = 0; i < rs.info.size(); ++i)
        if (rs.info[i].state != OpState::done)
          throw SimulationError(fmt::format("op {}/{} ({}) never completed: the schedule deadlocks under the "
                                            "execution semantics (a wait that can never be met)",
                                            r, i, g.op(r, static_cast<std::int32_t>(i)).describe()));
    }
    links_into_timeline(tl_.makespan);
    const Topology& topo = net_.topology();
    // Critical path: from the op that ended last, back through what each op waited for.
    std::vector<CriticalStep> path;
    OpId at = last_;
    while (at.rank >= 0 && path.size() <= static_cast<std::size_t>(tl_.events) + 1) {
      const Op& op = g.op(at.rank, at.index);
      const OpTimes& t = ranks_[static_cast<std::size_t>(at.rank)].time_of(at.index);
      CriticalStep step{at, op.kind(), t.start, t.end, -1};
      if (const TransferOp* tr = op.transfer()) {
        const bool send = op.kind() == OpKind::send;
        Route route = topo.route(send ? at.rank : tr->peer, send ? tr->peer : at.rank);
        double slowest = 0.0;
        for (int l : route.span())
          if (step.link < 0 || topo.link(l).bandwidth.value() < slowest) {
            step.link = l;
            slowest = topo.link(l).bandwidth.value();
          }
      }
      path.push_back(step);
      at = ranks_[static_cast<std::size_t>(at.rank)].at(at.index).pred;
    }
    std::reverse(path.begin(), path.end());
    tl_.critical_path = std::move(path);
    tl_.ops.resize(static_cast<std::size_t>(P_));
    for (int r = 0; r < P_; ++r) tl_.ops[static_cast<std::size_t>(r)] = std::move(ranks_[static_cast<std::size_t>(r)].times);
  }

  void finish_streaming() {
    if (next_segment_ < segment_count_ || !live_.empty()) {
      // Something never ran: name the first op of the oldest segment still waiting.
      for (const Segment& g : live_)
        for (int r = 0; r < P_; ++r) {
          const RankState& rs = ranks_[static_cast<std::size_t>(r)];
          const auto n = static_cast<std::int32_t>(g.s->programs[static_cast<std::size_t>(r)].ops.size());
          for (std::int32_t i = 0; i < n; ++i) {
            const std::int32_t index = g.base[static_cast<std::size_t>(r)] + i;
            if (index >= rs.base && rs.at(index).state != OpState::done)
              throw SimulationError(fmt::format("op {}/{} ({}) never completed: the program deadlocks under the "
                                                "execution semantics (a wait that can never be met)",
                                                r, index, g.op(r, index).describe()));
          }
        }
      throw SimulationError(fmt::format("segment {} of {} was never reached", next_segment_, segment_count_));
    }
    links_into_timeline(tl_.makespan);
  }

  const int P_;
  Network& net_;
  const ComputeCostModel& cost_;
  const SimOptions& o_;
  const double slowdown_;  // 1 + ComputeCalibration::comm_interference
  SegmentSource* source_;  // null: one schedule, appended whole
  OpSink* sink_;
  EventQueue queue_;
  std::vector<RankState> ranks_;
  std::deque<Instance> instances_;
  int instance_base_ = 0;           // id of instances_.front()
  std::deque<Segment> live_;        // appended and not yet retired, oldest first
  std::int64_t first_live_ = 0;     // ordinal of live_.front()
  std::int64_t loaded_ = 0;         // segments appended so far
  int next_segment_ = 0, segment_count_ = 0;
  std::vector<std::uint32_t> suffix_;  // slots used by segment k or any later one
  std::uint32_t waiting_slots_ = 0;    // slots some rank's dry stream waits for
  bool need_load_ = false, retire_ready_ = false;
  std::uint64_t ops_ = 0, live_ops_ = 0, peak_live_ = 0;
  std::vector<DeviceState> devices_;  // empty: every rank its own GPU
  Timeline tl_;
  OpId last_{-1, -1};
};

}  // namespace

Timeline execute(const Schedule& s, Network& network, const ComputeCostModel& cost, const SimOptions& options) {
  Executor ex(s.ranks(), network, cost, options, nullptr, nullptr);
  return ex.run_whole(s);
}

StreamRun execute_streaming(SegmentSource& source, Network& network, const ComputeCostModel& cost,
                            const SimOptions& options, OpSink& sink) {
  Executor ex(source.ranks(), network, cost, options, &source, &sink);
  return ex.run_streaming();
}

Timeline simulate(const Schedule& s, const Cluster& cluster, const Calibration& calibration, const SimOptions& options,
                  int accumulator_bytes) {
  const auto network = [&] {
    auto n = make_network(options.network, Topology::from_cluster(cluster, calibration, options.topology), &calibration);
    if (options.fifo_pairs) n = make_fifo_pairs(std::move(n));
    return n;
  };
  auto net = network();
  ComputeCostModel cost{cluster.gpu, calibration.compute, s.shape.dtype,
                        accumulator_bytes > 0 ? accumulator_bytes : s.shape.element_bytes()};
  if (!options.device_of.empty() && options.sharing == DeviceSharing::in_order && options.compute_order.empty()) {
    // The order a run without sharing starts the compute ops in (device_share.hpp).
    SimOptions alone = options;
    alone.device_of.clear();
    auto fresh = network();
    const Timeline independent = execute(s, *fresh, cost, alone);
    SimOptions shared = options;
    shared.compute_order = device_compute_order(s, independent, options.device_of);
    return execute(s, *net, cost, shared);
  }
  return execute(s, *net, cost, options);
}

}  // namespace xattn::sim
