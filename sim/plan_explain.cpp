// The planner's explanation (plan.hpp; docs/plan.md, "The explanation"): computed from
// the search's results and a few re-evaluations of the winner's set-up, never canned.
#include <algorithm>
#include <iterator>
#include <optional>
#include <variant>
#include <array>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sim/plan_internal.hpp"

namespace xattn::sim::plan_detail {
namespace {

std::string seconds_text(double s) {
  if (s >= 100) return fmt::format("{:.0f} s", s);
  if (s >= 1) return fmt::format("{:.2f} s", s);
  if (s >= 1e-3) return fmt::format("{:.1f} ms", s * 1e3);
  return fmt::format("{:.1f} µs", s * 1e6);
}

std::string percent(double x) { return fmt::format("{:.1f}%", 100.0 * std::abs(x)); }

std::string value_text(double v, bool integer) {
  return integer ? fmt::format("{}", static_cast<std::int64_t>(std::llround(v))) : fmt::format("{:.4g}", v);
}

// What differs between two plans, as "what b has instead".
std::vector<std::string> differences(const Plan& a, const Plan& b) {
  std::vector<std::string> d;
  if (a.gpus != b.gpus) d.push_back(fmt::format("{} GPUs ({} nodes)", b.gpus, b.nodes));
  if (a.sp != b.sp || a.dp != b.dp) d.push_back(fmt::format("sp {} x dp {}", b.sp, b.dp));
  if (a.cross_attention_name() != b.cross_attention_name())
    d.push_back(fmt::format("{} cross-attention", b.cross_attention_name()));
  if (a.self_attention != b.self_attention) d.push_back(fmt::format("{} self-attention", b.self_attention.name()));
  if (a.sharding != b.sharding) d.push_back(fmt::format("sharding {}", to_string(b.sharding)));
  if (a.checkpointing != b.checkpointing) d.push_back(fmt::format("checkpointing {}", to_string(b.checkpointing)));
  if (a.recompute != b.recompute) d.push_back(b.recompute ? "LV-XAttn recomputation" : "no recomputation");
  return d;
}

// The winner's set-up with another value of one field and another mechanism.
class Probe {
 public:
  Probe(const Prepared& p, const Plan& plan) : multimodal_(p.multimodal) {
    spec_ = p.spec;
    for (const auto& o : plan_set(p, plan)) apply_override(spec_, o);
  }

  // The step time with `m` (cross-attention, or self-attention for a decoder-only model)
  // and field = value; nullopt when the scenario does not resolve or m cannot run.
  std::optional<double> time(const Mechanism& m, const Field* field, double value, bool integer, bool need_fit) const {
    ScenarioSpec spec = spec_;
    if (field != nullptr) {
      if (integer) field->set(spec, FieldValue(static_cast<std::int64_t>(std::llround(value))));
      else field->set(spec, FieldValue(value));
    }
    std::optional<Scenario> s;
    try {
      s.emplace(resolve(spec));
    } catch (const InputError&) {
      return std::nullopt;
    }
    std::optional<Mechanism> cross;
    if (multimodal_) cross = m;
    else s->training.self_attention = m;
    const IterationEstimate e = estimate_iteration(*s, cross, Pass::fwd_bwd);
    if (!e.feasible || (need_fit && !e.fits)) return std::nullopt;
    return e.time.value();
  }

 private:
  bool multimodal_;
  ScenarioSpec spec_;
};

std::optional<double> field_now(const Scenario& s, const Field& f) {
  const FieldValue v = f.get(s);
  if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  return std::nullopt;
}

// Where `rival` becomes at least as fast as `winner` along one field, nearest the current
// value: steps of sqrt(2) up to 64x either way find a change of sign, bisection locates it
// to 1% (docs/plan.md, "What would flip it").
PlanFlip find_flip(const Probe& probe, const Scenario& s, const std::string& field_path, const Mechanism& winner,
                   const Mechanism& rival) {
  PlanFlip flip;
  flip.field = field_path;
  flip.winner = winner.name();
  flip.rival = rival.name();
  const Field* f = find_field(field_path);
  if (f == nullptr) return flip;
  const bool integer = f->type == FieldType::integer;
  const auto now = field_now(s, *f);
  if (!now || !(*now > 0)) return flip;
  flip.now = *now;
  auto gap = [&](double x) -> std::optional<double> {
    const auto tr = probe.time(rival, f, x, integer, false);
    const auto tw = probe.time(winner, f, x, integer, false);
    if (!tr || !tw) return std::nullopt;
    return *tr - *tw;
  };
  auto snap = [&](double x) { return integer ? std::max(1.0, std::round(x)) : x; };
  struct Crossing {
    int step = 0;
    double a = 0, b = 0;  // gap(a) > 0 >= gap(b)
  };
  std::optional<Crossing> best;
  flip.low = flip.high = *now;
  for (int dir : {+1, -1}) {
    double prev = *now;
    for (int k = 1; k <= 12; ++k) {
      const double x = snap(*now * std::pow(2.0, dir * k / 2.0));
      if (x == prev) continue;
      const auto g = gap(x);
      if (!g) break;
      (dir > 0 ? flip.high : flip.low) = x;
      if (*g <= 0) {
        if (!best || k < best->step) best = Crossing{k, prev, x};
        break;
      }
      prev = x;
    }
  }
  if (!best) return flip;
  double a = best->a, b = best->b;
  for (int i = 0; i < 64; ++i) {
    if (std::abs(b / a - 1.0) <= 0.01 || (integer && std::abs(b - a) <= 1.0)) break;
    const double m = snap(std::sqrt(a * b));
    if (m == a || m == b) break;
    const auto g = gap(m);
    if (!g) break;
    (*g <= 0 ? b : a) = m;
  }
  flip.found = true;
  flip.at = b;
  flip.before = a;
  flip.rival_above = b > *now;
  return flip;
}

}  // namespace

PlanExplanation explain(const Prepared& p, const Partial& all, const Plan& best) {
  PlanExplanation x;
  const double t = best.time.value();
  const double key = objective_key(best, p.objective);

  // The winner's largest terms: those of at least 5% of the step, at most three.
  const IterationBreakdown& b = best.breakdown;
  const std::array<std::pair<const char*, double>, 9> parts{{{"vision", b.vision.value()},
                                                             {"projector", b.projector.value()},
                                                             {"self_attention", b.self_attention.value()},
                                                             {"cross_attention", b.cross_attention.value()},
                                                             {"mlp", b.mlp.value()},
                                                             {"other_gemm", b.other_gemm.value()},
                                                             {"lm_head", b.lm_head.value()},
                                                             {"sharding_comm_exposed", b.sharding_comm_exposed.value()},
                                                             {"optimizer", b.optimizer.value()}}};
  std::vector<PlanTerm> terms;
  for (const auto& [name, v] : parts)
    if (t > 0 && v > 0) terms.push_back(PlanTerm{name, Seconds(v), v / t});
  std::stable_sort(terms.begin(), terms.end(), [](const PlanTerm& a, const PlanTerm& c) { return a.time > c.time; });
  for (const PlanTerm& term : terms)
    if (x.dominant.size() < 3 && (x.dominant.empty() || term.share >= 0.05)) x.dominant.push_back(term);

  // The runner-up, and the best plan of each other mechanism.
  // A plan differing only in the sharding stage and within 0.1% is the same step with
  // another memory footprint: named as a tie, and the runner-up is then the nearest plan of
  // the top ones that differs in more (the second plan where none does).
  if (all.top.size() > 1) {
    auto sharding_only = [&](const Plan& q) {
      Plan same = q;
      same.sharding = best.sharding;
      return differences(best, same).empty();
    };
    std::size_t pick = 1;
    if (sharding_only(all.top[1]) && objective_key(all.top[1], p.objective) / key - 1.0 <= 1e-3) {
      for (std::size_t i = 2; i < all.top.size(); ++i) {
        if (!sharding_only(all.top[i])) {
          pick = i;
          break;
        }
      }
      if (pick != 1) {
        x.sharding_tie = all.top[1];
        x.sharding_tie->set = plan_set(p, *x.sharding_tie);
      }
    }
    x.runner_up = all.top[pick];
    x.runner_up->set = plan_set(p, *x.runner_up);
    x.runner_up_worse_by = objective_key(*x.runner_up, p.objective) / key - 1.0;
  }
  const std::pair<int, int> mine = best.cross_attention ? mechanism_key(*best.cross_attention) : mechanism_key(best.self_attention);
  for (const auto& [k, plan] : all.per_mechanism) {
    if (k == mine) continue;
    PlanAlternative alt;
    alt.mechanism = p.multimodal ? plan.cross_attention_name() : plan.self_attention.name();
    alt.plan = plan;
    alt.plan.set = plan_set(p, plan);
    alt.worse_by = objective_key(plan, p.objective) / key - 1.0;
    x.alternatives.push_back(std::move(alt));
  }
  std::sort(x.alternatives.begin(), x.alternatives.end(),
            [&](const PlanAlternative& a, const PlanAlternative& c) { return better(a.plan, c.plan, p.objective); });

  // What would flip it: at the winner's set-up, the fastest mechanism of each other kind
  // that fits (LV-XAttn, Ring, Ulysses, StarTrail, USP, ...); for the two fastest of them,
  // where along each field they would overtake the winner.
  const Branch& br = branch_of(p, best);
  const Mechanism winner = best.cross_attention ? *best.cross_attention : best.self_attention;
  const Probe probe(p, best);
  std::vector<std::pair<double, Mechanism>> rivals;  // per kind, its fastest variant
  for (const Mechanism& m : p.multimodal ? br.cross : br.self) {
    if (m.kind == winner.kind) continue;
    const auto tm = probe.time(m, nullptr, 0, false, true);
    if (!tm) continue;
    auto same = std::find_if(rivals.begin(), rivals.end(), [&](const auto& r) { return r.second.kind == m.kind; });
    if (same == rivals.end()) rivals.emplace_back(*tm, m);
    else if (*tm < same->first) *same = {*tm, m};
  }
  std::stable_sort(rivals.begin(), rivals.end(), [](const auto& a, const auto& c) { return a.first < c.first; });
  if (rivals.size() > 2) rivals.resize(2);
  if (!rivals.empty()) {
    const Scenario s = plan_scenario(p.spec, plan_set(p, best));
    std::vector<std::string> fields{"workload.text_tokens"};
    if (p.multimodal) fields.push_back("workload.frames");
    if (best.gpus > p.per_node) fields.push_back("cluster.inter_node.bandwidth_GBps");
    if (p.per_node > 1) fields.push_back("cluster.intra_node.bandwidth_GBps");
    for (const auto& [tm, rival] : rivals)
      for (const auto& f : fields) x.flips.push_back(find_flip(probe, s, f, winner, rival));
  }

  // One node more or fewer: the fastest plan of the nearest GPU counts searched.
  auto step = [&](const Plan& other) {
    PlanNodeStep n;
    n.plan = other;
    n.plan.set = plan_set(p, other);
    n.time_change = other.time.value() / t - 1.0;
    n.gpu_hours_change = other.gpu_hours / best.gpu_hours - 1.0;
    return n;
  };
  auto it = all.fastest.find(best.gpus);
  if (it != all.fastest.end()) {
    if (it != all.fastest.begin()) x.fewer_nodes = step(std::prev(it)->second);
    if (std::next(it) != all.fastest.end()) x.more_nodes = step(std::next(it)->second);
  }

  // The sentences.
  std::string head = fmt::format("Best: {} GPUs ({} node{}), sp {} x dp {}", best.gpus, best.nodes, best.nodes == 1 ? "" : "s",
                                 best.sp, best.dp);
  if (best.cross_attention) head += fmt::format(", {} cross-attention", best.cross_attention->name());
  head += fmt::format(", {} self-attention, sharding {}, checkpointing {}{}: {} per step, {:.4g} GPU-hours per {} step{}",
                      best.self_attention.name(), to_string(best.sharding), to_string(best.checkpointing),
                      best.recompute ? ", LV-XAttn recomputation" : "", seconds_text(t), best.gpu_hours, p.iterations,
                      p.iterations == 1 ? "" : "s");
  if (best.cost_usd) head += fmt::format(" (${:.2f})", *best.cost_usd);
  x.text.push_back(head + ".");
  {
    std::vector<std::string> d;
    for (const PlanTerm& term : x.dominant) d.push_back(fmt::format("{} {}", term.part, percent(term.share)));
    if (!d.empty()) x.text.push_back(fmt::format("Where the step goes: {}.", fmt::join(d, ", ")));
  }
  if (x.runner_up) {
    const auto d = differences(best, *x.runner_up);
    std::string tie;
    if (x.sharding_tie)
      tie = fmt::format(" (sharding {} ties within 0.1%, at {:.2f} GB peak instead of {:.2f} GB)",
                        to_string(x.sharding_tie->sharding), x.sharding_tie->peak_memory.value() * 1e-9,
                        best.peak_memory.value() * 1e-9);
    const std::string what = d.empty() ? std::string("the same set-up") : fmt::format("{}", fmt::join(d, ", "));
    x.text.push_back(fmt::format("Runner-up: {} — {} {}{}.", what, percent(x.runner_up_worse_by),
                                 p.objective == PlanObjective::time ? "slower" : "more GPU-hours", tie));
  }
  if (!x.alternatives.empty()) {
    std::vector<std::string> a;
    for (std::size_t i = 0; i < x.alternatives.size() && i < 3; ++i)
      a.push_back(fmt::format("{} {} {}", x.alternatives[i].mechanism, percent(x.alternatives[i].worse_by),
                              p.objective == PlanObjective::time ? "slower" : "costlier"));
    x.text.push_back(fmt::format("Best plan with another {}: {}.", p.multimodal ? "cross-attention" : "self-attention",
                                 fmt::join(a, "; ")));
  }
  for (const auto& [tm, rival] : rivals) {
    std::vector<std::string> unflipped;
    for (const PlanFlip& f : x.flips) {
      if (f.rival != rival.name()) continue;
      const Field* field = find_field(f.field);
      const bool integer = field != nullptr && field->type == FieldType::integer;
      if (f.found)
        x.text.push_back(fmt::format("{} would overtake {} at this set-up {} {} = {} (now {}).", f.rival, f.winner,
                                     f.rival_above ? "from" : "below", f.field, value_text(f.at, integer),
                                     value_text(f.now, integer)));
      else unflipped.push_back(fmt::format("{} {}..{}", f.field, value_text(f.low, integer), value_text(f.high, integer)));
    }
    if (!unflipped.empty())
      x.text.push_back(fmt::format("{} stays ahead of {} over {}.", winner.name(), rival.name(), fmt::join(unflipped, ", ")));
  }
  auto node_text = [&](const PlanNodeStep& n, const char* what) {
    return fmt::format("{} ({} GPUs): {} {}, {} {} GPU-hours", what, n.plan.gpus, percent(n.time_change),
                       n.time_change <= 0 ? "faster" : "slower", percent(n.gpu_hours_change),
                       n.gpu_hours_change <= 0 ? "fewer" : "more");
  };
  {
    std::vector<std::string> n;
    if (x.more_nodes) n.push_back(node_text(*x.more_nodes, x.more_nodes->plan.nodes == best.nodes + 1 ? "One node more" : "More nodes"));
    if (x.fewer_nodes) n.push_back(node_text(*x.fewer_nodes, x.fewer_nodes->plan.nodes + 1 == best.nodes ? "One node fewer" : "Fewer nodes"));
    if (!n.empty()) x.text.push_back(fmt::format("{}.", fmt::join(n, "; ")));
  }
  return x;
}

}  // namespace xattn::sim::plan_detail
