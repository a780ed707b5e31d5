// `xattn fields`: every scenario key that a YAML file, --set and a sweep grid accept, with
// its type and unit (the field registry of model/scenario.hpp).
#include <iterator>
#include <memory>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/command.hpp"
#include "model/scenario.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn::cli {
namespace {

std::string_view type_word(FieldType t) {
  switch (t) {
    case FieldType::integer: return "integer";
    case FieldType::number: return "number";
    case FieldType::boolean: return "bool";
    case FieldType::text: return "text";
    case FieldType::text_list: return "list";
  }
  return "?";
}

}  // namespace

void add_fields(CLI::App& app, Commands& commands) {
  CLI::App* sub = app.add_subcommand("fields", "List every scenario key (for YAML, --set KEY=VALUE and sweep grids)");
  commands.add(sub, [](Io& io) {
    fmt::memory_buffer b;
    auto out = std::back_inserter(b);
    fmt::format_to(out, "{:<38} {:<8} {}\n", "# key", "type", "meaning");
    for (const auto& f : scenario_fields()) fmt::format_to(out, "{:<38} {:<8} {}\n", f.path, type_word(f.type), f.help);
    // Lists of entries: YAML only (docs/topology.md).
    fmt::format_to(out, "{:<38} {:<8} {}\n", "cluster.links", "entries",
                   "an irregular machine, link by link: name, from, to, bandwidth_GBps, latency_us, duplex, class "
                   "(the list: YAML only)");
    fmt::format_to(out, "{:<38} {:<8} {}\n", "cluster.links.NAME.bandwidth_GBps", "number",
                   "listed link NAME: bandwidth per direction, GB/s (--set, sweeps)");
    fmt::format_to(out, "{:<38} {:<8} {}\n", "cluster.links.NAME.latency_us", "number",
                   "listed link NAME: latency, µs (--set, sweeps)");
    fmt::format_to(out, "{:<38} {:<8} {}\n", "workload.model.SECTION.KEY", "per key",
                   "a key of the whole model's mapping, e.g. lm.layers, cross_attention.layers (3,8,13), "
                   "vision.tokens; on a preset, a copy of it (docs/model.md §10; --set, sweeps)");
    fmt::format_to(out, "{:<38} {:<8} {}\n", "cluster.routes", "entries",
                   "routes fixed by hand over cluster.links: from, to, links, both_ways (YAML only)");
    io.out << fmt::to_string(b) << std::flush;
    return 0;
  });
}

}  // namespace xattn::cli
