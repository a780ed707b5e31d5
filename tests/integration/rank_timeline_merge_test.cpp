// A simulated timeline of a real schedule, sliced as each process of a multi-process GPU
// run measures its own rank, sent as bytes and merged at rank 0 (gpu/rank_timeline.hpp),
// comes back op for op, and exports and reads back as a trace. It crosses rooms (the
// simulator makes the times a measured run would have; the GPU backend's host half merges
// them), so it lives in the integration suite.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "gpu/rank_timeline.hpp"
#include "model/schedule/builders.hpp"
#include "model/schedule/trace.hpp"
#include "sim/executor.hpp"

namespace xattn::gpu {
namespace {

constexpr std::int64_t us = 1'000'000;

// A simulated timeline of a real schedule: the times a measured run would have.
struct Simulated {
  Schedule s;
  Timeline t;
};

Simulated simulated(const char* mechanism, int P) {
  AttentionShape sh;
  sh.heads = 8;
  sh.kv_heads = 2;
  sh.head_dim = 64;
  sh.q_tokens = 256;
  sh.kv_tokens = 4096;
  Simulated out;
  out.s = build_schedule(*parse_mechanism(mechanism), Pass::fwd_bwd, BuildOptions{sh, P, 1, {}, 0});
  Cluster c;
  c.nodes = 1;
  c.gpus_per_node = P;
  c.intra_kind = IntraFabric::nvlink_switch;
  c.intra = LinkSpec{gigabytes_per_second(100), microseconds(2)};
  c.inter = LinkSpec{gigabytes_per_second(25), microseconds(5)};
  c.gpu.hbm = BytesPerSecond(2e12);
  c.gpu.peak_fp16 = FlopsPerSecond(1e15);
  out.t = sim::simulate(out.s, c, Calibration{});
  return out;
}

// What the process of rank r measures: its own rank's ops, the others empty.
Timeline seen_by(const Timeline& t, int r) {
  Timeline mine;
  mine.ops.resize(t.ops.size());
  mine.ops[static_cast<std::size_t>(r)] = t.ops[static_cast<std::size_t>(r)];
  return mine;
}

TEST(RankTimeline, ProcessesSlicesThroughBytesMergeBackIntoTheWholeTimeline) {
  // Each of P processes measured its own rank in two runs (the second 1 us later). Its
  // slice goes through encode/decode (what the bootstrap carries) and rank 0 merges.
  // Expected: both runs come back op for op, with the makespan and per-rank compute the
  // simulator computed (its transfer and collective starts already are rendezvous
  // starts, so evening them out changes nothing), and the trace exports and reads back.
  for (const char* m : {"lv-xattn", "ring", "ulysses"}) {
    const Simulated sim = simulated(m, 4);
    Timeline later = sim.t;
    for (auto& rank : later.ops)
      for (auto& o : rank)
        for (Time* x : {&o.posted, &o.start, &o.end}) *x = *x + Time::ps(us);
    std::vector<RankTimes> parts;
    for (int r = 3; r >= 0; --r) {  // arrival order does not matter
      const RankTimes mine = slice_rank({seen_by(sim.t, r), seen_by(later, r)}, r);
      parts.push_back(decode_rank_times(encode_rank_times(mine)));
    }
    const std::vector<Timeline> merged = merge_rank_times(sim.s, std::move(parts));
    ASSERT_EQ(merged.size(), 2u);
    for (int r = 0; r < 4; ++r)
      for (std::size_t i = 0; i < sim.t.ops[static_cast<std::size_t>(r)].size(); ++i) {
        const OpId id{r, static_cast<int>(i)};
        EXPECT_EQ(merged[0].at(id).posted, sim.t.at(id).posted) << m << " " << id.str();
        EXPECT_EQ(merged[0].at(id).start, sim.t.at(id).start) << m << " " << id.str();
        EXPECT_EQ(merged[0].at(id).end, sim.t.at(id).end) << m << " " << id.str();
        EXPECT_EQ(merged[1].at(id).start, later.at(id).start) << m << " " << id.str();
      }
    EXPECT_EQ(merged[0].makespan, sim.t.makespan) << m;
    EXPECT_EQ(merged[1].makespan, sim.t.makespan + Time::ps(us)) << m;
    EXPECT_EQ(merged[0].compute_busy, sim.t.compute_busy) << m;
    // The merged timeline is a trace like any other.
    const auto doc = nlohmann::json::parse(chrome_trace_json(sim.s, merged[0], TraceInfo{"test", "measured"}));
    const Timeline back = read_chrome_trace(doc, sim.s, "merged");
    EXPECT_EQ(back.makespan, merged[0].makespan) << m;
  }
}

}  // namespace
}  // namespace xattn::gpu
