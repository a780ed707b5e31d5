// `xattn plan SCENARIO`: the fastest, cheapest or highest-throughput training set-up that
// fits, explained (issue 18; docs/plan.md). This file parses the options, calls the
// planner (sim/plan.hpp) and prints its answer (cli/plan_output.hpp); under mpirun the
// search is shared among the ranks (sim/process_group.hpp) and rank 0 writes.
#include <charconv>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "cli/plan_output.hpp"
#include "cli/scenario_input.hpp"
#include "model/scenario/scenario_file.hpp"
#include "sim/plan.hpp"
#include "sim/process_group.hpp"

namespace xattn::cli {
namespace {

struct PlanCommandOptions {
  std::string scenario;
  std::vector<std::string> overrides;
  std::string gpus, sp, cross, self, sharding, checkpointing, recompute;
  int gpus_per_node = 0;
  std::string objective = "time";
  std::optional<double> price;
  std::int64_t iterations = 1;
  int top = 5;
  std::string confirm;
  std::string format = "table";
  std::string out_path;
  int jobs = 0;
  bool no_prune = false;
  std::string maximize;
  std::optional<double> max_time_s;
  std::int64_t maximize_bound = std::int64_t{1} << 40;
  std::vector<std::string> break_even;
  std::string x_range, y_range;
  int grid = 24;
  std::string svg_path;
  std::string lengths;
};

InputError option_error(const std::string& option, const std::string& message) {
  return InputError(Origin{"command line", 0, 0}, option, message);
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::string_view rest = text;
  while (true) {
    const auto comma = rest.find(',');
    std::string item(rest.substr(0, comma));
    while (!item.empty() && item.back() == ' ') item.pop_back();
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    if (!item.empty()) items.push_back(item);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return items;
}

int whole_number(const std::string& text, const std::string& option) {
  int v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size())
    throw option_error(option, fmt::format("'{}' is not a whole number", text));
  return v;
}

std::vector<int> numbers(const std::string& text, const std::string& option) {
  std::vector<int> out;
  for (const auto& item : split_list(text)) out.push_back(whole_number(item, option));
  if (out.empty()) throw option_error(option, "the list is empty: the space would be empty");
  return out;
}

std::pair<double, double> range(const std::string& text, const std::string& option) {
  const auto dots = text.find("..");
  if (dots == std::string::npos) throw option_error(option, fmt::format("expected LOW..HIGH, got '{}'", text));
  auto number = [&](const std::string& s) {
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (s.empty() || used != s.size()) throw option_error(option, fmt::format("'{}' is not a number", s));
    return v;
  };
  return {number(text.substr(0, dots)), number(text.substr(dots + 2))};
}

template <class T, class Parse>
std::vector<T> parsed_list(const std::string& text, const std::string& option, Parse&& parse, const std::string& known) {
  std::vector<T> out;
  for (const auto& item : split_list(text)) {
    auto v = parse(item);
    if (!v) throw option_error(option, fmt::format("unknown '{}'; known: {}", item, known));
    out.push_back(*v);
  }
  if (out.empty()) throw option_error(option, "the list is empty: the space would be empty");
  return out;
}

sim::PlanRequest request_of(const PlanCommandOptions& o) {
  sim::PlanRequest r;
  r.spec = load_scenario_spec(o.scenario);
  r.overrides = o.overrides;
  if (o.gpus_per_node != 0) r.gpus_per_node = o.gpus_per_node;
  if (!o.gpus.empty()) {
    if (o.gpus.find("..") != std::string::npos) {
      const auto [lo, hi] = range(o.gpus, "--gpus");
      r.space.gpu_range = std::pair{static_cast<int>(lo), static_cast<int>(hi)};
    } else {
      r.space.gpus = numbers(o.gpus, "--gpus");
    }
  }
  if (!o.sp.empty()) r.space.sp = numbers(o.sp, "--sp");
  if (!o.cross.empty())
    r.space.cross_attention = parsed_list<Mechanism>(o.cross, "--cross-attention", parse_mechanism, mechanism_names());
  if (!o.self.empty())
    r.space.self_attention = parsed_list<Mechanism>(o.self, "--self-attention", parse_mechanism, mechanism_names());
  if (!o.sharding.empty())
    r.space.sharding = parsed_list<Sharding>(o.sharding, "--sharding", parse_sharding, "none, zero1, zero2, zero3");
  if (!o.checkpointing.empty())
    r.space.checkpointing =
        parsed_list<Checkpointing>(o.checkpointing, "--checkpointing", parse_checkpointing, "none, after-attention, full");
  if (!o.recompute.empty())
    r.space.recompute = parsed_list<bool>(
        o.recompute, "--recompute",
        [](const std::string& s) -> std::optional<bool> {
          if (s == "true") return true;
          if (s == "false") return false;
          return std::nullopt;
        },
        "true, false");
  r.objective = *sim::parse_plan_objective(o.objective);  // CLI11 checked the name
  r.price_per_gpu_hour = o.price;
  r.iterations = o.iterations;
  r.top = o.top;
  r.max_time_s = o.max_time_s;
  return r;
}

void emit(const PlanCommandOptions& o, Io& io, const std::string& text) {
  if (o.out_path.empty()) {
    io.out << text << std::flush;
  } else {
    write_file_atomically(o.out_path, text);
  }
}

int run_plan(const PlanCommandOptions& o, CLI::Option* break_even_option, Io& io) {
  const bool confirm = !o.confirm.empty();
  if (confirm && o.confirm != "event")
    throw option_error("--confirm", fmt::format("unknown engine '{}'; known: event", o.confirm));
  if (!o.out_path.empty()) check_output_path(o.out_path, "--out");
  if (!o.svg_path.empty()) check_output_path(o.svg_path, "--svg");
  const bool breaking_even = break_even_option->count() > 0;
  if (!o.svg_path.empty() && !breaking_even) throw option_error("--svg", "the picture is of --break-even's map");
  if (confirm && (breaking_even || !o.lengths.empty()))
    throw option_error("--confirm", "re-runs the search's top plans, not --break-even's map or --lengths' policy");
  if (o.max_time_s && o.maximize.empty() && (breaking_even || !o.lengths.empty()))
    throw option_error("--max-time-s", "limits the search and --maximize, not --break-even or --lengths");

  // A ProcessGroupError is the environment's (exit 3, cli/errors.hpp).
  const std::unique_ptr<sim::ProcessGroup> group = sim::join_processes();
  const int jobs = o.jobs > 0 ? o.jobs : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const sim::PlanRequest request = request_of(o);
  const Scenario scenario = sim::plan_scenario(request.spec, request.overrides);

  if (breaking_even) {
    if (!group->root()) return 0;  // one process draws the map
    sim::BreakEvenRequest be;
    if (!o.break_even.empty() && !o.break_even.front().empty()) {
      const auto fields = split_list(o.break_even.front());
      if (fields.size() != 2) throw option_error("--break-even", "expected two fields: FIELD_X,FIELD_Y");
      be.field_x = fields[0];
      be.field_y = fields[1];
    }
    if (!o.x_range.empty()) be.range_x = range(o.x_range, "--x-range");
    if (!o.y_range.empty()) be.range_y = range(o.y_range, "--y-range");
    be.samples = o.grid;
    const sim::BreakEvenMap map = sim::break_even(request.spec, request.overrides, be, jobs);
    emit(o, io, o.format == "json" ? break_even_json(map) : sim::break_even_csv(map));
    if (!o.svg_path.empty()) write_file_atomically(o.svg_path, sim::break_even_svg(map));
    return 0;
  }

  sim::PlanOptions options;
  options.jobs = jobs;
  options.prune = !o.no_prune;
  options.group = group.get();

  if (!o.lengths.empty()) {
    if (!group->root()) return 0;
    const auto samples = sim::load_lengths(o.lengths);
    const sim::LengthPolicy policy = sim::length_policy(request, samples, options);
    emit(o, io, o.format == "json" ? lengths_json(scenario, policy)
                : o.format == "csv" ? lengths_csv(policy)
                                    : lengths_table(scenario, policy));
    return 0;
  }

  std::optional<sim::Maximized> maximized;
  sim::PlanResult result;
  if (!o.maximize.empty()) {
    maximized = sim::maximize(request, sim::MaximizeRequest{o.maximize, o.maximize_bound}, options);
    if (!group->root()) return 0;
    if (!maximized) {
      throw option_error("--maximize", fmt::format("no plan fits at {} = 1{}", o.maximize,
                                                   o.max_time_s ? " within --max-time-s" : ""));
    }
    result = maximized->result;
  } else {
    result = sim::plan_search(request, options);
    if (!group->root()) return 0;
  }
  if (confirm) sim::confirm_in_event_engine(request, result, jobs);  // at rank 0 only, after the search
  emit(o, io, o.format == "json" ? plan_json(scenario, result, maximized)
              : o.format == "csv" ? plan_csv(result)
                                  : plan_table(scenario, result, maximized));
  if (group->size() > 1)
    io.err << fmt::format("xattn plan: {}: {} plans considered, {} evaluated, {} pruned\n", group->describe(),
                          result.tally.considered, result.tally.evaluated, result.tally.pruned);
  return 0;
}

}  // namespace

void add_plan(CLI::App& app, Commands& commands) {
  auto o = std::make_shared<PlanCommandOptions>();
  CLI::App* sub = app.add_subcommand(
      "plan", "The fastest (or cheapest) training set-up that fits: GPUs, sp x dp, mechanisms, sharding, checkpointing");
  sub->add_option("SCENARIO", o->scenario, "Scenario YAML file, e.g. scenarios/llama32v-dgx-h100.yaml")
      ->required()
      ->type_name("FILE");
  sub->add_option("-s,--set", o->overrides, set_option_help())->type_name("KEY=VALUE");
  sub->add_option("--gpus", o->gpus,
                  "GPU counts to try, whole nodes: a list (8,16,32) or a range (8..64: every whole number of nodes);\n"
                  "default: one node up to the scenario's nodes")
      ->type_name("LIST|A..B");
  sub->add_option("--gpus-per-node", o->gpus_per_node, "GPUs per node for every plan (cluster.gpus_per_node)")->type_name("G");
  sub->add_option("--sp", o->sp, "Sequence-parallel degrees to try (default: every one that divides the GPUs)")->type_name("LIST");
  sub->add_option("--cross-attention", o->cross,
                  "Cross-attention mechanisms to try (default: lv-xattn, ring, ulysses, every startrail:c=C, usp:u=U)")
      ->type_name("LIST");
  sub->add_option("--self-attention", o->self,
                  "Self-attention mechanisms to try (default: ring-zigzag, ring-stripe, ring, ulysses, startrail, usp)")
      ->type_name("LIST");
  sub->add_option("--sharding", o->sharding, "Sharding stages to try (default: none, zero1, zero2, zero3)")->type_name("LIST");
  sub->add_option("--checkpointing", o->checkpointing, "Checkpointing modes to try (default: none, after-attention, full)")
      ->type_name("LIST");
  sub->add_option("--recompute", o->recompute, "LV-XAttn recomputation: true, false or both (default: both where it counts)")
      ->type_name("LIST");
  sub->add_option("--objective", o->objective,
                  "time (seconds per step, default), cost (GPU-hours per --iterations steps; USD with a price) or\n"
                  "throughput (samples per second per GPU)")
      ->type_name("OBJ")
      ->check(CLI::IsMember({"time", "cost", "throughput"}));
  sub->add_option("--price-per-gpu-hour", o->price, "USD per GPU-hour: every plan gets cost_usd")->type_name("USD");
  sub->add_option("--iterations", o->iterations, "Training steps GPU-hours and cost are counted for (default 1)")->type_name("N");
  sub->add_option("--top", o->top, "Plans listed, best first (default 5)")->type_name("K");
  sub->add_option("--confirm", o->confirm,
                  "Re-run the top plans in the event engine through their set and report both step times\n"
                  "and their difference (the ranking stays the closed form's)")
      ->type_name("event");
  sub->add_option("--maximize", o->maximize,
                  "The largest value of an integer field (e.g. workload.frames, workload.text_tokens) for which some\n"
                  "plan fits (and meets --max-time-s), by bisection, with that plan")
      ->type_name("FIELD");
  sub->add_option("--max-time-s", o->max_time_s, "Only plans whose step takes at most T seconds")->type_name("T");
  sub->add_option("--maximize-bound", o->maximize_bound, "The largest value --maximize tries (default 2^40)")->type_name("V");
  CLI::Option* be = sub->add_option("--break-even", o->break_even,
                                    "Map the best cross-attention mechanism over two fields at the scenario's set-up\n"
                                    "(default workload.text_tokens,workload.frames); CSV to --out, picture to --svg")
                        ->type_name("FIELD_X,FIELD_Y")
                        ->expected(0, 1);
  sub->add_option("--x-range", o->x_range, "--break-even: the first field's range (default: its value / 16 .. x 16)")
      ->type_name("A..B");
  sub->add_option("--y-range", o->y_range, "--break-even: the second field's range")->type_name("A..B");
  sub->add_option("--grid", o->grid, "--break-even: samples per axis, log-spaced (default 24)")->type_name("N");
  sub->add_option("--svg", o->svg_path, "--break-even: write the map as an SVG picture")->type_name("MAP.svg");
  sub->add_option("--lengths", o->lengths,
                  "A data set's lengths, one sample per line (frames,text_tokens): the best static plan against the\n"
                  "best per-length-bucket mechanism policy, with the epoch time of each")
      ->type_name("FILE.csv");
  sub->add_flag("--no-prune", o->no_prune, "Evaluate every feasible plan (the pruning is exact; this checks it)");
  sub->add_option("-j,--jobs", o->jobs, "Worker threads (default: one per hardware thread); the answer does not depend on it")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  sub->add_option("-f,--format", o->format, "Output: table (default, for people), json (the documented contract), csv")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"table", "json", "csv"}));
  sub->add_option("-o,--out", o->out_path, "Write the output to FILE (whole or not at all) instead of stdout")->type_name("FILE");
  sub->get_option("--maximize")->excludes(be);
  sub->get_option("--lengths")->excludes(be)->excludes(sub->get_option("--maximize"));
  sub->footer(
      "Every plan's `set` reproduces it: xattn simulate SCENARIO --set KEY=VALUE ... (one training step).\n"
      "Under `mpirun -n N` (a build with MPI) the search is shared among the ranks; rank 0 writes.\n"
      "Examples:\n"
      "  xattn plan scenarios/llama32v-dgx-h100.yaml --set training.global_batch=8 --gpus 8..64\n"
      "  xattn plan scenarios/llama32v-16xa100.yaml --objective cost --price-per-gpu-hour 2.5 --iterations 10000\n"
      "  xattn plan scenarios/llama32v-16xa100.yaml --maximize workload.frames --max-time-s 10\n"
      "  xattn plan scenarios/llama32v-16xa100.yaml --break-even --out map.csv --svg map.svg");
  commands.add(sub, [o, be](Io& io) { return run_plan(*o, be, io); });
}

}  // namespace xattn::cli
