// `xattn validate`: the simulator against measured runs (issue 6, docs/validation.md).
// Options are parsed here and the report printed; reading the traces, rebuilding and
// simulating each run, the op-by-op comparison and the set's summary are sim/validation.hpp.
//
// `xattn validate --scenario S --measured-kineto TRACE...` (issue 19, docs/kineto.md §7):
// the training step the scenario describes, estimated in closed form, beside the step
// PyTorch profiler traces measured, phase by phase. Reading the traces is
// model/calib/kineto.hpp; the comparison sim/kineto_compare.hpp.
//
// Exit codes: 0 compared (whether or not the goals are met); 2 bad input (a file missing,
// a trace that does not match its schedule, a bad set file, a malformed profiler trace).
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/app.hpp"
#include "cli/command.hpp"
#include "cli/output.hpp"
#include "model/calib/kineto.hpp"
#include "model/core/error.hpp"
#include "model/scenario/calibration_file.hpp"
#include "model/scenario/scenario_file.hpp"
#include "model/schedule/trace.hpp"
#include "sim/kineto_compare.hpp"
#include "sim/validation.hpp"

namespace xattn::cli {
namespace {

using sim::CaseReport;
using sim::ErrorStats;
using sim::SetSummary;
using sim::TimelineDiff;
using sim::goal_compute_pct;
using sim::goal_makespan_pct;
using sim::goal_min_cases;

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
  std::vector<std::string> kineto;  // --measured-kineto: profiler traces, one per rank
  std::vector<std::string> sets;    // --set KEY=VALUE (with --measured-kineto)
};

// How a report names what the run used.
std::string transport_of(const CaseReport& r) { return std::string(to_string(r.meta.run.transport)); }
std::string placement_of(const CaseReport& r) {
  return r.meta.run.placement ? std::string(to_string(*r.meta.run.placement)) : std::string();
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
                                {"mechanism", r.meta.mechanism},
                                {"pass", r.meta.pass},
                                {"P", r.meta.ranks},
                                {"transport", transport_of(r)},
                                {"compute_placement", placement_of(r)},
                                {"device", r.meta.run.device},
                                {"gpu_preset", r.gpu_preset},
                                {"link_latency_us", r.link_latency_us},
                                {"link_bandwidth_GBps", r.link_bandwidth_GBps},
                                {"link_from", std::string(to_string(r.link_source))},
                                {"pair_links", r.fifo_pairs ? "fifo" : "shared"},
                                {"makespan_measured_us", r.diff.makespan_measured_s * 1e6},
                                {"makespan_simulated_us", r.diff.makespan_simulated_s * 1e6},
                                {"makespan_error_pct", 100 * r.diff.makespan_error()},
                                {"compute_busy_measured_us", r.diff.compute_busy_measured_s * 1e6},
                                {"compute_busy_simulated_us", r.diff.compute_busy_simulated_s * 1e6},
                                {"compute", stats_json(r.diff.compute)},
                                {"attention", stats_json(r.diff.attention)},
                                {"transfer", stats_json(r.diff.transfer)}};
    c["by_kind"] = nlohmann::ordered_json::array();
    for (const auto& k : r.diff.by_kind) c["by_kind"].push_back(stats_json(k));
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
  return j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
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
    const TimelineDiff& d = r.diff;
    fmt::format_to(out, "# xattn validate: {} {} P={} measured in {}\n", r.meta.mechanism, r.meta.pass, r.meta.ranks,
                   r.c.measured);
    fmt::format_to(out, "# simulated on {} ({} preset), {} transport, {} compute; link {:.2f} us + {:.2f} GB/s (from the {}), "
                   "a pair's messages {}\n",
                   r.meta.run.device.empty() ? "?" : r.meta.run.device, r.gpu_preset, transport_of(r),
                   placement_of(r).empty() ? "?" : placement_of(r), r.link_latency_us, r.link_bandwidth_GBps,
                   to_string(r.link_source), r.fifo_pairs ? "one after the other" : "sharing the link");
    kind_rows(b, d.by_kind, &d.compute, &d.attention, &d.transfer);
    fmt::format_to(out, "# {:>20} {:>7} {:>12} {:>12} {:>10}\n", "", "", "measured", "simulated", "error");
    fmt::format_to(out, "# {:>20} {:>7} {:>12} {:>12} {:>10}\n", "", "", "(us)", "(us)", "(%)");
    fmt::format_to(out, "  {:>20} {:>7} {:>12.2f} {:>12.2f} {:>+10.2f}\n", "makespan", 1, d.makespan_measured_s * 1e6,
                   d.makespan_simulated_s * 1e6, 100 * d.makespan_error());
    fmt::format_to(out, "  {:>20} {:>7} {:>12.2f} {:>12.2f} {:>+10.2f}\n", "busiest compute", 1, d.compute_busy_measured_s * 1e6,
                   d.compute_busy_simulated_s * 1e6, 100 * (d.compute_busy_simulated_s / d.compute_busy_measured_s - 1));
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
    const TimelineDiff& d = r.diff;
    fmt::format_to(out, "  {:>4} {:>12} {:>7} {:>3} {:>9} {:>10.2f} {:>10.2f} {:>10.2f} {:>12.2f} {:>12.2f} {:>+9.2f}  {}\n", i + 1,
                   r.meta.mechanism, r.meta.pass, r.meta.ranks, d.compute.ops, 100 * d.compute.median_abs,
                   100 * d.compute.max_abs, 100 * d.transfer.median_abs, d.makespan_measured_s * 1e6,
                   d.makespan_simulated_s * 1e6, 100 * d.makespan_error(),
                   std::filesystem::path(r.c.measured).filename().string());
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

// ---- --measured-kineto: the closed form's step beside a profiler's ----------------------

std::string ms_or_dash(const std::optional<double>& v) { return v ? fmt::format("{:.3f}", *v * 1e3) : std::string("-"); }

std::string render_step_json(const ValidateOptions& o, const sim::StepComparison& c, const MeasuredStep& m) {
  nlohmann::ordered_json j;
  j["scenario"] = o.scenario;
  j["measured_kineto"] = o.kineto;
  j["engine"] = "analytic";
  j["cross_attention"] = c.cross_attention;
  j["self_attention"] = c.self_attention;
  j["micro_steps"] = c.micro_steps;
  j["ranks"] = m.ranks;
  j["steps_per_rank"] = m.steps;
  j["rows"] = nlohmann::ordered_json::array();
  for (const sim::ComparedPhase& r : c.rows) {
    nlohmann::ordered_json row = {{"phase", r.phase},
                                  {"measured_s", r.measured_s ? nlohmann::ordered_json(*r.measured_s) : nlohmann::ordered_json(nullptr)},
                                  {"predicted_s", r.predicted_s ? nlohmann::ordered_json(*r.predicted_s) : nlohmann::ordered_json(nullptr)},
                                  {"error", r.error() ? nlohmann::ordered_json(*r.error()) : nlohmann::ordered_json(nullptr)}};
    if (!r.matched()) row["why"] = r.why.empty() ? std::string("one side is zero") : r.why;
    j["rows"].push_back(std::move(row));
  }
  j["matched"] = c.matched;
  j["median_abs_error"] = c.median_abs_error;
  j["max_abs_error"] = c.max_abs_error;
  j["max_phase"] = c.max_phase;
  nlohmann::ordered_json notes = c.notes;
  for (const std::string& n : m.notes) notes.push_back(n);
  j["notes"] = std::move(notes);
  return j.dump(1) + "\n";
}

std::string render_step_table(const ValidateOptions& o, const sim::StepComparison& c, const MeasuredStep& m) {
  fmt::memory_buffer b;
  auto out = std::back_inserter(b);
  fmt::format_to(out, "# xattn validate: the step of {} (closed form; cross-attention {}, self-attention {}) against\n",
                 o.scenario, c.cross_attention, c.self_attention);
  fmt::format_to(out, "# {} profiler trace(s), {} step(s) each{}; per optimizer step, median over steps and ranks\n",
                 m.ranks, m.steps, m.device.empty() ? "" : ", " + m.device);
  fmt::format_to(out, "# {:>34} {:>11} {:>11} {:>9}\n", "phase", "measured", "predicted", "error");
  fmt::format_to(out, "# {:>34} {:>11} {:>11} {:>9}\n", "", "(ms)", "(ms)", "(%)");
  for (const sim::ComparedPhase& r : c.rows) {
    const auto e = r.error();
    fmt::format_to(out, "  {:>34} {:>11} {:>11} {:>9}\n", r.phase, ms_or_dash(r.measured_s), ms_or_dash(r.predicted_s),
                   e ? fmt::format("{:+.1f}", 100 * *e) : std::string("-"));
  }
  fmt::format_to(out, "# {} phases matched: median |error| {:.1f}%, max {:.1f}%{}\n", c.matched, 100 * c.median_abs_error,
                 100 * c.max_abs_error, c.max_phase.empty() ? "" : " (" + c.max_phase + ")");
  for (const sim::ComparedPhase& r : c.rows)
    if (!r.matched() && !r.why.empty()) fmt::format_to(out, "# not matched: {}: {}\n", r.phase, r.why);
  for (const std::string& n : c.notes) fmt::format_to(out, "# note: {}\n", n);
  for (const std::string& n : m.notes) fmt::format_to(out, "# note: {}\n", n);
  return fmt::to_string(b);
}

int run_validate_kineto(const ValidateOptions& o, Io& io) {
  ProblemList problems;
  if (o.scenario.empty())
    problems.add(Problem{Origin{"command line"}, "--scenario", "--measured-kineto compares with a scenario: give --scenario"});
  if (!o.measured.empty() || !o.set_file.empty())
    problems.add(Problem{Origin{"command line"}, "--measured-kineto",
                         "compares profiler traces with a scenario's step; --measured and --set-file compare "
                         "`xattn run` traces: give one or the other"});
  if (!o.simulated_trace.empty())
    problems.add(Problem{Origin{"command line"}, "--simulated-trace", "not available with --measured-kineto"});
  if (!o.out_path.empty()) problems.check([&] { check_output_path(o.out_path, "--out"); });
  problems.throw_if_any();
  Scenario s;
  std::vector<KinetoTrace> traces;
  problems.check([&] {
    s = load_scenario(o.scenario, o.sets);
    for (const std::string& c : o.calibrations) apply_calibration_file(s.calibration, c);
  });
  problems.check([&] { traces = read_kineto_traces(o.kineto); });
  problems.throw_if_any();
  const MeasuredStep m = measured_step(traces);
  const sim::StepComparison c = sim::compare_step(s, m);
  const std::string json = render_step_json(o, c, m);
  if (!o.out_path.empty()) write_file_atomically(o.out_path, json);
  io.out << (o.format == "json" ? json : render_step_table(o, c, m)) << std::flush;
  return exit_ok;
}

int run_validate(const ValidateOptions& o, Io& io) {
  if (!o.kineto.empty()) return run_validate_kineto(o, io);
  ProblemList problems;
  if (!o.sets.empty())
    problems.add(Problem{Origin{"command line"}, "--set", "--set overrides the scenario of --measured-kineto only"});
  if (!o.out_path.empty()) problems.check([&] { check_output_path(o.out_path, "--out"); });
  std::vector<ValidationCase> cases;
  if (!o.set_file.empty()) problems.check([&] { cases = read_validation_set(o.set_file, o.scenario); });
  for (const auto& path : o.measured) cases.push_back(ValidationCase{path, o.scenario, o.calibrations});
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
  sim::ValidationOptions options;
  options.gpu = o.gpu;
  options.link_from = o.link_from == "trace" ? sim::LinkFrom::trace : sim::LinkFrom::calibration;
  options.keep_simulated = !o.simulated_trace.empty();
  const std::vector<CaseReport> reps = sim::validate_cases(cases, options);
  std::string trace;
  if (!o.simulated_trace.empty()) {
    const CaseReport& r = reps.front();
    trace = chrome_trace_json(r.schedule, r.simulated, TraceInfo{r.c.scenario, "event"});
  }
  const SetSummary sum = sim::summarize_set(reps);
  const std::string json = render_json(reps, sum);
  write_files_atomically({{o.simulated_trace, trace}, {o.out_path, json}});
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
  sub->add_option("--measured-kineto", o->kineto,
                  "PyTorch profiler traces (one per rank, plain or .gz, or a folder of them): the scenario's whole training step\n"
                  "against the step they measured, phase by phase (docs/kineto.md)")
      ->type_name("TRACE");
  sub->add_option("--set", o->sets, "With --measured-kineto: override a scenario key, KEY=VALUE (repeatable)")
      ->type_name("KEY=VALUE");
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
      "  xattn validate --set-file cases.yaml --format json --out report.json\n"
      "  xattn validate --scenario my-run.yaml --measured-kineto rank0.pt.trace.json.gz rank1.pt.trace.json.gz");
  commands.add(sub, [o](Io& io) { return run_validate(*o, io); });
}

}  // namespace xattn::cli
