// `xattn import kineto TRACE... [--out CALIB.yaml] [--format table|json]`: reads PyTorch
// profiler traces (one per rank, plain or gzip), prints what their GPU kernels did per
// class (count, time, achieved FLOP/s or bytes/s), per GEMM shape, attention call and
// collective, the step they measured, and the calibration fitted to them; with --out it
// writes that calibration (docs/kineto.md). Reading, classifying and fitting are
// model/calib/kineto*.hpp; this file parses options and prints.
//
// Exit codes: 0 read; 2 bad input (a file missing, malformed or truncated, a trace without
// GPU kernels, two traces of one rank, an unknown --gpu).
#include <algorithm>
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
#include "model/calib/kineto_fit.hpp"
#include "model/core/error.hpp"

namespace xattn::cli {
namespace {

using ojson = nlohmann::ordered_json;

struct ImportKinetoOptions {
  std::vector<std::string> traces;
  std::string out_path;
  std::string format = "table";
  std::string gpu;
  int gpus_per_node = 0;
  int nics_per_node = 0;
  int top = 10;
};

ojson optional_number(const std::optional<double>& v) { return v ? ojson(*v) : ojson(nullptr); }

ojson phase_json(const MeasuredPhase& p) {
  if (!p.present) return nullptr;
  return {{"busy_s", p.busy.value()}, {"kernel_sum_s", p.kernel_sum.value()}, {"kernels", p.kernels}};
}

ojson step_json(const MeasuredStep& m) {
  return {{"ranks", m.ranks},
          {"world_size", m.world_size},
          {"steps", m.steps},
          {"step_annotated", m.step_annotated},
          {"step_s", m.step.value()},
          {"forward_gemm", phase_json(m.fwd_gemm)},
          {"forward_attention", phase_json(m.fwd_attention)},
          {"forward_other", phase_json(m.fwd_other)},
          {"forward_compute", phase_json(m.fwd_compute)},
          {"backward_gemm", phase_json(m.bwd_gemm)},
          {"backward_attention", phase_json(m.bwd_attention)},
          {"backward_other", phase_json(m.bwd_other)},
          {"backward_compute", phase_json(m.bwd_compute)},
          {"optimizer", phase_json(m.optimizer)},
          {"communication", phase_json(m.comm)},
          {"communication_exposed_s", m.comm_exposed.value()},
          {"idle_s", m.idle.value()}};
}

std::string render_json(const std::vector<KinetoTrace>& traces, const KinetoSummary& s, const MeasuredStep& m,
                        const KinetoFit& fit) {
  ojson j;
  j["traces"] = ojson::array();
  for (const KinetoTrace& t : traces)
    j["traces"].push_back({{"file", t.source},
                           {"rank", t.rank},
                           {"rank_recorded", t.rank_known},
                           {"world_size", t.world_size},
                           {"device", t.device},
                           {"kernels", t.kernels.size()},
                           {"steps", t.steps.size()},
                           {"notes", t.notes}});
  j["classes"] = ojson::array();
  for (const ClassSummary& c : s.classes)
    j["classes"].push_back({{"class", std::string(to_string(c.cls))},
                            {"count", c.count},
                            {"time_s", c.time_s},
                            {"achieved_tflops", optional_number(c.achieved_tflops())},
                            {"achieved_GBps", optional_number(c.achieved_GBps())},
                            {"shaped_kernels", c.shaped}});
  j["optimizer"] = {{"kernels", s.optimizer_kernels}, {"time_s", s.optimizer_s}};
  j["gemm_shapes"] = ojson::array();
  for (const GemmGroup& g : s.gemms)
    j["gemm_shapes"].push_back({{"batch", g.shape.batch},
                                {"m", g.shape.m},
                                {"k", g.shape.k},
                                {"n", g.shape.n},
                                {"dtype", g.dtype ? std::string(to_string(*g.dtype)) : std::string()},
                                {"calls", g.calls},
                                {"kernels", g.kernels},
                                {"time_s", g.time_s},
                                {"achieved_tflops", g.tflops()}});
  j["attention_calls"] = ojson::array();
  for (const AttentionGroup& a : s.attentions)
    j["attention_calls"].push_back({{"pass", a.call.pass == BlockPass::fwd ? "fwd" : "bwd"},
                                    {"batch", a.call.batch},
                                    {"heads", a.call.heads},
                                    {"kv_heads", a.call.kv_heads},
                                    {"q_rows", a.call.q_rows},
                                    {"kv_rows", a.call.kv_rows},
                                    {"head_dim", a.call.head_dim},
                                    {"causal", a.call.causal},
                                    {"family", a.family ? std::string(to_string(*a.family)) : std::string()},
                                    {"calls", a.calls},
                                    {"kernels", a.kernels},
                                    {"time_s", a.time_s},
                                    {"achieved_tflops", a.tflops()}});
  j["collectives"] = ojson::array();
  for (const CollectiveGroup& c : s.collectives)
    j["collectives"].push_back({{"collective", std::string(to_string(c.op))},
                                {"gpus", c.group},
                                {"size_bytes", c.size_bytes},
                                {"calls", c.calls},
                                {"median_time_s", c.median_s()},
                                {"busbw_GBps", c.busbw_GBps()}});
  j["nccl_kernels_without_metadata"] = s.nccl_without_metadata;
  j["memcpy"] = {{"count", s.memcpy_count}, {"time_s", s.memcpy_s}};
  j["memset"] = {{"count", s.memset_count}, {"time_s", s.memset_s}};
  j["launch_host_median_us"] = optional_number(s.launch_median_us);
  j["step"] = step_json(m);
  ojson f;
  f["gpu"] = fit.gpu_preset;
  f["entries"] = ojson::array();
  for (const FitEntry& e : fit.entries)
    f["entries"].push_back({{"key", e.key}, {"for", e.what}, {"value", e.key == "compute.kernel" ? ojson(e.what) : ojson(e.value)}, {"kernels", e.kernels}, {"basis", e.basis}});
  f["left_out"] = ojson::array();
  for (const LeftOut& l : fit.left_out) f["left_out"].push_back({{"key", l.key}, {"why", l.why}});
  f["replay"] = ojson::array();
  for (const ReplayRow& r : fit.replay)
    f["replay"].push_back({{"what", r.what},
                           {"calls", r.calls},
                           {"measured_s", r.measured_s},
                           {"predicted_s", r.predicted_s},
                           {"error", r.error()}});
  f["notes"] = fit.notes;
  j["fit"] = std::move(f);
  j["notes"] = s.notes;
  for (const std::string& n : m.notes)
    if (std::find(s.notes.begin(), s.notes.end(), n) == s.notes.end()) j["notes"].push_back(n);
  return j.dump(1) + "\n";
}

std::string num_or_dash(const std::optional<double>& v, const char* spec) {
  return v ? fmt::format(fmt::runtime(spec), *v) : std::string("-");
}

std::string render_table(const std::vector<KinetoTrace>& traces, const KinetoSummary& s, const MeasuredStep& m,
                         const KinetoFit& fit, int top, bool wrote) {
  fmt::memory_buffer b;
  auto out = std::back_inserter(b);
  fmt::format_to(out, "# xattn import kineto: {} trace(s), {}\n", traces.size(), s.device.empty() ? "GPU not recorded" : s.device);
  for (const KinetoTrace& t : traces)
    fmt::format_to(out, "#   rank {}{}: {} ({} kernels, {} profiler steps)\n", t.rank, t.rank_known ? "" : " (position)",
                   t.source, t.kernels.size(), t.steps.size());
  double total = 0;
  for (const ClassSummary& c : s.classes) total += c.time_s;
  fmt::format_to(out, "# {:>12} {:>9} {:>11} {:>7} {:>10} {:>10} {:>9}\n", "class", "kernels", "time", "share", "achieved",
                 "achieved", "shaped");
  fmt::format_to(out, "# {:>12} {:>9} {:>11} {:>7} {:>10} {:>10} {:>9}\n", "", "", "(ms)", "(%)", "(TFLOP/s)", "(GB/s)",
                 "(kernels)");
  for (const ClassSummary& c : s.classes)
    fmt::format_to(out, "  {:>12} {:>9} {:>11.3f} {:>7.1f} {:>10} {:>10} {:>9}\n", to_string(c.cls), c.count, c.time_s * 1e3,
                   total > 0 ? 100 * c.time_s / total : 0.0, num_or_dash(c.achieved_tflops(), "{:.1f}"),
                   num_or_dash(c.achieved_GBps(), "{:.1f}"), c.shaped);
  fmt::format_to(out, "# optimizer kernels (within the classes above): {}, {:.3f} ms\n", s.optimizer_kernels, s.optimizer_s * 1e3);
  if (s.memcpy_count + s.memset_count > 0)
    fmt::format_to(out, "# memcpy {} ({:.3f} ms), memset {} ({:.3f} ms): not kernels, not in the classes\n", s.memcpy_count,
                   s.memcpy_s * 1e3, s.memset_count, s.memset_s * 1e3);
  if (s.launch_median_us) fmt::format_to(out, "# host cost of a kernel launch: median {:.1f} us\n", *s.launch_median_us);

  if (!s.gemms.empty()) {
    fmt::format_to(out, "# GEMM shapes (largest time first, at most {}):\n", top);
    fmt::format_to(out, "# {:>6} {:>8} {:>8} {:>8} {:>6} {:>7} {:>11} {:>10}\n", "batch", "M", "K", "N", "dtype", "calls",
                   "time (ms)", "TFLOP/s");
    for (std::size_t i = 0; i < s.gemms.size() && static_cast<int>(i) < top; ++i) {
      const GemmGroup& g = s.gemms[i];
      fmt::format_to(out, "  {:>6} {:>8} {:>8} {:>8} {:>6} {:>7} {:>11.3f} {:>10.1f}\n", g.shape.batch, g.shape.m, g.shape.k,
                     g.shape.n, g.dtype ? to_string(*g.dtype) : "?", g.calls, g.time_s * 1e3, g.tflops());
    }
  }
  if (!s.attentions.empty()) {
    fmt::format_to(out, "# attention calls:\n");
    fmt::format_to(out, "# {:>4} {:>5} {:>5} {:>4} {:>8} {:>8} {:>4} {:>6} {:>18} {:>6} {:>11} {:>8}\n", "pass", "B", "H",
                   "Hkv", "q_rows", "kv_rows", "d", "causal", "family", "calls", "time (ms)", "TFLOP/s");
    for (std::size_t i = 0; i < s.attentions.size() && static_cast<int>(i) < top; ++i) {
      const AttentionGroup& a = s.attentions[i];
      fmt::format_to(out, "  {:>4} {:>5} {:>5} {:>4} {:>8} {:>8} {:>4} {:>6} {:>18} {:>6} {:>11.3f} {:>8.1f}\n",
                     a.call.pass == BlockPass::fwd ? "fwd" : "bwd", a.call.batch, a.call.heads, a.call.kv_heads, a.call.q_rows,
                     a.call.kv_rows, a.call.head_dim, a.call.causal ? "yes" : "no",
                     a.family ? to_string(*a.family) : "?", a.calls, a.time_s * 1e3, a.tflops());
    }
  }
  if (!s.collectives.empty()) {
    fmt::format_to(out, "# collectives (size as nccl-tests counts it):\n");
    fmt::format_to(out, "# {:>15} {:>5} {:>14} {:>6} {:>12} {:>10}\n", "collective", "GPUs", "size (B)", "calls",
                   "median (us)", "busbw");
    fmt::format_to(out, "# {:>15} {:>5} {:>14} {:>6} {:>12} {:>10}\n", "", "", "", "", "", "(GB/s)");
    for (const CollectiveGroup& c : s.collectives)
      fmt::format_to(out, "  {:>15} {:>5} {:>14.0f} {:>6} {:>12.2f} {:>10.2f}\n", to_string(c.op), c.group, c.size_bytes,
                     c.calls, c.median_s() * 1e6, c.busbw_GBps());
  }

  fmt::format_to(out, "# the step measured (per step, median over {} step(s) and {} rank(s)):\n", m.steps, m.ranks);
  auto phase = [&](const char* name, const MeasuredPhase& p) {
    if (p.present)
      fmt::format_to(out, "  {:>28} {:>11.3f} ms busy, {:>11.3f} ms of kernels, {:>8.0f} kernels\n", name, p.busy.value() * 1e3,
                     p.kernel_sum.value() * 1e3, p.kernels);
  };
  fmt::format_to(out, "  {:>28} {:>11.3f} ms{}\n", "step", m.step.value() * 1e3,
                 m.step_annotated ? "" : " (GPU span: no ProfilerStep annotations)");
  phase("forward compute", m.fwd_compute);
  phase("  GEMM", m.fwd_gemm);
  phase("  attention", m.fwd_attention);
  phase("  elementwise and other", m.fwd_other);
  phase("backward compute", m.bwd_compute);
  phase("  GEMM", m.bwd_gemm);
  phase("  attention", m.bwd_attention);
  phase("  elementwise and other", m.bwd_other);
  phase("optimizer", m.optimizer);
  phase("communication", m.comm);
  if (m.comm.present) fmt::format_to(out, "  {:>28} {:>11.3f} ms\n", "communication exposed", m.comm_exposed.value() * 1e3);
  fmt::format_to(out, "  {:>28} {:>11.3f} ms\n", "idle (no kernel)", m.idle.value() * 1e3);

  fmt::format_to(out, "# calibration fitted{} (GPU {}):\n", wrote ? " and written" : " (--out to write it)",
                 fit.gpu_preset.empty() ? "unknown" : fit.gpu_preset);
  for (const FitEntry& e : fit.entries)
    fmt::format_to(out, "  {} [{}] = {}  ({} kernels: {})\n", e.key, e.what, e.value_text(), e.kernels, e.basis);
  for (const LeftOut& l : fit.left_out) fmt::format_to(out, "# left out: {}: {}\n", l.key, l.why);
  if (!fit.replay.empty()) {
    fmt::format_to(out, "# the fit replayed through the model:\n");
    fmt::format_to(out, "# {:>44} {:>6} {:>12} {:>12} {:>8}\n", "kernels", "calls", "measured", "predicted", "error");
    fmt::format_to(out, "# {:>44} {:>6} {:>12} {:>12} {:>8}\n", "", "", "(ms)", "(ms)", "(%)");
    for (const ReplayRow& r : fit.replay)
      fmt::format_to(out, "  {:>44} {:>6} {:>12.4f} {:>12.4f} {:>+8.2f}\n", r.what, r.calls, r.measured_s * 1e3,
                     r.predicted_s * 1e3, 100 * r.error());
  }
  for (const std::string& n : fit.notes) fmt::format_to(out, "# fit note: {}\n", n);
  for (const std::string& n : s.notes) fmt::format_to(out, "# note: {}\n", n);
  return fmt::to_string(b);
}

int run_import_kineto(const ImportKinetoOptions& o, Io& io) {
  if (!o.out_path.empty()) check_output_path(o.out_path, "--out");
  const std::vector<KinetoTrace> traces = read_kineto_traces(o.traces);
  const KinetoSummary summary = summarize_kineto(traces);
  const MeasuredStep step = measured_step(traces);
  KinetoFitOptions fo;
  fo.gpu = o.gpu;
  fo.gpus_per_node = o.gpus_per_node;
  fo.nics_per_node = o.nics_per_node;
  const KinetoFit fit = fit_kineto(traces, fo);
  std::vector<std::string> sources;  // the files read, folders expanded, in rank order
  for (const KinetoTrace& t : traces) sources.push_back(t.source);
  if (!o.out_path.empty()) write_file_atomically(o.out_path, kineto_calibration_yaml(fit, sources));
  io.out << (o.format == "json" ? render_json(traces, summary, step, fit)
                                : render_table(traces, summary, step, fit, o.top, !o.out_path.empty()))
         << std::flush;
  return exit_ok;
}

}  // namespace

void add_import(CLI::App& app, Commands& commands) {
  CLI::App* group = app.add_subcommand("import", "Read measurements made elsewhere (PyTorch profiler traces)");
  group->require_subcommand(1);
  auto o = std::make_shared<ImportKinetoOptions>();
  CLI::App* sub = group->add_subcommand(
      "kineto", "Classify the GPU kernels of PyTorch profiler traces and fit a calibration to them (docs/kineto.md)");
  sub->add_option("traces", o->traces, "Chrome-trace JSON from torch.profiler, plain or .gz, one per rank; a folder: its *.json and *.json.gz")
      ->required()
      ->type_name("TRACE");
  sub->add_option("-o,--out", o->out_path, "Write the fitted calibration here (a calibration file any scenario can list)")
      ->type_name("CALIB.yaml");
  sub->add_option("-f,--format", o->format, "Output: table (default) or json")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"table", "json"}));
  sub->add_option("--gpu", o->gpu, "GPU preset the efficiencies are fractions of (default: the trace's device)")
      ->type_name("PRESET");
  sub->add_option("--gpus-per-node", o->gpus_per_node,
                  "GPUs per node, for the link class of each collective (default: the GPUs a trace lists)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--nics-per-node", o->nics_per_node, "NICs per node for the link fit (default: one per GPU)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--top", o->top, "Rows of the GEMM and attention tables (default 10)")->check(CLI::PositiveNumber);
  sub->footer(
      "Example:\n"
      "  xattn import kineto traces/rank0.pt.trace.json.gz traces/rank1.pt.trace.json.gz --out measured.yaml\n"
      "  xattn import kineto traces/ --format json      (every trace in the folder)\n"
      "  then list measured.yaml under `calibration:` in the run's scenario");
  commands.add(sub, [o](Io& io) { return run_import_kineto(*o, io); });
}

}  // namespace xattn::cli
