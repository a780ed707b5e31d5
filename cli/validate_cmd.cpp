// `xattn validate`: the simulator against measured runs (issue 6, docs/validation.md).
// For each measured trace (written by `xattn run --trace`), rebuilds the schedule it ran
// (mechanism, pass and P from its metadata; the scenario file given here with the --set
// overrides the run recorded), simulates it with the calibration given here on the machine
// the run used — the loopback cluster with every rank on one device (compute one op at a
// time: in the recorded order for one device stream, first ready first for per-rank
// streams), or the scenario's cluster for NCCL runs — and compares the two timelines op
// by op: the relative error of each compute op's duration, by kind, of each message's
// time, and of the makespan. A set of traces gets one row each and medians over the set,
// against the goals (per-op compute error <= 10% median, end-to-end <= 5% median,
// over >= 12 cases).
//
// Exit codes: 0 compared (whether or not the goals are met); 2 bad input (a file missing,
// a trace that does not match its schedule, a bad set file).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "cli/app.hpp"
#include "cli/command.hpp"
#include "cli/output.hpp"
#include "cli/scenario_input.hpp"
#include "model/core/error.hpp"
#include "model/calib/gpu_calibration.hpp"
#include "model/presets.hpp"
#include "model/schedule/builders.hpp"
#include "sim/executor.hpp"
#include "model/schedule/trace.hpp"
#include "model/scenario/scenario_file.hpp"
#include "model/scenario/calibration_file.hpp"

namespace xattn::cli {
namespace {

// The goals (docs/validation.md).
constexpr double goal_compute_pct = 10.0;
constexpr double goal_makespan_pct = 5.0;
constexpr int goal_min_cases = 12;

struct ValidateOptions {
  std::string scenario;
  std::vector<std::string> calibrations;
  std::vector<std::string> measured;
  std::string set_file;
  std::string format = "table";
  std::string out_path;
  std::string link_from = "calibration";
  std::string gpu;
  std::string simulated_trace;  // one case: also write the simulated timeline here
};

struct Case {
  std::string measured;
  std::string scenario;
  std::vector<std::string> calibrations;
};

// Errors of one group of ops (a kind, or all compute ops, or all messages).
struct ErrorStats {
  std::string kind;
  int ops = 0;
  int skipped = 0;  // measured duration 0: no relative error
  double measured_s = 0, simulated_s = 0;  // sums
  double median_abs = 0, max_abs = 0, median = 0;  // relative errors (simulated / measured - 1)
  std::vector<double> errors;
};

struct CaseReport {
  Case c;
  std::string mechanism, pass, engine, transport, placement, device, gpu_preset;
  int ranks = 0;
  double link_latency_us = 0, link_bandwidth_GBps = 0;
  std::string link_source;
  std::string pair_links = "shared";  // "fifo": a rank pair's messages one after the other
  std::vector<ErrorStats> by_kind;  // compute kinds, then "send", then collectives
  ErrorStats compute, attention, transfer;  // attention: the attention blocks among the compute ops
  double makespan_measured_s = 0, makespan_simulated_s = 0;
  double compute_busy_measured_s = 0, compute_busy_simulated_s = 0;
  std::vector<std::string> notes;
  [[nodiscard]] double makespan_error() const { return makespan_simulated_s / makespan_measured_s - 1.0; }
};

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
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw InputError(Origin{path}, field, std::filesystem::exists(path, ec) ? "not a regular file" : "no such file");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  if (!in && !in.eof()) throw InputError(Origin{path}, field, "cannot be read");
  return s.str();
}

std::string kind_of(const Op& op) {
  if (const ComputeOp* c = op.compute()) return std::string(to_string(c->kind));
  if (const CollectiveOp* c = op.collective()) return std::string(to_string(c->kind));
  return std::string(to_string(op.kind()));
}

// Simulates `s` on the machine the run used (docs/validation.md §2) and notes in `rep` what
// that machine was.
Timeline simulate_like_run(const Schedule& s, const Scenario& scenario, Calibration cal,
                                const TraceMetadata& meta, const Case& c, const ValidateOptions& o, int accumulator_bytes,
                                CaseReport& rep) {
  const RunSettings& run = meta.run;
  GpuSpec gpu = scenario.cluster.gpu;
  rep.device = run.device;
  if (!o.gpu.empty()) {
    const GpuSpec* g = find_gpu(o.gpu);
    if (g == nullptr) throw InputError(Origin{"--gpu " + o.gpu}, "gpu", fmt::format("unknown GPU preset (known: {})", gpu_names()));
    gpu = *g;
  } else if (const GpuSpec* g = gpu_preset_for_device(rep.device); g != nullptr) {
    gpu = *g;
  } else if (!rep.device.empty()) {
    rep.notes.push_back(fmt::format("no GPU preset for device '{}': the scenario's {} is used (--gpu to choose)", rep.device,
                                    gpu.name));
  }
  rep.gpu_preset = gpu.name;

  // The machine the run used.
  rep.transport = std::string(to_string(run.transport));
  rep.placement = run.placement ? std::string(to_string(*run.placement)) : std::string();
  sim::SimOptions so;
  Cluster cluster = scenario.cluster;
  cluster.gpu = gpu;
  if (run.transport == RunTransport::loopback) {
    cluster = loopback_cluster(gpu, meta.ranks,
                               LinkSpec{gigabytes_per_second(run.link_bandwidth_GBps), microseconds(run.link_latency_us)});
    if (!run.link_paced && o.link_from == "trace")
      rep.notes.push_back("the run's loopback was not paced: its recorded link figures are not what the copies took");
    // The loopback serves one rank pair's messages first come first served; the simulator
    // then does too (sim::make_fifo_pairs).
    if (run.fifo_pairs) {
      so.fifo_pairs = true;
      rep.pair_links = "fifo";
    }
    so.device_of.resize(static_cast<std::size_t>(meta.ranks));
    for (int r = 0; r < meta.ranks; ++r) so.device_of[static_cast<std::size_t>(r)] = r / std::max(1, run.ranks_per_device);
  } else if (cluster.ranks() != meta.ranks) {
    cluster.nodes = 1;  // an NCCL run of fewer ranks than the scenario: the GPUs of one node
    cluster.gpus_per_node = meta.ranks;
  }
  if (o.link_from == "trace")
    for (LinkCalibration* l : {&cal.intra_node, &cal.inter_node}) {
      l->latency.reset();
      l->bandwidth.reset();
      l->protocols.clear();
    }
  const LinkSpec link = cal.link(cluster, LinkClass::intra_node);
  rep.link_latency_us = to_microseconds(link.latency);
  rep.link_bandwidth_GBps = to_gigabytes_per_second(link.bandwidth);
  rep.link_source = cal.intra_node.latency || cal.intra_node.bandwidth ? "calibration" : "trace";
  if (!so.device_of.empty()) {
    if (run.placement == ComputePlacement::one_device_stream) {
      so.sharing = sim::DeviceSharing::in_order;
      if (run.compute_order.empty())
        throw InputError(Origin{c.measured}, "metadata.compute_order", "a one-device-stream run must record its compute order");
      so.compute_order.assign(static_cast<std::size_t>(sim::device_count(so.device_of)), {});
      for (const OpId& id : run.compute_order) {
        if (id.rank < 0 || id.rank >= meta.ranks)
          throw InputError(Origin{c.measured}, "metadata.compute_order", fmt::format("op {} is not in the schedule", id.str()));
        so.compute_order[static_cast<std::size_t>(so.device_of[static_cast<std::size_t>(id.rank)])].push_back(id);
      }
    } else {
      so.sharing = sim::DeviceSharing::fifo;
    }
  }
  try {
    return sim::simulate(s, cluster, cal, so, accumulator_bytes);
  } catch (const sim::SimulationError& why) {
    throw InputError(Origin{c.measured}, "metadata", fmt::format("the run's settings cannot be simulated: {}", why.what()));
  }

}

CaseReport validate_case(const Case& c, const ValidateOptions& o) {
  CaseReport rep;
  rep.c = c;
  const nlohmann::json doc = parse_trace(read_text(c.measured, "--measured"), c.measured);
  const TraceMetadata meta = trace_metadata(doc, c.measured);
  rep.mechanism = meta.mechanism;
  rep.pass = meta.pass;
  rep.ranks = meta.ranks;
  rep.engine = meta.engine;

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
  try {
    s = build_schedule(*mech, *pass, b);
  } catch (const InfeasibleSchedule& why) {
    throw InputError(Origin{c.measured}, "metadata.mechanism", why.what());
  }
  const Timeline measured = read_chrome_trace(doc, s, c.measured);

  // The GPU: --gpu, else the preset of the device the run names, else the scenario's.
  const Timeline simulated = simulate_like_run(s, scenario, cal, meta, c, o, b.accumulator_bytes, rep);
  if (!o.simulated_trace.empty())
    write_file_atomically(o.simulated_trace, chrome_trace_json(s, simulated, TraceInfo{c.scenario, "event"}));
  // Op by op.
  std::map<std::string, ErrorStats> kinds;
  std::vector<std::string> kind_order;
  rep.compute.kind = "compute";
  rep.attention.kind = "attention blocks";
  rep.transfer.kind = "transfer";
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
                               op.kind() == OpKind::compute ? &rep.compute
                               : op.kind() == OpKind::send  ? &rep.transfer
                                                            : nullptr,
                               block ? &rep.attention : nullptr};
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
    rep.by_kind.push_back(std::move(st));
  }
  finish_stats(rep.compute);
  finish_stats(rep.attention);
  finish_stats(rep.transfer);
  rep.makespan_measured_s = measured.makespan.seconds().value();
  rep.makespan_simulated_s = simulated.makespan.seconds().value();
  rep.compute_busy_measured_s = measured.max_compute_busy().seconds().value();
  rep.compute_busy_simulated_s = simulated.max_compute_busy().seconds().value();
  if (!(rep.makespan_measured_s > 0)) throw InputError(Origin{c.measured}, "traceEvents", "the measured makespan is 0");
  return rep;
}

// ---- the set file --------------------------------------------------------------------

// `scenario`: the command line's --scenario, used where the set file names none.
std::vector<Case> read_set_file(const std::string& path, const std::string& scenario) {
  read_text(path, "--set-file");
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw InputError(Origin{path, e.mark.line + 1, e.mark.column + 1}, "", e.msg);
  }
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  auto at = [&](const YAML::Node& n) { return Origin{path, n.Mark().line + 1, n.Mark().column + 1}; };
  auto rel = [&](const std::string& p) { return std::filesystem::path(p).is_absolute() ? p : (dir / p).string(); };
  auto files = [&](const YAML::Node& n, const std::string& field) {
    std::vector<std::string> out;
    if (!n) return out;
    if (n.IsScalar()) out.push_back(rel(n.as<std::string>()));
    else if (n.IsSequence())
      for (const auto& v : n) {
        if (!v.IsScalar()) throw InputError(at(v), field, "expected a file name");
        out.push_back(rel(v.as<std::string>()));
      }
    else throw InputError(at(n), field, "expected a file name or a list of them");
    return out;
  };
  if (!root.IsMap()) throw InputError(Origin{path}, "", "expected a mapping with `cases:` (docs/validation.md)");
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string key = it->first.as<std::string>();
    if (key != "scenario" && key != "calibration" && key != "cases")
      throw InputError(at(it->first), key, "unknown field; known keys: scenario, calibration, cases");
  }
  const std::vector<std::string> scen = files(root["scenario"], "scenario");
  if (scen.size() > 1) throw InputError(at(root["scenario"]), "scenario", "one scenario file");
  const std::vector<std::string> cals = files(root["calibration"], "calibration");
  const YAML::Node cases = root["cases"];
  if (!cases || !cases.IsSequence() || cases.size() == 0)
    throw InputError(cases ? at(cases) : Origin{path}, "cases", "expected a non-empty list of measured traces");
  std::vector<Case> out;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const YAML::Node n = cases[i];
    const std::string field = fmt::format("cases[{}]", i);
    Case c{"", scen.empty() ? scenario : scen.front(), cals};
    if (n.IsScalar()) {
      c.measured = rel(n.as<std::string>());
    } else if (n.IsMap()) {
      for (auto it = n.begin(); it != n.end(); ++it) {
        const std::string key = it->first.as<std::string>();
        if (key != "measured" && key != "scenario" && key != "calibration")
          throw InputError(at(it->first), field + "." + key, "unknown field; known keys: measured, scenario, calibration");
      }
      if (!n["measured"] || !n["measured"].IsScalar()) throw InputError(at(n), field + ".measured", "missing: the trace file");
      c.measured = rel(n["measured"].as<std::string>());
      if (n["scenario"]) c.scenario = files(n["scenario"], field + ".scenario").front();
      if (n["calibration"]) c.calibrations = files(n["calibration"], field + ".calibration");
    } else {
      throw InputError(at(n), field, "expected a trace file name or a mapping with measured:");
    }
    if (c.scenario.empty()) throw InputError(at(n), field + ".scenario", "no scenario: give one for the case, for the set or with --scenario");
    out.push_back(std::move(c));
  }
  return out;
}

// ---- output ----------------------------------------------------------------------------

struct SetSummary {
  int cases = 0;
  double compute_median_abs = 0;   // median over the cases of each case's median |error|
  double compute_pooled_median_abs = 0;  // median |error| over every compute op of every case
  double attention_median_abs = 0;       // median over the cases of the attention blocks' median |error|
  double makespan_median_abs = 0, makespan_max_abs = 0;
  std::vector<ErrorStats> by_kind;  // pooled over the cases
  bool goals_met = false;
};

SetSummary summarize_set(const std::vector<CaseReport>& reps) {
  SetSummary s;
  s.cases = static_cast<int>(reps.size());
  std::vector<double> per_case, spans, per_case_attention;
  std::map<std::string, ErrorStats> pooled;
  std::vector<std::string> order;
  ErrorStats all_compute;
  for (const auto& r : reps) {
    per_case.push_back(r.compute.median_abs);
    per_case_attention.push_back(r.attention.median_abs);
    spans.push_back(std::abs(r.makespan_error()));
    all_compute.errors.insert(all_compute.errors.end(), r.compute.errors.begin(), r.compute.errors.end());
    for (const auto& k : r.by_kind) {
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

nlohmann::ordered_json stats_json(const ErrorStats& s) {
  return {{"kind", s.kind},
          {"ops", s.ops},
          {"ops_without_error", s.skipped},
          {"measured_sum_us", s.measured_s * 1e6},
          {"simulated_sum_us", s.simulated_s * 1e6},
          {"median_abs_error_pct", 100 * s.median_abs},
          {"max_abs_error_pct", 100 * s.max_abs},
          {"median_error_pct", 100 * s.median}};
}

std::string render_json(const std::vector<CaseReport>& reps, const SetSummary& sum) {
  nlohmann::ordered_json j;
  j["cases"] = nlohmann::ordered_json::array();
  for (const auto& r : reps) {
    nlohmann::ordered_json c = {{"measured_file", r.c.measured},
                                {"scenario_file", r.c.scenario},
                                {"calibration_files", r.c.calibrations},
                                {"mechanism", r.mechanism},
                                {"pass", r.pass},
                                {"P", r.ranks},
                                {"transport", r.transport},
                                {"compute_placement", r.placement},
                                {"device", r.device},
                                {"gpu_preset", r.gpu_preset},
                                {"link_latency_us", r.link_latency_us},
                                {"link_bandwidth_GBps", r.link_bandwidth_GBps},
                                {"link_from", r.link_source},
                                {"pair_links", r.pair_links},
                                {"makespan_measured_us", r.makespan_measured_s * 1e6},
                                {"makespan_simulated_us", r.makespan_simulated_s * 1e6},
                                {"makespan_error_pct", 100 * r.makespan_error()},
                                {"compute_busy_measured_us", r.compute_busy_measured_s * 1e6},
                                {"compute_busy_simulated_us", r.compute_busy_simulated_s * 1e6},
                                {"compute", stats_json(r.compute)},
                                {"attention", stats_json(r.attention)},
                                {"transfer", stats_json(r.transfer)}};
    c["by_kind"] = nlohmann::ordered_json::array();
    for (const auto& k : r.by_kind) c["by_kind"].push_back(stats_json(k));
    c["notes"] = r.notes;
    j["cases"].push_back(std::move(c));
  }
  nlohmann::ordered_json s = {{"cases", sum.cases},
                              {"compute_median_abs_error_pct", 100 * sum.compute_median_abs},
                              {"compute_pooled_median_abs_error_pct", 100 * sum.compute_pooled_median_abs},
                              {"attention_median_abs_error_pct", 100 * sum.attention_median_abs},
                              {"makespan_median_abs_error_pct", 100 * sum.makespan_median_abs},
                              {"makespan_max_abs_error_pct", 100 * sum.makespan_max_abs},
                              {"goal_compute_median_abs_error_pct", goal_compute_pct},
                              {"goal_makespan_median_abs_error_pct", goal_makespan_pct},
                              {"goal_min_cases", goal_min_cases},
                              {"goals_met", sum.goals_met}};
  s["by_kind"] = nlohmann::ordered_json::array();
  for (const auto& k : sum.by_kind) s["by_kind"].push_back(stats_json(k));
  j["summary"] = std::move(s);
  return j.dump(1) + "\n";
}

void kind_rows(fmt::memory_buffer& b, const std::vector<ErrorStats>& rows, const ErrorStats* compute,
               const ErrorStats* attention, const ErrorStats* transfer) {
  auto out = std::back_inserter(b);
  fmt::format_to(out, "# {:>20} {:>7} {:>12} {:>12} {:>10} {:>10} {:>10}\n", "kind", "ops", "measured", "simulated",
                 "med|err|", "max|err|", "med err");
  fmt::format_to(out, "# {:>20} {:>7} {:>12} {:>12} {:>10} {:>10} {:>10}\n", "", "", "(us, sum)", "(us, sum)", "(%)", "(%)",
                 "(%)");
  auto row = [&](const ErrorStats& s) {
    fmt::format_to(out, "  {:>20} {:>7} {:>12.2f} {:>12.2f} {:>10.2f} {:>10.2f} {:>+10.2f}\n", s.kind, s.ops,
                   s.measured_s * 1e6, s.simulated_s * 1e6, 100 * s.median_abs, 100 * s.max_abs, 100 * s.median);
  };
  for (const auto& s : rows) row(s);
  if (compute != nullptr) row(*compute);
  if (attention != nullptr && attention->ops > 0) row(*attention);
  if (transfer != nullptr && transfer->ops > 0) row(*transfer);
}

std::string render_table(const std::vector<CaseReport>& reps, const SetSummary& sum) {
  fmt::memory_buffer b;
  auto out = std::back_inserter(b);
  if (reps.size() == 1) {
    const CaseReport& r = reps.front();
    fmt::format_to(out, "# xattn validate: {} {} P={} measured in {}\n", r.mechanism, r.pass, r.ranks, r.c.measured);
    fmt::format_to(out, "# simulated on {} ({} preset), {} transport, {} compute; link {:.2f} us + {:.2f} GB/s (from the {}), "
                   "a pair's messages {}\n",
                   r.device.empty() ? "?" : r.device, r.gpu_preset, r.transport, r.placement.empty() ? "?" : r.placement,
                   r.link_latency_us, r.link_bandwidth_GBps, r.link_source,
                   r.pair_links == "fifo" ? "one after the other" : "sharing the link");
    kind_rows(b, r.by_kind, &r.compute, &r.attention, &r.transfer);
    fmt::format_to(out, "# {:>20} {:>7} {:>12} {:>12} {:>10}\n", "", "", "measured", "simulated", "error");
    fmt::format_to(out, "# {:>20} {:>7} {:>12} {:>12} {:>10}\n", "", "", "(us)", "(us)", "(%)");
    fmt::format_to(out, "  {:>20} {:>7} {:>12.2f} {:>12.2f} {:>+10.2f}\n", "makespan", 1, r.makespan_measured_s * 1e6,
                   r.makespan_simulated_s * 1e6, 100 * r.makespan_error());
    fmt::format_to(out, "  {:>20} {:>7} {:>12.2f} {:>12.2f} {:>+10.2f}\n", "busiest compute", 1, r.compute_busy_measured_s * 1e6,
                   r.compute_busy_simulated_s * 1e6, 100 * (r.compute_busy_simulated_s / r.compute_busy_measured_s - 1));
    for (const auto& n : r.notes) fmt::format_to(out, "# note: {}\n", n);
    return fmt::to_string(b);
  }
  fmt::format_to(out, "# xattn validate: {} cases\n", reps.size());
  fmt::format_to(out, "# {:>4} {:>12} {:>7} {:>3} {:>9} {:>10} {:>10} {:>10} {:>12} {:>12} {:>9}  {}\n", "case", "mechanism",
                 "pass", "P", "ops", "compute", "compute", "transfer", "makespan", "makespan", "makespan", "trace");
  fmt::format_to(out, "# {:>4} {:>12} {:>7} {:>3} {:>9} {:>10} {:>10} {:>10} {:>12} {:>12} {:>9}  {}\n", "", "", "", "",
                 "(compute)", "med|err|%", "max|err|%", "med|err|%", "meas (us)", "sim (us)", "err (%)", "");
  for (std::size_t i = 0; i < reps.size(); ++i) {
    const CaseReport& r = reps[i];
    fmt::format_to(out, "  {:>4} {:>12} {:>7} {:>3} {:>9} {:>10.2f} {:>10.2f} {:>10.2f} {:>12.2f} {:>12.2f} {:>+9.2f}  {}\n", i + 1,
                   r.mechanism, r.pass, r.ranks, r.compute.ops, 100 * r.compute.median_abs, 100 * r.compute.max_abs,
                   100 * r.transfer.median_abs, r.makespan_measured_s * 1e6, r.makespan_simulated_s * 1e6,
                   100 * r.makespan_error(), std::filesystem::path(r.c.measured).filename().string());
  }
  fmt::format_to(out, "# by kind, every op of every case:\n");
  kind_rows(b, sum.by_kind, nullptr, nullptr, nullptr);
  fmt::format_to(out, "# compute ops: median over the cases of each case's median |error| {:.2f}% (goal <= {:.0f}%); "
                      "over all ops {:.2f}%\n",
                 100 * sum.compute_median_abs, goal_compute_pct, 100 * sum.compute_pooled_median_abs);
  fmt::format_to(out, "# attention blocks alone: median over the cases {:.2f}%\n", 100 * sum.attention_median_abs);
  fmt::format_to(out, "# makespan: median |error| {:.2f}% (goal <= {:.0f}%), max {:.2f}%\n", 100 * sum.makespan_median_abs,
                 goal_makespan_pct, 100 * sum.makespan_max_abs);
  fmt::format_to(out, "# goals ({} cases or more): {}\n", goal_min_cases, sum.goals_met ? "met" : "not met");
  for (std::size_t i = 0; i < reps.size(); ++i)
    for (const auto& n : reps[i].notes) fmt::format_to(out, "# note (case {}): {}\n", i + 1, n);
  return fmt::to_string(b);
}

int run_validate(const ValidateOptions& o, Io& io) {
  ProblemList problems;
  if (!o.out_path.empty()) problems.check([&] { check_output_path(o.out_path, "--out"); });
  std::vector<Case> cases;
  if (!o.set_file.empty()) problems.check([&] { cases = read_set_file(o.set_file, o.scenario); });
  for (const auto& path : o.measured) cases.push_back(Case{path, o.scenario, o.calibrations});
  if (cases.empty() && problems.empty())
    problems.add(Problem{Origin{"command line"}, "--measured", "give a measured trace (--measured) or a set (--set-file)"});
  if (!o.simulated_trace.empty()) {
    if (cases.size() != 1)
      problems.add(Problem{Origin{"--simulated-trace " + o.simulated_trace}, "simulated-trace",
                           "writes the simulated timeline of one case: give one --measured trace"});
    problems.check([&] { check_output_path(o.simulated_trace, "--simulated-trace"); });
  }
  problems.throw_if_any();
  // Command-line --scenario / --calibration win over a set file's own.
  if (!o.set_file.empty())
    for (auto& c : cases) {
      if (!o.scenario.empty()) c.scenario = o.scenario;
      if (!o.calibrations.empty()) c.calibrations = o.calibrations;
    }
  std::vector<CaseReport> reps;
  for (const auto& c : cases) problems.check([&] { reps.push_back(validate_case(c, o)); });
  problems.throw_if_any();
  const SetSummary sum = summarize_set(reps);
  const std::string json = render_json(reps, sum);
  if (!o.out_path.empty()) write_file_atomically(o.out_path, json);
  io.out << (o.format == "json" ? json : render_table(reps, sum)) << std::flush;
  return exit_ok;
}

}  // namespace

void add_validate(CLI::App& app, Commands& commands) {
  auto o = std::make_shared<ValidateOptions>();
  CLI::App* sub = app.add_subcommand("validate", "Compare measured runs (xattn run --trace) with the simulator, op by op");
  sub->add_option("--scenario", o->scenario, "The scenario file the runs used (their --set overrides are in the traces)")
      ->type_name("FILE");
  sub->add_option("--calibration", o->calibrations,
                  "Calibration file(s) to simulate with, merged in order (default: the scenario's)")
      ->type_name("FILE");
  sub->add_option("--measured", o->measured, "Measured trace(s) from `xattn run --trace`; several make a set")
      ->type_name("FILE.json");
  sub->add_option("--simulated-trace", o->simulated_trace,
                  "One case: also write the simulated run as Chrome-trace JSON, op ids as in the measured one")
      ->type_name("FILE.json");
  sub->add_option("--set-file", o->set_file, "A YAML list of cases (docs/validation.md)")->type_name("FILE.yaml");
  sub->add_option("-f,--format", o->format, "Output: table (default) or json")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"table", "json"}));
  sub->add_option("-o,--out", o->out_path, "Also write the JSON report here")->type_name("FILE");
  sub->add_option("--link-from", o->link_from,
                  "Loopback link figures: calibration (default: the calibration's intra_node link where it sets\n"
                  "one, else the figures the run recorded) or trace (always the recorded ones)")
      ->type_name("SOURCE")
      ->check(CLI::IsMember({"calibration", "trace"}));
  sub->add_option("--gpu", o->gpu, "GPU preset to simulate (default: the one matching the trace's device name)")
      ->type_name("PRESET");
  sub->footer(
      "Example:\n"
      "  xattn validate --scenario scenarios/llama32v-16xa100.yaml --calibration h100.yaml --measured lv-fwd.json\n"
      "  xattn validate --set-file cases.yaml --format json --out report.json");
  commands.add(sub, [o](Io& io) { return run_validate(*o, io); });
}

}  // namespace xattn::cli
