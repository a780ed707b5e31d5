// The schedule's structure (see structure.hpp): one pass over the programs, rank by rank in
// program order, which is exactly the order the FIFO rule counts in.
#include "model/schedule/structure.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <tuple>
#include <unordered_map>

#include <fmt/format.h>

namespace xattn {

namespace {

// The ordinal as people say it: 1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, 21st.
std::string nth(int k) {
  const int n = k + 1;
  const char* suffix = "th";
  if (n % 100 < 11 || n % 100 > 13) {
    if (n % 10 == 1) suffix = "st";
    else if (n % 10 == 2) suffix = "nd";
    else if (n % 10 == 3) suffix = "rd";
  }
  return fmt::format("{}{}", n, suffix);
}

}  // namespace

ScheduleStructure::ScheduleStructure(const Schedule& s, StructureDetail detail, const RankDone& rank_done)
    : s_(&s) {
  build(s, detail, rank_done);
}

void ScheduleStructure::build(const Schedule& s, StructureDetail detail, const RankDone& rank_done) {
  const int P = s.ranks();
  offset_.assign(static_cast<std::size_t>(P) + 1, 0);
  for (int r = 0; r < P; ++r)
    offset_[static_cast<std::size_t>(r) + 1] =
        offset_[static_cast<std::size_t>(r)] + static_cast<std::int64_t>(s.programs[static_cast<std::size_t>(r)].ops.size());
  const auto N = static_cast<std::size_t>(offset_.back());
  const bool full = detail == StructureDetail::full;
  slot_.resize(N);
  if (full) prev_.resize(N);
  next_.resize(N);
  run_.resize(N);
  match_.resize(N);
  stream_at_.assign(static_cast<std::size_t>(P) + 1, 0);
  instance_at_.assign(1, 0);

  // Sends (or Recvs) of one key still waiting for their partner, oldest first, chained
  // through match_ (each one's entry holds the next one's index until it is matched).
  // All of them are on one rank: the source for Sends, the destination for Recvs.
  struct Pending {
    std::int32_t head = -1, tail = -1;
    bool sends = true;
  };
  std::unordered_map<TransferKey, Pending> pending;
  std::unordered_map<Name, std::int32_t> seen_tag;              // this rank: collectives per tag so far
  std::unordered_map<std::uint64_t, std::int32_t> instance_of;  // (tag, k) -> instance
  std::array<std::int32_t, max_stream_slots> last{};            // per slot: the rank's last op there
  std::array<std::int32_t, max_stream_slots> run_group{};       // per slot: the open run's group (-1: none)
  std::array<std::int32_t, max_stream_slots> run_open{};        // per slot: the open run's first op
  std::vector<std::pair<int, int>> runs;                        // this rank: (group, first op) of grouped runs

  for (int r = 0; r < P; ++r) {
    const auto& ops = s.programs[static_cast<std::size_t>(r)].ops;
    const std::int64_t off = offset_[static_cast<std::size_t>(r)];
    const auto n = static_cast<std::int32_t>(ops.size());
    last.fill(-1);
    run_group.fill(-1);
    seen_tag.clear();
    runs.clear();
    int top_group = -1;
    bool groups_rise = true;  // the usual case: group numbers only grow (ProgramBuilder::next_group)
    for (std::int32_t i = 0; i < n; ++i) {
      const Op& op = ops[static_cast<std::size_t>(i)];
      const auto f = static_cast<std::size_t>(off + i);
      int sl = stream_slot(op.stream);
      if (sl < 0) {
        problems_.push_back({StructureProblem::Kind::bad_stream, OpId{r, i}});
        sl = 0;
      }
      slot_[f] = static_cast<std::uint8_t>(sl);
      const std::int32_t p = last[static_cast<std::size_t>(sl)];
      if (full) prev_[f] = p;
      next_[f] = -1;
      match_[f] = -1;
      if (p < 0) stream_use_.push_back(StreamUse{i, sl});

      // Transfer group runs.
      const TransferOp* t = op.transfer();
      const int g = t != nullptr ? t->group : -1;
      if (g >= 0 && p >= 0 && run_group[static_cast<std::size_t>(sl)] == g) {
        const std::int32_t first = run_open[static_cast<std::size_t>(sl)];
        run_[f] = first;
        run_[static_cast<std::size_t>(off + first)] = i;
      } else {
        run_[f] = i;
        run_open[static_cast<std::size_t>(sl)] = i;
        run_group[static_cast<std::size_t>(sl)] = g;
        if (g >= 0) {
          runs.emplace_back(g, i);
          if (g > top_group) top_group = g;
          else groups_rise = false;
        }
      }
      if (p >= 0) next_[static_cast<std::size_t>(off + p)] = i;
      last[static_cast<std::size_t>(sl)] = i;

      // Send/Recv: the k-th of a key pairs with the k-th of the other side.
      if (t != nullptr) {
        const bool send = op.kind() == OpKind::send;
        const TransferKey key = transfer_key(r, op);
        auto [it, fresh] = pending.try_emplace(key);
        Pending& q = it->second;
        if (!fresh && q.sends != send) {
          const int other_rank = send ? key.dst : key.src;
          const auto o = static_cast<std::size_t>(offset_[static_cast<std::size_t>(other_rank)] + q.head);
          const std::int32_t after = match_[o];
          match_[o] = i;
          match_[f] = q.head;
          q.head = after;
          if (q.head < 0) pending.erase(it);
        } else {
          q.sends = send;
          if (q.tail >= 0) match_[static_cast<std::size_t>(off + q.tail)] = i;
          else q.head = i;
          q.tail = i;
        }
      } else if (const CollectiveOp* c = op.collective()) {
        // Collectives: the k-th with tag T on each rank is instance (T, k).
        const std::int32_t k = seen_tag[c->tag]++;
        const std::uint64_t ikey = (static_cast<std::uint64_t>(c->tag.id()) << 32) | static_cast<std::uint32_t>(k);
        auto [it, fresh] = instance_of.try_emplace(ikey, static_cast<std::int32_t>(instance_first_.size()));
        const std::int32_t id = it->second;
        if (fresh) {
          instance_first_.push_back(OpId{r, i});
          instance_ordinal_.push_back(k);
          members_.resize(members_.size() + c->group.size(), OpId{-1, -1});
          instance_at_.push_back(static_cast<std::int64_t>(members_.size()));
        }
        const OpId first = instance_first_[static_cast<std::size_t>(id)];
        const CollectiveOp& lead = *s.op(first).collective();
        const auto pos = std::find(c->group.begin(), c->group.end(), r);
        if (!fresh && (c->kind != lead.kind || c->group != lead.group)) {
          problems_.push_back({StructureProblem::Kind::collective_differs, OpId{r, i}, first, -1, k});
        } else if (pos == c->group.end()) {
          problems_.push_back({StructureProblem::Kind::collective_outside_group, OpId{r, i}, {-1, -1}, -1, k});
        } else {
          members_[static_cast<std::size_t>(instance_at_[static_cast<std::size_t>(id)] + (pos - c->group.begin()))] =
              OpId{r, i};
          match_[f] = id;
        }
      }
    }
    // A group number used by two runs: the later run starts a second group of that number.
    if (!groups_rise) {
      std::stable_sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      for (std::size_t k = 1; k < runs.size(); ++k)
        if (runs[k].first == runs[k - 1].first)
          problems_.push_back({StructureProblem::Kind::group_not_contiguous, OpId{r, runs[k].second}});
    }
    stream_at_[static_cast<std::size_t>(r) + 1] = static_cast<std::int64_t>(stream_use_.size());
    if (rank_done) rank_done(*this, r);
  }

  // What is still pending has no partner.
  for (const auto& [key, q] : pending) {
    const int rank = q.sends ? key.src : key.dst;
    for (std::int32_t i = q.head; i >= 0;) {
      const auto f = static_cast<std::size_t>(offset_[static_cast<std::size_t>(rank)] + i);
      const std::int32_t after = match_[f];
      match_[f] = -1;
      problems_.push_back(
          {q.sends ? StructureProblem::Kind::unmatched_send : StructureProblem::Kind::unmatched_recv, OpId{rank, i}});
      i = after;
    }
  }
  for (int id = 0; id < instance_count(); ++id) {
    const std::span<const OpId> m = members(id);
    const CollectiveOp& lead = *s.op(instance_first(id)).collective();
    for (std::size_t j = 0; j < m.size(); ++j)
      if (m[j].rank < 0)
        problems_.push_back({StructureProblem::Kind::collective_missing, instance_first(id), {-1, -1}, lead.group[j],
                             instance_ordinal(id)});
  }
  std::sort(problems_.begin(), problems_.end(), [](const StructureProblem& a, const StructureProblem& b) {
    return std::tie(a.kind, a.op, a.rank, a.other) < std::tie(b.kind, b.op, b.rank, b.other);
  });
}

int ScheduleStructure::stream_count(int rank) const {
  int n = 0;
  for (const StreamUse& u : streams(rank)) n = std::max(n, u.slot + 1);
  return n;
}

int ScheduleStructure::run_size(OpId head) const {
  int n = 1;
  for (int i = head.index; i != run_last(OpId{head.rank, i}); i = next(OpId{head.rank, i})) ++n;
  return n;
}

OpId ScheduleStructure::partner(OpId id) const {
  const int m = match(id);
  const TransferOp* t = s_->op(id).transfer();
  assert(t != nullptr);
  return m < 0 ? OpId{-1, -1} : OpId{t->peer, m};
}

std::string ScheduleStructure::describe(const StructureProblem& p) const {
  const Op& op = s_->op(p.op);
  switch (p.kind) {
    case StructureProblem::Kind::bad_stream:
      return fmt::format("op {} runs on stream {}, which no rank may have (compute, comm0 to comm{})", p.op.str(),
                         op.stream.name(), max_stream_slots - 2);
    case StructureProblem::Kind::group_not_contiguous:
      return fmt::format("op {}: transfer group {} of rank {} is not contiguous on one stream (an earlier run has that "
                         "group number)",
                         p.op.str(), op.transfer()->group, p.op.rank);
    case StructureProblem::Kind::unmatched_send:
    case StructureProblem::Kind::unmatched_recv: {
      const bool send = p.kind == StructureProblem::Kind::unmatched_send;
      const TransferKey key = transfer_key(p.op.rank, op);
      int k = 0;  // which one of its key it is
      const auto& ops = s_->programs[static_cast<std::size_t>(p.op.rank)].ops;
      for (int i = 0; i < p.op.index; ++i)
        if (ops[static_cast<std::size_t>(i)].kind() == op.kind() && transfer_key(p.op.rank, ops[static_cast<std::size_t>(i)]) == key) ++k;
      return fmt::format("{} {} (tag {}) has no matching {} on rank {}{}", send ? "send" : "receive", p.op.str(), key.tag,
                         send ? "receive" : "send", send ? key.dst : key.src,
                         k == 0 ? std::string()
                                : fmt::format(" (the {} {} with that tag: rank {} posts fewer {})", nth(k),
                                              send ? "send" : "receive", send ? key.dst : key.src,
                                              send ? "receives" : "sends"));
    }
    case StructureProblem::Kind::collective_outside_group:
      return fmt::format("collective {} (tag {}) has a group that leaves out its own rank {}", p.op.str(),
                         op.collective()->tag, p.op.rank);
    case StructureProblem::Kind::collective_differs:
      return fmt::format("collective {} (tag {}) differs in kind or group from {}, the first op of the {} instance of "
                         "that tag",
                         p.op.str(), op.collective()->tag, p.other.str(), nth(p.ordinal));
    case StructureProblem::Kind::collective_missing: {
      const CollectiveOp& c = *op.collective();
      return fmt::format("collective '{}'{} ({} over {} ranks, first posted by {}): rank {} of its group never posts it",
                         c.tag, p.ordinal == 0 ? std::string() : " #" + std::to_string(p.ordinal + 1), to_string(c.kind),
                         c.group.size(), p.op.str(), p.rank);
    }
  }
  return {};
}

std::string ScheduleStructure::summary() const {
  if (problems_.empty()) return {};
  std::string s = describe(problems_.front());
  if (problems_.size() > 1) s += fmt::format(" (and {} more problem{})", problems_.size() - 1, problems_.size() > 2 ? "s" : "");
  return s;
}

}  // namespace xattn
