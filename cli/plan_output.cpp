// `xattn plan`'s table, JSON and CSV (plan_output.hpp).
#include "cli/plan_output.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/output.hpp"

namespace xattn::cli {
namespace {

using nlohmann::ordered_json;

std::string count_text(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

ordered_json breakdown_json(const IterationBreakdown& b) {
  return ordered_json{{"vision", b.vision.value()},
                      {"projector", b.projector.value()},
                      {"self_attention", b.self_attention.value()},
                      {"cross_attention", b.cross_attention.value()},
                      {"mlp", b.mlp.value()},
                      {"other_gemm", b.other_gemm.value()},
                      {"lm_head", b.lm_head.value()},
                      {"sharding_comm_exposed", b.sharding_comm_exposed.value()},
                      {"optimizer", b.optimizer.value()}};
}

ordered_json plan_object(const sim::Plan& p) {
  ordered_json j;
  j["gpus"] = p.gpus;
  j["nodes"] = p.nodes;
  j["sp"] = p.sp;
  j["dp"] = p.dp;
  j["global_batch"] = p.global_batch;
  j["micro_steps"] = p.micro_steps;
  j["cross_attention"] = p.cross_attention_name();
  j["self_attention"] = p.self_attention.name();
  j["sharding"] = std::string(to_string(p.sharding));
  j["checkpointing"] = std::string(to_string(p.checkpointing));
  j["recompute"] = p.recompute;
  j["time_s"] = p.time.value();
  j["gpu_hours"] = p.gpu_hours;
  if (p.cost_usd) j["cost_usd"] = *p.cost_usd;
  j["samples_per_s_per_gpu"] = p.samples_per_s_per_gpu;
  j["tokens_per_s"] = p.tokens_per_s;
  j["mfu"] = p.mfu;
  j["peak_memory_bytes"] = p.peak_memory.value();
  j["fits"] = p.fits;
  j["breakdown_s"] = breakdown_json(p.breakdown);
  j["set"] = p.set;
  if (p.event) {
    // --confirm event: the closed form's figure, the event engine's, their difference.
    const sim::PlanConfirmation& c = *p.event;
    ordered_json e;
    e["ran"] = c.ran;
    e["closed_form_time_s"] = c.closed_form.value();
    if (c.ran) {
      e["event_time_s"] = c.event.value();
      e["difference_s"] = c.difference_s;
      e["difference_rel"] = c.difference_rel;
      e["closed_form"] = c.verdict;
      if (!c.mixed_link.empty()) e["mixed_link"] = {{"link", c.mixed_link}, {"share", c.mixed_share}};
    } else {
      e["error"] = c.error;
    }
    j["event"] = std::move(e);
  }
  return j;
}

ordered_json explanation_json(const sim::PlanExplanation& x) {
  ordered_json j;
  j["text"] = x.text;
  ordered_json dominant = ordered_json::array();
  for (const auto& t : x.dominant) dominant.push_back({{"part", t.part}, {"time_s", t.time.value()}, {"share", t.share}});
  j["dominant"] = std::move(dominant);
  if (x.runner_up) j["runner_up"] = {{"worse_by", x.runner_up_worse_by}, {"plan", plan_object(*x.runner_up)}};
  else j["runner_up"] = nullptr;
  if (x.sharding_tie) j["sharding_tie"] = plan_object(*x.sharding_tie);
  ordered_json alternatives = ordered_json::array();
  for (const auto& a : x.alternatives)
    alternatives.push_back({{"mechanism", a.mechanism}, {"worse_by", a.worse_by}, {"plan", plan_object(a.plan)}});
  j["alternatives"] = std::move(alternatives);
  ordered_json flips = ordered_json::array();
  for (const auto& f : x.flips) {
    ordered_json one{{"field", f.field}, {"now", f.now},   {"winner", f.winner}, {"rival", f.rival},
                     {"low", f.low},     {"high", f.high}, {"found", f.found}};
    if (f.found) {
      one["at"] = f.at;
      one["before"] = f.before;
      one["rival_wins"] = f.rival_above ? "above" : "below";
    }
    flips.push_back(std::move(one));
  }
  j["flips"] = std::move(flips);
  auto step = [](const std::optional<sim::PlanNodeStep>& n) -> ordered_json {
    if (!n) return nullptr;
    return {{"time_change", n->time_change}, {"gpu_hours_change", n->gpu_hours_change}, {"plan", plan_object(n->plan)}};
  };
  j["fewer_nodes"] = step(x.fewer_nodes);
  j["more_nodes"] = step(x.more_nodes);
  return j;
}

// One row of the plan table: fixed columns, as nccl-tests lines up its own.
constexpr const char* kHeader =
    "# {:>4} {:>5} {:>5} {:>4} {:>4}  {:<16} {:<15} {:<8} {:<15} {:<9} {:>11} {:>11} {:>10} {:>9} {:>9} {:>4}\n";

std::string table_header() {
  std::string out = fmt::format(kHeader, "rank", "gpus", "nodes", "sp", "dp", "cross_attention", "self_attention",
                                "sharding", "checkpointing", "recompute", "step", "GPU-hours", "cost", "samples/s", "peak", "fits");
  out += fmt::format(kHeader, "", "", "", "", "", "", "", "", "", "", "s", "GPU·h", "USD", "per GPU", "GB", "");
  return out;
}

std::string table_row(const std::string& rank, const sim::Plan& p) {
  return fmt::format("  {:>4} {:>5} {:>5} {:>4} {:>4}  {:<16} {:<15} {:<8} {:<15} {:<9} {:>11.5g} {:>11.5g} {:>10} {:>9.4g} {:>9.2f} {:>4}\n",
                     rank, p.gpus, p.nodes, p.sp, p.dp, p.cross_attention_name(), p.self_attention.name(),
                     to_string(p.sharding), to_string(p.checkpointing), p.recompute ? "true" : "false", p.time.value(),
                     p.gpu_hours, p.cost_usd ? fmt::format("{:.2f}", *p.cost_usd) : std::string("-"),
                     p.samples_per_s_per_gpu, p.peak_memory.value() * 1e-9, p.fits ? "yes" : "no");
}

std::string scenario_line(const Scenario& s) {
  return fmt::format("# xattn plan: {}{}\n", s.name.empty() ? s.path : s.name, s.description.empty() ? "" : " — " + s.description);
}

std::string objective_text(sim::PlanObjective o) {
  switch (o) {
    case sim::PlanObjective::time: return "time (seconds per step)";
    case sim::PlanObjective::cost: return "cost (GPU-hours per the steps counted)";
    case sim::PlanObjective::throughput: return "throughput (samples of the global batch per second per GPU)";
  }
  return "?";
}

}  // namespace

std::string plan_table(const Scenario& scenario, const sim::PlanResult& r, const std::optional<sim::Maximized>& maximized) {
  std::string out = scenario_line(scenario);
  out += fmt::format("# objective: {}; GPU-hours per {} step{}{}{}\n", objective_text(r.objective), r.iterations,
                     r.iterations == 1 ? "" : "s",
                     r.price_per_gpu_hour ? fmt::format(" at ${}/GPU-hour", *r.price_per_gpu_hour) : std::string(),
                     r.max_time_s ? fmt::format("; steps of at most {} s", *r.max_time_s) : std::string());
  const sim::PlanTally& t = r.tally;
  out += fmt::format("# plans: {} considered, {} evaluated, {} pruned (another mechanism no worse in every term), {} "
                     "infeasible; {} fit in memory\n",
                     count_text(t.considered), count_text(t.evaluated), count_text(t.pruned), count_text(t.infeasible),
                     count_text(t.fitting));
  if (maximized)
    out += fmt::format("# maximized: {} = {}{} ({} searches)\n", maximized->field, maximized->value,
                       maximized->at_bound ? " (the bound)" : ", and no plan fits at one more", maximized->searches);
  if (r.cancelled) out += "# cancelled: the answer covers the plans evaluated before the stop\n";
  if (!r.best) {
    out += "\nNo plan fits";
    out += r.max_time_s ? " and meets the time limit.\n" : ".\n";
    return out;
  }
  out += "\n";
  for (const auto& line : r.explanation.text) out += line + "\n";
  out += fmt::format("\n# top {}, best first\n", r.top.size());
  out += table_header();
  for (std::size_t i = 0; i < r.top.size(); ++i) out += table_row(std::to_string(i + 1), r.top[i]);
  if (r.confirmed) {
    out += "\n# the top plans re-run in the event engine (--confirm event), each through its set\n";
    out += fmt::format("# {:>4} {:>13} {:>13} {:>13} {:>9}  {:<12} {}\n", "rank", "closed form", "event", "difference",
                       "", "closed form", "note");
    out += fmt::format("# {:>4} {:>13} {:>13} {:>13} {:>9}  {:<12}\n", "", "s", "s", "s", "%", "");
    for (std::size_t i = 0; i < r.top.size(); ++i) {
      if (!r.top[i].event) continue;
      const sim::PlanConfirmation& c = *r.top[i].event;
      if (c.ran) {
        out += fmt::format("  {:>4} {:>13.6g} {:>13.6g} {:>+13.4g} {:>+9.2f}  {:<12} {}\n", i + 1, c.closed_form.value(),
                           c.event.value(), c.difference_s, 100.0 * c.difference_rel, c.verdict,
                           c.mixed_link.empty() || c.mixed_share < 0.001 ? std::string()
                                                : fmt::format("{} carried both kinds of traffic {:.1f}% of the step",
                                                              c.mixed_link, 100.0 * c.mixed_share));
      } else {
        out += fmt::format("  {:>4} {:>13.6g} {:>13} {:>13} {:>9}  {:<12} not run: {}\n", i + 1, c.closed_form.value(), "-",
                           "-", "-", "-", c.error);
      }
    }
  }
  out += "\n# frontier: step time against GPU-hours, no plan both faster and cheaper (GPU-hours ascending)\n";
  out += table_header();
  for (const auto& p : r.frontier) out += table_row("-", p);
  out += "\n# the best plan, reproduced:\n#   xattn simulate " + (scenario.path.empty() ? std::string("SCENARIO") : scenario.path) +
         " --scope iteration --pass fwd+bwd";
  for (const auto& s : r.best->set) out += " --set " + s;
  out += "\n";
  return out;
}

std::string plan_json(const Scenario& scenario, const sim::PlanResult& r, const std::optional<sim::Maximized>& maximized) {
  ordered_json j;
  j["scenario"] = scenario.name;
  j["objective"] = std::string(to_string(r.objective));
  j["iterations"] = r.iterations;
  if (r.price_per_gpu_hour) j["price_per_gpu_hour"] = *r.price_per_gpu_hour;
  if (r.max_time_s) j["max_time_s"] = *r.max_time_s;
  j["plans_considered"] = r.tally.considered;
  j["plans_evaluated"] = r.tally.evaluated;
  j["plans_pruned"] = r.tally.pruned;
  j["plans_infeasible"] = r.tally.infeasible;
  j["plans_fitting"] = r.tally.fitting;
  j["ranks"] = r.ranks;
  if (r.cancelled) j["cancelled"] = true;
  if (maximized) j["maximized"] = {{"field", maximized->field}, {"value", maximized->value}, {"at_bound", maximized->at_bound},
                                   {"searches", maximized->searches}};
  if (r.best) {
    ordered_json best = plan_object(*r.best);
    best["explanation"] = explanation_json(r.explanation);
    j["best"] = std::move(best);
  } else {
    j["best"] = nullptr;
  }
  ordered_json top = ordered_json::array(), frontier = ordered_json::array();
  for (const auto& p : r.top) top.push_back(plan_object(p));
  for (const auto& p : r.frontier) frontier.push_back(plan_object(p));
  j["top"] = std::move(top);
  j["frontier"] = std::move(frontier);
  return j.dump(2) + "\n";
}

std::string plan_csv(const sim::PlanResult& r) {
  fmt::memory_buffer b;
  b.append(std::string_view(
      "role,rank,gpus,nodes,sp,dp,cross_attention,self_attention,sharding,checkpointing,recompute,time_s,gpu_hours,"
      "cost_usd,samples_per_s_per_gpu,peak_memory_bytes,fits,set"));
  // --confirm event: the event engine's figures beside each top plan's (empty for the frontier).
  if (r.confirmed) b.append(std::string_view(",event_time_s,event_difference_s,event_difference_rel,event_error"));
  b.push_back('\n');
  auto row = [&](std::string_view role, std::size_t rank, const sim::Plan& p) {
    fmt::format_to(std::back_inserter(b), "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},", role, rank, p.gpus, p.nodes,
                   p.sp, p.dp, p.cross_attention_name(), p.self_attention.name(), to_string(p.sharding),
                   to_string(p.checkpointing), p.recompute ? "true" : "false", p.time.value(), p.gpu_hours,
                   p.cost_usd ? fmt::format("{}", *p.cost_usd) : std::string(), p.samples_per_s_per_gpu,
                   p.peak_memory.value(), p.fits ? "true" : "false");
    append_csv_cell(b, fmt::format("{}", fmt::join(p.set, " ")));
    if (r.confirmed) {
      if (p.event && p.event->ran) {
        fmt::format_to(std::back_inserter(b), ",{},{},{},", p.event->event.value(), p.event->difference_s,
                       p.event->difference_rel);
      } else {
        b.append(std::string_view(",,,,"));
        if (p.event) append_csv_cell(b, p.event->error);
      }
    }
    b.push_back('\n');
  };
  for (std::size_t i = 0; i < r.top.size(); ++i) row("top", i + 1, r.top[i]);
  for (std::size_t i = 0; i < r.frontier.size(); ++i) row("frontier", i + 1, r.frontier[i]);
  return fmt::to_string(b);
}

std::string lengths_table(const Scenario& scenario, const sim::LengthPolicy& p) {
  std::string out = scenario_line(scenario);
  out += fmt::format("# mixed lengths: {} samples, {} distinct (frames, text tokens); {} evaluations\n", count_text(p.samples),
                     count_text(p.shapes), count_text(p.evaluations));
  out += "# the epoch: Σ over samples of the step time at its length / the global batch; a set-up must fit every sample\n\n";
  if (!p.static_plan) {
    out += "No set-up fits every sample.\n";
    return out;
  }
  auto setup = [](const sim::Plan& plan) {
    return fmt::format("{} GPUs, sp {} x dp {}, {} self-attention, sharding {}, checkpointing {}{}", plan.gpus, plan.sp, plan.dp,
                       plan.self_attention.name(), to_string(plan.sharding), to_string(plan.checkpointing),
                       plan.recompute ? ", LV-XAttn recomputation" : "");
  };
  out += fmt::format("Static: {} cross-attention for every sample; {}: {:.6g} s per epoch.\n",
                     p.static_plan->cross_attention_name(), setup(*p.static_plan), p.static_epoch.value());
  if (p.policy_plan) {
    out += fmt::format("Per-length policy (switching among {}): {}: {:.6g} s per epoch, {} {} than static.\n",
                       fmt::join(p.switchable, ", "), setup(*p.policy_plan), p.policy_epoch.value(),
                       fmt::format("{:.1f}%", 100.0 * std::abs(p.gain)), p.gain >= 0 ? "faster" : "slower");
    out += "\n# buckets of the policy, frames ascending\n";
    out += fmt::format("# {:>8} {:>8} {:>8} {:>8} {:<16} {:>8} {:>12}\n", "frames", "to", "text", "to", "mechanism", "samples",
                       "epoch share");
    out += fmt::format("# {:>8} {:>8} {:>8} {:>8} {:<16} {:>8} {:>12}\n", "", "", "tokens", "tokens", "", "", "s");
    for (const auto& b : p.buckets)
      out += fmt::format("  {:>8} {:>8} {:>8} {:>8} {:<16} {:>8} {:>12.6g}\n", b.frames_from, b.frames_to, b.text_from, b.text_to,
                         b.mechanism, b.samples, b.time.value());
  } else {
    out += "No policy of switchable mechanisms fits every sample.\n";
  }
  return out;
}

std::string lengths_json(const Scenario& scenario, const sim::LengthPolicy& p) {
  ordered_json j;
  j["scenario"] = scenario.name;
  j["samples"] = p.samples;
  j["shapes"] = p.shapes;
  j["evaluations"] = p.evaluations;
  j["switchable"] = p.switchable;
  if (p.static_plan) j["static"] = {{"epoch_s", p.static_epoch.value()}, {"plan", plan_object(*p.static_plan)}};
  else j["static"] = nullptr;
  if (p.policy_plan) {
    ordered_json buckets = ordered_json::array();
    for (const auto& b : p.buckets)
      buckets.push_back({{"frames_from", b.frames_from}, {"frames_to", b.frames_to}, {"text_from", b.text_from},
                         {"text_to", b.text_to}, {"mechanism", b.mechanism}, {"samples", b.samples}, {"epoch_s", b.time.value()}});
    j["policy"] = {{"epoch_s", p.policy_epoch.value()}, {"plan", plan_object(*p.policy_plan)}, {"buckets", std::move(buckets)}};
  } else {
    j["policy"] = nullptr;
  }
  j["gain"] = p.gain;
  return j.dump(2) + "\n";
}

std::string lengths_csv(const sim::LengthPolicy& p) {
  std::string out = "frames_from,frames_to,text_from,text_to,mechanism,samples,epoch_s\n";
  for (const auto& b : p.buckets)
    out += fmt::format("{},{},{},{},{},{},{}\n", b.frames_from, b.frames_to, b.text_from, b.text_to, b.mechanism, b.samples,
                       b.time.value());
  return out;
}

std::string break_even_json(const sim::BreakEvenMap& map) {
  ordered_json j;
  j["field_x"] = map.field_x;
  j["field_y"] = map.field_y;
  j["now"] = {map.now_x, map.now_y};
  j["mechanisms"] = map.mechanisms;
  j["xs"] = map.xs;
  ordered_json segments = ordered_json::array(), boundaries = ordered_json::array();
  for (const auto& s : map.segments) segments.push_back({{"x", s.x}, {"y_from", s.y_from}, {"y_to", s.y_to}, {"best", s.best}});
  for (const auto& b : map.boundaries)
    boundaries.push_back({{"x", b.x}, {"y", b.y}, {"y_before", b.y_before}, {"below", b.below}, {"above", b.above}});
  j["segments"] = std::move(segments);
  j["boundaries"] = std::move(boundaries);
  j["evaluations"] = map.evaluations;
  return j.dump(2) + "\n";
}

}  // namespace xattn::cli
