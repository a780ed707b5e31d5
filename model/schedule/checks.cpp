// Static checks and execution order of a Schedule (see checks.hpp).
//
// Units, pairs and instances are the schedule's structure (structure.hpp: its transfer group
// runs, its FIFO-matched Send/Recv pairs, its collective instances), read, not rebuilt.
//
// The event graph: every op belongs to a unit (a transfer group, or the op alone). A unit
// has a `post` node (it may start: its dependencies and the previous unit of its stream
// are done) and a `done` node. A matched Send/Recv pair adds a transfer node after both
// posts and before both completions; a collective adds one node after every member's post
// and before every member's completion. A cycle in this graph is a deadlock; a
// topological order is an execution order; reachability is the happens-before relation
// the buffer-race check needs.
#include "model/schedule/checks.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <tuple>

#include <fmt/format.h>

#include "model/schedule/structure.hpp"

namespace xattn {

std::string CheckResult::str() const {
  std::string s;
  for (const std::string& p : problems) s += p + "\n";
  return s;
}

namespace {

std::string describe(const Schedule& s, OpId id) {
  const Op& op = s.op(id);
  std::string what;
  if (const auto* c = op.compute()) {
    what = std::string(to_string(c->kind));
  } else if (const auto* snd = std::get_if<SendOp>(&op.body)) {
    what = fmt::format("send '{}' to {}", snd->tag, snd->peer);
  } else if (const auto* rcv = std::get_if<RecvOp>(&op.body)) {
    what = fmt::format("recv '{}' from {}", rcv->tag, rcv->peer);
  } else if (const auto* col = op.collective()) {
    what = fmt::format("{} '{}'", to_string(col->kind), col->tag);
  }
  return fmt::format("{} ({})", id.str(), what);
}

struct Unit {
  int rank = 0;
  std::vector<int> ops;
};

struct Graph {
  std::vector<Unit> units;
  std::vector<std::vector<int>> unit_of;  // [rank][op] -> unit
  int node_count = 0;
  std::vector<std::vector<int>> succ;
  std::vector<int> action_node_of_unit;  // compute units: their done node
  // extra nodes: transfers and collectives
  struct Extra {
    ExecutionStep step;
  };
  std::map<int, Extra> extras;  // node -> step
  int post(int u) const { return 2 * u; }
  int done(int u) const { return 2 * u + 1; }
  void edge(int a, int b) { succ[static_cast<std::size_t>(a)].push_back(b); }
  int add_node() {
    succ.emplace_back();
    return node_count++;
  }
};

class Checker {
 public:
  explicit Checker(const Schedule& s) : s_(s) {}

  CheckResult run(std::vector<ExecutionStep>* order) {
    check_structure();
    if (!result_.ok()) return result_;
    st_.emplace(s_);
    build_units();
    if (!result_.ok()) return result_;
    match();
    if (!result_.ok()) return result_;
    build_graph();
    if (!topo_sort()) return result_;
    check_buffers();
    if (order && result_.ok()) fill_order(*order);
    return result_;
  }

 private:
  const Schedule& s_;
  CheckResult result_;
  std::optional<ScheduleStructure> st_;  // built once check_structure() passes
  Graph g_;
  std::vector<std::pair<OpId, OpId>> transfers_;       // send, recv
  std::vector<std::vector<OpId>> collectives_;         // members in group order
  std::vector<int> topo_;                              // node order
  std::vector<int> topo_pos_;

  void problem(std::string msg) { result_.problems.push_back(std::move(msg)); }

  void check_structure() {
    const int P = s_.ranks();
    for (int r = 0; r < P; ++r) {
      const Program& p = s_.programs[static_cast<std::size_t>(r)];
      if (p.rank != r) problem(fmt::format("program {} says it is rank {}", r, p.rank));
      for (int i = 0; i < static_cast<int>(p.ops.size()); ++i) {
        const Op& op = p.ops[static_cast<std::size_t>(i)];
        for (int d : op.deps)
          if (d < 0 || d >= i)
            problem(fmt::format("{} depends on {}/{}, which is not an earlier op of rank {}", describe(s_, {r, i}), r,
                                d, r));
        if (const auto* t = op.transfer()) {
          if (t->peer < 0 || t->peer >= P)
            problem(fmt::format("{} names rank {}, but the schedule has {} ranks", describe(s_, {r, i}), t->peer, P));
          else if (t->peer == r)
            problem(fmt::format("{} sends to or receives from its own rank; use a local copy", describe(s_, {r, i})));
          if (op.stream.kind != StreamKind::comm)
            problem(fmt::format("{} is a transfer on the compute stream", describe(s_, {r, i})));
        }
        if (const auto* c = op.collective()) {
          if (std::find(c->group.begin(), c->group.end(), r) == c->group.end())
            problem(fmt::format("{} is posted by rank {}, which is not in its group", describe(s_, {r, i}), r));
          if (c->bytes_to.size() != c->group.size())
            problem(fmt::format("{} gives {} byte counts for a group of {}", describe(s_, {r, i}), c->bytes_to.size(),
                                c->group.size()));
          if ((c->kind == CollectiveKind::all_to_all || c->kind == CollectiveKind::reduce_scatter) &&
              c->parts.size() != c->group.size())
            problem(fmt::format("{} gives {} parts for a group of {}", describe(s_, {r, i}), c->parts.size(),
                                c->group.size()));
          for (int m : c->group)
            if (m < 0 || m >= P) problem(fmt::format("{} names rank {} in its group", describe(s_, {r, i}), m));
        }
        if (op.compute() && op.stream.kind != StreamKind::compute)
          problem(fmt::format("{} is a compute op on a communication stream", describe(s_, {r, i})));
      }
    }
  }

  // Units are the structure's transfer group runs (an op alone is a run of one).
  void build_units() {
    const ScheduleStructure& st = *st_;
    for (const StructureProblem& p : st.problems()) {
      if (p.kind == StructureProblem::Kind::bad_stream)
        problem(fmt::format("{} runs on stream {}, which no rank may have (compute, comm0 to comm{})", describe(s_, p.op),
                            s_.op(p.op).stream.name(), max_stream_slots - 2));
      if (p.kind == StructureProblem::Kind::group_not_contiguous)
        problem(fmt::format("{}: transfer group {} of rank {} is not contiguous on one stream", describe(s_, p.op),
                            s_.op(p.op).transfer()->group, p.op.rank));
    }
    const int P = s_.ranks();
    g_.unit_of.resize(static_cast<std::size_t>(P));
    for (int r = 0; r < P; ++r) {
      const int n = st.op_count(r);
      auto& unit_of = g_.unit_of[static_cast<std::size_t>(r)];
      unit_of.assign(static_cast<std::size_t>(n), -1);
      for (int i = 0; i < n; ++i) {
        const OpId id{r, i};
        if (st.run_head(id)) {
          unit_of[static_cast<std::size_t>(i)] = static_cast<int>(g_.units.size());
          g_.units.push_back(Unit{r, {}});
        } else {
          unit_of[static_cast<std::size_t>(i)] = unit_of[static_cast<std::size_t>(st.run_first(id))];
        }
        g_.units[static_cast<std::size_t>(unit_of[static_cast<std::size_t>(i)])].ops.push_back(i);
      }
    }
  }

  // Pairs and instances come from the structure (FIFO matching, structure.hpp); the
  // problems are listed sorted: transfers by (source, destination, tag, program order),
  // then receives without a send, then collectives by (tag, which instance of it).
  void match() {
    const ScheduleStructure& st = *st_;
    const int P = s_.ranks();
    using Key = std::tuple<int, int, Name, int>;  // source, destination, tag, index
    std::vector<std::pair<Key, OpId>> sends, lonely_recvs;
    for (int r = 0; r < P; ++r) {
      const auto& ops = s_.programs[static_cast<std::size_t>(r)].ops;
      for (int i = 0; i < static_cast<int>(ops.size()); ++i) {
        const Op& op = ops[static_cast<std::size_t>(i)];
        if (op.transfer() == nullptr) continue;
        const TransferKey k = transfer_key(r, op);
        if (op.kind() == OpKind::send) sends.push_back({Key{k.src, k.dst, k.tag, i}, OpId{r, i}});
        else if (st.match(OpId{r, i}) < 0) lonely_recvs.push_back({Key{k.src, k.dst, k.tag, i}, OpId{r, i}});
      }
    }
    std::sort(sends.begin(), sends.end());
    std::sort(lonely_recvs.begin(), lonely_recvs.end());
    for (const auto& [key, id] : sends) {
      const auto& [from, to, tag, index] = key;
      const OpId other = st.partner(id);
      if (other.rank < 0) {
        problem(fmt::format("{} has no matching recv on rank {} (from {}, tag '{}')", describe(s_, id), to, from, tag));
        continue;
      }
      const TransferOp& a = *s_.op(id).transfer();
      const TransferOp& b = *s_.op(other).transfer();
      bool same = a.parts.size() == b.parts.size();
      for (std::size_t k = 0; same && k < a.parts.size(); ++k) same = a.parts[k].size == b.parts[k].size;
      if (!same)
        problem(fmt::format("size mismatch for tag '{}' from {} to {}: {} sends {} B in {} parts, {} receives {} B in {} "
                            "parts",
                            tag, from, to, describe(s_, id), a.size().value(), a.parts.size(), describe(s_, other),
                            b.size().value(), b.parts.size()));
      transfers_.emplace_back(id, other);
    }
    for (const auto& [key, id] : lonely_recvs) {
      const auto& [from, to, tag, index] = key;
      problem(fmt::format("{} has no matching send on rank {} (to {}, tag '{}')", describe(s_, id), from, to, tag));
    }
    // Collectives: an op that differs from its instance's first op, an op outside its own
    // group, and members that never post, per instance.
    std::multimap<OpId, OpId> differs;  // instance's first op -> ops that differ from it
    for (const StructureProblem& p : st.problems()) {
      if (p.kind == StructureProblem::Kind::collective_differs) differs.emplace(p.other, p.op);
      if (p.kind == StructureProblem::Kind::collective_outside_group)  // check_structure reports it first
        problem(fmt::format("{} is posted by rank {}, which is not in its group", describe(s_, p.op), p.op.rank));
    }
    std::vector<std::tuple<Name, int, int>> instances;  // tag, ordinal, instance
    for (int id = 0; id < st.instance_count(); ++id)
      instances.emplace_back(s_.op(st.instance_first(id)).collective()->tag, st.instance_ordinal(id), id);
    std::sort(instances.begin(), instances.end());
    for (const auto& [tag, ordinal, id] : instances) {
      const OpId first = st.instance_first(id);
      const CollectiveOp& lead = *s_.op(first).collective();
      const std::string name =
          fmt::format("collective '{}'{}", tag, ordinal == 0 ? std::string() : fmt::format(" #{}", ordinal + 1));
      bool good = true;
      for (auto [it, end] = differs.equal_range(first); it != end; ++it) {
        problem(fmt::format("{} and {} share tag '{}' but differ in kind or group", describe(s_, first),
                            describe(s_, it->second), tag));
        good = false;
      }
      const std::span<const OpId> members = st.members(id);
      for (std::size_t m = 0; m < members.size(); ++m)
        if (members[m].rank < 0) {
          problem(fmt::format("{} ({} over {} ranks): rank {} of its group never posts it", name, to_string(lead.kind),
                              lead.group.size(), lead.group[m]));
          good = false;
        }
      if (good) collectives_.emplace_back(members.begin(), members.end());
    }
  }

  void build_graph() {
    const int U = static_cast<int>(g_.units.size());
    for (int i = 0; i < 2 * U; ++i) g_.add_node();
    for (int u = 0; u < U; ++u) {
      const Unit& unit = g_.units[static_cast<std::size_t>(u)];
      const auto& ops = s_.programs[static_cast<std::size_t>(unit.rank)].ops;
      const auto& unit_of = g_.unit_of[static_cast<std::size_t>(unit.rank)];
      const Op& head = ops[static_cast<std::size_t>(unit.ops.front())];
      // previous unit on the same stream
      if (const int before = st_->prev(OpId{unit.rank, unit.ops.front()}); before >= 0)
        g_.edge(g_.done(unit_of[static_cast<std::size_t>(before)]), g_.post(u));
      for (int member : unit.ops)
        for (int d : ops[static_cast<std::size_t>(member)].deps)
          g_.edge(g_.done(unit_of[static_cast<std::size_t>(d)]), g_.post(u));
      if (head.compute()) g_.edge(g_.post(u), g_.done(u));
    }
    for (const auto& [snd, rcv] : transfers_) {
      int x = g_.add_node();
      int us = g_.unit_of[static_cast<std::size_t>(snd.rank)][static_cast<std::size_t>(snd.index)];
      int ur = g_.unit_of[static_cast<std::size_t>(rcv.rank)][static_cast<std::size_t>(rcv.index)];
      g_.edge(g_.post(us), x);
      g_.edge(g_.post(ur), x);
      g_.edge(x, g_.done(us));
      g_.edge(x, g_.done(ur));
      g_.extras[x] = {ExecutionStep{ExecutionStep::Kind::transfer, {snd, rcv}}};
    }
    for (const auto& members : collectives_) {
      int x = g_.add_node();
      for (const OpId& id : members) {
        int u = g_.unit_of[static_cast<std::size_t>(id.rank)][static_cast<std::size_t>(id.index)];
        g_.edge(g_.post(u), x);
        g_.edge(x, g_.done(u));
      }
      g_.extras[x] = {ExecutionStep{ExecutionStep::Kind::collective, members}};
    }
  }

  bool topo_sort() {
    const int N = g_.node_count;
    std::vector<int> indeg(static_cast<std::size_t>(N), 0);
    for (const auto& s : g_.succ)
      for (int b : s) ++indeg[static_cast<std::size_t>(b)];
    std::deque<int> ready;
    for (int n = 0; n < N; ++n)
      if (indeg[static_cast<std::size_t>(n)] == 0) ready.push_back(n);
    while (!ready.empty()) {
      int n = ready.front();
      ready.pop_front();
      topo_.push_back(n);
      for (int b : g_.succ[static_cast<std::size_t>(n)])
        if (--indeg[static_cast<std::size_t>(b)] == 0) ready.push_back(b);
    }
    if (static_cast<int>(topo_.size()) == N) {
      topo_pos_.assign(static_cast<std::size_t>(N), 0);
      for (int i = 0; i < N; ++i) topo_pos_[static_cast<std::size_t>(topo_[static_cast<std::size_t>(i)])] = i;
      return true;
    }
    // Deadlock: name the first op of each rank that can never start.
    std::vector<std::string> stuck;
    std::vector<bool> rank_named(static_cast<std::size_t>(s_.ranks()), false);
    for (int u = 0; u < static_cast<int>(g_.units.size()); ++u) {
      if (indeg[static_cast<std::size_t>(g_.post(u))] == 0) continue;
      const Unit& unit = g_.units[static_cast<std::size_t>(u)];
      if (rank_named[static_cast<std::size_t>(unit.rank)]) continue;
      rank_named[static_cast<std::size_t>(unit.rank)] = true;
      stuck.push_back(describe(s_, {unit.rank, unit.ops.front()}));
    }
    std::string list;
    for (std::size_t i = 0; i < stuck.size() && i < 8; ++i) {
      if (i) list += ", ";
      list += stuck[i];
    }
    if (stuck.size() > 8) list += fmt::format(", ... ({} ranks)", stuck.size());
    if (stuck.empty()) {
      // Every post became ready but a completion did not: a transfer or collective waits
      // on a unit that waits on it (an op depending on a member of its own group).
      for (int u = 0; u < static_cast<int>(g_.units.size()); ++u)
        if (indeg[static_cast<std::size_t>(g_.done(u))] > 0) {
          const Unit& unit = g_.units[static_cast<std::size_t>(u)];
          if (!list.empty()) list += ", ";
          list += describe(s_, {unit.rank, unit.ops.front()});
          break;
        }
    }
    problem(fmt::format("deadlock: under the group semantics these ops can never start (first blocked op per rank): {}",
                        list));
    return false;
  }

  // Happens-before between ops of one rank, from the event graph: bit i of reach[node]
  // says that op i of the rank has completed before `node`.
  void check_buffers() {
    const int P = s_.ranks();
    const int N = g_.node_count;
    std::vector<std::vector<int>> pred(static_cast<std::size_t>(N));
    for (int a = 0; a < N; ++a)
      for (int b : g_.succ[static_cast<std::size_t>(a)]) pred[static_cast<std::size_t>(b)].push_back(a);
    for (int r = 0; r < P; ++r) {
      const auto& ops = s_.programs[static_cast<std::size_t>(r)].ops;
      const auto& unit_of = g_.unit_of[static_cast<std::size_t>(r)];
      const std::size_t n_ops = ops.size();
      const std::size_t words = (n_ops + 63) / 64;
      if (n_ops == 0) continue;
      // done node -> ops of rank r whose done node it is
      std::vector<std::vector<int>> ops_done_at(static_cast<std::size_t>(N));
      for (std::size_t i = 0; i < n_ops; ++i)
        ops_done_at[static_cast<std::size_t>(g_.done(unit_of[i]))].push_back(static_cast<int>(i));
      std::vector<std::uint64_t> reach(static_cast<std::size_t>(N) * words, 0);
      for (int n : topo_) {
        std::uint64_t* row = &reach[static_cast<std::size_t>(n) * words];
        for (int p : pred[static_cast<std::size_t>(n)]) {
          const std::uint64_t* prow = &reach[static_cast<std::size_t>(p) * words];
          for (std::size_t w = 0; w < words; ++w) row[w] |= prow[w];
        }
        for (int i : ops_done_at[static_cast<std::size_t>(n)]) row[static_cast<std::size_t>(i) / 64] |= 1ULL << (i % 64);
      }
      auto before = [&](int a, int b) {  // op a completes before op b starts
        const std::uint64_t* row = &reach[static_cast<std::size_t>(g_.post(unit_of[static_cast<std::size_t>(b)])) * words];
        return (row[static_cast<std::size_t>(a) / 64] >> (a % 64)) & 1ULL;
      };
      // Accesses per buffer, in execution order of their posts.
      std::vector<int> by_time(n_ops);
      for (std::size_t i = 0; i < n_ops; ++i) by_time[i] = static_cast<int>(i);
      std::stable_sort(by_time.begin(), by_time.end(), [&](int a, int b) {
        return topo_pos_[static_cast<std::size_t>(g_.post(unit_of[static_cast<std::size_t>(a)]))] <
               topo_pos_[static_cast<std::size_t>(g_.post(unit_of[static_cast<std::size_t>(b)]))];
      });
      struct State {
        int last_write = -1;
        std::vector<int> reads;
        bool reported = false;
      };
      std::map<std::string, State> state;
      for (const std::string& in : s_.inputs) state[in];
      auto is_input = [&](const std::string& b) {
        return std::find(s_.inputs.begin(), s_.inputs.end(), b) != s_.inputs.end();
      };
      for (int i : by_time) {
        const Op& op = ops[static_cast<std::size_t>(i)];
        auto writes = op.writes();
        for (const std::string& b : op.reads()) {
          bool also_writes = std::find(writes.begin(), writes.end(), b) != writes.end();
          State& st = state[b];
          if (st.reported) continue;
          if (st.last_write < 0) {
            if (!is_input(b)) {
              problem(fmt::format("{} reads buffer '{}' of rank {} before anything writes it", describe(s_, {r, i}), b, r));
              st.reported = true;
            }
          } else if (st.last_write != i && !before(st.last_write, i)) {
            problem(fmt::format("{} reads buffer '{}' while {} may still be writing it", describe(s_, {r, i}), b,
                                describe(s_, {r, st.last_write})));
            st.reported = true;
          }
          if (!also_writes) st.reads.push_back(i);
        }
        for (const std::string& b : writes) {
          State& st = state[b];
          if (st.reported) continue;
          if (st.last_write >= 0 && st.last_write != i && !before(st.last_write, i)) {
            problem(fmt::format("{} writes buffer '{}' while {} may still be writing it", describe(s_, {r, i}), b,
                                describe(s_, {r, st.last_write})));
            st.reported = true;
          }
          for (int rd : st.reads) {
            if (rd != i && !st.reported && !before(rd, i)) {
              problem(fmt::format("{} overwrites buffer '{}' while {} may still be reading it (double-buffer it)",
                                  describe(s_, {r, i}), b, describe(s_, {r, rd})));
              st.reported = true;
            }
          }
          st.last_write = i;
          st.reads.clear();
        }
      }
      for (const std::string& out : s_.outputs)
        if (!state.contains(out) || (state[out].last_write < 0 && !is_input(out)))
          problem(fmt::format("rank {} never produces output '{}'", r, out));
    }
  }

  void fill_order(std::vector<ExecutionStep>& order) {
    for (int n : topo_) {
      if (n < 2 * static_cast<int>(g_.units.size())) {
        if (n % 2 == 1) {  // done node of a unit: compute units act here
          const Unit& unit = g_.units[static_cast<std::size_t>(n / 2)];
          const Op& head = s_.programs[static_cast<std::size_t>(unit.rank)].ops[static_cast<std::size_t>(unit.ops.front())];
          if (head.compute()) order.push_back(ExecutionStep{ExecutionStep::Kind::compute, {{unit.rank, unit.ops.front()}}});
        }
      } else {
        order.push_back(g_.extras.at(n).step);
      }
    }
  }
};

}  // namespace

CheckResult check_schedule(const Schedule& s) { return Checker(s).run(nullptr); }

std::vector<ExecutionStep> execution_order(const Schedule& s) {
  std::vector<ExecutionStep> order;
  CheckResult r = Checker(s).run(&order);
  if (!r.ok()) throw ScheduleError(fmt::format("schedule {} ({}) fails its checks:\n{}", s.mechanism.name(),
                                               to_string(s.pass), r.str()));
  return order;
}

}  // namespace xattn
