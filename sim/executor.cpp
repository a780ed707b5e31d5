// The Schedule executor (see executor.hpp). One object per run holds all state; the main
// loop alternates between the event queue and the network, whichever is due first, and
// turns the network's completed transfers into queue events so that everything that
// happens at one instant is handled in canonical order.
#include "sim/executor.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cassert>
#include <functional>
#include <string_view>

#include <fmt/format.h>

#include "model/schedule/structure.hpp"
#include "sim/event_queue.hpp"

namespace xattn::sim {

namespace {

constexpr int max_streams = 16;       // compute + up to 15 communication streams per rank
constexpr std::int64_t step_bits = 20;  // collective flow number within its instance

enum class OpState : std::uint8_t { waiting, posted, done };

// A stream's ops are chained through OpInfo::next; the stream holds its head.
struct StreamState {
  std::int32_t head = -1;  // the first op not yet completed (-1: all done)
  std::int32_t running = 0;  // members of the op or group at the head still running (0: idle)
  std::int32_t width = 0;    // how many ops the running op or group spans
};

// Backward blocks that add into an accumulator still holding fill_zero's zeros: the add is
// free (compute_cost.hpp). Bits per op.
enum AddsIntoZeros : std::uint8_t { dq_zero = 1, dkv_zero = 2 };

// What the run loop needs of an op, packed (48 bytes, its state, critical-path
// predecessor, successor on its stream and first two dependencies included: one cache
// line serves the checks an event makes) so that a 10-million-op schedule is walked from
// one compact array per rank instead of the Schedule's rich ops (about 216 bytes each).
struct OpInfo {
  union {
    std::int64_t duration_ps = 0;  // compute: its time, jitter included
    double bytes;              // send, recv: the message size
  };
  std::int32_t peer = -1;      // send, recv: the other rank
  std::int32_t match = -1;     // send, recv: the partner's op index; collective: its instance
  // Dependencies: up to two held here (dep[0], dep[1]: most ops have one or two), more
  // as the slice [dep[0], dep[0] + dep_count) of RankState::deps.
  std::uint16_t dep_count = 0;
  std::uint16_t width = 1;     // ops posted together when this op reaches its stream's head
  OpKind kind = OpKind::compute;
  std::uint8_t slot = 0;       // stream
  OpState state = OpState::waiting;
  OpId pred{-1, -1};           // what this op last waited for (critical path)
  std::int32_t next = -1;      // the next op on the same stream of the rank (-1: none)
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
  std::vector<OpInfo> info;
  std::vector<std::int32_t> deps;   // dependencies of ops with more than two (OpInfo::dep), flattened
  std::array<StreamState, max_streams> streams{};
  int stream_count = 0;
};

struct Instance {
  CollectiveKind kind = CollectiveKind::all_gather;
  std::vector<OpId> members;  // in group order
  int posted = 0;
  int flows_left = 0;
  Time base_latency;  // the protocol regime's once-per-collective cost, paid after the last hop
  // Ring collectives: per member, the last step it finished sending and receiving, and the
  // steps it has launched.
  std::vector<int> sent, received, launched;
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
  Executor(const Schedule& s, Network& net, const ComputeCostModel& cost, const SimOptions& o)
      : s_(s), net_(net), cost_(cost), o_(o), slowdown_(1.0 + std::max(cost.calibration.comm_interference, 0.0)) {}

  Timeline run() {
    setup();
    const int P = s_.ranks();
    for (int r = 0; r < P; ++r) try_start(r, Time(), OpId{-1, -1});
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
    }
    finish(now);
    return std::move(tl_);
  }

 private:
  // ---- setup ------------------------------------------------------------------------
  void setup() {
    const int P = s_.ranks();
    if (P >= (1 << Event::rank_bits)) throw SimulationError("too many ranks for the event key");
    ranks_.resize(static_cast<std::size_t>(P));
    {
      // The structure (streams, transfer group runs, partners, collective instances) is
      // copied into the ops' records and dropped before the Timeline's op times are
      // allocated, so that it never adds to the run's peak memory. Each rank's records are
      // filled as soon as the structure has scanned its ops, while they are in cache; the
      // matches, final only at the end, are copied then.
      ZeroTracker zeros;
      const ScheduleStructure st(s_, StructureDetail::lean,
                                 [&](const ScheduleStructure& so_far, int r) { fill_rank(so_far, r, zeros); });
      if (!st.ok()) throw SimulationError(st.summary());
      if (st.instance_count() >= (1 << step_bits)) throw SimulationError("too many collectives for the event key");
      instances_.resize(static_cast<std::size_t>(st.instance_count()));
      for (int id = 0; id < st.instance_count(); ++id) {
        Instance& inst = instances_[static_cast<std::size_t>(id)];
        inst.kind = s_.op(st.instance_first(id)).collective()->kind;
        const auto members = st.members(id);
        inst.members.assign(members.begin(), members.end());
      }
      for (int r = 0; r < P; ++r) {
        std::vector<OpInfo>& info = ranks_[static_cast<std::size_t>(r)].info;
        for (std::size_t i = 0; i < info.size(); ++i)
          if (info[i].kind != OpKind::compute) info[i].match = st.match(OpId{r, static_cast<int>(i)});
      }
    }
    tl_.ops.resize(static_cast<std::size_t>(P));
    for (int r = 0; r < P; ++r) tl_.ops[static_cast<std::size_t>(r)].resize(ranks_[static_cast<std::size_t>(r)].info.size());
    tl_.compute_busy.assign(static_cast<std::size_t>(P), Time());
    setup_devices();
  }

  // Rank r's records, all but their matches.
  void fill_rank(const ScheduleStructure& st, int r, ZeroTracker& zeros) {
    const Program& prog = s_.programs[static_cast<std::size_t>(r)];
    const std::size_t n = prog.ops.size();
    if (static_cast<std::int64_t>(n) >= (std::int64_t{1} << step_bits) * (std::int64_t{1} << step_bits))
      throw SimulationError("too many ops on one rank for the event key");
    RankState& rs = ranks_[static_cast<std::size_t>(r)];
    rs.stream_count = st.stream_count(r);
    for (const ScheduleStructure::StreamUse& u : st.streams(r)) {
      if (u.slot >= max_streams)
        throw SimulationError(fmt::format("stream {} is beyond the simulator's {} streams per rank",
                                          prog.ops[static_cast<std::size_t>(u.first)].stream.name(), max_streams));
      rs.streams[static_cast<std::size_t>(u.slot)].head = u.first;
    }
    rs.info.resize(n);
    zeros.reset();
    for (std::size_t i = 0; i < n; ++i) {
      const Op& op = prog.ops[i];
      OpInfo& info = rs.info[i];
      const int idx = static_cast<int>(i);
      const OpId id{r, idx};
      const std::uint8_t zero_adds = zeros.step(op);
      info.kind = op.kind();
      info.slot = static_cast<std::uint8_t>(st.slot(id));
      info.next = st.next(id);
      // A run of a transfer group is posted as one when its first op heads its stream.
      if (st.run_head(id) && st.run_last(id) != idx) {
        const int width = st.run_size(id);
        if (width > 0xffff) throw SimulationError("a transfer group has more than 65535 members");
        info.width = static_cast<std::uint16_t>(width);
      }
      if (op.deps.size() > 0xffff) throw SimulationError("an op has more than 65535 dependencies");
      info.dep_count = static_cast<std::uint16_t>(op.deps.size());
      if (op.deps.size() <= 2) {
        for (std::size_t j = 0; j < op.deps.size(); ++j) info.dep[j] = op.deps[j];
      } else {
        info.dep[0] = static_cast<std::int32_t>(rs.deps.size());
        rs.deps.insert(rs.deps.end(), op.deps.begin(), op.deps.end());
      }
      if (const ComputeOp* c = op.compute()) {
        info.duration_ps = compute_time(r, idx, *c, zero_adds).ps();
      } else if (const TransferOp* t = op.transfer()) {
        info.bytes = t->size().value();
        info.peer = t->peer;
      }
    }
  }

  // Several ranks on one device: check the placement and the in_order order.
  void setup_devices() {
    if (o_.device_of.empty()) return;
    const int P = s_.ranks();
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
  const Op& op_at(int rank, int index) const {
    return s_.programs[static_cast<std::size_t>(rank)].ops[static_cast<std::size_t>(index)];
  }

  static bool ready(const RankState& rs, const OpInfo& info) {
    const std::int32_t* d = info.dep_count <= 2 ? info.dep : rs.deps.data() + info.dep[0];
    for (int k = 0; k < info.dep_count; ++k)
      if (rs.info[static_cast<std::size_t>(d[k])].state != OpState::done) return false;
    return true;
  }

  void try_start(int rank, Time now, OpId trigger) {
    RankState& rs = ranks_[static_cast<std::size_t>(rank)];
    for (int slot = 0; slot < rs.stream_count; ++slot) {
      StreamState& st = rs.streams[static_cast<std::size_t>(slot)];
      if (st.running > 0 || st.head < 0) continue;
      const int width = rs.info[static_cast<std::size_t>(st.head)].width;
      bool ok = true;
      for (std::int32_t k = 0, i = st.head; ok && k < width; ++k, i = rs.info[static_cast<std::size_t>(i)].next)
        ok = ready(rs, rs.info[static_cast<std::size_t>(i)]);
      if (!ok) continue;
      st.running = width;
      st.width = width;
      for (std::int32_t k = 0, i = st.head; k < width; ++k, i = rs.info[static_cast<std::size_t>(i)].next)
        post(rank, i, now, trigger);
    }
  }

  void post(int rank, int index, Time now, OpId trigger) {
    RankState& rs = ranks_[static_cast<std::size_t>(rank)];
    rs.info[static_cast<std::size_t>(index)].state = OpState::posted;
    rs.info[static_cast<std::size_t>(index)].pred = trigger;
    OpTimes& t = tl_.ops[static_cast<std::size_t>(rank)][static_cast<std::size_t>(index)];
    t.posted = now;
    const OpInfo& info = rs.info[static_cast<std::size_t>(index)];
    switch (info.kind) {
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
        const int peer = info.peer;
        const int other = info.match;
        RankState& ps = ranks_[static_cast<std::size_t>(peer)];
        if (ps.info[static_cast<std::size_t>(other)].state != OpState::posted) break;  // rendezvous: wait
        // The partner waited for this side.
        ps.info[static_cast<std::size_t>(other)].pred = OpId{rank, index};
        tl_.ops[static_cast<std::size_t>(peer)][static_cast<std::size_t>(other)].start = now;
        t.start = now;
        const bool send = info.kind == OpKind::send;
        const int src = send ? rank : peer, sidx = send ? index : other;
        net_.start(now, src, send ? peer : rank, info.bytes, Event::make(now, EventKind::transfer_done, src, sidx).key);
        communicating(rank, +1, now);
        communicating(peer, +1, now);
        break;
      }
      case OpKind::collective: {
        const int id = info.match;
        Instance& inst = instances_[static_cast<std::size_t>(id)];
        if (++inst.posted < static_cast<int>(inst.members.size())) break;
        for (const OpId& m : inst.members) {
          tl_.ops[static_cast<std::size_t>(m.rank)][static_cast<std::size_t>(m.index)].start = now;
          if (m.rank != rank || m.index != index) ranks_[static_cast<std::size_t>(m.rank)].info[static_cast<std::size_t>(m.index)].pred = OpId{rank, index};
        }
        for (const OpId& m : inst.members) communicating(m.rank, +1, now);
        start_collective(id, now);
        break;
      }
    }
  }

  void start_compute(int rank, int index, Time now) {
    RankState& rs = ranks_[static_cast<std::size_t>(rank)];
    OpTimes& t = tl_.ops[static_cast<std::size_t>(rank)][static_cast<std::size_t>(index)];
    t.start = now;
    const std::int64_t work = rs.info[static_cast<std::size_t>(index)].duration_ps;
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
    OpTimes& t = tl_.ops[static_cast<std::size_t>(rank)][static_cast<std::size_t>(index)];
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
      if (ranks_[static_cast<std::size_t>(next.rank)].info[static_cast<std::size_t>(next.index)].state != OpState::posted) return;
      ++dev.cursor;
    }
    dev.busy = true;
    // It waited for the device when the device was what it was waiting for.
    if (tl_.at(next).posted < now && dev.last.rank >= 0)
      ranks_[static_cast<std::size_t>(next.rank)].info[static_cast<std::size_t>(next.index)].pred = dev.last;
    dev.last = next;
    start_compute(next.rank, next.index, now);
  }

  Time compute_time(int rank, int index, const ComputeOp& c, std::uint8_t zero_adds) const {
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
  const CollectiveOp& member_op(const Instance& inst, int m) const {
    const OpId id = inst.members[static_cast<std::size_t>(m)];
    return *op_at(id.rank, id.index).collective();
  }

  static double bytes_at(const CollectiveOp& c, int j) {
    return j < static_cast<int>(c.bytes_to.size()) ? c.bytes_to[static_cast<std::size_t>(j)].value() : 0.0;
  }

  void collective_flow(int id, int m, int to, std::int64_t number, double bytes, Time now) {
    Instance& inst = instances_[static_cast<std::size_t>(id)];
    const int src = inst.members[static_cast<std::size_t>(m)].rank;
    const int dst = inst.members[static_cast<std::size_t>(to)].rank;
    // The collective pays its regime's base latency once: the largest of its hops' (the
    // regime follows the message size and the link class each hop crosses).
    if (number == 0 || inst.kind == CollectiveKind::all_to_all)
      inst.base_latency = max(inst.base_latency, net_.collective_base_latency(src, dst, bytes));
    const std::int64_t index = (static_cast<std::int64_t>(id) << step_bits) | number;
    net_.start(now, src, dst, bytes, Event::make(now, EventKind::collective_step, src, index).key);
  }

  // Steps of a ring collective over n members: all-reduce is a reduce-scatter followed by
  // an all-gather.
  static int ring_steps(const Instance& inst) {
    const int n = static_cast<int>(inst.members.size());
    return inst.kind == CollectiveKind::all_reduce ? 2 * (n - 1) : n - 1;
  }

  // Ring step `step` of member m: what it forwards to member m+1.
  double ring_chunk(const Instance& inst, int m, int step) const {
    const int n = static_cast<int>(inst.members.size());
    if (inst.kind == CollectiveKind::all_reduce) {
      // bytes_to counts 2·size/n per peer (schedule.hpp); every step moves size/n.
      const CollectiveOp& c = member_op(inst, m);
      double b = 0.0;
      for (int j = 0; j < n; ++j) b = std::max(b, bytes_at(c, j));
      return b / 2.0;
    }
    if (inst.kind == CollectiveKind::all_gather) {
      const int origin = ((m - step) % n + n) % n;  // whose piece travels
      const CollectiveOp& c = member_op(inst, origin);
      double b = 0.0;
      for (int j = 0; j < n; ++j) b = std::max(b, bytes_at(c, j));
      return b;
    }
    // reduce-scatter: the partial sum of the piece that ends at member m - step - 1.
    const int dest = ((m - step - 1) % n + n) % n;
    return bytes_at(member_op(inst, m), dest);
  }

  void start_collective(int id, Time now) {
    Instance& inst = instances_[static_cast<std::size_t>(id)];
    const int n = static_cast<int>(inst.members.size());
    inst.flows_left = 0;
    if (n > 1 && inst.kind == CollectiveKind::all_to_all) {
      for (int m = 0; m < n; ++m) {
        const CollectiveOp& c = member_op(inst, m);
        for (int j = 0; j < n; ++j) {
          if (j == m) continue;
          ++inst.flows_left;
          collective_flow(id, m, j, j, bytes_at(c, j), now);
        }
      }
    } else if (n > 1) {
      inst.sent.assign(static_cast<std::size_t>(n), -1);
      inst.received.assign(static_cast<std::size_t>(n), -1);
      inst.launched.assign(static_cast<std::size_t>(n), 1);
      inst.flows_left = n * ring_steps(inst);
      for (int m = 0; m < n; ++m) collective_flow(id, m, (m + 1) % n, 0, ring_chunk(inst, m, 0), now);
    }
    if (inst.flows_left == 0) complete_collective(id, now);
  }

  void ring_launch(int id, int m, Time now) {
    Instance& inst = instances_[static_cast<std::size_t>(id)];
    const int n = static_cast<int>(inst.members.size());
    const int step = inst.launched[static_cast<std::size_t>(m)];
    if (step >= ring_steps(inst)) return;
    if (inst.sent[static_cast<std::size_t>(m)] < step - 1 || inst.received[static_cast<std::size_t>(m)] < step - 1) return;
    ++inst.launched[static_cast<std::size_t>(m)];
    collective_flow(id, m, (m + 1) % n, step, ring_chunk(inst, m, step), now);
  }

  // The step number that marks the end of a collective's base latency (no real step has it).
  static constexpr int base_latency_done = (1 << step_bits) - 1;

  void collective_step_done(const Event& e) {
    const int id = static_cast<int>(e.index() >> step_bits);
    const int number = static_cast<int>(e.index() & ((std::int64_t{1} << step_bits) - 1));
    Instance& inst = instances_[static_cast<std::size_t>(id)];
    if (number == base_latency_done) {
      complete_collective(id, e.time);
      return;
    }
    --inst.flows_left;
    if (inst.kind != CollectiveKind::all_to_all) {
      const int n = static_cast<int>(inst.members.size());
      int m = 0;
      while (inst.members[static_cast<std::size_t>(m)].rank != e.rank()) ++m;
      const int next = (m + 1) % n;
      inst.sent[static_cast<std::size_t>(m)] = number;
      inst.received[static_cast<std::size_t>(next)] = number;
      ring_launch(id, m, e.time);
      ring_launch(id, next, e.time);
    }
    if (inst.flows_left > 0) return;
    if (inst.base_latency > Time()) {
      const std::int64_t index = (static_cast<std::int64_t>(id) << step_bits) | base_latency_done;
      queue_.push(Event::make(e.time + inst.base_latency, EventKind::collective_step, inst.members.front().rank, index));
      return;
    }
    complete_collective(id, e.time);
  }

  void complete_collective(int id, Time now) {
    for (const OpId& m : instances_[static_cast<std::size_t>(id)].members) {
      communicating(m.rank, -1, now);
      queue_.push(Event::make(now, EventKind::compute_done, m.rank, m.index));
    }
  }

  // ---- completion ----------------------------------------------------------------------
  void handle(const Event& e) {
    switch (e.kind()) {
      case EventKind::compute_done: {
        const int rank = e.rank(), index = static_cast<int>(e.index());
        if (slowdown_ != 1.0) {
          // A compute op re-timed by communication left its earlier end event behind.
          const RankState& rs = ranks_[static_cast<std::size_t>(rank)];
          if (rs.info[static_cast<std::size_t>(index)].state == OpState::done) break;
          if (rs.info[static_cast<std::size_t>(index)].kind == OpKind::compute && tl_.at(OpId{rank, index}).end != e.time)
            break;
        }
        complete(rank, index, e.time);
        break;
      }
      case EventKind::transfer_done: {
        const int rank = e.rank(), index = static_cast<int>(e.index());
        const OpInfo& info = ranks_[static_cast<std::size_t>(rank)].info[static_cast<std::size_t>(index)];
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

  void complete(int rank, int index, Time now) {
    RankState& rs = ranks_[static_cast<std::size_t>(rank)];
    rs.info[static_cast<std::size_t>(index)].state = OpState::done;
    OpTimes& t = tl_.ops[static_cast<std::size_t>(rank)][static_cast<std::size_t>(index)];
    t.end = now;
    const OpInfo& info = rs.info[static_cast<std::size_t>(index)];
    if (info.kind == OpKind::compute) {
      if (rs.busy.running == index) rs.busy.running = -1;
      tl_.compute_busy[static_cast<std::size_t>(rank)] += t.end - t.start;
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
    StreamState& st = rs.streams[info.slot];
    if (--st.running == 0)
      for (std::int32_t k = 0; k < st.width; ++k) st.head = rs.info[static_cast<std::size_t>(st.head)].next;
    try_start(rank, now, OpId{rank, index});
  }

  // ---- results ---------------------------------------------------------------------------
  void finish(Time end) {
    for (int r = 0; r < s_.ranks(); ++r) {
      const RankState& rs = ranks_[static_cast<std::size_t>(r)];
      for (std::size_t i = 0; i < rs.info.size(); ++i)
        if (rs.info[i].state != OpState::done)
          throw SimulationError(fmt::format("op {}/{} ({}) never completed: the schedule deadlocks under the "
                                            "execution semantics (a wait that can never be met)",
                                            r, i, op_at(r, static_cast<int>(i)).describe()));
    }
    const auto stats = net_.link_stats(end);
    const Topology& topo = net_.topology();
    tl_.links.resize(stats.size());
    for (std::size_t l = 0; l < stats.size(); ++l) {
      const Link& link = topo.link(static_cast<int>(l));
      tl_.links[l] = LinkUsage{link.name, link.link_class, stats[l].bytes, stats[l].busy, stats[l].max_flows};
    }
    tl_.link_shared = net_.any_link_shared();
    // Critical path: from the op that ended last, back through what each op waited for.
    std::vector<CriticalStep> path;
    OpId at = last_;
    while (at.rank >= 0 && path.size() <= static_cast<std::size_t>(tl_.events) + 1) {
      const Op& op = op_at(at.rank, at.index);
      const OpTimes& t = tl_.at(at);
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
      at = ranks_[static_cast<std::size_t>(at.rank)].info[static_cast<std::size_t>(at.index)].pred;
    }
    std::reverse(path.begin(), path.end());
    tl_.critical_path = std::move(path);
  }

  const Schedule& s_;
  Network& net_;
  const ComputeCostModel& cost_;
  const SimOptions& o_;
  const double slowdown_;  // 1 + ComputeCalibration::comm_interference
  EventQueue queue_;
  std::vector<RankState> ranks_;
  std::vector<Instance> instances_;
  std::vector<DeviceState> devices_;  // empty: every rank its own GPU
  Timeline tl_;
  OpId last_{-1, -1};
};

}  // namespace

Timeline execute(const Schedule& s, Network& network, const ComputeCostModel& cost, const SimOptions& options) {
  Executor ex(s, network, cost, options);
  return ex.run();
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
