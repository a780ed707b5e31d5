// The JSON contract, the nccl-tests style table and CSV of `xattn simulate` (report.hpp).
#include "cli/report.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>

#include <fmt/format.h>

#include "cli/output.hpp"
#include "model/hardware.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn::cli {
namespace {

// Keys in the order written, so that `scenario` comes before `results` and names first.
using json = nlohmann::ordered_json;

constexpr double kGiB = 1073741824.0;

json link_json(const LinkSpec& l) {
  return json{{"bandwidth_GBps", to_gigabytes_per_second(l.bandwidth)},
              {"latency_us", to_microseconds(l.latency)}};
}

std::string_view accumulator_name(AccumulatorDType a) {
  return a == AccumulatorDType::fp32 ? "fp32" : "activation";
}

}  // namespace

json scenario_json(const Scenario& s, const ScenarioSpec& spec) {
  const AttentionShape& sh = s.shape;
  json workload = {
      {"model", s.model.name},
      {"batch", s.batch},
      {"text_tokens", s.text_tokens},
      {"frames", s.frames},
      {"tokens_per_frame", s.tokens_per_frame},
      {"q_tokens", sh.q_tokens},
      {"kv_tokens", sh.kv_tokens},
      {"heads", sh.heads},
      {"kv_heads", sh.kv_heads},
      {"head_dim", sh.head_dim},
      {"dtype", to_string(sh.dtype)},
      {"mask", to_string(sh.mask)},
      {"accumulator_dtype", accumulator_name(s.accumulator)},
      {"recompute", s.recompute},
      {"text_hidden", s.model.text_hidden},
      {"visual_hidden", s.model.visual_hidden},
      {"layers", s.model.layers},
      {"cross_attention_layers", s.model.cross_attention_layers},
  };

  const Cluster& c = s.cluster;
  // The links as the model uses them: nominal figures, replaced by the calibration.
  json intra = link_json(s.calibration.link(c, LinkClass::intra_node));
  intra["kind"] = to_string(c.intra_kind);
  json inter = link_json(s.calibration.link(c, LinkClass::inter_node));
  inter["nics_per_node"] = c.nics_per_node;
  json cluster = {
      {"gpu", c.gpu.name},
      {"nodes", c.nodes},
      {"gpus_per_node", c.gpus_per_node},
      {"ranks", c.ranks()},
      {"intra_node", intra},
      {"inter_node", inter},
      {"gpu_peak_TFLOPS", c.gpu.peak_fp16.value() * 1e-12},  // fp16/bf16, as the field of that name
      {"gpu_peak_fp32_TFLOPS", c.gpu.peak_fp32.value() * 1e-12},
      {"gpu_hbm_GBps", to_gigabytes_per_second(c.gpu.hbm)},
      {"gpu_memory_bytes", c.gpu.memory.value()},
      {"memory_reserved_bytes", s.memory_reserved.value()},
  };
  if (spec.cluster.preset) cluster["preset"] = *spec.cluster.preset;
  if (!c.graph.empty()) {
    // A listed machine (docs/topology.md): the event engine's whole network.
    json links = json::array(), routes = json::array();
    for (const ListedLink& l : c.graph.links) {
      json link = {{"name", l.name}, {"from", l.from}, {"to", l.to}};
      link.update(link_json(l.figures));
      link["duplex"] = l.duplex;
      link["class"] = l.link_class == LinkClass::inter_node ? "inter" : "intra";
      links.push_back(std::move(link));
    }
    for (const ListedRoute& r : c.graph.routes)
      routes.push_back(json{{"from", fmt::format("gpu{}", r.from)},
                            {"to", fmt::format("gpu{}", r.to)},
                            {"links", r.links},
                            {"both_ways", r.both_ways}});
    cluster["links"] = std::move(links);
    cluster["routes"] = std::move(routes);
  }

  json mechanisms = json::array();
  for (const auto& m : s.mechanisms) mechanisms.push_back(m.name());

  return json{{"name", s.name},
              {"description", s.description},
              {"path", s.path},
              {"workload", workload},
              {"cluster", cluster},
              {"calibration", json{{"sources", s.calibration.sources}}},
              {"mechanisms", mechanisms}};
}

json result_json(const sim::Evaluation& r) {
  const Estimate& e = r.estimate;
  json j = {{"mechanism", e.mechanism.name()},
            {"engine", std::string(sim::to_string(r.engine))},
            {"pass", to_string(e.pass)},
            {"scope", "layer"},
            {"feasible", e.feasible}};
  if (!e.feasible) {
    j["reason"] = e.reason;
    return j;
  }
  j["time_s"] = e.time.value();
  j["compute_s"] = e.compute.value();
  j["exposed_comm_s"] = e.exposed_comm.value();
  j["peak_memory_bytes"] = e.memory.total().value();
  j["fits"] = e.fits;
  j["flops_per_rank"] = e.flops_per_rank.value();
  j["bytes_per_rank"] = e.bytes_per_rank.value();
  j["rounds"] = e.rounds;
  j["memory"] = json{{"inputs_bytes", e.memory.inputs.value()},
                     {"outputs_bytes", e.memory.outputs.value()},
                     {"buffers_bytes", e.memory.buffers.value()},
                     {"saved_bytes", e.memory.saved.value()}};
  if (r.event) {
    j["link_shared"] = r.event->link_shared;
    if (!r.event->busiest_link.empty())
      j["busiest_link"] = json{{"name", r.event->busiest_link}, {"utilization", r.event->busiest_utilization}};
    j["events"] = r.event->events;
  }
  if (const auto& d = r.vs_analytic)
    j["vs_analytic"] = json{{"time_diff_s", d->time_diff_s},
                            {"time_diff_rel", d->time_diff_rel},
                            {"closed_form", std::string(d->closed_form)}};
  return j;
}

const std::vector<std::string>& ModelInputsReport::uncalibrated(Pass p) const {
  static const std::vector<std::string> none;
  for (std::size_t i = 0; i < passes.size(); ++i)
    if (passes[i] == p) return per_pass[i];
  return none;
}

ModelInputsReport model_inputs_report(const Scenario& s, const std::vector<Pass>& passes, bool with_sensitivity,
                                      Scope scope) {
  ModelInputsReport r;
  r.scope = scope;
  r.passes = passes;
  for (Pass p : passes) r.per_pass.push_back(uncalibrated_inputs(s, {p}, scope));
  r.all_passes = uncalibrated_inputs(s, passes, scope);
  r.with_sensitivity = with_sensitivity;
  if (with_sensitivity) r.sensitivity = sensitivity(s, passes, 0.2, scope);
  if (scope == Scope::iteration && !s.model.arch.multimodal()) r.mechanisms = {"none"};
  else
    for (const Mechanism& m : s.mechanisms) r.mechanisms.push_back(m.name());
  return r;
}

namespace {

json sensitivity_json(const ModelInputsReport& inputs) {
  json rows = json::array();
  for (const SensitivityRow& row : inputs.sensitivity)
    rows.push_back({{"input", row.input}, {"change", row.change}, {"mechanism", row.mechanism},
                    {"pass", std::string(to_string(row.pass))}, {"time_s_low", row.time_low.value()},
                    {"time_s_high", row.time_high.value()}, {"ranking_changes", row.ranking_changes}});
  return rows;
}

}  // namespace

std::string render_json(const Scenario& s, const ScenarioSpec& spec, const std::vector<sim::Evaluation>& rows,
                        const ModelInputsReport* inputs) {
  json results = json::array();
  for (const auto& r : rows) {
    json j = result_json(r);
    if (inputs) j["uncalibrated"] = inputs->uncalibrated(r.estimate.pass);
    results.push_back(std::move(j));
  }
  json doc = {{"scenario", scenario_json(s, spec)}, {"results", results}};
  if (inputs && inputs->with_sensitivity) doc["sensitivity"] = sensitivity_json(*inputs);
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// The footnote, and with sensitivity one row per input and pass: each mechanism's time at
// 0.8x and 1.2x the input, and whether the ranking changes.
std::string model_inputs_table(const ModelInputsReport& inputs) {
  std::string out = "#\n# uncalibrated defaults (docs/model.md §15):";
  std::size_t width = out.size() - 2;
  const std::vector<std::string>& names = inputs.all_passes;
  if (names.empty()) out += " none";
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::string item = " " + names[i] + (i + 1 < names.size() ? "," : "");
    if (width + item.size() > 100) {
      out += "\n#  ";
      width = 3;
    }
    out += item;
    width += item.size();
  }
  out += "\n";
  if (!inputs.with_sensitivity) return out;
  out += "#\n# sensitivity: each input at 0.8x / 1.2x its value, time in ms (docs/model.md §15)\n";
  out += fmt::format("# {:<34} {:>7}", "input", "pass");
  for (const std::string& m : inputs.mechanisms) out += fmt::format(" {:>19}", m);
  out += "  ranking\n";
  const std::vector<SensitivityRow>& rows = inputs.sensitivity;
  for (std::size_t i = 0; i < rows.size();) {
    const SensitivityRow& first = rows[i];
    std::string line = fmt::format("  {:<34} {:>7}", first.input, to_string(first.pass));
    for (const std::string& m : inputs.mechanisms) {
      const auto it = std::find_if(rows.begin() + static_cast<std::ptrdiff_t>(i), rows.end(), [&](const SensitivityRow& r) {
        return r.input == first.input && r.pass == first.pass && r.mechanism == m;
      });
      line += it == rows.end() ? fmt::format(" {:>19}", "-")
                               : fmt::format(" {:>9.3f}/{:<9.3f}", it->time_low.value() * 1e3, it->time_high.value() * 1e3);
    }
    out += line + (first.ranking_changes ? "  changes\n" : "  same\n");
    while (i < rows.size() && rows[i].input == first.input && rows[i].pass == first.pass) ++i;
  }
  return out;
}

std::string render_table(const Scenario& s, const std::vector<sim::Evaluation>& rows) {
  fmt::memory_buffer b;
  auto out = std::back_inserter(b);
  const AttentionShape& sh = s.shape;
  const Cluster& c = s.cluster;
  LinkSpec intra = s.calibration.link(c, LinkClass::intra_node);
  LinkSpec inter = s.calibration.link(c, LinkClass::inter_node);

  fmt::format_to(out, "# xattn simulate: {}  (one cross-attention layer, per GPU)\n", s.name.empty() ? s.path : s.name);
  fmt::format_to(out, "# model    {}: H {}, H_kv {}, d {}, {}, {}, batch {}{}{}\n", s.model.name, sh.heads, sh.kv_heads,
                 sh.head_dim, to_string(sh.dtype), to_string(sh.mask), s.batch,
                 s.accumulator == AccumulatorDType::fp32 ? ", fp32 accumulators" : "",
                 s.recompute ? ", recompute" : "");
  fmt::format_to(out, "# tokens   S_q {} text, S_kv {} visual ({} frames x {})\n", sh.q_tokens, sh.kv_tokens, s.frames,
                 s.tokens_per_frame);
  fmt::format_to(out, "# cluster  P {} = {} node(s) x {} {}", c.ranks(), c.nodes, c.gpus_per_node, c.gpu.name);
  if (c.gpus_per_node > 1)
    fmt::format_to(out, "; intra {} {:g} GB/s {:g} us", c.graph.empty() ? to_string(c.intra_kind) : "listed",
                   to_gigabytes_per_second(intra.bandwidth),
                   to_microseconds(intra.latency));
  if (c.nodes > 1)
    fmt::format_to(out, "; inter {:g} GB/s {:g} us per NIC, {} NIC(s)/node", to_gigabytes_per_second(inter.bandwidth),
                   to_microseconds(inter.latency), c.nics_per_node);
  fmt::format_to(out, "\n");
  if (!c.graph.empty())
    fmt::format_to(out, "# network  {} listed link(s), {} fixed route(s) (docs/topology.md): the event engine's whole "
                        "network; the closed form uses the figures above\n",
                   c.graph.links.size(), c.graph.routes.size());
  fmt::format_to(out, "# memory   {:.1f} GiB per GPU, {:.1f} GiB reserved for the rest of the model\n",
                 c.gpu.memory.value() / kGiB, s.memory_reserved.value() / kGiB);

  // The engine is named in the header when all rows share it, else in its own column.
  bool mixed_engines = false;
  for (const auto& r : rows) mixed_engines = mixed_engines || r.engine != rows.front().engine;
  if (!rows.empty() && !mixed_engines)
    fmt::format_to(out, "# engine   {}; speedup = ring's time / this time, same pass\n", sim::to_string(rows.front().engine));
  fmt::format_to(out, "#\n");

  // Beside the closed form, an event row says how far it is from it, in a last column.
  bool compared = false;
  for (const auto& r : rows) compared = compared || r.vs_analytic.has_value();
  auto head = [&](std::string_view mech, std::string_view pass, std::string_view engine, std::string_view time,
                  std::string_view compute, std::string_view exposed, std::string_view speedup, std::string_view mem,
                  std::string_view fits, std::string_view versus) {
    std::string line = fmt::format("{:<13}{:>8}", mech, pass);
    if (mixed_engines) line += fmt::format(" {:>9}", engine);
    line += fmt::format(" {:>10} {:>10} {:>13} {:>9} {:>9} {:>5}", time, compute, exposed, speedup, mem, fits);
    if (compared) line += fmt::format(" {:>10}", versus);
    line.erase(line.find_last_not_of(' ') + 1);
    fmt::format_to(out, "{}\n", line);
  };
  head("# mechanism", "pass", "engine", "time", "compute", "exposed comm", "speedup", "peak mem", "fits", "vs closed");
  head("#", "", "", "(ms)", "(ms)", "(ms)", "(vs ring)", "(GiB)", "", "form");

  // Rows grouped by pass (in the order passes first appear), mechanisms in their order.
  std::vector<Pass> passes;
  for (const auto& r : rows)
    if (std::find(passes.begin(), passes.end(), r.estimate.pass) == passes.end()) passes.push_back(r.estimate.pass);

  for (Pass p : passes) {
    for (const auto& r : rows) {
      const Estimate& e = r.estimate;
      if (e.pass != p) continue;
      fmt::format_to(out, "  {:<11}{:>8}", e.mechanism.name(), to_string(e.pass));
      if (mixed_engines) fmt::format_to(out, " {:>9}", sim::to_string(r.engine));
      if (!e.feasible) {
        fmt::format_to(out, "   infeasible: {}\n", e.reason);
        continue;
      }
      std::string speedup = "-";
      for (const auto& q : rows) {
        const Estimate& ring = q.estimate;
        if (ring.mechanism.kind == MechanismKind::ring && ring.pass == p && q.engine == r.engine && ring.feasible &&
            e.time.value() > 0)
          speedup = fmt::format("{:.2f}x", ring.time / e.time);
      }
      std::string line = fmt::format(" {:>10.3f} {:>10.3f} {:>13.3f} {:>9} {:>9.2f} {:>5}", e.time.value() * 1e3,
                                     e.compute.value() * 1e3, e.exposed_comm.value() * 1e3, speedup,
                                     e.memory.total().value() / kGiB, e.fits ? "yes" : "NO");
      if (const auto& d = r.vs_analytic) line += fmt::format(" {:>+9.2f}%", d->time_diff_rel * 100.0);
      fmt::format_to(out, "{}\n", line);
    }
  }
  // What the closed form cannot see, said in words under the table.
  for (const auto& r : rows) {
    if (!r.event || !r.estimate.feasible) continue;
    const Estimate& e = r.estimate;
    const auto& d = r.vs_analytic;
    std::string what = fmt::format("# {} {}: ", e.mechanism.name(), to_string(e.pass));
    if (r.event->link_shared) {
      what += "links were shared";
      if (!r.event->busiest_link.empty())
        what += fmt::format(" (busiest: {}, {:.0f}% of the time)", r.event->busiest_link, r.event->busiest_utilization * 100.0);
      if (d && d->closed_form == "optimistic")
        what += fmt::format("; the closed form is optimistic by {:.2f}%", d->time_diff_rel * 100.0);
      else if (d)
        what += fmt::format("; the closed form {} ({:+.2f}%)", d->closed_form == "agrees" ? "still agrees" : "is pessimistic",
                            d->time_diff_rel * 100.0);
    } else if (d && d->closed_form != "agrees") {
      what += fmt::format("no link was shared, yet the closed form is {} by {:.2f}% (ranks out of step, serialized "
                          "latencies: docs/simulator.md)",
                          d->closed_form, std::abs(d->time_diff_rel) * 100.0);
    } else {
      continue;
    }
    fmt::format_to(out, "{}\n", what);
  }
  return fmt::to_string(b);
}

std::string render_csv(const std::vector<sim::Evaluation>& rows) {
  fmt::memory_buffer b;
  auto out = std::back_inserter(b);
  fmt::format_to(out,
                 "mechanism,engine,pass,scope,feasible,time_s,compute_s,exposed_comm_s,peak_memory_bytes,fits,"
                 "flops_per_rank,bytes_per_rank,rounds,inputs_bytes,outputs_bytes,buffers_bytes,saved_bytes,reason,"
                 "link_shared,time_vs_analytic\n");
  for (const auto& r : rows) {
    const Estimate& e = r.estimate;
    fmt::format_to(out, "{},{},{},layer,", e.mechanism.name(), sim::to_string(r.engine), to_string(e.pass));
    if (!e.feasible) {
      fmt::format_to(out, "false,,,,,,,,,,,,,");
      append_csv_cell(b, e.reason);
      fmt::format_to(out, ",,\n");
      continue;
    }
    fmt::format_to(out, "true,{},{},{},{},{},{},{},{},{},{},{},{},,", e.time.value(), e.compute.value(),
                   e.exposed_comm.value(), e.memory.total().value(), e.fits, e.flops_per_rank.value(),
                   e.bytes_per_rank.value(), e.rounds, e.memory.inputs.value(), e.memory.outputs.value(),
                   e.memory.buffers.value(), e.memory.saved.value());
    if (r.event) fmt::format_to(out, "{}", r.event->link_shared);
    b.push_back(',');
    if (const auto& d = r.vs_analytic) fmt::format_to(out, "{}", d->time_diff_rel);
    b.push_back('\n');
  }
  return fmt::to_string(b);
}

// ---- iteration scope -------------------------------------------------------------------

std::vector<std::pair<std::string_view, Seconds>> breakdown_parts(const IterationBreakdown& b) {
  return {{"vision", b.vision},
          {"projector", b.projector},
          {"self_attention", b.self_attention},
          {"cross_attention", b.cross_attention},
          {"mlp", b.mlp},
          {"other_gemm", b.other_gemm},
          {"lm_head", b.lm_head},
          {"sharding_comm_exposed", b.sharding_comm_exposed},
          {"optimizer", b.optimizer}};
}

namespace {

std::string frozen_text(const PartSet& frozen) {
  std::string out;
  for (ModelPart p : {ModelPart::vision, ModelPart::projector, ModelPart::lm, ModelPart::cross_attention})
    if (frozen.contains(p)) out += (out.empty() ? "" : ", ") + std::string(to_string(p));
  return out.empty() ? "nothing" : out;
}

}  // namespace

json training_json(const Scenario& s) {
  const TrainingSetup& t = s.training;
  const IterationLayout l = iteration_layout(s);
  json frozen = json::array();
  for (ModelPart p : {ModelPart::vision, ModelPart::projector, ModelPart::lm, ModelPart::cross_attention})
    if (t.frozen.contains(p)) frozen.push_back(std::string(to_string(p)));
  return json{{"preset", std::string(to_string(t.preset))},
              {"self_attention", t.self_attention.name()},
              {"sp", l.sp},
              {"dp", l.dp},
              {"global_batch", l.global_batch},
              {"micro_steps", l.micro_steps},
              {"sharding", std::string(to_string(t.sharding))},
              {"checkpointing", std::string(to_string(t.checkpointing))},
              {"frozen", frozen},
              {"optimizer_step", t.optimizer_step},
              {"parameters", total_parameters(s.model.arch)}};
}

json result_json(const IterationEstimate& e) {
  json j = {{"scope", "iteration"},
            {"mechanism", e.cross_attention_name()},
            {"self_attention", e.self_attention.name()},
            {"engine", "analytic"},
            {"pass", to_string(e.pass)},
            {"feasible", e.feasible}};
  if (!e.feasible) {
    j["reason"] = e.reason;
    return j;
  }
  j["time_s"] = e.time.value();
  j["compute_s"] = e.compute.value();
  j["exposed_comm_s"] = e.exposed_comm.value();
  json parts = json::object();
  for (const auto& [name, t] : breakdown_parts(e.breakdown)) parts[std::string(name)] = t.value();
  j["breakdown_s"] = std::move(parts);
  j["tokens_per_s"] = e.tokens_per_s;
  j["mfu"] = e.mfu;
  j["model_flops"] = e.model_flops.value();
  j["flops_per_gpu"] = e.flops_per_gpu.value();
  const IterationMemory& m = e.memory;
  j["memory_bytes"] = json{{"parameters", m.parameters.value()},
                           {"gradients", m.gradients.value()},
                           {"optimizer", m.optimizer.value()},
                           {"activations", m.activations.value()},
                           {"transient", m.transient.value()}};
  j["peak_memory_bytes"] = e.peak_memory.value();
  j["fits"] = e.fits;
  return j;
}

json result_json(const sim::IterationEvaluation& r) {
  json j = result_json(r.estimate);
  j["engine"] = std::string(sim::to_string(r.engine));
  if (const auto& d = r.vs_analytic)
    j["vs_analytic"] = json{{"time_diff_s", d->time_diff_s},
                            {"time_diff_rel", d->time_diff_rel},
                            {"closed_form", std::string(d->closed_form)}};
  return j;
}

std::string render_iteration_json(const Scenario& s, const ScenarioSpec& spec,
                                  const std::vector<sim::IterationEvaluation>& rows, const ModelInputsReport& inputs) {
  json scenario = scenario_json(s, spec);
  scenario["training"] = training_json(s);
  json results = json::array();
  for (const sim::IterationEvaluation& r : rows) {
    json j = result_json(r);
    j["uncalibrated"] = inputs.uncalibrated(r.estimate.pass);
    results.push_back(std::move(j));
  }
  json doc = {{"scenario", std::move(scenario)}, {"results", std::move(results)}};
  if (inputs.with_sensitivity) doc["sensitivity"] = sensitivity_json(inputs);
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string render_iteration_table(const Scenario& s, const std::vector<sim::IterationEvaluation>& rows) {
  fmt::memory_buffer b;
  auto out = std::back_inserter(b);
  const Architecture& a = s.model.arch;
  const AttentionShape& sh = s.shape;
  const Cluster& c = s.cluster;
  const TrainingSetup& t = s.training;
  const IterationLayout l = iteration_layout(s);
  const LinkSpec intra = s.calibration.link(c, LinkClass::intra_node);
  const LinkSpec inter = s.calibration.link(c, LinkClass::inter_node);

  fmt::format_to(out, "# xattn simulate: {}  (one training step of the whole model; --scope layer: one attention layer)\n",
                 s.name.empty() ? s.path : s.name);
  fmt::format_to(out, "# model    {}: {:.2f}B parameters, {} LM layers", s.model.name, total_parameters(a) * 1e-9,
                 a.lm.layers);
  if (a.multimodal())
    fmt::format_to(out, ", {} with cross-attention (H {}, H_kv {}, d {}), vision encoder {} layers", a.cross.count(),
                   sh.heads, sh.kv_heads, sh.head_dim, a.vision.layers);
  fmt::format_to(out, "; {}\n", to_string(sh.dtype));
  if (a.multimodal())
    fmt::format_to(out, "# tokens   S_q {} text, S_kv {} visual ({} frames x {}) per sample; batch {} per SP group\n",
                   s.text_tokens, sh.kv_tokens, s.frames, s.tokens_per_frame, s.batch);
  else
    fmt::format_to(out, "# tokens   S {} text per sample; batch {} per SP group\n", s.text_tokens, s.batch);
  fmt::format_to(out, "# cluster  P {} = {} node(s) x {} {}", c.ranks(), c.nodes, c.gpus_per_node, c.gpu.name);
  if (c.gpus_per_node > 1)
    fmt::format_to(out, "; intra {} {:g} GB/s {:g} us", c.graph.empty() ? to_string(c.intra_kind) : "listed",
                   to_gigabytes_per_second(intra.bandwidth), to_microseconds(intra.latency));
  if (c.nodes > 1)
    fmt::format_to(out, "; inter {:g} GB/s {:g} us per NIC, {} NIC(s)/node", to_gigabytes_per_second(inter.bandwidth),
                   to_microseconds(inter.latency), c.nics_per_node);
  fmt::format_to(out, "\n");
  fmt::format_to(out, "# training {}sp {} x dp {}, global batch {} ({} micro-step{}); {}, checkpointing {}, frozen: {}; {}; "
                      "self-attention {}\n",
                 t.preset == TrainingPreset::lv_xattn_paper ? "lv-xattn-paper harness; " : "", l.sp, l.dp,
                 l.global_batch, l.micro_steps, l.micro_steps == 1 ? "" : "s", to_string(t.sharding),
                 to_string(t.checkpointing), frozen_text(t.frozen),
                 t.optimizer_step ? "optimizer step" : "no optimizer step", t.self_attention.name());
  fmt::format_to(out, "# memory   {:.1f} GiB per GPU, {:.1f} GiB reserved\n", c.gpu.memory.value() / kGiB,
                 s.memory_reserved.value() / kGiB);
  std::vector<sim::Engine> engines;
  for (const auto& r : rows)
    if (std::find(engines.begin(), engines.end(), r.engine) == engines.end()) engines.push_back(r.engine);
  const bool mixed_engines = engines.size() > 1;
  fmt::format_to(out, "# engine   {}; fwd, bwd: one micro-step's phases; fwd+bwd: the whole step; speedup = ring's "
                      "time / this time, same pass{}\n",
                 mixed_engines ? "analytic and event (the mechanism's second row)"
                               : std::string(sim::to_string(engines.empty() ? sim::Engine::analytic : engines.front())),
                 mixed_engines ? " and engine; the event row's parts end with its difference from the closed form" : "");
  fmt::format_to(out, "#\n");
  auto head = [&](std::string_view mech, std::string_view pass, std::string_view time, std::string_view compute,
                  std::string_view exposed, std::string_view speedup, std::string_view tokens, std::string_view mfu,
                  std::string_view mem, std::string_view fits, std::string_view parts) {
    std::string line = fmt::format("{:<13}{:>8} {:>10} {:>10} {:>13} {:>9} {:>10} {:>6} {:>9} {:>5}  {}", mech, pass,
                                   time, compute, exposed, speedup, tokens, mfu, mem, fits, parts);
    line.erase(line.find_last_not_of(' ') + 1);
    fmt::format_to(out, "{}\n", line);
  };
  head("# mechanism", "pass", "time", "compute", "exposed comm", "speedup", "tokens/s", "MFU", "peak mem", "fits",
       "largest parts of the time");
  head("#", "", "(s)", "(s)", "(s)", "(vs ring)", "", "(%)", "(GiB)", "", "");

  std::vector<Pass> passes;
  for (const auto& r : rows)
    if (std::find(passes.begin(), passes.end(), r.estimate.pass) == passes.end()) passes.push_back(r.estimate.pass);
  for (Pass p : passes) {
    for (const sim::IterationEvaluation& r : rows) {
      const IterationEstimate& e = r.estimate;
      if (e.pass != p) continue;
      fmt::format_to(out, "  {:<11}{:>8}", e.cross_attention_name(), to_string(e.pass));
      if (!e.feasible) {
        fmt::format_to(out, "   infeasible: {}\n", e.reason);
        continue;
      }
      std::string speedup = "-";
      for (const sim::IterationEvaluation& qr : rows) {
        const IterationEstimate& q = qr.estimate;
        if (qr.engine == r.engine && q.cross_attention && q.cross_attention->kind == MechanismKind::ring &&
            q.pass == p && q.feasible && e.time.value() > 0)
          speedup = fmt::format("{:.2f}x", q.time / e.time);
      }
      // The three largest parts, with their share of the time.
      auto parts = breakdown_parts(e.breakdown);
      std::stable_sort(parts.begin(), parts.end(), [](const auto& x, const auto& y) { return x.second > y.second; });
      std::string largest;
      for (std::size_t i = 0; i < 3 && i < parts.size(); ++i) {
        if (!(parts[i].second.value() > 0) || !(e.time.value() > 0)) break;
        largest += fmt::format("{}{} {:.0f}%", largest.empty() ? "" : ", ", parts[i].first,
                               100.0 * parts[i].second.value() / e.time.value());
      }
      if (const auto& d = r.vs_analytic)
        largest += fmt::format("{}event vs closed form {:+.2f}% ({})", largest.empty() ? "" : "; ",
                               d->time_diff_rel * 100.0, d->closed_form);
      fmt::format_to(out, " {:>10.3f} {:>10.3f} {:>13.3f} {:>9} {:>10.0f} {:>6.1f} {:>9.2f} {:>5}  {}\n",
                     e.time.value(), e.compute.value(), e.exposed_comm.value(), speedup, e.tokens_per_s,
                     e.mfu * 100.0, e.peak_memory.value() / kGiB, e.fits ? "yes" : "NO", largest);
    }
  }
  // The event runs: where the step's time went, phase by phase and per kind of stream.
  for (const sim::IterationEvaluation& r : rows)
    if (r.event && r.estimate.feasible && !r.event->phases.empty()) b.append(render_step_phases(r));
  return fmt::to_string(b);
}

std::string render_step_phases(const sim::IterationEvaluation& r) {
  fmt::memory_buffer b;
  if (!r.event || !r.estimate.feasible) return {};
  auto out = std::back_inserter(b);
  const sim::StepStats& st = *r.event;
  const IterationEstimate& e = r.estimate;
  fmt::format_to(out, "#\n# where the time went: {} {}, event engine, critical rank {} (the rank that finished last)\n",
                 e.cross_attention_name(), to_string(e.pass), st.critical_rank);
  fmt::format_to(out, "# busy: time the phase's ops ran on the compute, sequence-parallel (sp0..) and sharding (dp) "
                      "streams; exposed: time the compute stream waited on the phase\n");
  auto line = [&](std::string_view phase, std::string_view c, std::string_view sp, std::string_view dp,
                  std::string_view x, std::string_view share, std::string_view ops) {
    fmt::format_to(out, "{:<30} {:>12} {:>12} {:>12} {:>12} {:>7} {:>10}\n", phase, c, sp, dp, x, share, ops);
  };
  line("# phase", "compute (s)", "sp busy (s)", "dp busy (s)", "exposed (s)", "(%)", "ops");
  double compute = 0, sp = 0, dp = 0, exposed = 0;
  std::uint64_t ops = 0;
  const double time = e.time.value();
  auto pct = [&](double v) { return time > 0 ? fmt::format("{:.1f}", 100.0 * v / time) : std::string("-"); };
  for (const sim::PhaseRow& p : st.phases) {
    line("  " + p.phase, fmt::format("{:.4f}", p.compute_s), fmt::format("{:.4f}", p.sp_s), fmt::format("{:.4f}", p.dp_s),
         fmt::format("{:.4f}", p.exposed_s), pct(p.compute_s + p.exposed_s), fmt::format("{}", p.ops));
    compute += p.compute_s;
    sp += p.sp_s;
    dp += p.dp_s;
    exposed += p.exposed_s;
    ops += p.ops;
  }
  line("  all phases", fmt::format("{:.4f}", compute), fmt::format("{:.4f}", sp), fmt::format("{:.4f}", dp),
       fmt::format("{:.4f}", exposed), pct(compute + exposed), fmt::format("{}", ops));
  fmt::format_to(out, "# step {:.4f} s; (%) is the phase's compute and exposed time over the step\n", time);
  if (!st.link.busiest_link.empty())
    fmt::format_to(out, "# busiest link {}, busy {:.1f}% of the step", st.link.busiest_link,
                   st.link.busiest_utilization * 100.0);
  if (!st.mixed_link.empty())
    fmt::format_to(out, "; sequence-parallel and sharding traffic shared {} for {:.1f}% of the step", st.mixed_link,
                   st.mixed_share * 100.0);
  if (!st.link.busiest_link.empty() || !st.mixed_link.empty()) fmt::format_to(out, "\n");
  return fmt::to_string(b);
}

std::string render_iteration_csv(const std::vector<sim::IterationEvaluation>& rows) {
  fmt::memory_buffer b;
  auto out = std::back_inserter(b);
  fmt::format_to(out, "mechanism,self_attention,engine,pass,scope,feasible,time_s,compute_s,exposed_comm_s");
  for (const auto& [name, t] : breakdown_parts(IterationBreakdown{})) fmt::format_to(out, ",{}_s", name);
  fmt::format_to(out,
                 ",tokens_per_s,mfu,model_flops,flops_per_gpu,parameters_bytes,gradients_bytes,optimizer_bytes,"
                 "activations_bytes,transient_bytes,peak_memory_bytes,fits,reason\n");
  const std::size_t columns = 9 + 4 + 5 + 2;  // the breakdown, the figures, the memory parts, peak and fits
  for (const sim::IterationEvaluation& r : rows) {
    const IterationEstimate& e = r.estimate;
    fmt::format_to(out, "{},{},{},{},iteration,", e.cross_attention_name(), e.self_attention.name(),
                   sim::to_string(r.engine), to_string(e.pass));
    if (!e.feasible) {
      fmt::format_to(out, "false,,,{}", std::string(columns, ','));
      append_csv_cell(b, e.reason);
      b.push_back('\n');
      continue;
    }
    fmt::format_to(out, "true,{},{},{}", e.time.value(), e.compute.value(), e.exposed_comm.value());
    for (const auto& [name, t] : breakdown_parts(e.breakdown)) fmt::format_to(out, ",{}", t.value());
    const IterationMemory& m = e.memory;
    fmt::format_to(out, ",{},{},{},{},{},{},{},{},{},{},{},\n", e.tokens_per_s, e.mfu, e.model_flops.value(),
                   e.flops_per_gpu.value(), m.parameters.value(), m.gradients.value(), m.optimizer.value(),
                   m.activations.value(), m.transient.value(), e.peak_memory.value(), e.fits);
  }
  return fmt::to_string(b);
}

}  // namespace xattn::cli
