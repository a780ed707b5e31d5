// Slicing and merging the op times of a multi-process run (see rank_timeline.hpp).
#include "gpu/rank_timeline.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "gpu/byte_order.hpp"
#include "gpu/walk.hpp"

namespace xattn::gpu {
namespace {

constexpr std::uint32_t times_magic = 0x58545254u;  // "XTRT"
constexpr std::uint32_t times_version = 1;

}  // namespace

RankTimes slice_rank(const std::vector<Timeline>& runs, int rank) {
  RankTimes t;
  t.rank = rank;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    if (rank < 0 || rank >= runs[i].ranks())
      throw std::invalid_argument(fmt::format("run {} has {} ranks, not rank {}", i, runs[i].ranks(), rank));
    t.runs.push_back(runs[i].ops[static_cast<std::size_t>(rank)]);
  }
  return t;
}

std::string encode_rank_times(const RankTimes& t) {
  std::string out;
  put_u32(out, times_magic);
  put_u32(out, times_version);
  put_u32(out, static_cast<std::uint32_t>(t.rank));
  put_u32(out, static_cast<std::uint32_t>(t.runs.size()));
  for (const auto& run : t.runs) {
    put_u32(out, static_cast<std::uint32_t>(run.size()));
    for (const OpTimes& o : run)
      for (Time x : {o.posted, o.start, o.end}) put_u64(out, static_cast<std::uint64_t>(x.ps()));
  }
  return out;
}

RankTimes decode_rank_times(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t at = 0;
  auto need = [&](std::size_t n) {
    if (bytes.size() - at < n)
      throw std::invalid_argument(fmt::format("op times: {} bytes, cut short at byte {}", bytes.size(), at));
  };
  auto u32 = [&] {
    need(4);
    const std::uint32_t v = get_u32(p + at);
    at += 4;
    return v;
  };
  if (u32() != times_magic) throw std::invalid_argument("op times: not what encode_rank_times writes");
  if (const std::uint32_t v = u32(); v != times_version)
    throw std::invalid_argument(fmt::format("op times: format version {}, this xattn reads {}", v, times_version));
  RankTimes t;
  t.rank = static_cast<int>(u32());
  const std::uint32_t runs = u32();
  for (std::uint32_t i = 0; i < runs; ++i) {
    const std::uint32_t n = u32();
    need(static_cast<std::size_t>(n) * 24);
    std::vector<OpTimes> ops(n);
    for (OpTimes& o : ops) {
      for (Time* x : {&o.posted, &o.start, &o.end}) {
        *x = Time::ps(static_cast<std::int64_t>(get_u64(p + at)));
        at += 8;
      }
    }
    t.runs.push_back(std::move(ops));
  }
  if (at != bytes.size()) throw std::invalid_argument(fmt::format("op times: {} bytes left over", bytes.size() - at));
  return t;
}

void finish_timeline(const Schedule& s, Timeline& t) {
  const ScheduleStructure st = walk_structure(s);
  const int P = st.ranks();
  auto& ops = t.ops;
  if (t.ranks() != P) throw std::invalid_argument(fmt::format("a timeline of {} ranks for a schedule of {}", t.ranks(), P));
  for (int r = 0; r < P; ++r)
    if (ops[static_cast<std::size_t>(r)].size() != s.programs[static_cast<std::size_t>(r)].ops.size())
      throw std::invalid_argument(fmt::format("rank {} of the timeline has {} ops, its program {}", r,
                                              ops[static_cast<std::size_t>(r)].size(),
                                              s.programs[static_cast<std::size_t>(r)].ops.size()));
  auto at = [&](OpId id) -> OpTimes& {
    return ops[static_cast<std::size_t>(id.rank)][static_cast<std::size_t>(id.index)];
  };
  auto clamp_start = [](OpTimes& o, Time start) { o.start = min(max(o.start, start), o.end); };
  for (int r = 0; r < P; ++r)
    for (std::size_t i = 0; i < ops[static_cast<std::size_t>(r)].size(); ++i) {
      const OpId id{r, static_cast<int>(i)};
      const OpKind k = s.op(id).kind();
      if (k != OpKind::send) continue;
      const OpId other = st.partner(id);
      const Time start = max(at(id).start, at(other).start);
      clamp_start(at(id), start);
      clamp_start(at(other), start);
    }
  for (int c = 0; c < st.instance_count(); ++c) {
    Time start;
    for (const OpId& m : st.members(c)) start = max(start, at(m).start);
    for (const OpId& m : st.members(c)) clamp_start(at(m), start);
  }
  t.makespan = Time();
  t.compute_busy.assign(static_cast<std::size_t>(P), Time());
  for (int r = 0; r < P; ++r)
    for (std::size_t i = 0; i < ops[static_cast<std::size_t>(r)].size(); ++i) {
      const OpTimes& o = ops[static_cast<std::size_t>(r)][i];
      t.makespan = max(t.makespan, o.end);
      if (s.programs[static_cast<std::size_t>(r)].ops[i].kind() == OpKind::compute)
        t.compute_busy[static_cast<std::size_t>(r)] += o.end - o.start;
    }
}

std::vector<Timeline> merge_rank_times(const Schedule& s, std::vector<RankTimes> parts) {
  const int P = s.ranks();
  std::vector<int> from(static_cast<std::size_t>(P), -1);
  for (std::size_t k = 0; k < parts.size(); ++k) {
    const int r = parts[k].rank;
    if (r < 0 || r >= P) throw std::invalid_argument(fmt::format("op times of rank {}, but the schedule has ranks 0..{}", r, P - 1));
    if (from[static_cast<std::size_t>(r)] >= 0) throw std::invalid_argument(fmt::format("op times of rank {} arrived twice", r));
    from[static_cast<std::size_t>(r)] = static_cast<int>(k);
  }
  std::string missing;
  for (int r = 0; r < P; ++r)
    if (from[static_cast<std::size_t>(r)] < 0) missing += fmt::format("{}{}", missing.empty() ? "" : ", ", r);
  if (!missing.empty()) throw std::invalid_argument("no op times from rank(s) " + missing);
  const std::size_t runs = parts.empty() ? 0 : parts.front().runs.size();
  for (const RankTimes& p : parts) {
    if (p.runs.size() != runs)
      throw std::invalid_argument(fmt::format("rank {} sent {} runs, rank {} sent {}", p.rank, p.runs.size(), parts.front().rank, runs));
    const std::size_t n = s.programs[static_cast<std::size_t>(p.rank)].ops.size();
    for (std::size_t i = 0; i < p.runs.size(); ++i)
      if (p.runs[i].size() != n)
        throw std::invalid_argument(
            fmt::format("rank {} sent {} op times in run {}; its program has {} ops", p.rank, p.runs[i].size(), i, n));
  }
  std::vector<Timeline> out(runs);
  for (std::size_t i = 0; i < runs; ++i) {
    Timeline& t = out[i];
    t.ops.resize(static_cast<std::size_t>(P));
    for (int r = 0; r < P; ++r)
      t.ops[static_cast<std::size_t>(r)] = std::move(parts[static_cast<std::size_t>(from[static_cast<std::size_t>(r)])].runs[i]);
    finish_timeline(s, t);
  }
  return out;
}

}  // namespace xattn::gpu
