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

}  // namespace xattn
