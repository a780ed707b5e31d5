// Validation's library half (sim/validation.hpp) and the typed run metadata it reads
// (model/schedule/trace.hpp): a committed H100 trace, written before the metadata had a
// typed FIFO key, reads into the settings its run used; what run_settings_json writes
// reads back unchanged; a timeline compared with itself has no error; one committed case
// validates as the set's CLI test says the whole set does. (`xattn validate` itself:
// tests/cli/validate_test.cpp.)
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/core/error.hpp"
#include "model/schedule/trace.hpp"
#include "sim/validation.hpp"

namespace xattn::sim {
namespace {

const std::string kData = std::string(XATTN_SOURCE_DIR) + "/tests/data/h100-validation/";
const std::string kLoopback = std::string(XATTN_SOURCE_DIR) + "/scenarios/loopback-h100.yaml";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TraceMetadata metadata_of(const std::string& path) { return trace_metadata(parse_trace(read_file(path), path), path); }

TEST(RunMetadata, ACommittedH100TraceReadsIntoItsRunsSettings) {
  // serial-A-p2-ring-fwd.json: Ring's forward pass on P = 2 loopback ranks of one H100,
  // shape A (2048 text tokens x 8 frames of 4096), bf16, the loopback paced to 2 GB/s and
  // 10 us, every rank's compute on one device stream in the order it recorded; 5 timed
  // runs after 1 warm-up (tests/data/h100-validation/README.md). It predates the
  // `fifo_pairs` key: its `loopback_link_model` sentence says "one FIFO link per ordered
  // rank pair", which the reader maps to fifo_pairs = true.
  const TraceMetadata m = metadata_of(kData + "serial-A-p2-ring-fwd.json");
  EXPECT_EQ(m.mechanism, "ring");
  EXPECT_EQ(m.pass, "fwd");
  EXPECT_EQ(m.ranks, 2);
  EXPECT_EQ(m.scenario, "loopback-h100");
  EXPECT_EQ(m.engine, "measured");
  EXPECT_FALSE(m.ranks_traced.has_value());
  const RunSettings& r = m.run;
  EXPECT_EQ(r.transport, RunTransport::loopback);
  EXPECT_EQ(r.link_bandwidth_GBps, 2.0);
  EXPECT_EQ(r.link_latency_us, 10.0);
  EXPECT_TRUE(r.link_paced);
  EXPECT_TRUE(r.fifo_pairs);
  EXPECT_EQ(r.placement, ComputePlacement::one_device_stream);
  EXPECT_EQ(r.compute_order, (std::vector<OpId>{{0, 2}, {1, 2}, {1, 3}, {1, 4}, {0, 3}, {0, 4}}));
  EXPECT_EQ(r.accumulator_bytes, 2);
  EXPECT_EQ(r.ranks_per_device, 2);
  EXPECT_EQ(r.device, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(r.dtype, "bf16");
  EXPECT_EQ(r.reps, 5);
  EXPECT_EQ(r.warmup, 1);
  EXPECT_EQ(r.makespans_s.size(), 5u);
  EXPECT_EQ(r.overrides, (std::vector<std::string>{"workload.text_tokens=2048", "workload.frames=8",
                                                   "workload.tokens_per_frame=4096", "workload.dtype=bf16"}));
  // Its per-rank twin records no order, and the other placement.
  const TraceMetadata p = metadata_of(kData + "per-rank-A-p2-ring-fwd.json");
  EXPECT_EQ(p.run.placement, ComputePlacement::per_rank_streams);
  EXPECT_TRUE(p.run.compute_order.empty());
  EXPECT_TRUE(p.run.fifo_pairs);
}

TEST(RunMetadata, WhatTheWriterWritesTheReaderReads) {
  RunSettings run;
  run.transport = RunTransport::nccl;
  run.link_bandwidth_GBps = 25.5;
  run.link_latency_us = 3.25;
  run.link_paced = false;
  run.fifo_pairs = false;
  run.placement = ComputePlacement::one_device_stream;
  run.compute_order = {{1, 0}, {0, 0}, {0, 1}};
  run.accumulator_bytes = 4;
  run.ranks_per_device = 1;
  run.device = "NVIDIA H100 80GB HBM3";
  run.dtype = "fp16";
  run.processes = 2;
  run.launch = "tcp";
  run.launcher = "torchrun";
  run.time_origin = "per GPU, after an NCCL all-reduce barrier";
  run.reps = 3;
  run.warmup = 2;
  run.reported_run = "median makespan of the reps";
  run.makespans_s = {0.5, 0.25, 0.75};
  run.compute_s = 0.125;
  run.exposed_comm_s = 0.375;
  run.overrides = {"workload.frames=2"};
  nlohmann::json doc = {{"traceEvents", nlohmann::json::array()},
                        {"metadata", {{"mechanism", "ring"}, {"pass", "fwd"}, {"P", 2}, {"scenario", "s"}, {"engine", "measured"}}}};
  nlohmann::json written = run_settings_json(run);  // named: a loop over a temporary's items() dangles
  for (auto& [k, v] : written.items()) doc["metadata"][k] = v;
  const RunSettings back = trace_metadata(doc, "t.json").run;
  EXPECT_EQ(back.transport, run.transport);
  EXPECT_EQ(back.link_bandwidth_GBps, run.link_bandwidth_GBps);
  EXPECT_EQ(back.link_latency_us, run.link_latency_us);
  EXPECT_EQ(back.link_paced, run.link_paced);
  EXPECT_EQ(back.fifo_pairs, run.fifo_pairs);
  EXPECT_EQ(back.placement, run.placement);
  EXPECT_EQ(back.compute_order, run.compute_order);
  EXPECT_EQ(back.accumulator_bytes, run.accumulator_bytes);
  EXPECT_EQ(back.ranks_per_device, run.ranks_per_device);
  EXPECT_EQ(back.device, run.device);
  EXPECT_EQ(back.dtype, run.dtype);
  EXPECT_EQ(back.processes, run.processes);
  EXPECT_EQ(back.launch, run.launch);
  EXPECT_EQ(back.launcher, run.launcher);
  EXPECT_EQ(back.time_origin, run.time_origin);
  EXPECT_EQ(back.reps, run.reps);
  EXPECT_EQ(back.warmup, run.warmup);
  EXPECT_EQ(back.reported_run, run.reported_run);
  EXPECT_EQ(back.makespans_s, run.makespans_s);
  EXPECT_EQ(back.compute_s, run.compute_s);
  EXPECT_EQ(back.exposed_comm_s, run.exposed_comm_s);
  EXPECT_EQ(back.overrides, run.overrides);

  // The typed key wins over the old sentence; neither: pairs share their link.
  doc["metadata"]["loopback_link_model"] = "one FIFO link per ordered rank pair, through pinned host memory";
  EXPECT_FALSE(trace_metadata(doc, "t.json").run.fifo_pairs);
  doc["metadata"].erase("fifo_pairs");
  EXPECT_TRUE(trace_metadata(doc, "t.json").run.fifo_pairs);
  doc["metadata"].erase("loopback_link_model");
  EXPECT_FALSE(trace_metadata(doc, "t.json").run.fifo_pairs);
  // A trace that records no transport: a measured one ran on the loopback, a simulated
  // one on the scenario's machine; an unknown transport or a number that is text is bad
  // input naming the key.
  doc["metadata"].erase("transport");
  EXPECT_EQ(trace_metadata(doc, "t.json").run.transport, RunTransport::loopback);
  doc["metadata"]["engine"] = "event";
  EXPECT_EQ(trace_metadata(doc, "t.json").run.transport, RunTransport::scenario);
  doc["metadata"]["transport"] = "carrier-pigeon";
  EXPECT_THROW((void)trace_metadata(doc, "t.json"), InputError);
  doc["metadata"]["transport"] = "loopback";
  doc["metadata"]["link_bandwidth_GBps"] = "fast";
  try {
    (void)trace_metadata(doc, "t.json");
    ADD_FAILURE() << "a link bandwidth that is text was read";
  } catch (const InputError& e) {
    EXPECT_EQ(e.problems().front().field, "metadata.link_bandwidth_GBps");
  }
}

TEST(Validation, OneCommittedCaseAgainstTheSimulator) {
  // The same case as the first Ring row of `xattn validate --set-file serial.yaml`: the run
  // rebuilt on the loopback machine of one H100 with the h32 calibration (it fitted the
  // link: 16.69 us + 2.00 GB/s), pairs first come first served, compute in the recorded
  // order. Every op of the trace is compared; the makespan is within the set's largest
  // error (5.31%, tests/cli/validate_test.cpp).
  ValidationOptions o;
  o.keep_simulated = true;
  const CaseReport r = validate_case(ValidationCase{kData + "serial-A-p2-ring-fwd.json", kLoopback, {kData + "h32.yaml"}}, o);
  EXPECT_EQ(r.gpu_preset, "h100-sxm");
  EXPECT_TRUE(r.fifo_pairs);
  EXPECT_EQ(r.link_source, LinkFrom::calibration);
  EXPECT_NEAR(r.link_bandwidth_GBps, 2.0, 0.01);
  EXPECT_NEAR(r.link_latency_us, 16.69, 0.01);
  EXPECT_GT(r.diff.compute.ops, 0);
  EXPECT_GT(r.diff.transfer.ops, 0);
  EXPECT_LT(std::abs(r.diff.makespan_error()), 0.0532);
  EXPECT_EQ(r.simulated.makespan.seconds().value(), r.diff.makespan_simulated_s);

  // The simulated run against itself: no error anywhere.
  const TimelineDiff same = diff_timelines(r.schedule, r.simulated, r.simulated);
  EXPECT_EQ(same.makespan_error(), 0.0);
  EXPECT_EQ(same.compute.max_abs, 0.0);
  EXPECT_EQ(same.transfer.max_abs, 0.0);
  EXPECT_EQ(same.compute.ops, r.diff.compute.ops);

  // One case is fewer than the goal's twelve: not met, whatever its errors.
  EXPECT_FALSE(summarize_set({r}).goals_met);
}

}  // namespace
}  // namespace xattn::sim
