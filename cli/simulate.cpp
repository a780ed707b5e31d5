// `xattn simulate SCENARIO`: every mechanism x pass of one scenario, as a table, JSON (the
// ARCHITECTURE.md contract) or CSV, at iteration scope (one training step, the default) or
// layer scope (one attention layer). Options are parsed here; the figures come from the
// closed form of the step (model/iteration.hpp) or the runner (sim/runner.hpp), the
// uncalibrated inputs and the sensitivity report from model/sensitivity.hpp, and cli/report
// renders them.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "cli/report.hpp"
#include "cli/scenario_input.hpp"
#include "model/core/limits.hpp"
#include "model/iteration.hpp"
#include "sim/runner.hpp"
#include "model/schedule/trace.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn::cli {
namespace {

struct SimulateOptions {
  std::string scenario;
  std::vector<std::string> mechanisms;
  std::vector<std::string> passes;
  std::string engine = "analytic";
  std::string format = "table";
  std::vector<std::string> overrides;
  std::string out_path;
  std::string trace_path;  // --trace: Chrome-trace JSON of the event engine's run
  std::string ops_path;    // --ops: one CSV row per op of that run
  std::string ranks;       // --ranks: only these ranks in --trace and --ops ("0-7,1023")
  // The event engine's knobs (sim::SimOptions).
  std::string network = "flow";   // --network flow|alpha-beta
  double jitter = 0.0;            // --jitter: compute times x U[1 - j, 1 + j]
  std::string straggler;          // --straggler RANK:FACTOR
  std::uint64_t seed = 1;         // --seed: of the jitter
  bool sensitivity = false;       // --sensitivity: each input at ±20% (docs/model.md §15)
  std::string scope = "iteration";  // --scope: one training step, or one attention layer
};

// "0-7,1023" -> 0, 1, ..., 7, 1023. nullopt when malformed (empty items, a range whose
// end is below its start, anything but digits).
std::optional<std::vector<int>> parse_rank_list(const std::string& text) {
  std::vector<int> ranks;
  std::size_t at = 0;
  auto number = [&](int& v) {
    const auto [end, ec] = std::from_chars(text.data() + at, text.data() + text.size(), v);
    if (ec != std::errc() || end == text.data() + at || v < 0) return false;
    at = static_cast<std::size_t>(end - text.data());
    return true;
  };
  while (true) {
    int first = 0, last = 0;
    if (!number(first)) return std::nullopt;
    last = first;
    if (at < text.size() && text[at] == '-') {
      ++at;
      if (!number(last) || last < first) return std::nullopt;
    }
    if (static_cast<std::int64_t>(ranks.size()) + (last - first) >= (1 << 24)) return std::nullopt;
    for (int r = first; r <= last; ++r) ranks.push_back(r);
    if (at == text.size()) return ranks;
    if (text[at] != ',') return std::nullopt;
    ++at;
  }
}

// "3:1.5" -> rank 3, factor 1.5.
bool parse_straggler(const std::string& text, int& rank, double& factor) {
  const auto colon = text.find(':');
  if (colon == std::string::npos) return false;
  try {
    std::size_t used = 0;
    rank = std::stoi(text.substr(0, colon), &used);
    if (used != colon) return false;
    const std::string f = text.substr(colon + 1);
    factor = std::stod(f, &used);
    return used == f.size();
  } catch (const std::exception&) {
    return false;
  }
}

int run_simulate(const SimulateOptions& o, Io& io) {
  // Every command-line problem is reported together with the scenario's own.
  ProblemList problems;
  const std::optional<sim::Engine> engine = sim::parse_engine(o.engine);
  if (!engine) {
    problems.add(Problem{Origin{"--engine " + o.engine}, "engine",
                        fmt::format("unknown engine '{}' (known: analytic, event, both)", o.engine)});
  }
  const std::optional<Scope> scope = parse_scope(o.scope);
  if (!scope)
    problems.add(Problem{Origin{"--scope " + o.scope}, "scope",
                         fmt::format("unknown scope '{}' (known: iteration, layer)", o.scope)});
  std::vector<Mechanism> mechanisms;
  std::vector<Pass> passes;
  for (const auto& name : o.mechanisms) {
    problems.check([&] {
      auto m = parse_mechanisms({name}, Origin{"--mechanism " + name}, "mechanism");
      mechanisms.insert(mechanisms.end(), m.begin(), m.end());
    });
  }
  for (const auto& name : o.passes) {
    problems.check([&] {
      auto p = parse_passes({name}, Origin{"--pass " + name}, "pass");
      passes.insert(passes.end(), p.begin(), p.end());
    });
  }
  ScenarioSpec spec;
  Scenario scenario;
  bool resolved = false;
  problems.check([&] {
    spec = load_spec_with_overrides(o.scenario, o.overrides);
    scenario = resolve(spec);
    resolved = true;
  });
  if (!o.out_path.empty()) {
    problems.check([&] {
      check_output_path(o.out_path, "--out");
    });
  }
  for (const auto& output : {std::pair{o.trace_path, "--trace"}, std::pair{o.ops_path, "--ops"}}) {
    const std::string& path = output.first;  // not a structured binding: the lambda below captures it
    const char* const option = output.second;
    if (path.empty()) continue;
    if (engine == sim::Engine::analytic)
      problems.add(Problem{Origin{option}, "engine", fmt::format("{} records the event engine's run: add --engine event", option)});
    const bool decoder_only = resolved && scope == Scope::iteration && !scenario.model.arch.multimodal();
    if ((o.mechanisms.size() != 1 && !decoder_only) || o.passes.size() != 1)
      problems.add(Problem{Origin{option}, "mechanism", fmt::format("{} writes one mechanism and pass: give one -m and one -p", option)});
    problems.check([&] {
      check_output_path(path, option);
    });
  }
  std::vector<int> only_ranks;
  if (!o.ranks.empty()) {
    const Origin at{"--ranks " + o.ranks};
    if (o.trace_path.empty() && o.ops_path.empty())
      problems.add(Problem{at, "ranks", "--ranks selects what --trace and --ops write: give one of them"});
    if (auto list = parse_rank_list(o.ranks)) {
      only_ranks = std::move(*list);
      for (int r : only_ranks)
        if (resolved && r >= scenario.ranks()) {
          problems.add(Problem{at, "ranks", fmt::format("rank {} is not in the scenario (P = {}: ranks 0 to {})", r,
                                                       scenario.ranks(), scenario.ranks() - 1)});
          break;
        }
    } else {
      problems.add(Problem{at, "ranks", "expected ranks and ranges separated by commas, for example 0-7,1023"});
    }
  }
  sim::SimOptions sim_options;
  sim_options.seed = o.seed;
  const bool knobs = o.network != "flow" || o.jitter != 0.0 || !o.straggler.empty();
  if (knobs && engine == sim::Engine::analytic)
    problems.add(Problem{Origin{"--network/--jitter/--straggler"}, "engine",
                         "these set the event engine: add --engine event or --engine both"});
  if (o.network == "alpha-beta") sim_options.network = sim::NetworkModel::alpha_beta;
  else if (o.network != "flow")
    problems.add(Problem{Origin{"--network " + o.network}, "network",
                         fmt::format("unknown network model '{}' (known: flow, alpha-beta)", o.network)});
  if (!(o.jitter >= 0.0 && o.jitter < 1.0))
    problems.add(Problem{Origin{fmt::format("--jitter {}", o.jitter)}, "jitter", "must be at least 0 and below 1"});
  sim_options.jitter = o.jitter;
  if (!o.straggler.empty()) {
    int rank = -1;
    double factor = 0.0;
    if (!parse_straggler(o.straggler, rank, factor)) {
      problems.add(Problem{Origin{"--straggler " + o.straggler}, "straggler", "expected RANK:FACTOR, e.g. 3:1.5"});
    } else if (rank < 0 || (scenario.ranks() > 0 && rank >= scenario.ranks())) {
      problems.add(Problem{Origin{"--straggler " + o.straggler}, "straggler",
                           fmt::format("rank {} is not one of the scenario's {} ranks (0..{})", rank, scenario.ranks(),
                                       scenario.ranks() - 1)});
    } else if (!(factor > 0.0 && factor <= limits::max_factor)) {
      problems.add(Problem{Origin{"--straggler " + o.straggler}, "straggler",
                           fmt::format("the factor must be positive and at most {:g} (docs/limits.md)", limits::max_factor)});
    } else {
      sim_options.straggler = rank;
      sim_options.straggler_factor = factor;
    }
  }
  // A decoder-only model has no cross-attention to compare at iteration scope.
  if (scope == Scope::iteration && resolved && !scenario.model.arch.multimodal() && !o.mechanisms.empty())
    problems.add(Problem{Origin{"--mechanism " + o.mechanisms.front()}, "mechanism",
                         fmt::format("{} has no cross-attention layers: at iteration scope its self-attention runs "
                                     "training.self_attention (--set training.self_attention=NAME); --scope layer "
                                     "compares mechanisms on one layer",
                                     scenario.model.name)});
  problems.throw_if_any();

  if (mechanisms.empty()) mechanisms = scenario.mechanisms;
  if (passes.empty()) passes = {Pass::fwd, Pass::bwd, Pass::fwd_bwd};
  // A name given twice (-m ring,lv-xattn -m ring) is one entry, where it first appeared.
  auto drop_repeats = [](auto& v) {
    for (std::size_t i = 0; i < v.size(); ++i)
      for (std::size_t j = v.size(); j-- > i + 1;)
        if (v[j] == v[i]) v.erase(v.begin() + static_cast<std::ptrdiff_t>(j));
  };
  drop_repeats(mechanisms);
  drop_repeats(passes);

  Scenario chosen = scenario;  // the mechanisms shown: what the sensitivity report compares
  chosen.mechanisms = mechanisms;
  const ModelInputsReport inputs = model_inputs_report(chosen, passes, o.sensitivity, *scope);
  std::string text;
  if (*scope == Scope::iteration) {
    // The closed form of the step, the event engine's run of it (sim::evaluate_iteration),
    // or both, one mechanism and pass at a time.
    std::vector<sim::IterationEvaluation> steps;
    std::string trace, ops;
    if (*engine == sim::Engine::analytic) {
      for (IterationEstimate& e : estimate_iteration_all(chosen, passes)) {
        sim::IterationEvaluation r;
        r.estimate = std::move(e);
        steps.push_back(std::move(r));
      }
    } else {
      sim::IterationEvaluateOptions step_options;
      step_options.sim = sim_options;
      if (!o.trace_path.empty() || !o.ops_path.empty()) {
        step_options.record_ranks = only_ranks;
        if (only_ranks.empty())
          for (int r = 0; r < scenario.ranks(); ++r) step_options.record_ranks.push_back(r);
      }
      std::vector<std::optional<Mechanism>> crosses;
      if (chosen.model.arch.multimodal()) crosses.assign(mechanisms.begin(), mechanisms.end());
      else crosses.emplace_back(std::nullopt);
      for (const auto& cross : crosses)
        for (Pass p : passes) {
          sim::IterationEvaluated r = sim::evaluate_iteration(chosen, cross, p, *engine, step_options);
          if (!step_options.record_ranks.empty() && r.evaluations.back().estimate.feasible) {
            if (!o.trace_path.empty())
              trace = chrome_trace_json(r.schedule, r.timeline, TraceInfo{scenario.name, "event", only_ranks});
            if (!o.ops_path.empty()) ops = ops_csv(r.schedule, r.timeline, only_ranks);
          }
          for (auto& e : r.evaluations) steps.push_back(std::move(e));
        }
    }
    if (o.format == "json") text = render_iteration_json(scenario, spec, steps, inputs);
    else if (o.format == "csv") text = render_iteration_csv(steps);
    else text = render_iteration_table(scenario, steps) + model_inputs_table(inputs);
    // The whole output is composed before anything is written: an error leaves nothing.
    if (o.out_path.empty()) io.out << text << std::flush;
    else write_file_atomically(o.out_path, text);
    if (!o.trace_path.empty()) write_file_atomically(o.trace_path, trace);
    if (!o.ops_path.empty()) write_file_atomically(o.ops_path, ops);
    return 0;
  }

  sim::EvaluateOptions evaluate_options;
  evaluate_options.sim = sim_options;
  evaluate_options.keep_timeline = !o.trace_path.empty() || !o.ops_path.empty();
  std::vector<sim::Evaluation> rows;
  rows.reserve(mechanisms.size() * passes.size());
  std::string trace, ops;
  for (const auto& m : mechanisms)
    for (Pass p : passes) {
      sim::Evaluated r = sim::evaluate(scenario, m, p, *engine, evaluate_options);
      const sim::Evaluation& last = r.evaluations.back();
      if (last.engine == sim::Engine::event && last.estimate.feasible) {  // its Schedule and Timeline were kept
        if (!o.trace_path.empty())
          trace = chrome_trace_json(r.schedule, r.timeline, TraceInfo{scenario.name, "event", only_ranks});
        if (!o.ops_path.empty()) ops = ops_csv(r.schedule, r.timeline, only_ranks);
      }
      for (auto& e : r.evaluations) rows.push_back(std::move(e));
    }

  if (o.format == "json") text = render_json(scenario, spec, rows, &inputs);
  else if (o.format == "csv") text = render_csv(rows);
  else text = render_table(scenario, rows) + model_inputs_table(inputs);

  // The whole output is composed before anything is written: an error leaves nothing.
  write_files_atomically({{o.out_path, text}, {o.trace_path, trace}, {o.ops_path, ops}});
  if (o.out_path.empty()) io.out << text << std::flush;
  return 0;
}

}  // namespace

void add_simulate(CLI::App& app, Commands& commands) {
  auto o = std::make_shared<SimulateOptions>();
  CLI::App* sub = app.add_subcommand(
      "simulate",
      "Time and memory of one training step (or, with --scope layer, one attention layer) under each\n"
      "mechanism, for one scenario");
  sub->add_option("SCENARIO", o->scenario, "Scenario YAML file, e.g. scenarios/llama32v-16xa100.yaml")
      ->required()
      ->type_name("FILE");
  sub->add_option("-m,--mechanism", o->mechanisms,
                  "Mechanism to estimate (repeatable; default: the scenario's `mechanisms`, else\n"
                  "lv-xattn, ring, ulysses, no-comm). Known:\n" + mechanism_names())
      ->type_name("NAME")
      ->delimiter(',');
  sub->add_option("-p,--pass", o->passes, "Pass (repeatable; default: fwd, bwd and fwd+bwd)")
      ->type_name("PASS")
      ->check(CLI::IsMember({"fwd", "bwd", "fwd+bwd"}))
      ->delimiter(',');
  sub->add_option("--scope", o->scope,
                  "iteration (default): one training step of the whole model (vision encoder, LM layers,\n"
                  "sharding traffic, optimizer; fwd and bwd are one micro-step's phases, fwd+bwd the step);\n"
                  "layer: one cross-attention layer (a decoder-only model: one self-attention layer)")
      ->type_name("SCOPE")
      ->check(CLI::IsMember({"iteration", "layer"}));
  sub->add_option("-e,--engine", o->engine,
                  "Model that produces the figures: analytic (closed form, default), event (the\n"
                  "event-driven simulator: link contention, per-op timeline), or both, side by side")
      ->type_name("ENGINE");
  sub->add_option("--trace", o->trace_path,
                  "With --engine event|both, one -m and one -p: write the run as Chrome-trace JSON (Perfetto)")
      ->type_name("FILE.json");
  sub->add_option("--ops", o->ops_path, "With --engine event|both, one -m and one -p: write one CSV row per op")
      ->type_name("FILE.csv");
  sub->add_option("--ranks", o->ranks,
                  "With --trace or --ops: only these ranks, e.g. 0-7,1023 (default: all; a 1024-GPU\n"
                  "run has millions of ops, more than Perfetto opens)")
      ->type_name("LIST");
  sub->add_option("--network", o->network,
                  "With --engine event|both: flow (max-min fair sharing of links, default) or alpha-beta\n"
                  "(every message alone on its route: the fast path and the closed form's view)")
      ->type_name("MODEL");
  sub->add_option("--jitter", o->jitter,
                  "With --engine event|both: multiply every compute op's time by a factor drawn uniformly\n"
                  "from [1 - J, 1 + J] (seeded by --seed; the same op gets the same draw every run)")
      ->type_name("J");
  sub->add_option("--straggler", o->straggler,
                  "With --engine event|both: one slow GPU, its compute FACTOR times slower, e.g. 3:1.5")
      ->type_name("RANK:FACTOR");
  sub->add_option("--seed", o->seed, "Seed of --jitter (default 1)")->type_name("N");
  sub->add_option("-f,--format", o->format, "Output: table (default, for people), json (the documented contract), csv")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"table", "json", "csv"}));
  sub->add_flag("--sensitivity", o->sensitivity,
               "Also report, per input (each efficiency, bandwidth and latency in play), every mechanism's\n"
               "closed-form time at 0.8x and 1.2x the input and whether their ranking changes (docs/model.md §15)");
  sub->add_option("-s,--set", o->overrides, set_option_help())->type_name("KEY=VALUE");
  sub->add_option("-o,--out", o->out_path, "Write the output to FILE (whole or not at all) instead of stdout")
      ->type_name("FILE");
  sub->footer(
      "At iteration scope times are for one training step in s; at layer scope for one\n"
      "cross-attention layer, per GPU, in ms (JSON and CSV: seconds); speedup is the Ring Attention\n"
      "time of the same pass divided by the row's time. At iteration scope the mechanism is the\n"
      "cross-attention's; training.self_attention sets the LM's self-attention.\n"
      "Example: xattn simulate scenarios/llama32v-16xa100.yaml -m lv-xattn -m ring --pass fwd+bwd");
  commands.add(sub, [o](Io& io) { return run_simulate(*o, io); });
}

}  // namespace xattn::cli
