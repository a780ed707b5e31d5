// The help text of --set (scenario_input.hpp).
#include "cli/scenario_input.hpp"

namespace xattn::cli {

std::string set_option_help() {
  return "Override a scenario field by its dotted path, after the file is read (repeatable), e.g.\n"
         "workload.frames=384, workload.text_tokens=2048, cluster.nodes=8,\n"
         "cluster.inter_node.bandwidth_GBps=50, workload.model=mplug-owl3-7b.\n"
         "`xattn fields` lists every key with its unit.";
}

}  // namespace xattn::cli
