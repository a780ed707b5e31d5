// Scenario I/O: the field registry, the YAML reader with file/line/field errors, --set
// overrides, resolution against the presets, and the YAML writer for round-trips.
#include "model/scenario.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "model/core/input_file.hpp"
#include "model/core/limits.hpp"
#include "model/core/text.hpp"
#include "model/link_graph.hpp"
#include "model/scenario/calibration_file.hpp"
#include "model/scenario/model_mapping.hpp"
#include "model/scenario/scenario_file.hpp"
#include "model/scenario/yaml_check.hpp"

namespace xattn {
namespace {

// ---- value parsing ------------------------------------------------------------------

std::string type_name(FieldType t) {
  switch (t) {
    case FieldType::integer: return "an integer";
    case FieldType::number: return "a number";
    case FieldType::boolean: return "true or false";
    case FieldType::text: return "a string";
    case FieldType::text_list: return "a list of strings";
  }
  return "?";
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

FieldValue parse_value(FieldType type, const std::string& path, const std::string& raw, const Origin& origin);
FieldValue parse_value_unchecked(FieldType type, const std::string& path, const std::string& raw, const Origin& origin);
void check_value(const std::string& path, const FieldValue& v, const Origin& origin);

std::int64_t as_int(const FieldValue& v) { return std::get<std::int64_t>(v); }
double as_number(const FieldValue& v) { return std::get<double>(v); }
const std::string& as_text(const FieldValue& v) { return std::get<std::string>(v); }

// ---- the registry -------------------------------------------------------------------

using WS = ScenarioSpec::WorkloadSpec;
using CS = ScenarioSpec::ClusterSpec;

template <std::int64_t WS::*member>
void set_w_int(ScenarioSpec& s, const FieldValue& v) { s.workload.*member = as_int(v); }
template <std::optional<std::int64_t> WS::*member>
void set_w_opt_int(ScenarioSpec& s, const FieldValue& v) { s.workload.*member = as_int(v); }
template <std::string WS::*member>
void set_w_text(ScenarioSpec& s, const FieldValue& v) { s.workload.*member = as_text(v); }
template <std::optional<std::int64_t> CS::*member>
void set_c_opt_int(ScenarioSpec& s, const FieldValue& v) { s.cluster.*member = as_int(v); }
template <std::optional<double> CS::*member>
void set_c_opt_num(ScenarioSpec& s, const FieldValue& v) { s.cluster.*member = as_number(v); }
template <std::optional<std::string> CS::*member>
void set_c_opt_text(ScenarioSpec& s, const FieldValue& v) { s.cluster.*member = as_text(v); }

FieldValue int_value(std::int64_t x) { return FieldValue(x); }
FieldValue num_value(double x) { return FieldValue(x); }
FieldValue text_value(std::string_view x) { return FieldValue(std::string(x)); }

std::string directory_of(const std::string& path) {
  if (path.empty()) return {};
  return std::filesystem::path(path).parent_path().string();
}

std::string resolve_relative(const std::string& base_file, const std::string& p) {
  std::filesystem::path fp(p);
  if (fp.is_absolute() || base_file.empty()) return p;
  std::string dir = directory_of(base_file);
  return dir.empty() ? p : (std::filesystem::path(dir) / fp).string();
}

void set_calibration(ScenarioSpec& s, const FieldValue& v) {
  s.calibration_files = std::get<std::vector<std::string>>(v);
  s.calibration = Calibration{};
  for (const auto& f : s.calibration_files) apply_calibration_file(s.calibration, resolve_relative(s.path, f));
}

const std::vector<Field>& registry() {
  static const std::vector<Field> fields = {
      {"name", FieldType::text, "scenario name",
       [](ScenarioSpec& s, const FieldValue& v) { s.name = as_text(v); },
       [](const Scenario& r) { return text_value(r.name); }},
      {"description", FieldType::text, "one line on what the scenario is",
       [](ScenarioSpec& s, const FieldValue& v) { s.description = as_text(v); },
       [](const Scenario& r) { return text_value(r.description); }},
      {"workload.model", FieldType::text, "model preset (xattn presets), or in a file a mapping describing it",
       [](ScenarioSpec& s, const FieldValue& v) {
         s.workload.model = as_text(v);
         s.workload.model_mapping.reset();
       },
       [](const Scenario& r) { return text_value(r.model.name); }},
      {"workload.batch", FieldType::integer, "sequences per batch, B", &set_w_int<&WS::batch>,
       [](const Scenario& r) { return int_value(r.batch); }},
      {"workload.text_tokens", FieldType::integer, "query (text) tokens of the whole sequence, S_q",
       &set_w_int<&WS::text_tokens>, [](const Scenario& r) { return int_value(r.text_tokens); }},
      {"workload.frames", FieldType::integer,
       "visual items (images or video frames) per sample (default 1; 0 for a decoder-only model)",
       &set_w_int<&WS::frames>, [](const Scenario& r) { return int_value(r.frames); }},
      {"workload.tokens_per_frame", FieldType::integer, "visual tokens per frame (default: the model's)",
       &set_w_opt_int<&WS::tokens_per_frame>, [](const Scenario& r) { return int_value(r.tokens_per_frame); }},
      {"workload.dtype", FieldType::text, "activation dtype: fp16, bf16 or fp32", &set_w_text<&WS::dtype>,
       [](const Scenario& r) { return text_value(to_string(r.shape.dtype)); }},
      {"workload.mask", FieldType::text,
       "dense, causal (self-attention only) or media-local (default dense; causal for a decoder-only model)",
       [](ScenarioSpec& s, const FieldValue& v) { s.workload.mask = as_text(v); },
       [](const Scenario& r) { return text_value(to_string(r.shape.mask)); }},
      {"workload.accumulator_dtype", FieldType::text,
       "travelling accumulators: activation (as published) or fp32", &set_w_text<&WS::accumulator_dtype>,
       [](const Scenario& r) {
         return text_value(r.accumulator == AccumulatorDType::fp32 ? "fp32" : "activation");
       }},
      {"workload.recompute", FieldType::boolean,
       "activation recomputation: keep the layer input, O and LSE; recompute Q, K, V in backward",
       [](ScenarioSpec& s, const FieldValue& v) { s.workload.recompute = std::get<bool>(v); },
       [](const Scenario& r) { return FieldValue(r.recompute); }},
      {"workload.heads", FieldType::integer, "query heads H (default: the model's)",
       &set_w_opt_int<&WS::heads>, [](const Scenario& r) { return int_value(r.shape.heads); }},
      {"workload.kv_heads", FieldType::integer, "key/value heads H_kv (default: the model's)",
       &set_w_opt_int<&WS::kv_heads>, [](const Scenario& r) { return int_value(r.shape.kv_heads); }},
      {"workload.head_dim", FieldType::integer, "head dimension d (default: the model's)",
       &set_w_opt_int<&WS::head_dim>, [](const Scenario& r) { return int_value(r.shape.head_dim); }},
      {"workload.text_hidden", FieldType::integer, "text hidden size (Q projection input)",
       &set_w_opt_int<&WS::text_hidden>, [](const Scenario& r) { return int_value(r.model.text_hidden); }},
      {"workload.visual_hidden", FieldType::integer, "visual feature width (K/V projection input)",
       &set_w_opt_int<&WS::visual_hidden>, [](const Scenario& r) { return int_value(r.model.visual_hidden); }},
      {"workload.cross_attention_layers", FieldType::integer, "cross-attention layers in the model",
       &set_w_opt_int<&WS::cross_attention_layers>,
       [](const Scenario& r) { return int_value(r.model.cross_attention_layers); }},
      // The whole training iteration (issue 16; docs/model.md §13).
      {"training.self_attention", FieldType::text,
       "the LM's self-attention mechanism: ring, ring-zigzag, ring-stripe, ulysses, usp:u=U, startrail:c=C "
       "(default ring-zigzag)",
       [](ScenarioSpec& s, const FieldValue& v) { s.training.self_attention = as_text(v); },
       [](const Scenario& r) { return text_value(r.training.self_attention.name()); }},
      {"training.sp", FieldType::integer, "sequence-parallel degree: GPUs each mechanism runs on (default all)",
       [](ScenarioSpec& s, const FieldValue& v) { s.training.sp = as_int(v); },
       [](const Scenario& r) { return int_value(r.training.sp); }},
      {"training.dp", FieldType::integer, "data-parallel replicas (default GPUs / sp)",
       [](ScenarioSpec& s, const FieldValue& v) { s.training.dp = as_int(v); },
       [](const Scenario& r) { return int_value(r.training.dp); }},
      {"training.global_batch", FieldType::integer,
       "samples per optimizer step, a multiple of batch x dp: the quotient is gradient-accumulation steps "
       "(default batch x dp)",
       [](ScenarioSpec& s, const FieldValue& v) { s.training.global_batch = as_int(v); },
       [](const Scenario& r) { return int_value(r.training.global_batch); }},
      {"training.sharding", FieldType::text,
       "model states over all GPUs: none (DDP), zero1, zero2, zero3 (FSDP full shard; default)",
       [](ScenarioSpec& s, const FieldValue& v) { s.training.sharding = as_text(v); },
       [](const Scenario& r) { return text_value(to_string(r.training.sharding)); }},
      {"training.checkpointing", FieldType::text,
       "what a layer keeps for its backward: none, after-attention, full (its input only; default)",
       [](ScenarioSpec& s, const FieldValue& v) { s.training.checkpointing = as_text(v); },
       [](const Scenario& r) { return text_value(to_string(r.training.checkpointing)); }},
      {"training.frozen", FieldType::text_list,
       "parts that do not train: vision, projector, lm, cross_attention (default [vision])",
       [](ScenarioSpec& s, const FieldValue& v) { s.training.frozen = std::get<std::vector<std::string>>(v); },
       [](const Scenario& r) {
         std::vector<std::string> parts;
         for (ModelPart p : {ModelPart::vision, ModelPart::projector, ModelPart::lm, ModelPart::cross_attention})
           if (r.training.frozen.contains(p)) parts.emplace_back(to_string(p));
         return FieldValue(parts);
       }},
      {"training.optimizer_step", FieldType::boolean, "the step ends with the optimizer (default true)",
       [](ScenarioSpec& s, const FieldValue& v) { s.training.optimizer_step = std::get<bool>(v); },
       [](const Scenario& r) { return FieldValue(r.training.optimizer_step); }},
      {"training.preset", FieldType::text,
       "none, or lv-xattn-paper: the LV-XAttn authors' harness (fp16, ring self-attention with its quirks, "
       "the CA recompute wrapper, host synchronisation, no optimizer; docs/model.md §14)",
       [](ScenarioSpec& s, const FieldValue& v) { s.training.preset = as_text(v); },
       [](const Scenario& r) { return text_value(to_string(r.training.preset)); }},
      {"cluster.preset", FieldType::text, "cluster preset (xattn presets); other cluster keys override it",
       &set_c_opt_text<&CS::preset>, [](const Scenario&) { return text_value(""); }},
      {"cluster.gpu", FieldType::text, "GPU preset (xattn presets)", &set_c_opt_text<&CS::gpu>,
       [](const Scenario& r) { return text_value(r.cluster.gpu.name); }},
      {"cluster.nodes", FieldType::integer, "nodes", &set_c_opt_int<&CS::nodes>,
       [](const Scenario& r) { return int_value(r.cluster.nodes); }},
      {"cluster.gpus_per_node", FieldType::integer, "GPUs per node", &set_c_opt_int<&CS::gpus_per_node>,
       [](const Scenario& r) { return int_value(r.cluster.gpus_per_node); }},
      {"cluster.intra_node.kind", FieldType::text, "nvlink-switch, nvlink-mesh, pcie or none",
       &set_c_opt_text<&CS::intra_kind>, [](const Scenario& r) { return text_value(to_string(r.cluster.intra_kind)); }},
      {"cluster.intra_node.bandwidth_GBps", FieldType::number, "GPU-to-GPU bandwidth inside a node, per direction, GB/s",
       &set_c_opt_num<&CS::intra_bandwidth_GBps>,
       [](const Scenario& r) { return num_value(to_gigabytes_per_second(r.cluster.intra.bandwidth)); }},
      {"cluster.intra_node.latency_us", FieldType::number, "point-to-point latency inside a node, µs",
       &set_c_opt_num<&CS::intra_latency_us>,
       [](const Scenario& r) { return num_value(to_microseconds(r.cluster.intra.latency)); }},
      {"cluster.inter_node.bandwidth_GBps", FieldType::number, "bandwidth of one NIC, per direction, GB/s",
       &set_c_opt_num<&CS::inter_bandwidth_GBps>,
       [](const Scenario& r) { return num_value(to_gigabytes_per_second(r.cluster.inter.bandwidth)); }},
      {"cluster.inter_node.nccl_bandwidth_GBps", FieldType::number,
       "bus bandwidth NCCL's all-reduce gets through one NIC, GB/s, at most the NIC's (the vendor's all-reduce "
       "over the NICs alone; default: the preset's, which follows a changed NIC bandwidth; 0: unknown)",
       &set_c_opt_num<&CS::nccl_bandwidth_GBps>, [](const Scenario& r) {
         return num_value(r.cluster.nccl_per_nic ? to_gigabytes_per_second(*r.cluster.nccl_per_nic) : 0.0);
       }},
      {"cluster.inter_node.latency_us", FieldType::number, "point-to-point latency between nodes, µs",
       &set_c_opt_num<&CS::inter_latency_us>,
       [](const Scenario& r) { return num_value(to_microseconds(r.cluster.inter.latency)); }},
      {"cluster.inter_node.nics_per_node", FieldType::integer, "NICs per node (must divide GPUs per node)",
       &set_c_opt_int<&CS::nics_per_node>, [](const Scenario& r) { return int_value(r.cluster.nics_per_node); }},
      {"cluster.inter_node.fabric", FieldType::text,
       "switch (every NIC on one switch) or fat-tree (leaf switches joined through a spine; the simulator models it)",
       &set_c_opt_text<&CS::inter_kind>, [](const Scenario& r) { return text_value(to_string(r.cluster.inter_kind)); }},
      {"cluster.inter_node.nodes_per_leaf", FieldType::integer, "fat-tree: nodes under one leaf switch",
       &set_c_opt_int<&CS::nodes_per_leaf>, [](const Scenario& r) { return int_value(r.cluster.nodes_per_leaf); }},
      {"cluster.inter_node.oversubscription", FieldType::number,
       "fat-tree: a leaf's NIC bandwidth over its uplink bandwidth (1: non-blocking)",
       &set_c_opt_num<&CS::oversubscription>, [](const Scenario& r) { return num_value(r.cluster.oversubscription); }},
      {"cluster.gpu_peak_TFLOPS", FieldType::number, "dense fp16/bf16 peak, TFLOP/s (default: the GPU's)",
       &set_c_opt_num<&CS::gpu_peak_TFLOPS>,
       [](const Scenario& r) { return num_value(r.cluster.gpu.peak_fp16.value() * 1e-12); }},
      {"cluster.gpu_hbm_GBps", FieldType::number, "HBM bandwidth, GB/s (default: the GPU's)",
       &set_c_opt_num<&CS::gpu_hbm_GBps>,
       [](const Scenario& r) { return num_value(to_gigabytes_per_second(r.cluster.gpu.hbm)); }},
      {"cluster.gpu_memory_GB", FieldType::number, "device memory, GB = 1e9 bytes (default: the GPU's)",
       &set_c_opt_num<&CS::gpu_memory_GB>, [](const Scenario& r) { return num_value(r.cluster.gpu.memory.value() * 1e-9); }},
      {"cluster.memory_reserved_GB", FieldType::number,
       "memory per GPU not available to attention (weights, optimizer, other layers), GB",
       [](ScenarioSpec& s, const FieldValue& v) { s.cluster.memory_reserved_GB = as_number(v); },
       [](const Scenario& r) { return num_value(r.memory_reserved.value() * 1e-9); }},
      {"mechanisms", FieldType::text_list, "mechanisms to compare (default: lv-xattn, ring, ulysses, no-comm)",
       [](ScenarioSpec& s, const FieldValue& v) { s.mechanisms = std::get<std::vector<std::string>>(v); },
       [](const Scenario& r) {
         std::vector<std::string> names;
         for (const auto& m : r.mechanisms) names.push_back(m.name());
         return FieldValue(names);
       }},
      {"calibration", FieldType::text_list, "calibration file(s), merged in order, later files winning",
       &set_calibration, [](const Scenario& r) { return FieldValue(r.calibration.sources); }},
  };
  return fields;
}

// Scenario keys that hold lists of entries rather than one value: read from YAML only,
// not registry fields (--set cannot address an entry).
constexpr std::array<std::string_view, 2> listed_sections{"cluster.links", "cluster.routes"};

bool is_prefix_of_field(const std::string& prefix) {
  for (const auto& f : registry())
    if (f.path.size() > prefix.size() && f.path.compare(0, prefix.size(), prefix) == 0 &&
        f.path[prefix.size()] == '.')
      return true;
  return false;
}

std::string known_keys_under(const std::string& prefix) {
  std::vector<std::string> keys;
  for (const auto& f : registry()) {
    std::string_view p = f.path;
    if (prefix.empty()) {
      keys.emplace_back(p.substr(0, p.find('.')));
    } else if (p.starts_with(prefix + ".")) {
      std::string_view rest = p.substr(prefix.size() + 1);
      keys.emplace_back(rest.substr(0, rest.find('.')));
    }
  }
  for (std::string_view p : listed_sections)
    if (p.starts_with(prefix + ".")) keys.emplace_back(p.substr(prefix.size() + 1));
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  std::string s;
  for (const auto& k : keys) s += (s.empty() ? "" : ", ") + k;
  return s;
}

Origin mark_origin(const std::string& source, const YAML::Node& node) {
  auto m = node.Mark();
  return Origin{source, m.line + 1, m.column + 1};
}

// A YAML node as a value of `type`; throws InputError naming the field.
// A YAML value parsed into its field's type (a syntax error throws, located at the value).
// Its own check (check_value) is located at the key: a failure goes to `refused` and the value
// is still returned, so that reading goes on and resolve() can report every problem at once.
FieldValue node_value(FieldType type, const std::string& path, const YAML::Node& value, const Origin& key_origin,
                      const std::string& source, std::vector<Problem>& refused) {
  FieldValue v;
  if (type == FieldType::text_list) {
    std::vector<std::string> items;
    if (value.IsSequence()) {
      for (const auto& item : value) {
        if (!item.IsScalar()) throw InputError(mark_origin(source, item), path, "expected a list of strings");
        items.push_back(item.Scalar());
      }
    } else if (value.IsScalar()) {
      items.push_back(value.Scalar());
    } else {
      throw InputError(key_origin, path, "expected a list of strings");
    }
    v = std::move(items);
  } else {
    if (!value.IsScalar()) throw InputError(mark_origin(source, value), path, fmt::format("expected {}", type_name(type)));
    v = parse_value_unchecked(type, path, value.Scalar(), mark_origin(source, value));
  }
  try {
    check_value(path, v, key_origin);
  } catch (const InputError& e) {
    refused.insert(refused.end(), e.problems().begin(), e.problems().end());
  }
  return v;
}

// ---- listed links and routes (cluster.links, cluster.routes; docs/topology.md) ------------

// One key of a list entry.
struct EntryKey {
  std::string_view key;
  FieldType type;
  std::string_view help;
  bool required;
};

constexpr std::array<EntryKey, 7> link_keys{{
    {"name", FieldType::text, "the link's name, for routes and reports", true},
    {"from", FieldType::text, "gpu<rank>, or a switch, NIC or bridge", true},
    {"to", FieldType::text, "gpu<rank>, or a switch, NIC or bridge", true},
    {"bandwidth_GBps", FieldType::number, "per direction, GB/s", true},
    {"latency_us", FieldType::number, "µs, 0 for none", true},
    {"duplex", FieldType::boolean, "true: also the link back, with the same figures", false},
    {"class", FieldType::text, "intra (default) or inter", false},
}};

constexpr std::array<EntryKey, 4> route_keys{{
    {"from", FieldType::text, "gpu<rank>", true},
    {"to", FieldType::text, "gpu<rank>", true},
    {"links", FieldType::text_list, "the links crossed, in order, by name", true},
    {"both_ways", FieldType::boolean, "true: also the route back over the same links", false},
}};

std::string key_names(std::span<const EntryKey> keys) {
  std::vector<std::string_view> names;
  for (const auto& k : keys) names.push_back(k.key);
  std::sort(names.begin(), names.end());
  std::string s;
  for (auto n : names) s += fmt::format("{}{}", s.empty() ? "" : ", ", n);
  return s;
}

using EntryValues = std::map<std::string, FieldValue, std::less<>>;

// Reads a list section entry by entry, recording the origin of each entry
// ("cluster.links[i]") and key ("cluster.links[i].to"); `take(i, values)` stores an entry
// whose keys all parsed and whose required keys are all there.
template <class Take>
void read_entries(ScenarioSpec& spec, const YAML::Node& list, const std::string& section, const Origin& origin,
                  const std::string& source, std::span<const EntryKey> keys, std::vector<Problem>& problems,
                  Take take) {
  if (!list.IsSequence()) {
    problems.push_back({origin, section, fmt::format("expected a list of entries with keys: {}", key_names(keys))});
    return;
  }
  if (list.size() == 0) {
    problems.push_back({origin, section,
                        fmt::format("an empty list: leave {} out{}", section,
                                    section == "cluster.links" ? " to use the structured fabric (intra_node, inter_node)"
                                                               : " to route every pair by shortest path")});
    return;
  }
  int i = 0;
  for (const auto& item : list) {
    const std::string entry = fmt::format("{}[{}]", section, i);
    const Origin at = mark_origin(source, item);
    spec.origins[entry] = at;
    if (!item.IsMap()) {
      problems.push_back({at, entry, fmt::format("expected a mapping with keys: {}", key_names(keys))});
      ++i;
      continue;
    }
    EntryValues values;
    std::vector<std::string> present;  // keys given, whether or not their values parsed
    bool ok = true;
    for (auto it = item.begin(); it != item.end(); ++it) {
      const std::string key = it->first.Scalar();
      const std::string path = entry + "." + key;
      const Origin key_origin = mark_origin(source, it->first);
      const auto k = std::find_if(keys.begin(), keys.end(), [&](const EntryKey& e) { return e.key == key; });
      if (k == keys.end()) {
        problems.push_back({key_origin, path, fmt::format("unknown field; known keys under {}: {}", entry, key_names(keys))});
        ok = false;
        continue;
      }
      spec.origins[path] = key_origin;
      present.push_back(key);
      try {
        values[key] = node_value(k->type, path, it->second, key_origin, source, spec.value_problems);
      } catch (const InputError& e) {
        problems.insert(problems.end(), e.problems().begin(), e.problems().end());
        ok = false;
      }
    }
    std::string missing;
    for (const auto& k : keys)
      if (k.required && std::find(present.begin(), present.end(), k.key) == present.end())
        missing += fmt::format("{}{} ({})", missing.empty() ? "" : "; ", k.key, k.help);
    if (!missing.empty()) {
      problems.push_back({at, entry, "missing " + missing});
      ok = false;
    }
    if (ok) take(i, entry, values);
    ++i;
  }
}

void read_links(ScenarioSpec& spec, const YAML::Node& list, const Origin& origin, const std::string& source,
                std::vector<Problem>& problems) {
  read_entries(spec, list, "cluster.links", origin, source, link_keys, problems,
               [&](int, const std::string& entry, const EntryValues& v) {
                 ListedLink l;
                 l.name = std::get<std::string>(v.at("name"));
                 l.from = std::get<std::string>(v.at("from"));
                 l.to = std::get<std::string>(v.at("to"));
                 l.figures.bandwidth = gigabytes_per_second(std::get<double>(v.at("bandwidth_GBps")));
                 l.figures.latency = microseconds(std::get<double>(v.at("latency_us")));
                 if (auto it = v.find("duplex"); it != v.end()) l.duplex = std::get<bool>(it->second);
                 if (auto it = v.find("class"); it != v.end()) {
                   const std::string& c = std::get<std::string>(it->second);
                   if (c == "intra" || c == "intra_node") l.link_class = LinkClass::intra_node;
                   else if (c == "inter" || c == "inter_node") l.link_class = LinkClass::inter_node;
                   else problems.push_back({spec.origin_of(entry + ".class"), entry + ".class",
                                            fmt::format("unknown link class '{}'; known: intra, inter", c)});
                 }
                 spec.cluster.graph.links.push_back(std::move(l));
               });
}

void read_routes(ScenarioSpec& spec, const YAML::Node& list, const Origin& origin, const std::string& source,
                 std::vector<Problem>& problems) {
  read_entries(spec, list, "cluster.routes", origin, source, route_keys, problems,
               [&](int, const std::string& entry, const EntryValues& v) {
                 ListedRoute r;
                 for (auto [key, rank] : {std::pair{"from", &r.from}, std::pair{"to", &r.to}}) {
                   const std::string& name = std::get<std::string>(v.at(key));
                   const std::optional<int> gpu = gpu_endpoint(name);
                   if (gpu && *gpu >= 0) {
                     *rank = *gpu;
                   } else {
                     const std::string field = entry + "." + key;
                     problems.push_back({spec.origin_of(field), field,
                                         fmt::format("'{}' is not a GPU: a route joins two GPUs, written gpu<rank> "
                                                     "with the global rank",
                                                     name)});
                   }
                 }
                 r.links = std::get<std::vector<std::string>>(v.at("links"));
                 if (auto it = v.find("both_ways"); it != v.end()) r.both_ways = std::get<bool>(it->second);
                 spec.cluster.graph.routes.push_back(std::move(r));
               });
}

// Walks a YAML mapping, setting every registered field it finds and collecting problems.
void read_mapping(ScenarioSpec& spec, const YAML::Node& map, const std::string& prefix,
                  const std::string& source, std::vector<Problem>& problems,
                  std::vector<std::pair<const Field*, YAML::Node>>& deferred) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    std::string key = it->first.as<std::string>();
    std::string path = prefix.empty() ? key : prefix + "." + key;
    const YAML::Node value = it->second;  // a copy: the iterator hands out a temporary
    Origin origin = mark_origin(source, it->first);
    if (path == "workload.model" && value.IsMap()) {
      spec.origins[path] = origin;
      if (std::optional<ModelSpec> m = read_model_mapping(value, source, spec.origins, problems)) {
        spec.workload.model = m->name;
        spec.workload.model_mapping = std::move(*m);
      }
      continue;
    }
    if (const Field* f = find_field(path)) {
      spec.origins[path] = origin;
      if (f->path == "calibration") {
        deferred.emplace_back(f, value);  // files are read after `path` is known
        continue;
      }
      try {
        f->set(spec, node_value(f->type, path, value, origin, source, spec.value_problems));
      } catch (const InputError& e) {
        problems.insert(problems.end(), e.problems().begin(), e.problems().end());
      }
    } else if (path == "cluster.links") {
      spec.origins[path] = origin;
      read_links(spec, value, origin, source, problems);
    } else if (path == "cluster.routes") {
      spec.origins[path] = origin;
      read_routes(spec, value, origin, source, problems);
    } else if (is_prefix_of_field(path)) {
      if (!value.IsMap()) {
        problems.push_back({origin, path, fmt::format("expected a mapping with keys: {}", known_keys_under(path))});
        continue;
      }
      read_mapping(spec, value, path, source, problems, deferred);
    } else {
      problems.push_back({origin, path,
                          fmt::format("unknown field; known keys{}: {}", prefix.empty() ? "" : " under " + prefix,
                                      known_keys_under(prefix))});
    }
  }
}

}  // namespace

Origin ScenarioSpec::origin_of(const std::string& field) const {
  auto it = origins.find(field);
  if (it != origins.end()) return it->second;
  return Origin{path.empty() ? std::string("scenario") : path, 0, 0};
}

std::span<const Field> scenario_fields() { return registry(); }

namespace {

// "cluster.links.NAME.KEY" -> (NAME, KEY) for the keys that --set and sweeps may vary.
std::optional<std::pair<std::string, std::string>> split_listed_link_path(std::string_view path) {
  constexpr std::string_view prefix = "cluster.links.";
  if (!path.starts_with(prefix)) return std::nullopt;
  const std::size_t dot = path.rfind('.');
  if (dot <= prefix.size()) return std::nullopt;
  std::string key(path.substr(dot + 1));
  if (key != "bandwidth_GBps" && key != "latency_us") return std::nullopt;
  return std::pair{std::string(path.substr(prefix.size(), dot - prefix.size())), std::move(key)};
}

template <class Links>
auto* find_listed_link(Links& links, const std::string& name) {
  auto it = std::find_if(links.begin(), links.end(), [&](const ListedLink& l) { return l.name == name; });
  return it == links.end() ? nullptr : &*it;
}

std::string listed_link_names(const std::vector<ListedLink>& links) {
  if (links.empty()) return "it lists none (cluster.links)";
  std::string s = "listed: ";
  for (std::size_t i = 0; i < links.size(); ++i) s += (i > 0 ? ", " : "") + links[i].name;
  return s;
}

// A listed link's figure as a field, made on first use and kept (Field pointers are
// stable for the process, like the registry's).
const Field* listed_link_field(std::string_view path) {
  const auto parts = split_listed_link_path(path);
  if (!parts) return nullptr;
  static std::mutex lock;
  static std::map<std::string, std::unique_ptr<Field>, std::less<>> made;
  std::lock_guard<std::mutex> hold(lock);
  if (auto it = made.find(path); it != made.end()) return it->second.get();
  // Copies, not a structured binding: lambdas capture them (clang 14 cannot capture bindings).
  const std::string name = parts->first, key = parts->second;
  const bool bandwidth = key == "bandwidth_GBps";
  auto field = std::make_unique<Field>(Field{
      std::string(path), FieldType::number,
      bandwidth ? fmt::format("listed link {}: bandwidth per direction, GB/s", name)
                : fmt::format("listed link {}: latency, µs", name),
      [name, bandwidth, p = std::string(path)](ScenarioSpec& s, const FieldValue& v) {
        ListedLink* l = find_listed_link(s.cluster.graph.links, name);
        if (l == nullptr)
          throw InputError(s.origin_of(p), p,
                           fmt::format("the scenario lists no link named '{}'; {}", name,
                                       listed_link_names(s.cluster.graph.links)));
        if (bandwidth) l->figures.bandwidth = gigabytes_per_second(as_number(v));
        else l->figures.latency = microseconds(as_number(v));
      },
      [name, bandwidth](const Scenario& r) -> FieldValue {
        const ListedLink* l = find_listed_link(r.cluster.graph.links, name);
        if (l == nullptr) return 0.0;
        return bandwidth ? l->figures.bandwidth.value() / 1e9 : l->figures.latency.value() * 1e6;
      }});
  return made.emplace(std::string(path), std::move(field)).first->second.get();
}

// A key of the whole model, "workload.model.SECTION.KEY" (model_mapping.hpp): set on the
// scenario's mapping, or on a copy of its preset that becomes one. Made on first use and
// kept, like a listed link's field.
const Field* model_mapping_field(std::string_view path) {
  constexpr std::string_view prefix = "workload.model.";
  if (!path.starts_with(prefix)) return nullptr;
  const std::string sub(path.substr(prefix.size()));
  const std::optional<MappingKey> key = find_model_mapping_key(sub);
  if (!key) return nullptr;
  static std::mutex lock;
  static std::map<std::string, std::unique_ptr<Field>, std::less<>> made;
  std::lock_guard<std::mutex> hold(lock);
  if (auto it = made.find(path); it != made.end()) return it->second.get();
  const FieldType type = key->type == MappingKeyType::integer   ? FieldType::integer
                         : key->type == MappingKeyType::number  ? FieldType::number
                         : key->type == MappingKeyType::boolean ? FieldType::boolean
                         : key->type == MappingKeyType::text    ? FieldType::text
                                                                : FieldType::text_list;
  auto field = std::make_unique<Field>(Field{
      std::string(path), type, key->help,
      [sub, p = std::string(path)](ScenarioSpec& s, const FieldValue& v) {
        if (!s.workload.model_mapping) {
          const ModelSpec* preset = find_model(s.workload.model);
          if (preset == nullptr)
            throw InputError(s.origin_of(p), p,
                             fmt::format("workload.model '{}' is no preset to start from; known: {}", s.workload.model,
                                         model_names()));
          s.workload.model_mapping = *preset;
        }
        std::string text;
        if (const auto* i = std::get_if<std::int64_t>(&v)) text = std::to_string(*i);
        else if (const auto* d = std::get_if<double>(&v)) text = fmt::format("{}", *d);
        else if (const auto* b = std::get_if<bool>(&v)) text = *b ? "true" : "false";
        else if (const auto* t = std::get_if<std::string>(&v)) text = *t;
        else
          for (const std::string& item : std::get<std::vector<std::string>>(v)) text += (text.empty() ? "" : ",") + item;
        set_model_mapping_key(*s.workload.model_mapping, sub, text, s.origin_of(p));
        s.workload.model = s.workload.model_mapping->name;
      },
      [sub, type](const Scenario& r) -> FieldValue {
        const std::string text = model_mapping_key_text(r.model, sub);
        if (type == FieldType::integer) return static_cast<std::int64_t>(std::stoll(text));
        if (type == FieldType::number) return std::stod(text);
        if (type == FieldType::boolean) return text == "true";
        if (type == FieldType::text) return text;
        std::vector<std::string> items;
        for (std::size_t at = 0; at < text.size();) {
          const std::size_t comma = std::min(text.find(',', at), text.size());
          items.push_back(text.substr(at, comma - at));
          at = comma + 1;
        }
        return items;
      }});
  return made.emplace(std::string(path), std::move(field)).first->second.get();
}

}  // namespace

const Field* find_field(std::string_view path) {
  for (const auto& f : registry())
    if (f.path == path) return &f;
  if (const Field* f = model_mapping_field(path)) return f;
  return listed_link_field(path);
}

bool is_listed_link_field(std::string_view path) { return split_listed_link_path(path).has_value(); }

FieldValue parse_field_value(const Field& field, const std::string& raw, const Origin& origin) {
  return parse_value(field.type, field.path, raw, origin);
}

void check_field_value(const Field& field, const FieldValue& value, const Origin& origin) {
  check_value(field.path, value, origin);
}

namespace {

// ---- what one value may be (docs/limits.md) ---------------------------------------------
//
// Every value read for a field — from YAML, --set, a sweep's list or range, a listed link's
// entry — is checked on its own before it is set: a count within its limit, a figure
// finite and within its range, a name one of those known. What depends on several values
// (P = nodes × GPUs per node, S_kv = frames × tokens per frame, a degree that divides) is
// resolve()'s. A value that passes here never overflows what holds it.

// "" when `v` may be the field's value, else why not.
using ValueCheck = std::string (*)(const FieldValue& v);

template <std::int64_t lo, std::int64_t hi>
std::string integer_in(const FieldValue& v) {
  const std::int64_t x = std::get<std::int64_t>(v);
  if (x < lo) return lo == 1 ? fmt::format("must be positive, got {}", x) : fmt::format("must not be below {}, got {}", lo, x);
  if (x > hi) return fmt::format("{} is beyond the largest value xattn accepts, {} (docs/limits.md)", x, hi);
  return {};
}

// A figure: finite, at least `lo` (above it when `open`), at most `hi`; `zero_ok` also lets 0 through.
std::string number_text(double x, double lo, double hi, bool open, bool zero_ok, std::string_view unit) {
  if (zero_ok && x == 0) return {};
  if (!std::isfinite(x)) return fmt::format("must be a finite number, got {}", x);
  if (lo >= 0 && (open || lo > 0) && !(x > 0)) return fmt::format("must be positive, got {}", x);
  if (lo == 0 && !(x >= 0)) return fmt::format("must not be negative, got {}", x);
  if (open ? !(x > lo) : !(x >= lo))
    return fmt::format("must be at least {}{}{}, got {}", lo, unit.empty() ? "" : " ", unit, x);
  if (x > hi) return fmt::format("{} is beyond the largest value xattn accepts, {}{}{} (docs/limits.md)", x, hi,
                                 unit.empty() ? "" : " ", unit);
  return {};
}
std::string bandwidth_ok(const FieldValue& v) {
  return number_text(std::get<double>(v), limits::min_bandwidth_GBps, limits::max_bandwidth_GBps, false, false, "GB/s");
}
std::string bandwidth_or_none(const FieldValue& v) {  // 0: no such link (one GPU per node, one node)
  return number_text(std::get<double>(v), limits::min_bandwidth_GBps, limits::max_bandwidth_GBps, false, true, "GB/s");
}
std::string latency_ok(const FieldValue& v) {
  return number_text(std::get<double>(v), 0, limits::max_latency_us, false, false, "us");
}
std::string tflops_ok(const FieldValue& v) {
  return number_text(std::get<double>(v), 0, limits::max_tflops, true, false, "TFLOP/s");
}
std::string hbm_ok(const FieldValue& v) {
  return number_text(std::get<double>(v), 0, limits::max_bandwidth_GBps, true, false, "GB/s");
}
std::string memory_ok(const FieldValue& v) {
  return number_text(std::get<double>(v), 0, limits::max_memory_GB, true, false, "GB");
}
std::string reserved_ok(const FieldValue& v) {
  return number_text(std::get<double>(v), 0, limits::max_memory_GB, false, false, "GB");
}
std::string oversubscription_ok(const FieldValue& v) {
  const double x = std::get<double>(v);
  if (std::isfinite(x) && x < 1) return fmt::format("must be at least 1 (1: non-blocking), got {}", x);
  return number_text(x, 1, limits::max_factor, false, false, "");
}

// A name among those a parser knows; `unknown` says why another is not (resolve()'s words).
template <auto parse, std::string (*unknown)(std::string_view)>
std::string name_in(const FieldValue& v) {
  const std::string& x = std::get<std::string>(v);
  return parse(x) ? std::string() : unknown(x);
}
template <auto parse, std::string (*unknown)(std::string_view)>
std::string names_in(const FieldValue& v) {
  for (const std::string& x : std::get<std::vector<std::string>>(v))
    if (!parse(x)) return unknown(x);
  return {};
}
std::string unknown_model(std::string_view x) { return fmt::format("unknown model preset '{}'; known: {}", x, model_names()); }
std::string unknown_dtype(std::string_view x) { return fmt::format("unknown dtype '{}'; known: fp16, bf16, fp32", x); }
std::string unknown_mask(std::string_view x) {
  return fmt::format("unknown mask '{}'; known: dense, causal, media-local", x);
}
std::string unknown_accumulator(std::string_view x) { return fmt::format("unknown '{}'; known: activation, fp32", x); }
std::string unknown_mechanism(std::string_view x) {
  return fmt::format("unknown mechanism '{}'; known: {}", x, mechanism_names());
}
std::string unknown_sharding(std::string_view x) { return fmt::format("unknown '{}'; known: none, zero1, zero2, zero3", x); }
std::string unknown_checkpointing(std::string_view x) {
  return fmt::format("unknown '{}'; known: none, after-attention, full", x);
}
std::string unknown_part(std::string_view x) {
  return fmt::format("unknown part '{}'; known: vision, projector, lm, cross_attention", x);
}
std::string unknown_training_preset(std::string_view x) {
  return fmt::format("unknown preset '{}'; known: none, lv-xattn-paper", x);
}
std::string unknown_cluster(std::string_view x) { return fmt::format("unknown cluster preset '{}'; known: {}", x, cluster_names()); }
std::string unknown_gpu(std::string_view x) { return fmt::format("unknown GPU preset '{}'; known: {}", x, gpu_names()); }
std::string unknown_intra(std::string_view x) {
  return fmt::format("unknown fabric '{}'; known: nvlink-switch, nvlink-mesh, pcie, none", x);
}
std::string unknown_inter(std::string_view x) { return fmt::format("unknown fabric '{}'; known: switch, fat-tree", x); }
std::optional<bool> parse_accumulator(std::string_view s) {
  return s == "activation" || s == "fp32" ? std::optional<bool>(true) : std::nullopt;
}
const ModelSpec* model_preset(std::string_view s) { return find_model(s); }
const GpuSpec* gpu_preset(std::string_view s) { return find_gpu(s); }
const ClusterPreset* cluster_preset(std::string_view s) { return find_cluster(s); }
std::optional<Mechanism> mechanism(std::string_view s) { return parse_mechanism(s); }

// The check of each field by path; a listed link's figures by their key. nullptr: any value.
ValueCheck value_check(std::string_view path) {
  using namespace limits;
  static const std::map<std::string_view, ValueCheck, std::less<>> checks = {
      {"workload.model", &name_in<model_preset, unknown_model>},
      {"workload.batch", &integer_in<1, max_batch>},
      {"workload.text_tokens", &integer_in<1, max_tokens>},
      {"workload.frames", &integer_in<0, max_tokens>},
      {"workload.tokens_per_frame", &integer_in<0, max_tokens>},
      {"workload.dtype", &name_in<parse_dtype, unknown_dtype>},
      {"workload.mask", &name_in<parse_mask, unknown_mask>},
      {"workload.accumulator_dtype", &name_in<parse_accumulator, unknown_accumulator>},
      {"workload.heads", &integer_in<1, max_heads>},
      {"workload.kv_heads", &integer_in<1, max_heads>},
      {"workload.head_dim", &integer_in<1, max_head_dim>},
      {"workload.text_hidden", &integer_in<1, max_hidden>},
      {"workload.visual_hidden", &integer_in<1, max_hidden>},
      {"workload.cross_attention_layers", &integer_in<0, max_layers>},
      {"training.self_attention", &name_in<mechanism, unknown_mechanism>},
      {"training.sp", &integer_in<1, max_gpus>},
      {"training.dp", &integer_in<1, max_gpus>},
      {"training.global_batch", &integer_in<1, max_global_batch>},
      {"training.sharding", &name_in<parse_sharding, unknown_sharding>},
      {"training.checkpointing", &name_in<parse_checkpointing, unknown_checkpointing>},
      {"training.frozen", &names_in<parse_model_part, unknown_part>},
      {"training.preset", &name_in<parse_training_preset, unknown_training_preset>},
      {"cluster.preset", &name_in<cluster_preset, unknown_cluster>},
      {"cluster.gpu", &name_in<gpu_preset, unknown_gpu>},
      {"cluster.nodes", &integer_in<1, max_nodes>},
      {"cluster.gpus_per_node", &integer_in<1, max_gpus_per_node>},
      {"cluster.intra_node.kind", &name_in<parse_intra_fabric, unknown_intra>},
      {"cluster.intra_node.bandwidth_GBps", &bandwidth_or_none},
      {"cluster.intra_node.latency_us", &latency_ok},
      {"cluster.inter_node.bandwidth_GBps", &bandwidth_or_none},
      {"cluster.inter_node.nccl_bandwidth_GBps", &bandwidth_or_none},
      {"cluster.inter_node.latency_us", &latency_ok},
      {"cluster.inter_node.nics_per_node", &integer_in<1, max_gpus_per_node>},
      {"cluster.inter_node.fabric", &name_in<parse_inter_fabric, unknown_inter>},
      {"cluster.inter_node.nodes_per_leaf", &integer_in<1, max_nodes>},
      {"cluster.inter_node.oversubscription", &oversubscription_ok},
      {"cluster.gpu_peak_TFLOPS", &tflops_ok},
      {"cluster.gpu_hbm_GBps", &hbm_ok},
      {"cluster.gpu_memory_GB", &memory_ok},
      {"cluster.memory_reserved_GB", &reserved_ok},
      {"mechanisms", &names_in<mechanism, unknown_mechanism>},
  };
  if (auto it = checks.find(path); it != checks.end()) return it->second;
  if (path.starts_with("cluster.links")) {
    if (path.ends_with(".bandwidth_GBps")) return &bandwidth_ok;
    if (path.ends_with(".latency_us")) return &latency_ok;
  }
  return nullptr;
}

FieldValue parse_value(FieldType type, const std::string& path, const std::string& raw, const Origin& origin) {
  FieldValue v = parse_value_unchecked(type, path, raw, origin);
  check_value(path, v, origin);
  return v;
}

void check_value(const std::string& path, const FieldValue& v, const Origin& origin) {
  // Text is UTF-8 (YAML requires it, and JSON output carries it).
  const auto valid_text = [&](const std::string& t) {
    if (!is_valid_utf8(t)) throw InputError(origin, path, "is not valid UTF-8 text");
  };
  if (const auto* t = std::get_if<std::string>(&v)) valid_text(*t);
  if (const auto* l = std::get_if<std::vector<std::string>>(&v))
    for (const auto& t : *l) valid_text(t);
  if (const ValueCheck check = value_check(path)) {
    std::string why = check(v);
    if (!why.empty()) throw InputError(origin, path, std::move(why));
  }
}

FieldValue parse_value_unchecked(FieldType type, const std::string& path, const std::string& raw, const Origin& origin) {
  std::string text = trim(raw);
  auto bad = [&](const std::string& why) {
    return InputError(origin, path, fmt::format("'{}' is not {}{}", text, type_name(type), why));
  };
  switch (type) {
    case FieldType::integer: {
      std::int64_t v = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || end != text.data() + text.size() || text.empty()) throw bad("");
      return v;
    }
    case FieldType::number: {
      if (text.empty()) throw bad("");
      errno = 0;
      char* end = nullptr;
      double v = std::strtod(text.c_str(), &end);
      if (end != text.c_str() + text.size() || errno != 0 || v != v) throw bad("");
      return v;
    }
    case FieldType::boolean: {
      if (text == "true" || text == "yes" || text == "on") return true;
      if (text == "false" || text == "no" || text == "off") return false;
      throw bad("");
    }
    case FieldType::text:
      return text;
    case FieldType::text_list: {
      std::vector<std::string> items;
      std::string_view rest = text;
      if (rest.starts_with('[') && rest.ends_with(']')) rest = rest.substr(1, rest.size() - 2);
      while (!rest.empty()) {
        auto comma = rest.find(',');
        std::string item = trim(rest.substr(0, comma));
        if (!item.empty()) items.push_back(item);
        if (comma == std::string_view::npos) break;
        rest = rest.substr(comma + 1);
      }
      return items;
    }
  }
  throw bad("");
}

}  // namespace

void apply_override(ScenarioSpec& spec, const std::string& path, const std::string& value, const Origin& origin) {
  const Field* f = find_field(path);
  for (std::string_view section : listed_sections)
    if (!f && path.starts_with(section) && (path.size() == section.size() || path[section.size()] == '.' ||
                                            path[section.size()] == '['))
      throw InputError(origin, path,
                       fmt::format("{} is a list of entries: write it in the scenario file (docs/topology.md); "
                                   "only a listed link's figures can be set, by its name: "
                                   "cluster.links.NAME.bandwidth_GBps or cluster.links.NAME.latency_us",
                                   section));
  if (!f) {
    std::string prefix = path.substr(0, path.rfind('.') == std::string::npos ? 0 : path.rfind('.'));
    while (!prefix.empty() && !is_prefix_of_field(prefix))
      prefix = prefix.substr(0, prefix.rfind('.') == std::string::npos ? 0 : prefix.rfind('.'));
    throw InputError(origin, path,
                     fmt::format("no such field; known keys{}: {}", prefix.empty() ? "" : " under " + prefix,
                                 known_keys_under(prefix)));
  }
  const auto link = split_listed_link_path(path);
  // A listed link's figure is checked under its entry's name, as the file's value would be.
  std::string checked_as = path;
  if (link)
    for (std::size_t i = 0; i < spec.cluster.graph.links.size(); ++i)
      if (spec.cluster.graph.links[i].name == link->first) {
        checked_as = fmt::format("cluster.links[{}].{}", i, link->second);
        break;
      }
  FieldValue v = parse_value_unchecked(f->type, f->path, value, origin);  // a syntax error throws
  // A value that fails its own check is set and reported by resolve() with every other
  // problem, as a file's value is (ScenarioSpec::value_problems); a calibration file's name
  // is not read unless it passes.
  std::vector<Problem> refused;
  try {
    check_value(checked_as, v, origin);
  } catch (const InputError& e) {
    if (f->path == "calibration") throw;
    refused = e.problems();
  }
  auto drop_value_problems = [&](const std::string& field) {  // the file's value is replaced
    std::erase_if(spec.value_problems, [&](const Problem& p) { return p.field == field; });
  };
  drop_value_problems(path);
  if (link) {
    // Problems the link checks find later name the entry's key: point them here too.
    spec.origins[path] = origin;
    const auto& links = spec.cluster.graph.links;
    for (std::size_t i = 0; i < links.size(); ++i)
      if (links[i].name == link->first) {
        const std::string entry_field = fmt::format("cluster.links[{}].{}", i, link->second);
        spec.origins[entry_field] = origin;
        drop_value_problems(entry_field);
      }
    spec.value_problems.insert(spec.value_problems.end(), refused.begin(), refused.end());
    f->set(spec, v);
    return;
  }
  spec.value_problems.insert(spec.value_problems.end(), refused.begin(), refused.end());
  if (f->path == "calibration") {
    // Files named on the command line are relative to the working directory.
    ScenarioSpec relative_to_cwd;
    set_calibration(relative_to_cwd, v);
    spec.calibration_files = relative_to_cwd.calibration_files;
    spec.calibration = relative_to_cwd.calibration;
  } else {
    spec.origins[path] = origin;  // before: a whole-model key's setter names it in its problems
    f->set(spec, v);
  }
  spec.origins[path] = origin;
}

void apply_override(ScenarioSpec& spec, const std::string& assignment) {
  Origin origin{"--set " + assignment, 0, 0};
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw InputError(origin, "", "expected KEY=VALUE, for example workload.frames=384");
  apply_override(spec, trim(assignment.substr(0, eq)), assignment.substr(eq + 1), origin);
}

ScenarioSpec parse_scenario_spec(const std::string& yaml_text, const std::string& source_name) {
  ScenarioSpec spec;
  spec.path = source_name;
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw InputError(Origin{source_name, e.mark.line + 1, e.mark.column + 1}, "", "malformed YAML: " + e.msg);
  }
  if (!root.IsMap())
    throw InputError(Origin{source_name, 1, 1}, "", "a scenario is a YAML mapping with workload: and cluster: sections");
  std::vector<Problem> problems;
  check_yaml_document(root, source_name, yaml_text.size(), problems);
  if (!problems.empty()) throw InputError(std::move(problems));
  std::vector<std::pair<const Field*, YAML::Node>> deferred;
  read_mapping(spec, root, "", source_name, problems, deferred);
  for (const auto& [field, node] : deferred) {
    try {
      std::vector<std::string> files;
      if (node.IsSequence()) {
        for (const auto& item : node) files.push_back(item.Scalar());
      } else if (node.IsScalar()) {
        files.push_back(node.Scalar());
      } else {
        throw InputError(mark_origin(source_name, node), field->path, "expected a file name or a list of them");
      }
      field->set(spec, FieldValue(files));
    } catch (const InputError& e) {
      problems.insert(problems.end(), e.problems().begin(), e.problems().end());
    }
  }
  if (!problems.empty()) throw InputError(std::move(problems));
  return spec;
}

ScenarioSpec load_scenario_spec(const std::string& path) {
  return parse_scenario_spec(read_input_file(path, "scenario"), path);
}

namespace {

// training.* (issue 16): the set-up of the whole iteration, checked against the cluster
// and the batch. Unset keys take their defaults, or training.preset's.
template <class Report>
void resolve_training(const ScenarioSpec& spec, Scenario& s, Report&& problem) {
  const auto& t = spec.training;
  TrainingSetup& r = s.training;
  if (auto p = parse_training_preset(t.preset)) r.preset = *p;
  else problem("training.preset", fmt::format("unknown preset '{}'; known: none, lv-xattn-paper", t.preset));
  const bool paper = r.preset == TrainingPreset::lv_xattn_paper;
  // The paper harness (ITERATION.md §5): Ring self-attention (ring_self), no layer
  // checkpointing besides its CA wrapper, no optimizer; the vision tower frozen, FSDP
  // full shard over every GPU, one SP group of them all.
  const std::string self = t.self_attention.value_or(paper ? "ring" : "ring-zigzag");
  if (auto m = parse_mechanism(self)) r.self_attention = *m;
  else problem("training.self_attention", fmt::format("unknown mechanism '{}'; known: {}", self, mechanism_names()));
  const std::string sharding = t.sharding.value_or("zero3");
  if (auto x = parse_sharding(sharding)) r.sharding = *x;
  else problem("training.sharding", fmt::format("unknown '{}'; known: none, zero1, zero2, zero3", sharding));
  const std::string checkpointing = t.checkpointing.value_or(paper ? "none" : "full");
  if (auto x = parse_checkpointing(checkpointing)) r.checkpointing = *x;
  else problem("training.checkpointing",
               fmt::format("unknown '{}'; known: none, after-attention, full", checkpointing));
  r.frozen = PartSet{};
  for (const std::string& part : t.frozen.value_or(std::vector<std::string>{"vision"})) {
    if (auto p = parse_model_part(part)) r.frozen.add(*p);
    else problem("training.frozen",
                 fmt::format("unknown part '{}'; known: vision, projector, lm, cross_attention", part));
  }
  r.optimizer_step = t.optimizer_step.value_or(!paper);
  // Explicit keys win over the harness's defaults (docs/model.md §14), except one it cannot
  // honour: its cross-attention wrapper returns no gradient to the visual states, so no
  // gradient can reach a vision encoder that trains.
  if (paper && t.frozen && !r.frozen.contains(ModelPart::vision) && s.model.arch.vision.layers > 0)
    problem("training.frozen", "the lv-xattn-paper harness cannot train the vision encoder: its cross-attention "
                               "wrapper returns no gradient to the visual states (ITERATION.md §5); keep vision "
                               "in training.frozen, or set training.preset: none");

  // The GPUs: sp x dp = all of them; a group of sp consecutive ranks never straddles a
  // node boundary unevenly.
  const int gpus = s.cluster.ranks();
  if (gpus <= 0) return;
  const int per_node = s.cluster.gpus_per_node;
  std::int64_t sp = t.sp.value_or(0), dp = t.dp.value_or(0);
  if (t.sp && *t.sp <= 0) {
    problem("training.sp", fmt::format("must be positive, got {}", *t.sp));
    return;
  }
  if (t.dp && *t.dp <= 0) {
    problem("training.dp", fmt::format("must be positive, got {}", *t.dp));
    return;
  }
  if (t.sp && gpus % sp != 0) {
    problem("training.sp", fmt::format("{} does not divide the {} GPUs ({} nodes x {})", sp, gpus, s.cluster.nodes,
                                       per_node));
    return;
  }
  if (!t.sp && t.dp) {
    if (gpus % dp != 0) {
      problem("training.dp", fmt::format("{} replicas do not divide the {} GPUs", dp, gpus));
      return;
    }
    sp = gpus / dp;
  }
  if (!t.sp && !t.dp) sp = gpus;
  if (!t.dp) dp = gpus / sp;
  // sp divides the GPUs on every way here, so sp x dp = GPUs is dp = GPUs / sp; the product
  // is not formed (dp may be any int64 a file holds: its own check reports that).
  if (dp != gpus / sp) {
    problem("training.dp", fmt::format("dp x sp = {} x {} = {:.15g}, not the {} GPUs", dp, sp,
                                       static_cast<double>(dp) * static_cast<double>(sp), gpus));
    return;
  }
  if (sp < per_node ? per_node % sp != 0 : sp % per_node != 0) {
    problem(t.sp ? "training.sp" : "training.dp",
            fmt::format("a sequence-parallel group of {} GPUs would straddle nodes of {} (sp must divide the GPUs "
                        "per node or be a multiple of it)",
                        sp, per_node));
    return;
  }
  r.sp = static_cast<int>(sp);
  r.dp = static_cast<int>(dp);
  std::int64_t step = 0;  // batch x dp; 0 when it would not fit (a batch beyond its limit, reported by its check)
  if (__builtin_mul_overflow(s.batch, dp, &step)) step = 0;
  r.global_batch = t.global_batch.value_or(step);
  if (t.global_batch && (*t.global_batch <= 0 || step <= 0 || *t.global_batch % step != 0))
    problem("training.global_batch",
            fmt::format("must be a positive multiple of batch x dp = {} x {} = {}, got {}", s.batch, dp, step,
                        *t.global_batch));
}

}  // namespace

Scenario resolve(const ScenarioSpec& spec) {
  std::vector<Problem> problems;
  auto problem = [&](const std::string& field, std::string message) {
    problems.push_back({spec.origin_of(field), field, std::move(message)});
  };
  // A count held in an `int` is checked in its full type before it narrows: a spec set in
  // code (a front end, a sweep point) has not necessarily been through parse_value.
  auto narrowed = [&](const std::string& field, std::int64_t v) -> std::optional<int> {
    if (const ValueCheck check = value_check(field))
      if (std::string why = check(FieldValue(v)); !why.empty()) {
        problem(field, std::move(why));
        return std::nullopt;
      }
    return static_cast<int>(v);
  };
  Scenario s;
  s.name = spec.name;
  s.description = spec.description;
  s.path = spec.path;
  s.origins = spec.origins;
  const auto& w = spec.workload;

  // Workload: the model (a preset, or a mapping describing it), then the layer's shape.
  const ModelSpec* model = w.model_mapping ? &*w.model_mapping : find_model(w.model);
  if (model != nullptr) {
    s.model = *model;
  } else {
    problem("workload.model", fmt::format("unknown model preset '{}'; known: {}", w.model, model_names()));
  }
  // A mapping changed key by key (--set workload.model.lm.layers=..., a sweep's grid) is
  // checked as a whole, as the file's reader checks one (model_mapping.hpp).
  if (w.model_mapping)
    for (const ArchitectureProblem& p : check_architecture(w.model_mapping->arch))
      problem("workload.model." + std::string(p.key), p.message);
  const bool decoder_only = model != nullptr && model->decoder_only();
  if (w.heads) s.model.heads = *w.heads;
  if (w.kv_heads) s.model.kv_heads = *w.kv_heads;
  if (w.head_dim) s.model.head_dim = *w.head_dim;
  if (w.text_hidden) s.model.text_hidden = *w.text_hidden;
  if (w.visual_hidden) s.model.visual_hidden = *w.visual_hidden;
  if (w.cross_attention_layers)
    if (auto n = narrowed("workload.cross_attention_layers", *w.cross_attention_layers)) s.model.cross_attention_layers = *n;
  for (const auto& [field, value] : {std::pair{"workload.batch", w.batch}, std::pair{"workload.text_tokens", w.text_tokens}})
    if (const ValueCheck check = value_check(field); check && value > 0)
      if (std::string why = check(FieldValue(value)); !why.empty()) problem(field, std::move(why));
  s.batch = w.batch;
  s.text_tokens = w.text_tokens;
  // frames: given (in a file, with --set, or by a front end), or the model's default.
  const bool frames_given = w.frames != WS::kFramesOfModel || spec.origins.contains("workload.frames");
  s.frames = frames_given ? w.frames : (decoder_only ? 0 : 1);
  s.tokens_per_frame = w.tokens_per_frame.value_or(s.model.tokens_per_frame);
  auto positive = [&](const std::string& field, std::int64_t v) {
    if (v <= 0) problem(field, fmt::format("must be positive, got {}", v));
  };
  positive("workload.batch", s.batch);
  positive("workload.text_tokens", s.text_tokens);
  if (decoder_only) {
    // A decoder-only LM has no visual input; its layer is the self-attention layer.
    if (s.frames != 0)
      problem("workload.frames", fmt::format("{} is a decoder-only model: it has no visual input (leave "
                                             "workload.frames out, or set it to 0), got {}",
                                             s.model.name, s.frames));
    if (w.tokens_per_frame && *w.tokens_per_frame != 0)
      problem("workload.tokens_per_frame",
              fmt::format("{} is a decoder-only model: it has no visual input", s.model.name));
    s.tokens_per_frame = 0;
  } else {
    positive("workload.frames", s.frames);
  }
  if (model != nullptr) {
    if (!decoder_only) positive("workload.tokens_per_frame", s.tokens_per_frame);
    positive("workload.heads", s.model.heads);
    positive("workload.kv_heads", s.model.kv_heads);
    positive("workload.head_dim", s.model.head_dim);
    positive("workload.text_hidden", s.model.text_hidden);
    positive("workload.visual_hidden", s.model.visual_hidden);
    if (!decoder_only) positive("workload.cross_attention_layers", s.model.cross_attention_layers);
    if (s.model.heads > 0 && s.model.kv_heads > 0 && s.model.heads % s.model.kv_heads != 0)
      problem(w.kv_heads ? "workload.kv_heads" : "workload.heads",
              fmt::format("query heads ({}) must be a multiple of key/value heads ({})", s.model.heads,
                          s.model.kv_heads));
  }
  s.shape.batch = s.batch;
  s.shape.heads = s.model.heads;
  s.shape.kv_heads = s.model.kv_heads;
  s.shape.head_dim = s.model.head_dim;
  s.shape.q_tokens = s.text_tokens;
  // Each factor is at most 2^31 here (parse_value), so the product cannot wrap.
  const bool sizes_in_range = s.frames >= 0 && s.frames <= limits::max_tokens && s.tokens_per_frame >= 0 &&
                              s.tokens_per_frame <= limits::max_tokens && s.text_tokens <= limits::max_tokens;
  s.shape.kv_tokens = decoder_only ? s.text_tokens : sizes_in_range ? s.frames * s.tokens_per_frame : 0;
  if (!sizes_in_range) {  // a negative count is positive()'s above; S_q beyond the limit the check's at the top
    if (s.frames > limits::max_tokens || s.tokens_per_frame > limits::max_tokens)
      problem("workload.frames",
              fmt::format("frames ({}) and tokens per frame ({}) are beyond what xattn accepts ({} each; "
                          "docs/limits.md)",
                          s.frames, s.tokens_per_frame, limits::max_tokens));
  } else if (s.shape.kv_tokens > limits::max_tokens) {
    problem("workload.frames",
            fmt::format("{} frames x {} tokens per frame = {} visual tokens, beyond the longest sequence xattn accepts, "
                        "{} (2^31 - 1, as FlashAttention's and cuDNN's int sequence lengths; docs/limits.md)",
                        s.frames, s.tokens_per_frame, s.shape.kv_tokens, limits::max_tokens));
    s.shape.kv_tokens = 0;
  }
  // The largest activation of one SP group, Q (or O) and K (or V), in elements: within
  // 2^50 every byte count of the model is exact in a double and fits an int64.
  {
    const double q = static_cast<double>(s.batch) * static_cast<double>(s.shape.q_tokens) *
                     static_cast<double>(s.shape.heads) * static_cast<double>(s.shape.head_dim);
    const double kv = static_cast<double>(s.batch) * static_cast<double>(s.shape.kv_tokens) *
                      static_cast<double>(s.shape.kv_heads) * static_cast<double>(s.shape.head_dim);
    // A count already beyond its own limit is said once, by its check.
    const bool counts_in_range = s.batch <= limits::max_batch && s.text_tokens <= limits::max_tokens;
    if (q > limits::max_tensor_elements && counts_in_range)
      problem("workload.text_tokens",
              fmt::format("the queries hold B x S_q x H x d = {} x {} x {} x {} = {:.3g} elements, beyond the 2^50 "
                          "xattn accepts (docs/limits.md)",
                          s.batch, s.shape.q_tokens, s.shape.heads, s.shape.head_dim, q));
    if (kv > limits::max_tensor_elements && counts_in_range)
      problem(decoder_only ? "workload.text_tokens" : "workload.frames",
              fmt::format("the keys hold B x S_kv x H_kv x d = {} x {} x {} x {} = {:.3g} elements, beyond the 2^50 "
                          "xattn accepts (docs/limits.md)",
                          s.batch, s.shape.kv_tokens, s.shape.kv_heads, s.shape.head_dim, kv));
  }
  if (auto d = parse_dtype(w.dtype)) s.shape.dtype = *d;
  else problem("workload.dtype", fmt::format("unknown dtype '{}'; known: fp16, bf16, fp32", w.dtype));
  const std::string mask = w.mask.value_or(decoder_only ? "causal" : "dense");
  if (auto m = parse_mask(mask)) s.shape.mask = *m;
  else problem("workload.mask", fmt::format("unknown mask '{}'; known: dense, causal, media-local", mask));
  if (s.shape.mask == Mask::causal && s.shape.q_tokens != s.shape.kv_tokens && s.shape.kv_tokens > 0)
    problem("workload.mask",
            fmt::format("a causal mask is for self-attention: text_tokens ({}) must equal frames x "
                        "tokens_per_frame ({})",
                        s.shape.q_tokens, s.shape.kv_tokens));
  if (w.accumulator_dtype == "activation") s.accumulator = AccumulatorDType::activation;
  else if (w.accumulator_dtype == "fp32") s.accumulator = AccumulatorDType::fp32;
  else problem("workload.accumulator_dtype", fmt::format("unknown '{}'; known: activation, fp32", w.accumulator_dtype));
  s.recompute = w.recompute;

  // Cluster: preset first, explicit keys override.
  const auto& c = spec.cluster;
  bool have_gpu = false;
  if (c.preset) {
    if (const ClusterPreset* p = find_cluster(*c.preset)) {
      s.cluster = p->cluster;
      have_gpu = true;
    } else {
      problem("cluster.preset", fmt::format("unknown cluster preset '{}'; known: {}", *c.preset, cluster_names()));
    }
  }
  if (c.gpu) {
    if (const GpuSpec* g = find_gpu(*c.gpu)) {
      s.cluster.gpu = *g;
      have_gpu = true;
    } else {
      problem("cluster.gpu", fmt::format("unknown GPU preset '{}'; known: {}", *c.gpu, gpu_names()));
    }
  } else if (!c.preset) {
    problem("cluster.gpu", fmt::format("no GPU: set cluster.gpu ({}) or cluster.preset ({})", gpu_names(), cluster_names()));
  }
  if (c.gpu_peak_TFLOPS) {
    double ratio = s.cluster.gpu.peak_fp16.value() > 0 ? s.cluster.gpu.peak_fp32 / s.cluster.gpu.peak_fp16 : 1.0 / 16;
    s.cluster.gpu.peak_fp16 = teraflops_per_second(*c.gpu_peak_TFLOPS);
    s.cluster.gpu.peak_fp32 = s.cluster.gpu.peak_fp16 * ratio;
    if (*c.gpu_peak_TFLOPS <= 0) problem("cluster.gpu_peak_TFLOPS", "must be positive");
  }
  if (c.gpu_hbm_GBps) {
    s.cluster.gpu.hbm = gigabytes_per_second(*c.gpu_hbm_GBps);
    if (*c.gpu_hbm_GBps <= 0) problem("cluster.gpu_hbm_GBps", "must be positive");
  }
  if (c.gpu_memory_GB) {
    s.cluster.gpu.memory = gigabytes(*c.gpu_memory_GB);
    if (*c.gpu_memory_GB <= 0) problem("cluster.gpu_memory_GB", "must be positive");
  }
  bool cluster_in_range = true;  // every count within its limit: P can be formed
  if (c.nodes) {
    if (auto n = narrowed("cluster.nodes", *c.nodes)) s.cluster.nodes = *n;
    else cluster_in_range = false;
  }
  if (c.gpus_per_node) {
    if (auto n = narrowed("cluster.gpus_per_node", *c.gpus_per_node)) s.cluster.gpus_per_node = *n;
    else cluster_in_range = false;
  }
  if (c.nics_per_node) {
    if (auto n = narrowed("cluster.inter_node.nics_per_node", *c.nics_per_node)) s.cluster.nics_per_node = *n;
    else cluster_in_range = false;
  } else if (!c.preset) {
    s.cluster.nics_per_node = s.cluster.gpus_per_node;
  }
  // P = nodes x GPUs per node, formed from two checked counts (2^20 x 2^10 cannot wrap).
  if (cluster_in_range) {
    const std::int64_t gpus = std::int64_t{s.cluster.nodes} * s.cluster.gpus_per_node;
    if (gpus > limits::max_gpus) {
      problem(c.nodes || !c.gpus_per_node ? "cluster.nodes" : "cluster.gpus_per_node",
              fmt::format("{} nodes x {} GPUs per node = {} GPUs, beyond the largest cluster xattn accepts, {} "
                          "(2^20; docs/limits.md)",
                          s.cluster.nodes, s.cluster.gpus_per_node, gpus, limits::max_gpus));
      cluster_in_range = false;
    }
  }
  if (!cluster_in_range) {  // what follows forms P: leave a small, consistent cluster
    s.cluster.nodes = 1;
    s.cluster.gpus_per_node = 1;
    s.cluster.nics_per_node = 1;
  }
  if (c.intra_kind) {
    if (auto k = parse_intra_fabric(*c.intra_kind)) s.cluster.intra_kind = *k;
    else problem("cluster.intra_node.kind",
                 fmt::format("unknown fabric '{}'; known: nvlink-switch, nvlink-mesh, pcie, none", *c.intra_kind));
  }
  if (c.inter_kind) {
    if (auto k = parse_inter_fabric(*c.inter_kind)) s.cluster.inter_kind = *k;
    else problem("cluster.inter_node.fabric", fmt::format("unknown fabric '{}'; known: switch, fat-tree", *c.inter_kind));
  }
  if (c.nodes_per_leaf)
    if (auto n = narrowed("cluster.inter_node.nodes_per_leaf", *c.nodes_per_leaf)) s.cluster.nodes_per_leaf = *n;
  if (c.oversubscription) {
    if (!(*c.oversubscription >= 1.0))
      problem("cluster.inter_node.oversubscription",
              fmt::format("must be at least 1 (1: non-blocking), got {}", *c.oversubscription));
    else s.cluster.oversubscription = *c.oversubscription;
  }
  if (c.intra_bandwidth_GBps) s.cluster.intra.bandwidth = gigabytes_per_second(*c.intra_bandwidth_GBps);
  if (c.intra_latency_us) s.cluster.intra.latency = microseconds(*c.intra_latency_us);
  if (c.inter_bandwidth_GBps) {
    // The preset's NCCL figure is a share of its NIC's line rate: another NIC keeps the share.
    const BytesPerSecond nic = gigabytes_per_second(*c.inter_bandwidth_GBps);
    if (s.cluster.nccl_per_nic && s.cluster.inter.bandwidth.value() > 0)
      s.cluster.nccl_per_nic = *s.cluster.nccl_per_nic * (nic / s.cluster.inter.bandwidth);
    s.cluster.inter.bandwidth = nic;
  }
  if (c.nccl_bandwidth_GBps) {
    if (*c.nccl_bandwidth_GBps <= 0) s.cluster.nccl_per_nic.reset();
    else if (gigabytes_per_second(*c.nccl_bandwidth_GBps) > s.cluster.inter.bandwidth)
      problem("cluster.inter_node.nccl_bandwidth_GBps",
              fmt::format("{} GB/s is more than the NIC carries ({} GB/s, cluster.inter_node.bandwidth_GBps)",
                          *c.nccl_bandwidth_GBps, to_gigabytes_per_second(s.cluster.inter.bandwidth)));
    else s.cluster.nccl_per_nic = gigabytes_per_second(*c.nccl_bandwidth_GBps);
  }
  if (c.inter_latency_us) s.cluster.inter.latency = microseconds(*c.inter_latency_us);
  // Listed links (docs/topology.md): checked against the cluster's ranks and routed here,
  // so that a bad graph is reported with the scenario's other problems. They are the
  // simulator's whole network; the closed form's intra- and inter-node figures that the
  // scenario does not set itself become the slowest GPU pair's of each class.
  s.cluster.graph = c.graph;
  bool graph_broken = false;  // its problems say it all: the figures it would give are unknown
  if ((!c.graph.links.empty() || !c.graph.routes.empty()) && cluster_in_range && s.cluster.nodes > 0 &&
      s.cluster.gpus_per_node > 0) {
    std::vector<GraphProblem> graph_problems;
    const RoutedGraph routed = route_graph(c.graph, s.cluster.ranks(), graph_problems);
    for (const GraphProblem& p : graph_problems) {
      const std::string section = p.section == GraphProblem::Section::links ? "cluster.links" : "cluster.routes";
      const std::string entry = p.index < 0 ? section : fmt::format("{}[{}]", section, p.index);
      const std::string field = p.key.empty() ? entry : entry + "." + p.key;
      problems.push_back({spec.origins.contains(field) ? spec.origins.at(field) : spec.origin_of(entry), field, p.message});
    }
    graph_broken = !graph_problems.empty();
    if (!graph_broken) {
      const auto derive = [&](LinkClass cls, const std::optional<double>& bandwidth, const std::optional<double>& latency,
                              LinkSpec& figures) {
        if (bandwidth && latency) return;
        if (const std::optional<LinkSpec> slowest = slowest_pair(s.cluster, routed, cls)) {
          if (!bandwidth) figures.bandwidth = slowest->bandwidth;
          if (!latency) figures.latency = slowest->latency;
        }
      };
      derive(LinkClass::intra_node, c.intra_bandwidth_GBps, c.intra_latency_us, s.cluster.intra);
      derive(LinkClass::inter_node, c.inter_bandwidth_GBps, c.inter_latency_us, s.cluster.inter);
    }
  }
  if (cluster_in_range && s.cluster.nodes > 0 && s.cluster.gpus_per_node > 0) {
    if (s.cluster.gpus_per_node > 1 && s.cluster.intra.bandwidth.value() <= 0 && !graph_broken)
      problem("cluster.intra_node.bandwidth_GBps",
              fmt::format("must be positive with {} GPUs per node", s.cluster.gpus_per_node));
    if (s.cluster.nodes > 1 && s.cluster.inter.bandwidth.value() <= 0 && !graph_broken)
      problem("cluster.inter_node.bandwidth_GBps", fmt::format("must be positive with {} nodes", s.cluster.nodes));
    if (s.cluster.nics_per_node <= 0)
      problem("cluster.inter_node.nics_per_node", fmt::format("must be positive, got {}", s.cluster.nics_per_node));
    else if (s.cluster.gpus_per_node % s.cluster.nics_per_node != 0)
      problem("cluster.inter_node.nics_per_node",
              fmt::format("{} NICs do not divide {} GPUs per node evenly", s.cluster.nics_per_node,
                          s.cluster.gpus_per_node));
  }
  if (s.cluster.intra.latency.value() < 0) problem("cluster.intra_node.latency_us", "must not be negative");
  if (s.cluster.inter.latency.value() < 0) problem("cluster.inter_node.latency_us", "must not be negative");
  (void)have_gpu;
  if (c.memory_reserved_GB < 0) problem("cluster.memory_reserved_GB", "must not be negative");
  s.memory_reserved = gigabytes(c.memory_reserved_GB);

  resolve_training(spec, s, problem);

  s.calibration = spec.calibration;
  // The training step's own figures: a calibration file's `iteration:` keys, else the defaults.
  {
    const IterationCalibration& ic = s.calibration.iteration;
    IterationKnobs& k = s.training.knobs;
    k.vision_efficiency = ic.vision_efficiency.value_or(k.vision_efficiency);
    k.host_sync = ic.host_sync.value_or(k.host_sync);
    k.zero_bucket_elements = ic.zero_bucket_elements.value_or(k.zero_bucket_elements);
    k.ddp_bucket_bytes = ic.ddp_bucket_bytes.value_or(k.ddp_bucket_bytes);
  }
  if (spec.mechanisms.empty()) {
    s.mechanisms = default_mechanisms();
  } else {
    for (const auto& name : spec.mechanisms) {
      if (auto m = parse_mechanism(name)) s.mechanisms.push_back(*m);
      else problem("mechanisms", fmt::format("unknown mechanism '{}'; known: {}", name, mechanism_names()));
    }
  }
  // The file's values that failed their own check, where the checks above did not name the
  // field themselves (their wording and order stay those of earlier versions).
  for (const Problem& p : spec.value_problems)
    if (std::none_of(problems.begin(), problems.end(), [&](const Problem& q) { return q.field == p.field; }))
      problems.push_back(p);
  if (!problems.empty()) throw InputError(std::move(problems));
  return s;
}

Scenario load_scenario(const std::string& path, const std::vector<std::string>& overrides) {
  ScenarioSpec spec = load_scenario_spec(path);
  for (const auto& o : overrides) apply_override(spec, o);
  return resolve(spec);
}

std::string to_yaml(const Scenario& s) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  // Emit every field from the registry, nested by its dotted path.
  std::vector<std::string> open;  // currently open map path components
  auto emit_value = [&](const FieldValue& v) {
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            out << YAML::Flow << YAML::BeginSeq;
            for (const auto& item : x) out << item;
            out << YAML::EndSeq;
          } else if constexpr (std::is_same_v<T, double>) {
            out << fmt::format("{}", x);
          } else {
            out << x;
          }
        },
        v);
  };
  // The listed links and routes, last in the cluster's mapping (docs/topology.md).
  const auto emit_graph = [&] {
    const LinkGraph& g = s.cluster.graph;
    if (!g.links.empty()) {
      out << YAML::Key << "links" << YAML::Value << YAML::BeginSeq;
      for (const ListedLink& l : g.links) {
        out << YAML::Flow << YAML::BeginMap;
        out << YAML::Key << "name" << YAML::Value << l.name;
        out << YAML::Key << "from" << YAML::Value << l.from;
        out << YAML::Key << "to" << YAML::Value << l.to;
        out << YAML::Key << "bandwidth_GBps" << YAML::Value << fmt::format("{}", to_gigabytes_per_second(l.figures.bandwidth));
        out << YAML::Key << "latency_us" << YAML::Value << fmt::format("{}", to_microseconds(l.figures.latency));
        out << YAML::Key << "duplex" << YAML::Value << l.duplex;
        out << YAML::Key << "class" << YAML::Value << (l.link_class == LinkClass::inter_node ? "inter" : "intra");
        out << YAML::EndMap;
      }
      out << YAML::EndSeq;
    }
    if (!g.routes.empty()) {
      out << YAML::Key << "routes" << YAML::Value << YAML::BeginSeq;
      for (const ListedRoute& r : g.routes) {
        out << YAML::Flow << YAML::BeginMap;
        out << YAML::Key << "from" << YAML::Value << fmt::format("gpu{}", r.from);
        out << YAML::Key << "to" << YAML::Value << fmt::format("gpu{}", r.to);
        out << YAML::Key << "links" << YAML::Value << YAML::Flow << r.links;
        out << YAML::Key << "both_ways" << YAML::Value << r.both_ways;
        out << YAML::EndMap;
      }
      out << YAML::EndSeq;
    }
  };
  const auto close_map = [&] {
    if (open.size() == 1 && open.front() == "cluster") emit_graph();
    out << YAML::EndMap;
    open.pop_back();
  };
  for (const auto& f : registry()) {
    if (f.path == "cluster.preset") continue;  // the resolved cluster is written in full
    std::vector<std::string> parts;
    std::string_view p = f.path;
    while (true) {
      auto dot = p.find('.');
      parts.emplace_back(p.substr(0, dot));
      if (dot == std::string_view::npos) break;
      p = p.substr(dot + 1);
    }
    std::vector<std::string> want(parts.begin(), parts.end() - 1);
    std::size_t common = 0;
    while (common < open.size() && common < want.size() && open[common] == want[common]) ++common;
    while (open.size() > common) close_map();
    while (open.size() < want.size()) {
      out << YAML::Key << want[open.size()] << YAML::Value << YAML::BeginMap;
      open.push_back(want[open.size()]);
    }
    if (f.path == "workload.model" && is_model_mapping(s.model)) {
      out << YAML::Key << parts.back() << YAML::Value;
      write_model_mapping(out, s.model);
      continue;
    }
    FieldValue v = f.get(s);
    if (f.path == "calibration") {
      // Absolute paths, so the written file reads back from any folder.
      std::vector<std::string> files;
      for (const auto& src : s.calibration.sources) files.push_back(std::filesystem::absolute(src).string());
      v = FieldValue(files);
    }
    out << YAML::Key << parts.back() << YAML::Value;
    emit_value(v);
  }
  while (!open.empty()) close_map();
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace xattn
