// Scenario files: what a YAML file (scenarios/*.yaml) and the overrides say, and how that
// becomes a Scenario (model/scenario.hpp). A file is read into a ScenarioSpec, overridden
// field by field with `--set KEY=VALUE` or by a sweep, then resolved against the presets.
//
// Two layers: a ScenarioSpec holds what the file and the overrides said (preset names,
// explicit fields, where each came from); resolve() turns it into a Scenario with every
// value filled in and checked. Every field has one entry in the field registry
// (scenario_fields()), which serves the YAML reader, --set, sweeps and the GUI alike.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "model/calibration.hpp"
#include "model/core/error.hpp"
#include "model/hardware.hpp"
#include "model/scenario.hpp"

namespace xattn {

// What the file and the overrides said. Unset optionals come from presets or defaults.
struct ScenarioSpec {
  std::string name;
  std::string description;
  std::string path;  // the file it was read from ("" when built in code)

  struct WorkloadSpec {
    static constexpr std::int64_t kFramesOfModel = -1;  // frames: the model's default
    std::string model = "llama-3.2-11b-vision";
    std::optional<ModelSpec> model_mapping;  // workload.model written as a mapping (model_mapping.hpp)
    std::int64_t batch = 1;
    std::int64_t text_tokens = 1024;
    std::int64_t frames = kFramesOfModel;  // default: 1 for a multimodal model, 0 for a decoder-only LM
    std::optional<std::int64_t> tokens_per_frame;
    std::string dtype = "fp16";
    std::optional<std::string> mask;  // default: dense (cross-attention), causal (a decoder-only LM)
    std::string accumulator_dtype = "activation";
    bool recompute = false;
    // Preset-derived shape fields, overridable.
    std::optional<std::int64_t> heads, kv_heads, head_dim, text_hidden, visual_hidden;
    std::optional<std::int64_t> cross_attention_layers;
  } workload;

  struct ClusterSpec {
    std::optional<std::string> preset;
    std::optional<std::string> gpu;
    std::optional<std::int64_t> nodes, gpus_per_node, nics_per_node;
    std::optional<std::string> intra_kind;
    std::optional<double> intra_bandwidth_GBps, intra_latency_us;
    std::optional<double> inter_bandwidth_GBps, inter_latency_us;
    std::optional<double> nccl_bandwidth_GBps;    // what NCCL's all-reduce gets through one NIC
    std::optional<std::string> inter_kind;        // switch | fat-tree
    std::optional<std::int64_t> nodes_per_leaf;   // fat-tree
    std::optional<double> oversubscription;       // fat-tree
    // GPU figures, overridable (preset-derived).
    std::optional<double> gpu_peak_TFLOPS, gpu_hbm_GBps, gpu_memory_GB;
    double memory_reserved_GB = 0.0;  // weights, optimizer state, other layers: not modelled
    // An irregular machine listed link by link (cluster.links, cluster.routes; YAML only,
    // docs/topology.md). Entry i's origins are "cluster.links[i]" and "cluster.links[i].KEY".
    LinkGraph graph;
  } cluster;

  // The whole-iteration set-up (training.*; issue 16). Unset: the default, or the
  // training.preset's.
  struct TrainingSpec {
    std::optional<std::string> self_attention, sharding, checkpointing;
    std::string preset = "none";
    std::optional<std::int64_t> sp, dp, global_batch;
    std::optional<std::vector<std::string>> frozen;
    std::optional<bool> optimizer_step;
  } training;

  // Values read from the file that fail their own check (a limit, a name, a sign; docs/limits.md),
  // located at their key. They are set anyway so that resolve() reports every problem at once:
  // it reports these with its own, unless it names the same field itself. --set on the field
  // drops its entry.
  std::vector<Problem> value_problems;

  std::vector<std::string> mechanisms;        // empty: default_mechanisms()
  std::vector<std::string> calibration_files;  // as written (relative to the scenario file)
  Calibration calibration;                     // the files above, merged in order

  // Where each field was set (dotted path -> file:line or --set ...), for error messages.
  std::map<std::string, Origin> origins;

  [[nodiscard]] Origin origin_of(const std::string& field) const;
};

// A value for a field, from YAML or from the command line.
using FieldValue = std::variant<std::int64_t, double, bool, std::string, std::vector<std::string>>;

enum class FieldType { integer, number, boolean, text, text_list };

struct Field {
  std::string path;  // "workload.frames"
  FieldType type;
  std::string help;  // one line, with the unit
  // Functions rather than pointers: a listed link's fields (below) carry its name.
  std::function<void(ScenarioSpec&, const FieldValue&)> set;
  std::function<FieldValue(const Scenario&)> get;  // the resolved value, for tables and round-trips
};

[[nodiscard]] std::span<const Field> scenario_fields();
// A field by dotted path: one of scenario_fields(), or a listed link's figure by the
// link's name, "cluster.links.NAME.bandwidth_GBps" or "cluster.links.NAME.latency_us"
// (docs/topology.md; setting it throws InputError when the scenario lists no such link).
// nullptr for an unknown path.
[[nodiscard]] const Field* find_field(std::string_view path);
[[nodiscard]] bool is_listed_link_field(std::string_view path);

// Parses text as a value of the field's type and checks it (check_field_value); throws
// InputError naming origin and field.
[[nodiscard]] FieldValue parse_field_value(const Field& field, const std::string& text, const Origin& origin);
// Checks one value of the field on its own: within the field's limits (docs/limits.md), a
// name it knows, UTF-8 text. What depends on other fields is resolve()'s. Throws InputError.
void check_field_value(const Field& field, const FieldValue& value, const Origin& origin);

// Sets one field (by dotted path) from text, as --set KEY=VALUE does. Throws InputError
// for an unknown path or a value of the wrong type.
void apply_override(ScenarioSpec& spec, const std::string& assignment);  // "key=value"
void apply_override(ScenarioSpec& spec, const std::string& path, const std::string& value, const Origin& origin);

// Reads a scenario YAML file (and the calibration files it names). Throws InputError
// listing every problem found, each with file, line and field.
[[nodiscard]] ScenarioSpec load_scenario_spec(const std::string& path);
[[nodiscard]] ScenarioSpec parse_scenario_spec(const std::string& yaml_text, const std::string& source_name);

// Fills presets and defaults and checks everything; throws InputError listing every problem.
[[nodiscard]] Scenario resolve(const ScenarioSpec& spec);

// Convenience: load + overrides + resolve.
[[nodiscard]] Scenario load_scenario(const std::string& path, const std::vector<std::string>& overrides = {});

// Writes the resolved scenario as YAML that load_scenario reads back to an equal Scenario
// (every field explicit; calibration files as absolute paths).
[[nodiscard]] std::string to_yaml(const Scenario& s);

}  // namespace xattn
