// The planner's search (plan.hpp; docs/plan.md): the space, the branches and their
// mechanisms' terms, the dominance prune, the evaluation on threads and processes, the
// merge into the top plans, the frontier and the best per GPU count and per mechanism,
// and the explanation. The maximize bisection, the break-even map and the length policy
// are in plan_explore.cpp.
#include "sim/plan.hpp"

#include <algorithm>
#include <array>
#include <iterator>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/plan_internal.hpp"
#include "sim/workers.hpp"

namespace xattn::sim {

std::string_view to_string(PlanObjective o) {
  switch (o) {
    case PlanObjective::time: return "time";
    case PlanObjective::cost: return "cost";
    case PlanObjective::throughput: return "throughput";
  }
  return "?";
}

std::optional<PlanObjective> parse_plan_objective(std::string_view name) {
  if (name == "time") return PlanObjective::time;
  if (name == "cost") return PlanObjective::cost;
  if (name == "throughput") return PlanObjective::throughput;
  return std::nullopt;
}

double objective_key(const Plan& p, PlanObjective o) {
  return o == PlanObjective::time ? p.time.value() : static_cast<double>(p.gpus) * p.time.value();
}

Scenario plan_scenario(const ScenarioSpec& spec, const std::vector<std::string>& set) {
  ScenarioSpec s = spec;
  for (const auto& o : set) apply_override(s, o);
  return resolve(s);
}

namespace plan_detail {

namespace {

InputError option_error(const std::string& option, const std::string& message) {
  return InputError(Origin{"command line", 0, 0}, option, message);
}

std::vector<int> divisors(int n) {
  std::vector<int> out;
  for (int d = 1; d <= n; ++d)
    if (n % d == 0) out.push_back(d);
  return out;
}

}  // namespace

std::vector<Mechanism> cross_candidates(int sp) {
  std::vector<Mechanism> out{{MechanismKind::lv_xattn, 0}, {MechanismKind::ring, 0}, {MechanismKind::ulysses, 0}};
  for (int c = 2; c * c <= sp; ++c)
    if (sp % (c * c) == 0) out.push_back({MechanismKind::startrail, c});
  for (int u : divisors(sp))
    if (u > 1 && u < sp) out.push_back({MechanismKind::usp, u});
  return out;
}

std::vector<Mechanism> self_candidates(int sp) {
  std::vector<Mechanism> out{{MechanismKind::ring_zigzag, 0}, {MechanismKind::ring_stripe, 0}, {MechanismKind::ring, 0},
                             {MechanismKind::ulysses, 0}};
  for (int c = 2; c * c <= sp; ++c)
    if (sp % (c * c) == 0) out.push_back({MechanismKind::startrail, c});
  for (int u : divisors(sp))
    if (u > 1 && u < sp) out.push_back({MechanismKind::usp, u});
  return out;
}

std::string bool_text(bool b) { return b ? "true" : "false"; }

// ---- preparing the space -----------------------------------------------------------------

Prepared prepare(const PlanRequest& r) {
  Prepared p;
  p.spec = r.spec;
  for (const auto& o : r.overrides) {
    apply_override(p.spec, o);
    p.base_set.push_back(o);
  }
  if (r.gpus_per_node) {
    if (*r.gpus_per_node <= 0)
      throw option_error("--gpus-per-node", fmt::format("must be positive, got {}", *r.gpus_per_node));
    apply_override(p.spec, "cluster.gpus_per_node", std::to_string(*r.gpus_per_node), Origin{"--gpus-per-node", 0, 0});
    p.base_set.push_back(fmt::format("cluster.gpus_per_node={}", *r.gpus_per_node));
  }
  p.scenario = resolve(p.spec);  // the scenario as written: its errors are the user's
  const Scenario& s = p.scenario;
  p.per_node = s.cluster.gpus_per_node;
  p.batch = s.batch;
  p.global_batch = s.training.global_batch;
  p.multimodal = s.model.arch.multimodal();
  p.paper = s.training.preset == TrainingPreset::lv_xattn_paper;
  p.objective = r.objective;
  p.iterations = r.iterations;
  p.price = r.price_per_gpu_hour;
  p.max_time_s = r.max_time_s;
  p.top = r.top;
  if (r.top < 1) throw option_error("--top", fmt::format("must be at least 1, got {}", r.top));
  if (r.iterations < 1) throw option_error("--iterations", fmt::format("must be at least 1, got {}", r.iterations));
  if (r.price_per_gpu_hour && !(*r.price_per_gpu_hour >= 0.0))
    throw option_error("--price-per-gpu-hour", fmt::format("must not be negative, got {}", *r.price_per_gpu_hour));
  if (r.max_time_s && !(*r.max_time_s > 0.0))
    throw option_error("--max-time-s", fmt::format("must be positive, got {}", *r.max_time_s));

  // GPU counts: whole nodes.
  std::vector<int> asked = r.space.gpus;
  if (r.space.gpu_range) {
    const auto [lo, hi] = *r.space.gpu_range;
    if (lo <= 0 || hi < lo) throw option_error("--gpus", fmt::format("the range {}..{} is empty", lo, hi));
    for (int n = (lo + p.per_node - 1) / p.per_node; n * p.per_node <= hi; ++n) asked.push_back(n * p.per_node);
    if (asked.empty())
      throw option_error("--gpus", fmt::format("no whole number of nodes of {} GPUs lies in {}..{}", p.per_node, lo, hi));
  }
  if (asked.empty()) {
    if (!s.cluster.graph.links.empty()) p.gpu_counts.push_back(s.ranks());
    else
      for (int n = 1; n <= s.cluster.nodes; ++n) p.gpu_counts.push_back(n * p.per_node);
  } else {
    for (int g : asked) {
      if (g <= 0 || g % p.per_node != 0)
        throw option_error("--gpus", fmt::format("{} GPUs is not a whole number of nodes of {} GPUs", g, p.per_node));
      if (!s.cluster.graph.links.empty() && g != s.ranks())
        throw option_error("--gpus", fmt::format("the scenario lists its links for one machine of {} GPUs; {} is another "
                                                 "machine",
                                                 s.ranks(), g));
      if (std::find(p.gpu_counts.begin(), p.gpu_counts.end(), g) == p.gpu_counts.end()) p.gpu_counts.push_back(g);
    }
    std::sort(p.gpu_counts.begin(), p.gpu_counts.end());
  }
  if (p.gpu_counts.empty()) throw option_error("--gpus", "no GPU count to try: the space is empty");

  for (int g : p.gpu_counts) {
    ScenarioSpec spec = p.spec;
    const Origin origin{"--gpus", 0, 0};
    apply_override(spec, "cluster.nodes", std::to_string(g / p.per_node), origin);
    spec.training.sp.reset();
    spec.training.dp.reset();
    spec.training.global_batch = p.global_batch;
    spec.origins["training.global_batch"] = Origin{"the scenario's training.global_batch", 0, 0};
    try {
      p.bases.push_back(resolve(spec));
    } catch (const InputError& e) {
      const std::string why = e.problems().empty() ? e.what() : e.problems().front().str();
      throw option_error("--gpus", fmt::format("{} GPUs: {}", g, why));
    }
  }

  // Sharding, checkpointing and recompute.
  p.shardings = r.space.sharding.empty()
                    ? std::vector<Sharding>{Sharding::none, Sharding::zero1, Sharding::zero2, Sharding::zero3}
                    : r.space.sharding;
  const std::vector<Checkpointing> ckpts =
      r.space.checkpointing.empty()
          ? std::vector<Checkpointing>{Checkpointing::none, Checkpointing::after_attention, Checkpointing::full}
          : r.space.checkpointing;
  // LV-XAttn's recomputation changes the step only under checkpointing `none`, for a
  // model with cross-attention, outside the paper harness (whose wrapper already does it).
  const bool recompute_counts = p.multimodal && !p.paper;
  const std::vector<bool> recomputes =
      r.space.recompute.empty() ? (recompute_counts ? std::vector<bool>{false, true} : std::vector<bool>{false})
                                : r.space.recompute;
  for (Checkpointing c : ckpts)
    for (bool rc : recomputes)
      if (!rc || (recompute_counts && c == Checkpointing::none)) p.ck_rc.push_back({c, rc});
  if (p.ck_rc.empty())
    throw option_error("--recompute", "recompute changes a step only under checkpointing none, for a model with "
                                      "cross-attention outside the paper harness: the space is empty");
  for (const Mechanism& m : r.space.cross_attention)
    if (m.kind == MechanismKind::no_comm)
      throw option_error("--cross-attention", "no-comm is the floor no ring-family mechanism beats, not one to run");
  for (const Mechanism& m : r.space.self_attention)
    if (m.kind == MechanismKind::no_comm)
      throw option_error("--self-attention", "no-comm is the floor no ring-family mechanism beats, not one to run");
  if (!p.multimodal && !r.space.cross_attention.empty())
    throw option_error("--cross-attention", fmt::format("{} has no cross-attention layers", s.model.name));

  // Branches: a GPU count and a sequence-parallel degree.
  for (std::size_t gi = 0; gi < p.gpu_counts.size(); ++gi) {
    const int g = p.gpu_counts[gi];
    std::vector<int> sps;
    if (r.space.sp.empty()) sps = divisors(g);
    else
      for (int v : r.space.sp) {
        if (v <= 0) throw option_error("--sp", fmt::format("must be positive, got {}", v));
        if (std::find(sps.begin(), sps.end(), v) == sps.end()) sps.push_back(v);
      }
    std::sort(sps.begin(), sps.end());
    for (int sp : sps) {
      Branch b;
      b.gi = static_cast<int>(gi);
      b.gpus = g;
      b.sp = sp;
      b.cross = p.multimodal ? (r.space.cross_attention.empty() ? cross_candidates(sp) : r.space.cross_attention)
                             : std::vector<Mechanism>{};
      b.self = r.space.self_attention.empty() ? self_candidates(sp) : r.space.self_attention;
      // The rules resolve() checks (docs/model.md §13.1): sp divides the GPUs, a group
      // never straddles nodes unevenly, the global batch splits over the replicas.
      b.valid = g % sp == 0 && (sp < p.per_node ? p.per_node % sp == 0 : sp % p.per_node == 0);
      if (b.valid) {
        b.dp = g / sp;
        b.valid = p.global_batch % (p.batch * b.dp) == 0;
      }
      p.branches.push_back(std::move(b));
    }
  }
  return p;
}

// ---- terms and the dominance prune --------------------------------------------------------

namespace {

bool no_worse(const AttentionTerms& a, const AttentionTerms& b) {
  return a.fwd <= b.fwd && a.bwd <= b.bwd && a.recompute_comm <= b.recompute_comm && a.working_fwd <= b.working_fwd &&
         a.working_bwd <= b.working_bwd;
}

// Indices of the feasible mechanisms no other beats: i goes when some feasible j is no
// worse in every term and either better in one or earlier in the list (a tie keeps the
// first). The relation is a strict order, so every pruned one has a survivor no worse.
std::vector<int> survivors(const std::vector<AttentionTerms>& t, bool prune) {
  std::vector<int> out;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (!t[i].feasible) continue;
    bool beaten = false;
    for (std::size_t j = 0; prune && j < t.size() && !beaten; ++j)
      if (j != i && t[j].feasible && no_worse(t[j], t[i]) && (!no_worse(t[i], t[j]) || j < i)) beaten = true;
    if (!beaten) out.push_back(static_cast<int>(i));
  }
  return out;
}

}  // namespace

void set_layout(Scenario& s, const Branch& b, std::int64_t global_batch) {
  s.training.sp = b.sp;
  s.training.dp = b.dp;
  s.training.global_batch = global_batch;
}

void price_branches(Prepared& p, bool prune, PlanTally& tally) {
  const std::uint64_t rest = p.shardings.size() * p.ck_rc.size();
  for (Branch& b : p.branches) {
    const std::uint64_t nc = p.multimodal ? b.cross.size() : 1, ns = b.self.size();
    tally.considered += nc * ns * rest;
    if (!b.valid) {
      tally.infeasible += nc * ns * rest;
      continue;
    }
    Scenario s = p.bases[static_cast<std::size_t>(b.gi)];
    set_layout(s, b, p.global_batch);
    for (const Mechanism& m : b.self) {
      s.training.self_attention = m;
      b.self_terms.push_back(self_attention_terms(s));
    }
    // With recomputation under `none`, so the terms carry what it repeats (eq. 24).
    s.recompute = true;
    s.training.checkpointing = Checkpointing::none;
    for (const Mechanism& m : b.cross) b.cross_terms.push_back(cross_attention_terms(s, m));
    const auto feasible = [](const std::vector<AttentionTerms>& t) {
      return static_cast<std::uint64_t>(std::count_if(t.begin(), t.end(), [](const AttentionTerms& x) { return x.feasible; }));
    };
    const std::uint64_t fs = feasible(b.self_terms), fc = p.multimodal ? feasible(b.cross_terms) : 1;
    b.self_keep = survivors(b.self_terms, prune);
    if (p.multimodal) b.cross_keep = survivors(b.cross_terms, prune);
    else b.cross_keep = {-1};
    tally.infeasible += (nc * ns - fc * fs) * rest;
    tally.pruned += (fc * fs - b.cross_keep.size() * b.self_keep.size()) * rest;
  }
}

// ---- evaluation ----------------------------------------------------------------------------

bool better(const Plan& a, const Plan& b, PlanObjective o) {
  const double ka = objective_key(a, o), kb = objective_key(b, o);
  if (ka != kb) return ka < kb;
  return a.choice < b.choice;
}

bool faster(const Plan& a, const Plan& b) {
  if (a.time != b.time) return a.time < b.time;
  return a.choice < b.choice;
}

std::pair<int, int> mechanism_key(const Mechanism& m) { return {static_cast<int>(m.kind), m.param}; }

std::pair<int, int> varying_key(const Plan& p) {
  return p.cross_attention ? mechanism_key(*p.cross_attention) : mechanism_key(p.self_attention);
}

void Partial::offer(const Plan& plan, std::size_t top_k, PlanObjective o) {
  if (top.size() < top_k || better(plan, top.back(), o)) {
    auto at = std::lower_bound(top.begin(), top.end(), plan, [&](const Plan& a, const Plan& b) { return better(a, b, o); });
    if (at == top.end() || at->choice != plan.choice) {  // a plan offered twice (merges) is listed once
      top.insert(at, plan);
      if (top.size() > top_k) top.pop_back();
    }
  }
  auto f = fastest.find(plan.gpus);
  if (f == fastest.end()) fastest.emplace(plan.gpus, plan);
  else if (faster(plan, f->second)) f->second = plan;
  const auto key = varying_key(plan);
  auto m = per_mechanism.find(key);
  if (m == per_mechanism.end()) per_mechanism.emplace(key, plan);
  else if (better(plan, m->second, o)) m->second = plan;
}

void Partial::merge(const Partial& other, std::size_t top_k, PlanObjective o) {
  tally.considered += other.tally.considered;
  tally.infeasible += other.tally.infeasible;
  tally.pruned += other.tally.pruned;
  tally.evaluated += other.tally.evaluated;
  tally.fitting += other.tally.fitting;
  tally.candidates += other.tally.candidates;
  for (const Plan& p : other.top) offer(p, top_k, o);
  for (const auto& [g, p] : other.fastest) offer(p, top_k, o);
  for (const auto& [k, p] : other.per_mechanism) offer(p, top_k, o);
}

Plan make_plan(const Prepared& p, const Branch& b, const IterationEstimate& e, const PlanChoice& choice,
               const Scenario& s) {
  Plan plan;
  plan.choice = choice;
  plan.gpus = b.gpus;
  plan.nodes = b.gpus / p.per_node;
  plan.sp = b.sp;
  plan.dp = b.dp;
  plan.global_batch = p.global_batch;
  plan.micro_steps = e.layout.micro_steps;
  plan.cross_attention = e.cross_attention;
  plan.self_attention = e.self_attention;
  plan.sharding = s.training.sharding;
  plan.checkpointing = s.training.checkpointing;
  plan.recompute = s.recompute;
  plan.time = e.time;
  const double t = e.time.value();
  plan.gpu_hours = static_cast<double>(b.gpus) * t * static_cast<double>(p.iterations) / 3600.0;
  if (p.price) plan.cost_usd = plan.gpu_hours * *p.price;
  plan.samples_per_s_per_gpu = t > 0 ? static_cast<double>(p.global_batch) / t / b.gpus : 0.0;
  plan.tokens_per_s = e.tokens_per_s;
  plan.mfu = e.mfu;
  plan.peak_memory = e.peak_memory;
  plan.fits = e.fits;
  plan.breakdown = e.breakdown;
  return plan;
}

void evaluate_item(const Prepared& p, const Item& item, std::vector<Scenario>& bases, Partial& out) {
  const Branch& b = p.branches[item.branch];
  Scenario& s = bases[static_cast<std::size_t>(b.gi)];
  set_layout(s, b, p.global_batch);
  const int self_index = item.self;
  s.training.self_attention = b.self[static_cast<std::size_t>(self_index)];
  for (int ci : b.cross_keep) {
    std::optional<Mechanism> cross;
    if (ci >= 0) cross = b.cross[static_cast<std::size_t>(ci)];
    for (std::size_t shi = 0; shi < p.shardings.size(); ++shi) {
      s.training.sharding = p.shardings[shi];
      for (std::size_t k = 0; k < p.ck_rc.size(); ++k) {
        s.training.checkpointing = p.ck_rc[k].first;
        s.recompute = p.ck_rc[k].second;
        const IterationEstimate e = estimate_iteration(s, cross, Pass::fwd_bwd);
        if (!e.feasible) {  // the terms said it runs; count it honestly if not
          ++out.tally.infeasible;
          continue;
        }
        ++out.tally.evaluated;
        if (!e.fits) continue;
        ++out.tally.fitting;
        if (p.max_time_s && e.time.value() > *p.max_time_s) continue;
        ++out.tally.candidates;
        const PlanChoice choice{b.gi, b.sp, ci, self_index, static_cast<int>(shi), static_cast<int>(k), 0};
        out.offer(make_plan(p, b, e, choice, s), static_cast<std::size_t>(p.top), p.objective);
      }
    }
  }
}

const Branch& branch_of(const Prepared& p, const Plan& plan) {
  for (const Branch& b : p.branches)
    if (b.gi == plan.choice.gpus && b.sp == plan.sp) return b;
  throw std::logic_error("a plan without its branch");
}

std::vector<Item> items_of(const Prepared& p) {
  std::vector<Item> items;
  for (std::size_t bi = 0; bi < p.branches.size(); ++bi) {
    const Branch& b = p.branches[bi];
    if (!b.valid || b.cross_keep.empty()) continue;
    for (int si : b.self_keep) items.push_back(Item{bi, si});
  }
  return items;
}

bool run_items(const Prepared& p, const std::vector<Item>& items, const PlanOptions& o, Partial& out) {
  const ProcessGroup* g = o.group;
  const std::size_t rank = g ? static_cast<std::size_t>(g->rank()) : 0, size = g ? static_cast<std::size_t>(g->size()) : 1;
  std::vector<std::size_t> mine;
  for (std::size_t i = rank; i < items.size(); i += size) mine.push_back(i);
  const int jobs = std::max(1, std::min<int>(o.jobs < 1 ? 1 : o.jobs, static_cast<int>(std::max<std::size_t>(1, mine.size()))));
  std::atomic<std::size_t> done{0};
  std::vector<Partial> partials(static_cast<std::size_t>(jobs));
  auto cancelled = [&] { return o.cancel != nullptr && o.cancel->load(std::memory_order_relaxed); };
  Workers pool;
  auto work = [&](std::size_t w) {
    std::vector<Scenario> bases = p.bases;  // this worker's own, mutated field by field
    while (!cancelled()) {
      const std::optional<std::size_t> k = pool.take(mine.size());
      if (!k) return;
      evaluate_item(p, items[mine[*k]], bases, partials[w]);
      done.fetch_add(1);
      pool.changed().notify_all();
    }
  };
  auto report = [&] {
    std::unique_lock lock(pool.mutex());
    while (done.load() < mine.size() && !pool.stopped() && !cancelled()) {
      pool.changed().wait_for(lock, std::chrono::milliseconds(100));
      if (o.progress) {
        lock.unlock();
        o.progress(done.load(), mine.size());
        lock.lock();
      }
    }
  };
  pool.run(jobs, work, report);
  for (const Partial& part : partials) out.merge(part, static_cast<std::size_t>(p.top), p.objective);
  // Only rank 0 counts the whole space (every rank priced the same branches).
  return cancelled() && done.load() < mine.size();
}

// ---- partial results between processes -------------------------------------------------

namespace {

using nlohmann::json;

json plan_json(const Plan& p) {
  return json{{"c", {p.choice.gpus, p.choice.sp, p.choice.cross, p.choice.self, p.choice.sharding, p.choice.checkpointing,
                     p.choice.recompute}},
              {"g", {p.gpus, p.nodes, p.sp, p.dp}},
              {"b", {p.global_batch, p.micro_steps}},
              {"x", p.cross_attention ? json(p.cross_attention->name()) : json(nullptr)},
              {"s", p.self_attention.name()},
              {"k", {static_cast<int>(p.sharding), static_cast<int>(p.checkpointing), p.recompute, p.fits}},
              {"t", {p.time.value(), p.gpu_hours, p.samples_per_s_per_gpu, p.tokens_per_s, p.mfu, p.peak_memory.value()}},
              {"u", p.cost_usd ? json(*p.cost_usd) : json(nullptr)},
              {"d",
               {p.breakdown.vision.value(), p.breakdown.projector.value(), p.breakdown.self_attention.value(),
                p.breakdown.cross_attention.value(), p.breakdown.mlp.value(), p.breakdown.other_gemm.value(),
                p.breakdown.lm_head.value(), p.breakdown.sharding_comm_exposed.value(), p.breakdown.optimizer.value()}}};
}

Mechanism mechanism_from(const std::string& name) {
  auto m = parse_mechanism(name);
  if (!m) throw ProcessGroupError("a rank sent an unknown mechanism: " + name);
  return *m;
}

Plan plan_from(const json& j) {
  Plan p;
  const auto& c = j.at("c");
  p.choice = PlanChoice{c[0], c[1], c[2], c[3], c[4], c[5], c[6]};
  const auto& g = j.at("g");
  p.gpus = g[0];
  p.nodes = g[1];
  p.sp = g[2];
  p.dp = g[3];
  p.global_batch = j.at("b")[0];
  p.micro_steps = j.at("b")[1];
  if (!j.at("x").is_null()) p.cross_attention = mechanism_from(j.at("x").get<std::string>());
  p.self_attention = mechanism_from(j.at("s").get<std::string>());
  const auto& k = j.at("k");
  p.sharding = static_cast<Sharding>(k[0].get<int>());
  p.checkpointing = static_cast<Checkpointing>(k[1].get<int>());
  p.recompute = k[2];
  p.fits = k[3];
  const auto& t = j.at("t");
  p.time = Seconds(t[0].get<double>());
  p.gpu_hours = t[1];
  p.samples_per_s_per_gpu = t[2];
  p.tokens_per_s = t[3];
  p.mfu = t[4];
  p.peak_memory = Bytes(t[5].get<double>());
  if (!j.at("u").is_null()) p.cost_usd = j.at("u").get<double>();
  const auto& d = j.at("d");
  p.breakdown = IterationBreakdown{Seconds(d[0].get<double>()), Seconds(d[1].get<double>()), Seconds(d[2].get<double>()),
                                   Seconds(d[3].get<double>()), Seconds(d[4].get<double>()), Seconds(d[5].get<double>()),
                                   Seconds(d[6].get<double>()), Seconds(d[7].get<double>()), Seconds(d[8].get<double>())};
  return p;
}

}  // namespace

std::string Partial::serialize(bool cancelled) const {
  json j;
  j["tally"] = {tally.considered, tally.infeasible, tally.pruned, tally.evaluated, tally.fitting, tally.candidates};
  j["cancelled"] = cancelled;
  json plans = json::array();
  for (const Plan& p : top) plans.push_back(plan_json(p));
  for (const auto& [g, p] : fastest) plans.push_back(plan_json(p));
  for (const auto& [k, p] : per_mechanism) plans.push_back(plan_json(p));
  j["plans"] = std::move(plans);
  return j.dump();
}

Partial Partial::deserialize(const std::string& bytes, std::size_t top_k, PlanObjective o, bool& cancelled) {
  Partial part;
  const json j = json::parse(bytes);
  const auto& t = j.at("tally");
  cancelled = j.at("cancelled").get<bool>();
  for (const json& p : j.at("plans")) part.offer(plan_from(p), top_k, o);
  part.tally = PlanTally{t[0], t[1], t[2], t[3], t[4], t[5]};
  return part;
}

// ---- sets ---------------------------------------------------------------------------------

std::vector<std::string> plan_set(const Prepared& p, const Plan& plan) {
  // The user's overrides first, except the keys the plan sets itself (its values win).
  static constexpr std::array<std::string_view, 9> kPlanKeys{
      "cluster.nodes",        "training.sp",            "training.dp",        "training.global_batch",
      "training.self_attention", "training.sharding",   "training.checkpointing", "workload.recompute", "mechanisms"};
  std::vector<std::string> set;
  for (const auto& o : p.base_set) {
    const std::string key = o.substr(0, o.find('='));
    std::string_view k = key;
    while (!k.empty() && k.back() == ' ') k.remove_suffix(1);
    while (!k.empty() && k.front() == ' ') k.remove_prefix(1);
    if (std::find(kPlanKeys.begin(), kPlanKeys.end(), k) == kPlanKeys.end()) set.push_back(o);
  }
  set.push_back(fmt::format("cluster.nodes={}", plan.nodes));
  set.push_back(fmt::format("training.sp={}", plan.sp));
  set.push_back(fmt::format("training.dp={}", plan.dp));
  set.push_back(fmt::format("training.global_batch={}", plan.global_batch));
  set.push_back("training.self_attention=" + plan.self_attention.name());
  set.push_back(fmt::format("training.sharding={}", to_string(plan.sharding)));
  set.push_back(fmt::format("training.checkpointing={}", to_string(plan.checkpointing)));
  set.push_back("workload.recompute=" + bool_text(plan.recompute));
  if (plan.cross_attention) set.push_back("mechanisms=" + plan.cross_attention->name());
  return set;
}

}  // namespace plan_detail

using namespace plan_detail;

PlanResult plan_search(const PlanRequest& request, const PlanOptions& options) {
  Prepared p = prepare(request);
  PlanResult result;
  result.objective = request.objective;
  result.iterations = request.iterations;
  result.price_per_gpu_hour = request.price_per_gpu_hour;
  result.max_time_s = request.max_time_s;
  result.ranks = options.group ? options.group->size() : 1;
  PlanTally space;
  price_branches(p, options.prune, space);
  const std::vector<Item> items = items_of(p);
  if (space.considered == 0)
    throw InputError(Origin{"--gpus", 0, 0}, "--gpus", "the space is empty: no GPU count, degree or mechanism to try");
  if (space.considered == space.infeasible) {
    std::string why = "no sequence-parallel degree divides the GPUs and splits the global batch";
    bool any_valid = false;
    for (const Branch& b : p.branches) any_valid = any_valid || b.valid;
    if (any_valid) why = "no mechanism can run at any degree tried";
    throw InputError(Origin{request.space.sp.empty() ? "--gpus" : "--sp", 0, 0},
                     request.space.sp.empty() ? "--gpus" : "--sp",
                     fmt::format("the space is empty: {} (global batch {}, batch {}, {} GPUs per node)", why,
                                 p.global_batch, p.batch, p.per_node));
  }
  Partial mine;
  bool cancelled = run_items(p, items, options, mine);
  Partial all;
  if (options.group && options.group->size() > 1) {
    const std::vector<std::string> parts = options.group->gather(mine.serialize(cancelled));
    if (!options.group->root()) {
      result.root = false;
      return result;
    }
    for (const std::string& bytes : parts) {
      bool c = false;
      all.merge(Partial::deserialize(bytes, static_cast<std::size_t>(p.top), p.objective, c),
                static_cast<std::size_t>(p.top), p.objective);
      cancelled = cancelled || c;
    }
  } else {
    all = std::move(mine);
  }
  // The space's counts are every rank's alike; the evaluations are summed over ranks.
  result.tally = space;
  result.tally.evaluated = all.tally.evaluated;
  result.tally.infeasible += all.tally.infeasible;
  result.tally.fitting = all.tally.fitting;
  result.tally.candidates = all.tally.candidates;
  result.cancelled = cancelled;

  result.top = all.top;
  for (Plan& plan : result.top) plan.set = plan_set(p, plan);
  if (!result.top.empty()) result.best = result.top.front();
  // The frontier: the fastest plan of each GPU count, without those another beats in both
  // step time and GPU-hours (within a GPU count, GPU-hours follow the time).
  std::vector<Plan> points;
  for (const auto& [g, plan] : all.fastest) points.push_back(plan);
  std::sort(points.begin(), points.end(), [](const Plan& a, const Plan& b) {
    if (a.gpu_hours != b.gpu_hours) return a.gpu_hours < b.gpu_hours;
    return faster(a, b);
  });
  for (const Plan& plan : points) {
    if (!result.frontier.empty() && !(plan.time < result.frontier.back().time)) continue;
    result.frontier.push_back(plan);
    result.frontier.back().set = plan_set(p, plan);
  }
  if (result.best && options.explain) result.explanation = explain(p, all, *result.best);
  return result;
}

}  // namespace xattn::sim
