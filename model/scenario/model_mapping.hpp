// workload.model written as a mapping: a model described in full in the scenario file
// instead of named as a preset (issue 16). Its keys mirror model/architecture.hpp:
//
//   workload:
//     model:
//       name: my-vlm
//       lm: {layers: 32, hidden: 4096, heads: 32, kv_heads: 8, head_dim: 128,
//            mlp: swiglu, mlp_width: 14336, vocab: 128256}
//       cross_attention: {kind: cross-layer, layers: [3, 8, 13], heads: 32, kv_heads: 8,
//                         head_dim: 128, kv_input: 4096}
//       vision: {layers: 27, width: 1152, heads: 16, mlp_width: 4304, tokens: 729,
//                output_tokens: 729, output_width: 1152}
//       projector: {kind: linear, in_width: 1152, out_width: 4096}
//
// A decoder-only model has only `name` and `lm`. Every problem names the file, the line
// and the dotted field (workload.model.lm.hidden).
#pragma once

#include <map>
#include <string_view>
#include <optional>
#include <string>
#include <vector>

#include "model/core/error.hpp"
#include "model/presets.hpp"

namespace YAML {
class Node;
class Emitter;
}  // namespace YAML

namespace xattn {

// Reads the mapping at `node`; problems go to `problems` (and nothing is returned then).
// `origins` receives where each key was written, by dotted path.
[[nodiscard]] std::optional<ModelSpec> read_model_mapping(const YAML::Node& node, const std::string& source,
                                                          std::map<std::string, Origin>& origins,
                                                          std::vector<Problem>& problems);

// Writes `m` as such a mapping (the value of workload.model), every key explicit.
void write_model_mapping(YAML::Emitter& out, const ModelSpec& m);

// The source string a model read from a mapping carries ("workload.model in FILE").
[[nodiscard]] bool is_model_mapping(const ModelSpec& m);

// One key of the mapping by its path under workload.model ("lm.layers",
// "cross_attention.layers"), for `--set workload.model.lm.layers=20` and sweep grids.
enum class MappingKeyType { integer, number, boolean, text, integer_list };
struct MappingKey {
  MappingKeyType type;
  std::string help;
};
// nullopt for a path that names no key of the mapping.
[[nodiscard]] std::optional<MappingKey> find_model_mapping_key(std::string_view path);
// Sets the key on `m` from its text (a list as "3,8,13") and re-derives the model's layer
// view; `m` becomes a mapping (it is written as one). Throws InputError naming
// workload.model.PATH at `origin` for a value that does not parse or names no kind. Whether
// the changed model still makes sense is resolve()'s check (check_architecture).
void set_model_mapping_key(ModelSpec& m, std::string_view path, const std::string& text, const Origin& origin);
// The key's value on `m`, as text ("3,8,13" for a list).
[[nodiscard]] std::string model_mapping_key_text(const ModelSpec& m, std::string_view path);

}  // namespace xattn
