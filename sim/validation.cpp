// Validation (validation.hpp): the machine a measured run used, rebuilt from its trace's
// metadata and simulated; the two timelines compared op by op; a set of cases summarised.
#include "sim/validation.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "model/core/error.hpp"
#include "model/core/input_file.hpp"
#include "model/core/time.hpp"
#include "model/presets.hpp"
#include "model/scenario/calibration_file.hpp"
#include "model/scenario/scenario_input.hpp"
#include "model/schedule/builders.hpp"
#include "sim/runner.hpp"

namespace xattn::sim {

std::string_view to_string(LinkFrom f) { return f == LinkFrom::trace ? "trace" : "calibration"; }

namespace {

double median_of(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void finish_stats(ErrorStats& s) {
  std::vector<double> abs;
  for (double e : s.errors) abs.push_back(std::abs(e));
  s.median_abs = median_of(abs);
  s.max_abs = abs.empty() ? 0.0 : *std::max_element(abs.begin(), abs.end());
  s.median = median_of(s.errors);
}

std::string read_text(const std::string& path, const std::string& field) {
  return read_input_file(path, field, kMaxTraceFileBytes);
}

std::string kind_of(const Op& op) {
  if (const ComputeOp* c = op.compute()) return std::string(to_string(c->kind));
  if (const CollectiveOp* c = op.collective()) return std::string(to_string(c->kind));
  return std::string(to_string(op.kind()));
}

// Simulates `s` on the machine the run used (docs/validation.md §2) and notes in `rep` what
// that machine was.
Timeline simulate_like_run(const Schedule& s, const Scenario& scenario, Calibration cal, const ValidationCase& c,
                           const ValidationOptions& o, int accumulator_bytes, CaseReport& rep) {
  const RunSettings& run = rep.meta.run;
  const int ranks = rep.meta.ranks;
  GpuSpec gpu = scenario.cluster.gpu;
  if (!o.gpu.empty()) {
    const GpuSpec* g = find_gpu(o.gpu);
    if (g == nullptr) throw InputError(Origin{"--gpu " + o.gpu}, "gpu", fmt::format("unknown GPU preset (known: {})", gpu_names()));
    gpu = *g;
  } else if (const GpuSpec* g = gpu_preset_for_device(run.device); g != nullptr) {
    gpu = *g;
  } else if (!run.device.empty()) {
    rep.notes.push_back(fmt::format("no GPU preset for device '{}': the scenario's {} is used (--gpu to choose)", run.device,
                                    gpu.name));
  }
  rep.gpu_preset = gpu.name;

  // The machine the run used.
  SimOptions so;
  Cluster cluster = scenario.cluster;
  cluster.gpu = gpu;
  if (run.transport == RunTransport::loopback) {
    cluster = loopback_cluster(gpu, ranks,
                               LinkSpec{gigabytes_per_second(run.link_bandwidth_GBps), microseconds(run.link_latency_us)});
    if (!run.link_paced && o.link_from == LinkFrom::trace)
      rep.notes.push_back("the run's loopback was not paced: its recorded link figures are not what the copies took");
    // The loopback serves one rank pair's messages first come first served; the simulator
    // then does too (sim::make_fifo_pairs).
    so.fifo_pairs = run.fifo_pairs;
    so.device_of.resize(static_cast<std::size_t>(ranks));
    for (int r = 0; r < ranks; ++r) so.device_of[static_cast<std::size_t>(r)] = r / std::max(1, run.ranks_per_device);
  } else if (cluster.ranks() != ranks) {
    cluster.nodes = 1;  // an NCCL run of fewer ranks than the scenario: the GPUs of one node
    cluster.gpus_per_node = ranks;
  }
  rep.fifo_pairs = so.fifo_pairs;
  if (o.link_from == LinkFrom::trace)
    for (LinkCalibration* l : {&cal.intra_node, &cal.inter_node}) {
      l->latency.reset();
      l->bandwidth.reset();
      l->protocols.clear();
    }
  const LinkSpec link = cal.link(cluster, LinkClass::intra_node);
  rep.link_latency_us = to_microseconds(link.latency);
  rep.link_bandwidth_GBps = to_gigabytes_per_second(link.bandwidth);
  rep.link_source = cal.intra_node.latency || cal.intra_node.bandwidth ? LinkFrom::calibration : LinkFrom::trace;
  if (!so.device_of.empty()) {
    if (run.placement == ComputePlacement::one_device_stream) {
      so.sharing = DeviceSharing::in_order;
      if (run.compute_order.empty())
        throw InputError(Origin{c.measured}, "metadata.compute_order", "a one-device-stream run must record its compute order");
      so.compute_order.assign(static_cast<std::size_t>(device_count(so.device_of)), {});
      for (const OpId& id : run.compute_order) {
        if (id.rank < 0 || id.rank >= ranks)
          throw InputError(Origin{c.measured}, "metadata.compute_order", fmt::format("op {} is not in the schedule", id.str()));
        so.compute_order[static_cast<std::size_t>(so.device_of[static_cast<std::size_t>(id.rank)])].push_back(id);
      }
    } else {
      so.sharing = DeviceSharing::fifo;
    }
  }
  try {
    return simulate(s, cluster, cal, so, accumulator_bytes);
  } catch (const SimulationError& why) {
    throw InputError(Origin{c.measured}, "metadata", fmt::format("the run's settings cannot be simulated: {}", why.what()));
  }
}

}  // namespace

TimelineDiff diff_timelines(const Schedule& s, const Timeline& measured, const Timeline& simulated) {
  TimelineDiff d;
  std::map<std::string, ErrorStats> kinds;
  std::vector<std::string> kind_order;
  d.compute.kind = "compute";
  d.attention.kind = "attention blocks";
  d.transfer.kind = "transfer";
  for (int r = 0; r < s.ranks(); ++r) {
    const auto& ops = s.programs[static_cast<std::size_t>(r)].ops;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const Op& op = ops[i];
      if (op.kind() == OpKind::recv) continue;  // a message counts once, at its Send
      const OpId id{r, static_cast<int>(i)};
      const double meas = (measured.at(id).end - measured.at(id).start).seconds().value();
      const double simd = (simulated.at(id).end - simulated.at(id).start).seconds().value();
      const std::string k = kind_of(op);
      auto [it, fresh] = kinds.try_emplace(k);
      if (fresh) {
        it->second.kind = k;
        kind_order.push_back(k);
      }
      const ComputeOp* cop = op.compute();
      const bool block = cop != nullptr && (cop->kind == ComputeKind::attention_forward ||
                                            cop->kind == ComputeKind::attention_backward);
      ErrorStats* groups[3] = {&it->second,
                               op.kind() == OpKind::compute ? &d.compute
                               : op.kind() == OpKind::send  ? &d.transfer
                                                            : nullptr,
                               block ? &d.attention : nullptr};
      for (ErrorStats* g : groups) {
        if (g == nullptr) continue;
        ++g->ops;
        g->measured_s += meas;
        g->simulated_s += simd;
        if (meas > 0) g->errors.push_back(simd / meas - 1.0);
        else ++g->skipped;
      }
    }
  }
  for (const auto& k : kind_order) {
    ErrorStats st = kinds[k];
    finish_stats(st);
    d.by_kind.push_back(std::move(st));
  }
  finish_stats(d.compute);
  finish_stats(d.attention);
  finish_stats(d.transfer);
  d.makespan_measured_s = measured.makespan.seconds().value();
  d.makespan_simulated_s = simulated.makespan.seconds().value();
  d.compute_busy_measured_s = measured.max_compute_busy().seconds().value();
  d.compute_busy_simulated_s = simulated.max_compute_busy().seconds().value();
  return d;
}

CaseReport validate_case(const ValidationCase& c, const ValidationOptions& o) {
  CaseReport rep;
  rep.c = c;
  const nlohmann::json doc = parse_trace(read_text(c.measured, "--measured"), c.measured);
  rep.meta = trace_metadata(doc, c.measured);
  const TraceMetadata& meta = rep.meta;

  // The scenario as the run saw it.
  if (c.scenario.empty()) throw InputError(Origin{"command line"}, "--scenario", "needs the scenario file the run used");
  Scenario scenario = resolve(load_spec_with_overrides(c.scenario, meta.run.overrides));
  Calibration cal = scenario.calibration;
  if (!c.calibrations.empty()) {
    Calibration merged;  // defaults, then each file in order
    for (const auto& path : c.calibrations) {
      read_text(path, "--calibration");  // a clear error for a missing file
      apply_calibration_file(merged, path);
    }
    cal = std::move(merged);
  }

  const auto mech = parse_mechanism(meta.mechanism);
  if (!mech) throw InputError(Origin{c.measured}, "metadata.mechanism", fmt::format("unknown mechanism '{}'", meta.mechanism));
  const auto pass = parse_pass(meta.pass);
  if (!pass) throw InputError(Origin{c.measured}, "metadata.pass", fmt::format("unknown pass '{}'", meta.pass));
  BuildOptions b;
  b.shape = scenario.shape;
  b.ranks = meta.ranks;
  b.media_items = scenario.frames;
  b.accumulator_bytes = meta.run.accumulator_bytes.value_or(scenario.accumulator_bytes());
  Schedule s;
  {  // P is the trace's: refuse a run this machine cannot hold before building it
    Cluster as_traced = scenario.cluster;
    as_traced.nodes = 1;
    as_traced.gpus_per_node = b.ranks;
    check_event_run_fits(as_traced, *mech, *pass);
  }
  try {
    s = build_schedule(*mech, *pass, b);
  } catch (const InfeasibleSchedule& why) {
    throw InputError(Origin{c.measured}, "metadata.mechanism", why.what());
  }
  const Timeline measured = read_chrome_trace(doc, s, c.measured);

  // The GPU: --gpu, else the preset of the device the run names, else the scenario's.
  Timeline simulated;
  try {
    simulated = simulate_like_run(s, scenario, cal, c, o, b.accumulator_bytes, rep);
  } catch (const ClockOverflow& why) {
    throw InputError(Origin{c.measured}, "metadata",
                     fmt::format("the run this trace records cannot be simulated on the event engine's clock: {}",
                                 why.what()));
  }
  rep.diff = diff_timelines(s, measured, simulated);
  if (!(rep.diff.makespan_measured_s > 0)) throw InputError(Origin{c.measured}, "traceEvents", "the measured makespan is 0");
  if (o.keep_simulated) {
    rep.schedule = std::move(s);
    rep.simulated = std::move(simulated);
  }
  return rep;
}

std::vector<CaseReport> validate_cases(const std::vector<ValidationCase>& cases, const ValidationOptions& options) {
  ProblemList problems;
  std::vector<CaseReport> reports;
  for (const auto& c : cases) problems.check([&] { reports.push_back(validate_case(c, options)); });
  problems.throw_if_any();
  return reports;
}

SetSummary summarize_set(const std::vector<CaseReport>& reps) {
  SetSummary s;
  s.cases = static_cast<int>(reps.size());
  std::vector<double> per_case, spans, per_case_attention;
  std::map<std::string, ErrorStats> pooled;
  std::vector<std::string> order;
  ErrorStats all_compute;
  for (const auto& r : reps) {
    per_case.push_back(r.diff.compute.median_abs);
    per_case_attention.push_back(r.diff.attention.median_abs);
    spans.push_back(std::abs(r.diff.makespan_error()));
    all_compute.errors.insert(all_compute.errors.end(), r.diff.compute.errors.begin(), r.diff.compute.errors.end());
    for (const auto& k : r.diff.by_kind) {
      auto [it, fresh] = pooled.try_emplace(k.kind);
      if (fresh) {
        it->second.kind = k.kind;
        order.push_back(k.kind);
      }
      it->second.ops += k.ops;
      it->second.skipped += k.skipped;
      it->second.measured_s += k.measured_s;
      it->second.simulated_s += k.simulated_s;
      it->second.errors.insert(it->second.errors.end(), k.errors.begin(), k.errors.end());
    }
  }
  finish_stats(all_compute);
  s.compute_pooled_median_abs = all_compute.median_abs;
  s.compute_median_abs = median_of(per_case);
  s.attention_median_abs = median_of(per_case_attention);
  s.makespan_median_abs = median_of(spans);
  s.makespan_max_abs = spans.empty() ? 0.0 : *std::max_element(spans.begin(), spans.end());
  for (const auto& k : order) {
    ErrorStats st = pooled[k];
    finish_stats(st);
    s.by_kind.push_back(std::move(st));
  }
  s.goals_met = s.cases >= goal_min_cases && 100 * s.compute_median_abs <= goal_compute_pct &&
                100 * s.makespan_median_abs <= goal_makespan_pct;
  return s;
}


}  // namespace xattn::sim
