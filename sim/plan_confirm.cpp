// `xattn plan --confirm event` (plan.hpp; docs/plan.md, "Confirming in the event engine"):
// the top plans of the closed-form search re-run in the event engine through their own
// `set`, so that the figure checked is the one `xattn simulate -e event` would give, and a
// sentence saying how far the engines differ and which plan the event engine puts first.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "sim/executor.hpp"
#include "sim/plan.hpp"
#include "sim/runner.hpp"

namespace xattn::sim {
namespace {

std::string percent(double x) { return fmt::format("{:.1f}%", 100.0 * std::abs(x)); }

PlanConfirmation confirm_one(const PlanRequest& request, const Plan& plan) {
  PlanConfirmation c;
  c.closed_form = plan.time;
  try {
    const Scenario s = plan_scenario(request.spec, plan.set);
    const IterationEvaluated r = evaluate_iteration(s, plan.cross_attention, Pass::fwd_bwd, Engine::event);
    const IterationEvaluation& e = r.evaluations.back();
    if (!e.estimate.feasible) {
      c.error = e.estimate.reason.empty() ? std::string("the event engine found the step infeasible") : e.estimate.reason;
      return c;
    }
    c.ran = true;
    c.event = e.estimate.time;
    c.difference_s = c.event.value() - c.closed_form.value();
    c.difference_rel = c.closed_form.value() > 0 ? c.difference_s / c.closed_form.value() : 0.0;
    // The same verdict `simulate -e both` gives (runner.cpp: beyond 1% either way).
    c.verdict = c.difference_rel > 0.01 ? "optimistic" : c.difference_rel < -0.01 ? "pessimistic" : "agrees";
    if (e.event) {
      c.mixed_link = e.event->mixed_link;
      c.mixed_share = e.event->mixed_share;
    }
  } catch (const SimulationError& err) {
    // A program the engine cannot run to the end: the plan keeps its closed-form figures
    // and the answer says why this one was not confirmed.
    c.error = err.what();
  }
  return c;
}

// The plan's objective with the event engine's time in place of the closed form's.
double event_key(const Plan& p, PlanObjective o) {
  Plan q = p;
  q.time = p.event->event;
  return objective_key(q, o);
}

}  // namespace

void confirm_in_event_engine(const PlanRequest& request, PlanResult& result, int jobs) {
  result.confirmed = true;
  const std::size_t n = result.top.size();
  if (n == 0) return;
  std::vector<PlanConfirmation> out(n);
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < n; i = next++) out[i] = confirm_one(request, result.top[i]);
  };
  const std::size_t threads = std::min<std::size_t>(n, static_cast<std::size_t>(std::max(1, jobs)));
  {
    std::vector<std::jthread> pool;
    for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
  }
  for (std::size_t i = 0; i < n; ++i) result.top[i].event = std::move(out[i]);
  if (result.best) result.best->event = result.top.front().event;

  // The sentence: how far apart the engines are, and the event engine's first plan.
  std::size_t ran = 0, largest = 0, first = n;
  for (std::size_t i = 0; i < n; ++i) {
    const PlanConfirmation& c = *result.top[i].event;
    if (!c.ran) continue;
    if (ran == 0 || std::abs(c.difference_rel) > std::abs(result.top[largest].event->difference_rel)) largest = i;
    if (first == n || event_key(result.top[i], result.objective) < event_key(result.top[first], result.objective)) first = i;
    ++ran;
  }
  std::string text;
  if (ran == 0) {
    text = fmt::format("The event engine could not run any of the top {} plans (plan 1: {}).", n,
                       result.top.front().event->error);
  } else {
    const PlanConfirmation& big = *result.top[largest].event;
    text = fmt::format("Event engine: {} of the top {} plans re-run; the closed form is within {} of each (the largest gap: "
                       "plan {}, whose event step is {} {}).",
                       ran, n, percent(big.difference_rel), largest + 1, percent(big.difference_rel),
                       big.difference_rel >= 0 ? "longer" : "shorter");
    if (first == 0) {
      text += " It puts the same plan first.";
    } else if (result.top.front().event->ran) {
      const double gain =
          1.0 - event_key(result.top[first], result.objective) / event_key(result.top.front(), result.objective);
      text += fmt::format(" It puts plan {} first, {} {} than plan 1 there.", first + 1, percent(gain),
                          result.objective == PlanObjective::time ? "faster" : "cheaper");
    } else {
      text += fmt::format(" Of the plans it ran it puts plan {} first.", first + 1);
    }
    if (ran < n) {
      for (std::size_t i = 0; i < n; ++i) {
        const PlanConfirmation& c = *result.top[i].event;
        if (!c.ran) {
          text += fmt::format(" It could not run {} of them (plan {}: {}).", n - ran, i + 1, c.error);
          break;
        }
      }
    }
  }
  result.explanation.text.push_back(std::move(text));
}

}  // namespace xattn::sim
