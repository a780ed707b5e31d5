// `xattn reproduce lv-xattn`: the LV-XAttn paper's set-ups, our predictions beside the
// figures the paper reports (sim/reproduce.hpp computes them; docs/reproduction.md explains
// each row), as a table or as JSON (ARCHITECTURE.md: `rows` of {setup, model, gpus, metric,
// paper, paper_note, predicted, note}).
#include <iterator>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/output.hpp"
#include "sim/reproduce.hpp"

namespace xattn::cli {
namespace {

struct ReproduceOptions {
  std::string paper;
  std::string format = "table";
  std::string out_path;
};

nlohmann::ordered_json reproduction_json(const sim::Reproduction& r) {
  using json = nlohmann::ordered_json;
  auto number = [](const std::optional<double>& v) { return v ? json(*v) : json(nullptr); };
  json rows = json::array();
  for (const sim::ReproductionRow& x : r.rows)
    rows.push_back(json{{"setup", x.setup},
                        {"model", x.model},
                        {"gpus", x.gpus},
                        {"metric", x.metric},
                        {"paper", number(x.paper)},
                        {"paper_note", x.paper_note},
                        {"predicted", number(x.predicted)},
                        {"note", x.note}});
  return json{{"paper", r.paper}, {"assumptions", r.assumptions}, {"rows", std::move(rows)}};
}

// Rows grouped by set-up, in the order they come; each row's paper figure beside ours and,
// where the paper gives one, what kind of figure it is.
std::string reproduction_table(const sim::Reproduction& r) {
  fmt::memory_buffer b;
  auto out = std::back_inserter(b);
  fmt::format_to(out, "# xattn reproduce lv-xattn: {}\n", r.paper);
  fmt::format_to(out, "# our closed-form predictions beside the paper's figures; nothing is fitted to them "
                      "(docs/reproduction.md)\n");
  for (const std::string& a : r.assumptions) fmt::format_to(out, "# assumes: {}\n", a);
  auto number = [](const std::optional<double>& v) { return v ? fmt::format("{:.4g}", *v) : std::string("-"); };
  std::string last;
  for (const sim::ReproductionRow& x : r.rows) {
    if (x.setup != last) {
      fmt::format_to(out, "#\n# {}: {} on {} GPU(s)\n", x.setup, x.model, x.gpus);
      fmt::format_to(out, "#   {:<84} {:>8} {:>10}  {}\n", "metric", "paper", "predicted", "the paper's figure");
      last = x.setup;
    }
    fmt::format_to(out, "    {:<84} {:>8} {:>10}  {}\n", x.metric, number(x.paper), number(x.predicted),
                   x.paper ? x.paper_note : std::string());
  }
  return fmt::to_string(b);
}

int run_reproduce(const ReproduceOptions& o, Io& io) {
  if (!o.out_path.empty()) check_output_path(o.out_path, "--out");
  const sim::Reproduction r = sim::reproduce_lv_xattn();
  const std::string text = o.format == "json" ? reproduction_json(r).dump(2) + "\n" : reproduction_table(r);
  if (o.out_path.empty()) io.out << text << std::flush;
  else write_file_atomically(o.out_path, text);
  return 0;
}

}  // namespace

void add_reproduce(CLI::App& app, Commands& commands) {
  auto o = std::make_shared<ReproduceOptions>();
  CLI::App* sub = app.add_subcommand(
      "reproduce", "A paper's set-ups: our predicted times and speedups beside the figures the paper reports");
  sub->add_option("PAPER", o->paper, "Which paper: lv-xattn (Chang & Venkataraman, ICML 2025)")
      ->required()
      ->check(CLI::IsMember({"lv-xattn"}));
  sub->add_option("-f,--format", o->format, "Output: table (default) or json (rows of setup, model, gpus, metric,\n"
                                            "paper, paper_note, predicted, note)")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"table", "json"}));
  sub->add_option("-o,--out", o->out_path, "Write the output to FILE (whole or not at all) instead of stdout")
      ->type_name("FILE");
  sub->footer("Every row is explained in docs/reproduction.md, with what calibration would change it.\n"
              "Example: xattn reproduce lv-xattn --format json");
  commands.add(sub, [o](Io& io) { return run_reproduce(*o, io); });
}

}  // namespace xattn::cli
