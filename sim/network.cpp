// The two network models (see network.hpp): alpha-beta and max-min fair flows.
#include "sim/network.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <deque>
#include <limits>
#include <unordered_map>

#include "model/link_cost.hpp"

namespace xattn::sim {

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

// Picoseconds to move `bytes` at `rate` B/s, rounded up (never zero for a non-zero amount).
Time duration(double bytes, double rate) {
  if (bytes <= 0.0) return Time();
  return Time::ps(Time::round_up_ps(bytes / rate * 1e12));
}

// Per-link bookkeeping both models share: bytes, busy time, concurrency.
struct LinkUse {
  double bytes = 0.0;
  int flows = 0;
  int max_flows = 0;
  Time busy;
  Time since;  // when `flows` last went from 0 to 1
  // Flows by Traffic, and the time sequence-parallel and sharding traffic shared the link.
  std::array<int, 3> by{};
  Time mixed;
  Time mixed_since;

  [[nodiscard]] bool is_mixed() const {
    return by[static_cast<int>(Traffic::sequence_parallel)] > 0 && by[static_cast<int>(Traffic::sharding)] > 0;
  }
  // A flow of `t` joins (+1) or leaves (-1) at `now`.
  void traffic(Traffic t, int delta, Time now) {
    const bool before = is_mixed();
    by[static_cast<std::size_t>(t)] += delta;
    const bool after = is_mixed();
    if (!before && after) mixed_since = now;
    if (before && !after) mixed += now - mixed_since;
  }
};

void stats_into(const std::vector<LinkUse>& use, Time end, std::vector<LinkStats>& out) {
  out.resize(use.size());
  for (std::size_t i = 0; i < use.size(); ++i) {
    out[i].bytes = use[i].bytes;
    out[i].max_flows = use[i].max_flows;
    out[i].busy = use[i].busy + (use[i].flows > 0 ? end - use[i].since : Time());
    out[i].mixed = use[i].mixed + (use[i].is_mixed() ? end - use[i].mixed_since : Time());
  }
}

// A min-heap of timed entries ordered by (time, order, id): the alpha-beta model's.
struct Pending {
  Time time;
  int order = 0;          // 0: a transfer ends; 1: a transfer leaves its latency phase
  std::uint64_t id = 0;   // the executor's id: a canonical tie-breaker
  friend bool operator>(const Pending& a, const Pending& b) {
    if (a.time != b.time) return a.time > b.time;
    if (a.order != b.order) return a.order > b.order;
    return a.id > b.id;
  }
};

class PendingHeap {
 public:
  void push(Pending p) {
    heap_.push_back(p);
    std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
  }
  Pending pop() {
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
    Pending p = heap_.back();
    heap_.pop_back();
    return p;
  }
  [[nodiscard]] bool empty() const { return heap_.empty(); }
  [[nodiscard]] const Pending& top() const { return heap_.front(); }

 private:
  std::vector<Pending> heap_;
};

// The flows' next events (a flow leaves its latency phase, a flow ends), at most one per
// flow slot, ordered as PendingHeap orders them: by (time, order, id). When max-min
// sharing moves a flow's end, its entry is moved in place (the heap keeps each slot's
// position), so the heap holds no stale entries to skip and stays as small as the flows.
class FlowHeap {
 public:
  struct Entry {
    Time time;
    std::uint64_t id = 0;
    int order = 0;
    int slot = 0;
  };
  // The entry of `slot`: added, or moved to its new place.
  void set(int slot, Time time, int order, std::uint64_t id) {
    const auto s = static_cast<std::size_t>(slot);
    if (pos_.size() <= s) pos_.resize(s + 1, -1);
    const Entry e{time, id, order, slot};
    if (pos_[s] < 0) {
      heap_.push_back(e);
      up(heap_.size() - 1);
      return;
    }
    const auto at = static_cast<std::size_t>(pos_[s]);
    const bool sooner = before(e, heap_[at]);
    heap_[at] = e;
    if (sooner) up(at);
    else down(at);
  }
  Entry pop() {
    const Entry top = heap_.front();
    pos_[static_cast<std::size_t>(top.slot)] = -1;
    heap_.front() = heap_.back();
    heap_.pop_back();
    if (!heap_.empty()) down(0);
    return top;
  }
  [[nodiscard]] bool empty() const { return heap_.empty(); }
  [[nodiscard]] const Entry& top() const { return heap_.front(); }

 private:
  static bool before(const Entry& a, const Entry& b) {
    if (a.time != b.time) return a.time < b.time;
    if (a.order != b.order) return a.order < b.order;
    return a.id < b.id;
  }
  void place(std::size_t i, const Entry& e) {
    heap_[i] = e;
    pos_[static_cast<std::size_t>(e.slot)] = static_cast<int>(i);
  }
  void up(std::size_t i) {
    const Entry e = heap_[i];
    while (i > 0) {
      const std::size_t parent = (i - 1) / 2;
      if (!before(e, heap_[parent])) break;
      place(i, heap_[parent]);
      i = parent;
    }
    place(i, e);
  }
  void down(std::size_t i) {
    const Entry e = heap_[i];
    const std::size_t n = heap_.size();
    for (;;) {
      std::size_t c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && before(heap_[c + 1], heap_[c])) ++c;
      if (!before(heap_[c], e)) break;
      place(i, heap_[c]);
      i = c;
    }
    place(i, e);
  }
  std::vector<Entry> heap_;
  std::vector<int> pos_;  // per flow slot: its entry's index in heap_ (-1: none)
};

// ---- alpha-beta ---------------------------------------------------------------------

class AlphaBetaNetwork final : public Network {
 public:
  AlphaBetaNetwork(Topology t, const Calibration* cal) : topo_(std::move(t)), cal_(cal), use_(topo_.links().size()) {}

  void start(Time now, int src, int dst, double bytes, std::uint64_t id, const FlowSpec& spec) override {
    TransferPlan p = plan_transfer(topo_, cal_, src, dst, bytes, spec);
    const Time end = now + p.latency + (p.route.count > 0 ? duration(bytes, p.cap) : Time());
    for (int l : p.route.span()) {
      LinkUse& u = use_[static_cast<std::size_t>(l)];
      u.bytes += bytes;
      // Sequence-parallel against sharding traffic: the part of this transfer that
      // overlaps what the other kind has on the link until its latest end.
      if (spec.traffic != Traffic::other) {
        auto& mine = class_until_[static_cast<std::size_t>(l)];
        const int me = spec.traffic == Traffic::sharding ? 1 : 0;
        const Time other = mine[static_cast<std::size_t>(1 - me)];
        if (other > now) u.mixed += min(other, end) - now;
        mine[static_cast<std::size_t>(me)] = max(mine[static_cast<std::size_t>(me)], end);
      }
      // Intervals start in time order, so the busy union grows at its right end.
      Time& until = busy_until_[static_cast<std::size_t>(l)];
      const bool overlap = until > now;
      std::uint64_t& pair = last_pair_[static_cast<std::size_t>(l)];
      const std::uint64_t mine = (static_cast<std::uint64_t>(src) << 32) | static_cast<std::uint32_t>(dst);
      if (overlap && pair != mine) shared_ = true;
      if (!overlap || end > until) pair = mine;
      u.max_flows = std::max(u.max_flows, overlap ? 2 : 1);
      u.busy += end > max(until, now) ? end - max(until, now) : Time();
      until = max(until, end);
    }
    heap_.push(Pending{end, 0, id});
  }

  Time next_event_after(Time) override { return heap_.empty() ? Time::never() : heap_.top().time; }

  void advance(Time now, Time dt, std::vector<std::uint64_t>& done) override {
    const Time to = now + dt;
    while (!heap_.empty() && heap_.top().time <= to) done.push_back(heap_.pop().id);
  }

  std::vector<LinkStats> link_stats(Time) const override {
    std::vector<LinkStats> out(use_.size());
    for (std::size_t i = 0; i < use_.size(); ++i) {
      out[i].bytes = use_[i].bytes;
      out[i].busy = use_[i].busy;
      out[i].max_flows = use_[i].max_flows;
      out[i].mixed = use_[i].mixed;
    }
    return out;
  }
  bool any_link_shared() const override { return shared_; }
  const Topology& topology() const override { return topo_; }
  Time collective_base_latency(int src, int dst, double bytes) const override {
    return plan_transfer(topo_, cal_, src, dst, bytes).base_latency;
  }

 private:
  Topology topo_;
  const Calibration* cal_;
  std::vector<LinkUse> use_;
  std::vector<Time> busy_until_ = std::vector<Time>(use_.size());
  std::vector<std::uint64_t> last_pair_ = std::vector<std::uint64_t>(use_.size());  // (src, dst) of the latest-ending transfer
  // Per link: the latest end of its sequence-parallel [0] and sharding [1] transfers.
  std::vector<std::array<Time, 2>> class_until_ = std::vector<std::array<Time, 2>>(use_.size());
  PendingHeap heap_;
  bool shared_ = false;
};

// ---- max-min fair flows ---------------------------------------------------------------

class FlowNetwork final : public Network {
 public:
  FlowNetwork(Topology t, const Calibration* cal)
      : topo_(std::move(t)), cal_(cal), use_(topo_.links().size()), on_link_(topo_.links().size()),
        link_mark_(topo_.links().size(), 0), capacity_(topo_.links().size()) {
    for (std::size_t l = 0; l < capacity_.size(); ++l) capacity_[l] = topo_.links()[l].bandwidth.value();
    rem_.resize(capacity_.size());
    unfixed_.resize(capacity_.size());
  }

  void start(Time now, int src, int dst, double bytes, std::uint64_t id, const FlowSpec& spec) override {
    TransferPlan p = plan_transfer(topo_, cal_, src, dst, bytes, spec);
    int slot;
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      slot = static_cast<int>(flows_.size());
      flows_.emplace_back();
      flow_mark_.push_back(0);
    }
    Flow& f = flows_[static_cast<std::size_t>(slot)];
    f.route = p.route;
    f.remaining = bytes;
    f.cap = p.cap;
    f.rate = 0.0;
    f.last = now;
    f.id = id;
    f.src = src;
    f.dst = dst;
    f.active = false;
    f.queued = false;
    f.traffic = spec.traffic;
    for (int l : f.route.span()) use_[static_cast<std::size_t>(l)].bytes += bytes;
    if (f.route.count == 0) {
      heap_.set(slot, now + p.latency, 0, id);  // to itself: latency only
      f.finish = now + p.latency;
      return;
    }
    heap_.set(slot, now + p.latency, 1, id);
  }

  Time next_event_after(Time) override { return heap_.empty() ? Time::never() : heap_.top().time; }

  void advance(Time now, Time dt, std::vector<std::uint64_t>& done) override {
    const Time to = now + dt;
    while (!heap_.empty() && heap_.top().time <= to) {
      const FlowHeap::Entry e = heap_.pop();
      Flow& f = flows_[static_cast<std::size_t>(e.slot)];
      if (e.order == 1) {
        activate(e.slot, e.time);
      } else {
        if (f.active) deactivate(e.slot, e.time);
        f.queued = false;
        done.push_back(f.id);
        free_.push_back(e.slot);
      }
    }
  }

  std::vector<LinkStats> link_stats(Time end) const override {
    std::vector<LinkStats> out;
    stats_into(use_, end, out);
    return out;
  }
  bool any_link_shared() const override { return shared_; }
  const Topology& topology() const override { return topo_; }
  Time collective_base_latency(int src, int dst, double bytes) const override {
    return plan_transfer(topo_, cal_, src, dst, bytes).base_latency;
  }

 private:
  struct Flow {
    Route route;
    double remaining = 0.0;  // bytes at `last`
    double rate = 0.0;       // B/s
    double cap = inf;
    Time last;
    Time finish;
    std::uint64_t id = 0;
    int src = 0, dst = 0;
    bool active = false;
    bool fixed = false;
    bool queued = false;  // its end is in the heap
    Traffic traffic = Traffic::other;
  };

  void activate(int slot, Time now) {
    Flow& f = flows_[static_cast<std::size_t>(slot)];
    f.active = true;
    f.last = now;
    for (int l : f.route.span()) {
      auto& list = on_link_[static_cast<std::size_t>(l)];
      for (std::size_t k = 0; !shared_ && k < list.size(); ++k) {
        const Flow& g = flows_[static_cast<std::size_t>(list[k])];
        shared_ = g.src != f.src || g.dst != f.dst;
      }
      list.push_back(slot);
      LinkUse& u = use_[static_cast<std::size_t>(l)];
      if (u.flows++ == 0) u.since = now;
      u.max_flows = std::max(u.max_flows, u.flows);
      u.traffic(f.traffic, +1, now);
    }
    reshare(f.route, now);
  }

  void deactivate(int slot, Time now) {
    Flow& f = flows_[static_cast<std::size_t>(slot)];
    f.active = false;
    for (int l : f.route.span()) {
      auto& list = on_link_[static_cast<std::size_t>(l)];
      auto it = std::find(list.begin(), list.end(), slot);
      assert(it != list.end());
      list.erase(it);  // keeps the order flows joined in: recomputation stays canonical
      LinkUse& u = use_[static_cast<std::size_t>(l)];
      if (--u.flows == 0) u.busy += now - u.since;
      u.traffic(f.traffic, -1, now);
    }
    reshare(f.route, now);
  }

  // Max-min fair rates for the flows connected (through shared links, transitively) to
  // the links of `seed`; every other flow keeps its rate.
  void reshare(const Route& seed, Time now) {
    ++epoch_;
    comp_links_.clear();
    comp_flows_.clear();
    for (int l : seed.span()) visit_link(l);
    for (std::size_t i = 0; i < comp_links_.size(); ++i) {
      for (int s : on_link_[static_cast<std::size_t>(comp_links_[i])]) {
        if (flow_mark_[static_cast<std::size_t>(s)] == epoch_) continue;
        flow_mark_[static_cast<std::size_t>(s)] = epoch_;
        comp_flows_.push_back(s);
        for (int l : flows_[static_cast<std::size_t>(s)].route.span()) visit_link(l);
      }
    }
    // Bring every affected flow to `now` at its old rate.
    for (int s : comp_flows_) {
      Flow& f = flows_[static_cast<std::size_t>(s)];
      f.remaining = std::max(0.0, f.remaining - f.rate * static_cast<double>((now - f.last).ps()) * 1e-12);
      f.last = now;
      f.fixed = false;
    }
    if (comp_flows_.size() == 1) {
      // Alone on its links (the common case): progressive filling's one round gives the
      // smallest of its links' capacities and its cap, the same values compared.
      Flow& f = flows_[static_cast<std::size_t>(comp_flows_.front())];
      double share = inf;
      for (int l : f.route.span()) share = std::min(share, capacity_[static_cast<std::size_t>(l)]);
      f.rate = std::min(share, f.cap);
      f.fixed = true;
      requeue(now);
      return;
    }
    for (int l : comp_links_) {
      rem_[static_cast<std::size_t>(l)] = capacity_[static_cast<std::size_t>(l)];
      unfixed_[static_cast<std::size_t>(l)] = static_cast<int>(on_link_[static_cast<std::size_t>(l)].size());
    }
    // Progressive filling: raise all unfixed flows together until a link saturates or a
    // flow reaches its cap; fix those flows at that rate; repeat.
    std::size_t left = comp_flows_.size();
    while (left > 0) {
      double share = inf;
      for (int l : comp_links_) {
        const int n = unfixed_[static_cast<std::size_t>(l)];
        if (n > 0) share = std::min(share, rem_[static_cast<std::size_t>(l)] / n);
      }
      for (int s : comp_flows_) {
        const Flow& f = flows_[static_cast<std::size_t>(s)];
        if (!f.fixed) share = std::min(share, f.cap);
      }
      const double tol = share * (1.0 + 1e-12);
      newly_fixed_.clear();
      for (int s : comp_flows_) {
        const Flow& f = flows_[static_cast<std::size_t>(s)];
        if (f.fixed) continue;
        bool bottleneck = f.cap <= tol;
        for (int l : f.route.span())
          if (rem_[static_cast<std::size_t>(l)] / unfixed_[static_cast<std::size_t>(l)] <= tol) bottleneck = true;
        if (bottleneck) newly_fixed_.push_back(s);
      }
      for (int s : newly_fixed_) {
        Flow& f = flows_[static_cast<std::size_t>(s)];
        f.fixed = true;
        f.rate = share;
        --left;
        for (int l : f.route.span()) {
          rem_[static_cast<std::size_t>(l)] -= share;
          --unfixed_[static_cast<std::size_t>(l)];
        }
      }
    }
    requeue(now);
  }

  // The new ends of the component's flows, into the heap where they moved.
  void requeue(Time now) {
    for (int s : comp_flows_) {
      Flow& f = flows_[static_cast<std::size_t>(s)];
      const Time finish = now + duration(f.remaining, f.rate);
      // A flow whose end did not move keeps its queued entry (the common case: a flow
      // joins or leaves links its neighbours do not use at their bottleneck).
      if (finish == f.finish && f.queued) continue;
      f.finish = finish;
      f.queued = true;
      heap_.set(s, f.finish, 0, f.id);
    }
  }

  void visit_link(int l) {
    if (link_mark_[static_cast<std::size_t>(l)] == epoch_) return;
    link_mark_[static_cast<std::size_t>(l)] = epoch_;
    comp_links_.push_back(l);
  }

  Topology topo_;
  const Calibration* cal_;
  std::vector<LinkUse> use_;
  std::vector<std::vector<int>> on_link_;  // active flow slots per link, in joining order
  std::vector<std::uint64_t> link_mark_;
  std::vector<double> capacity_;
  std::vector<double> rem_;
  std::vector<int> unfixed_;
  std::vector<Flow> flows_;
  std::vector<std::uint64_t> flow_mark_;
  std::vector<int> free_;
  std::vector<int> comp_links_, comp_flows_, newly_fixed_;
  std::uint64_t epoch_ = 0;
  FlowHeap heap_;
  bool shared_ = false;
};

}  // namespace

TransferPlan plan_transfer(const Topology& t, const Calibration* cal, int src, int dst, double bytes,
                           const FlowSpec& spec) {
  if (!spec.wire_only) return plan_transfer(t, cal, src, dst, bytes);
  TransferPlan p;
  p.route = t.route(src, dst);
  p.cap = inf;
  for (int l : p.route.span()) p.cap = std::min(p.cap, t.link(l).bandwidth.value());
  if (spec.cap > 0.0) p.cap = std::min(p.cap, spec.cap);
  return p;
}

TransferPlan plan_transfer(const Topology& t, const Calibration* cal, int src, int dst, double bytes) {
  TransferPlan p;
  p.route = t.route(src, dst);
  p.latency = t.latency(p.route);
  p.cap = inf;
  for (int l : p.route.span()) p.cap = std::min(p.cap, t.link(l).bandwidth.value());
  // A listed machine's figures are final: no calibration applies to its links. Otherwise
  // the route's links already carry their class's calibrated figures (from_cluster builds
  // them with Calibration::link, price_hop's step 1; a topology built by hand keeps its
  // own, as before), so what the calibration adds here is step 2: the protocol regime
  // price_hop picks for this size on this route (model/link_cost.hpp), its latency in
  // place of the route's, its bandwidth (never above the route's narrowest link) capping
  // the flow, and its base latency for a collective. Flows still share the links' own
  // bandwidth, max-min; the regime only caps each one.
  if (cal != nullptr && p.route.count > 0 && !t.listed()) {
    const LinkCalibration& lc = t.link_class(src, dst) == LinkClass::intra_node ? cal->intra_node : cal->inter_node;
    if (!lc.protocols.empty()) {
      const HopPrice h = price_hop(LinkSpec{BytesPerSecond(p.cap), p.latency.seconds()}, lc.protocols, Bytes(bytes));
      p.latency = Time::from(h.latency);
      p.cap = h.bandwidth.value();
      p.base_latency = Time::from(h.base_latency);
    }
  }
  return p;
}

namespace {

class FifoPairs final : public Network {
 public:
  explicit FifoPairs(std::unique_ptr<Network> inner) : inner_(std::move(inner)) {}

  void start(Time now, int src, int dst, double bytes, std::uint64_t id, const FlowSpec& spec) override {
    const std::uint64_t pair = key(src, dst);
    Queue& q = pairs_[pair];
    if (q.busy) {
      q.waiting.push_back(Waiting{src, dst, bytes, id, spec});
      return;
    }
    q.busy = true;
    pair_of_[id] = pair;
    inner_->start(now, src, dst, bytes, id, spec);
  }

  Time next_event_after(Time now) override { return inner_->next_event_after(now); }

  void advance(Time now, Time dt, std::vector<std::uint64_t>& done) override {
    const std::size_t first = done.size();
    inner_->advance(now, dt, done);
    const Time at = now + dt;  // the executor advances to the next event: completions are at its end
    for (std::size_t i = first; i < done.size(); ++i) {
      auto it = pair_of_.find(done[i]);
      if (it == pair_of_.end()) continue;
      Queue& q = pairs_[it->second];
      pair_of_.erase(it);
      if (q.waiting.empty()) {
        q.busy = false;
        continue;
      }
      const Waiting w = q.waiting.front();
      q.waiting.pop_front();
      pair_of_[w.id] = key(w.src, w.dst);
      inner_->start(at, w.src, w.dst, w.bytes, w.id, w.spec);
    }
  }

  [[nodiscard]] std::vector<LinkStats> link_stats(Time end) const override { return inner_->link_stats(end); }
  [[nodiscard]] bool any_link_shared() const override { return inner_->any_link_shared(); }
  [[nodiscard]] const Topology& topology() const override { return inner_->topology(); }
  [[nodiscard]] Time collective_base_latency(int src, int dst, double bytes) const override {
    return inner_->collective_base_latency(src, dst, bytes);
  }

 private:
  struct Waiting {
    int src, dst;
    double bytes;
    std::uint64_t id;
    FlowSpec spec;
  };
  struct Queue {
    bool busy = false;
    std::deque<Waiting> waiting;
  };
  static std::uint64_t key(int src, int dst) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(src)) << 32) | static_cast<std::uint32_t>(dst);
  }
  std::unique_ptr<Network> inner_;
  std::unordered_map<std::uint64_t, Queue> pairs_;
  std::unordered_map<std::uint64_t, std::uint64_t> pair_of_;  // message id -> its pair, while in flight
};

}  // namespace

std::unique_ptr<Network> make_fifo_pairs(std::unique_ptr<Network> inner) {
  return std::make_unique<FifoPairs>(std::move(inner));
}

std::unique_ptr<Network> make_network(NetworkModel model, Topology topology, const Calibration* cal) {
  if (model == NetworkModel::alpha_beta) return std::make_unique<AlphaBetaNetwork>(std::move(topology), cal);
  return std::make_unique<FlowNetwork>(std::move(topology), cal);
}

}  // namespace xattn::sim
