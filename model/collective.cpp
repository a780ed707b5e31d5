// Names of the NCCL collectives: xattn's own spelling (all_reduce, ...) and the ones
// nccl-tests uses in program and file names (allreduce, all_reduce_perf, ...).
#include "model/collective.hpp"

#include <cctype>
#include <utility>

namespace xattn {
namespace {

constexpr std::pair<NcclCollective, std::string_view> kOpNames[] = {
    {NcclCollective::all_reduce, "all_reduce"}, {NcclCollective::all_gather, "all_gather"},
    {NcclCollective::reduce_scatter, "reduce_scatter"}, {NcclCollective::all_to_all, "all_to_all"},
    {NcclCollective::broadcast, "broadcast"}, {NcclCollective::reduce, "reduce"},
    {NcclCollective::sendrecv, "sendrecv"}};

std::string lower_without_separators(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != '_' && c != '-') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string_view to_string(NcclCollective op) {
  for (const auto& [o, name] : kOpNames)
    if (o == op) return name;
  return "?";
}

std::optional<NcclCollective> parse_collective_op(std::string_view s) {
  std::string key = lower_without_separators(s);
  if (key.ends_with("perf")) key.resize(key.size() - 4);
  for (const auto& [o, name] : kOpNames)
    if (key == lower_without_separators(name)) return o;
  return std::nullopt;
}

std::optional<NcclCollective> collective_in_name(std::string_view name) {
  std::string key = lower_without_separators(name);
  // Longer names first: "reduce_scatter" and "all_reduce" contain "reduce".
  for (NcclCollective o : {NcclCollective::reduce_scatter, NcclCollective::all_reduce, NcclCollective::all_gather,
                         NcclCollective::all_to_all, NcclCollective::broadcast, NcclCollective::sendrecv,
                         NcclCollective::reduce}) {
    if (key.find(lower_without_separators(to_string(o))) != std::string::npos) return o;
  }
  return std::nullopt;
}

std::string collective_names() {
  std::string s;
  for (const auto& [o, name] : kOpNames) {
    if (!s.empty()) s += ", ";
    s += name;
  }
  return s;
}

}  // namespace xattn
