// workload.model as a mapping: one table of keys per section serves the reader and the
// writer, so a written model reads back equal (model_mapping.hpp shows the layout).
#include "model/scenario/model_mapping.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <span>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "model/core/limits.hpp"

namespace xattn {
namespace {

constexpr std::string_view kMappingSource = "workload.model mapping";

enum class KeyType { integer, number, boolean, text, integer_list };

// A value of any key type.
struct Value {
  std::int64_t i = 0;
  double x = 0;
  bool b = false;
  std::string s;
  std::vector<int> list;
};

struct Key {
  std::string_view name;
  KeyType type;
  bool required;
  std::string_view help;
  void (*set)(Architecture&, const Value&);
  void (*get)(const Architecture&, Value&);
};

#define XATTN_INT(section, key, member, required, help)                                                   \
  Key {                                                                                                     \
    key, KeyType::integer, required, help, [](Architecture& a, const Value& v) { a.section.member = v.i; }, \
        [](const Architecture& a, Value& v) { v.i = a.section.member; }                                    \
  }
#define XATTN_BOOL(section, key, member, help)                                                              \
  Key {                                                                                                      \
    key, KeyType::boolean, false, help, [](Architecture& a, const Value& v) { a.section.member = v.b; },     \
        [](const Architecture& a, Value& v) { v.b = a.section.member; }                                     \
  }

std::string_view norm_name(NormKind k) {
  switch (k) {
    case NormKind::rms: return "rms";
    case NormKind::layer: return "layer";
    case NormKind::layer_no_bias: return "layer-no-bias";
  }
  return "?";
}

const std::array<Key, 13> lm_keys{{
    Key{"layers", KeyType::integer, true, "decoder layers",
        [](Architecture& a, const Value& v) { a.lm.layers = static_cast<int>(v.i); },
        [](const Architecture& a, Value& v) { v.i = a.lm.layers; }},
    XATTN_INT(lm, "hidden", hidden, true, "hidden size h"),
    XATTN_INT(lm, "heads", heads, true, "query heads"),
    XATTN_INT(lm, "kv_heads", kv_heads, true, "key/value heads"),
    XATTN_INT(lm, "head_dim", head_dim, true, "head dimension"),
    Key{"mlp", KeyType::text, true, "swiglu or gelu",
        [](Architecture& a, const Value& v) { a.lm.mlp.kind = v.s == "gelu" ? MlpKind::gelu : MlpKind::swiglu; },
        [](const Architecture& a, Value& v) { v.s = std::string(to_string(a.lm.mlp.kind)); }},
    Key{"mlp_width", KeyType::integer, true, "MLP intermediate size",
        [](Architecture& a, const Value& v) { a.lm.mlp.width = v.i; },
        [](const Architecture& a, Value& v) { v.i = a.lm.mlp.width; }},
    XATTN_INT(lm, "vocab", vocab, true, "vocabulary (rows of the LM head)"),
    XATTN_INT(lm, "embedding_rows", embedding_rows, false, "rows of the input embedding (default: vocab)"),
    XATTN_BOOL(lm, "tied", tied, "the LM head is the input embedding (default false)"),
    XATTN_BOOL(lm, "qkv_bias", qkv_bias, "q, k, v projections biased (default false)"),
    Key{"bias", KeyType::boolean, false, "every linear layer biased (default false)",
        [](Architecture& a, const Value& v) {
          a.lm.bias = v.b;
          a.lm.mlp.bias = v.b;
        },
        [](const Architecture& a, Value& v) { v.b = a.lm.bias; }},
    Key{"norm", KeyType::text, false, "rms, layer or layer-no-bias (default rms)",
        [](Architecture& a, const Value& v) {
          a.lm.norm = v.s == "layer" ? NormKind::layer : v.s == "layer-no-bias" ? NormKind::layer_no_bias : NormKind::rms;
        },
        [](const Architecture& a, Value& v) { v.s = std::string(norm_name(a.lm.norm)); }},
}};

const std::array<Key, 9> cross_keys{{
    Key{"kind", KeyType::text, true, "cross-layer, hyper or gated-block",
        [](Architecture& a, const Value& v) { a.cross.kind = parse_cross_kind(v.s).value_or(CrossKind::none); },
        [](const Architecture& a, Value& v) { v.s = std::string(to_string(a.cross.kind)); }},
    Key{"layers", KeyType::integer_list, true, "0-based LM layer positions",
        [](Architecture& a, const Value& v) { a.cross.layers = v.list; },
        [](const Architecture& a, Value& v) { v.list = a.cross.layers; }},
    XATTN_INT(cross, "heads", heads, true, "query heads"),
    XATTN_INT(cross, "kv_heads", kv_heads, true, "key/value heads"),
    XATTN_INT(cross, "head_dim", head_dim, true, "head dimension"),
    XATTN_INT(cross, "kv_input", kv_input, true, "width of the visual states K and V are projected from"),
    XATTN_BOOL(cross, "kv_bias", kv_bias, "the K/V projection is biased (default false)"),
    Key{"mlp", KeyType::text, false, "gated-block: its FFN, swiglu or gelu (default gelu)",
        [](Architecture& a, const Value& v) { a.cross.mlp.kind = v.s == "swiglu" ? MlpKind::swiglu : MlpKind::gelu; },
        [](const Architecture& a, Value& v) { v.s = std::string(to_string(a.cross.mlp.kind)); }},
    Key{"mlp_width", KeyType::integer, false, "gated-block: its FFN's intermediate size",
        [](Architecture& a, const Value& v) { a.cross.mlp.width = v.i; },
        [](const Architecture& a, Value& v) { v.i = a.cross.mlp.width; }},
}};

const std::array<Key, 13> vision_keys{{
    Key{"layers", KeyType::integer, true, "encoder layers",
        [](Architecture& a, const Value& v) { a.vision.layers = static_cast<int>(v.i); },
        [](const Architecture& a, Value& v) { v.i = a.vision.layers; }},
    XATTN_INT(vision, "width", width, true, "hidden size"),
    XATTN_INT(vision, "heads", heads, true, "attention heads"),
    Key{"mlp", KeyType::text, false, "swiglu or gelu (default gelu)",
        [](Architecture& a, const Value& v) { a.vision.mlp.kind = v.s == "swiglu" ? MlpKind::swiglu : MlpKind::gelu; },
        [](const Architecture& a, Value& v) { v.s = std::string(to_string(a.vision.mlp.kind)); }},
    Key{"mlp_width", KeyType::integer, true, "MLP intermediate size",
        [](Architecture& a, const Value& v) { a.vision.mlp.width = v.i; },
        [](const Architecture& a, Value& v) { v.i = a.vision.mlp.width; }},
    Key{"mlp_bias", KeyType::boolean, false, "fc1 and fc2 biased (default true)",
        [](Architecture& a, const Value& v) { a.vision.mlp.bias = v.b; },
        [](const Architecture& a, Value& v) { v.b = a.vision.mlp.bias; }},
    XATTN_BOOL(vision, "qkv_bias", qkv_bias, "q, k, v, o biased (default false)"),
    XATTN_INT(vision, "tokens", tokens, true, "encoder sequence per image or frame"),
    XATTN_INT(vision, "output_tokens", output_tokens, true, "tokens per item handed to the projector"),
    XATTN_INT(vision, "output_width", output_width, true, "features per output token"),
    Key{"extra_parameters", KeyType::number, false, "embeddings and norms outside the layers (default 0)",
        [](Architecture& a, const Value& v) { a.vision.extra_parameters = v.x; },
        [](const Architecture& a, Value& v) { v.x = a.vision.extra_parameters; }},
    Key{"hidden_states_kept", KeyType::integer, false, "hidden states the forward holds at once (default 1)",
        [](Architecture& a, const Value& v) { a.vision.hidden_states_kept = static_cast<int>(v.i); },
        [](const Architecture& a, Value& v) { v.i = a.vision.hidden_states_kept; }},
    XATTN_BOOL(vision, "masked_attention", masked_attention, "attention under an explicit mask (default false)"),
}};

const std::array<Key, 9> projector_keys{{
    Key{"kind", KeyType::text, true, "linear or resampler",
        [](Architecture& a, const Value& v) { a.projector.kind = parse_projector_kind(v.s).value_or(ProjectorKind::none); },
        [](const Architecture& a, Value& v) { v.s = std::string(to_string(a.projector.kind)); }},
    XATTN_INT(projector, "in_width", in_width, false, "linear: input features (the encoder's output width)"),
    XATTN_INT(projector, "out_width", out_width, true, "output features (the K/V projections' input width)"),
    XATTN_BOOL(projector, "bias", bias, "biased (default true)"),
    Key{"layers", KeyType::integer, false, "resampler: layers",
        [](Architecture& a, const Value& v) { a.projector.layers = static_cast<int>(v.i); },
        [](const Architecture& a, Value& v) { v.i = a.projector.layers; }},
    XATTN_INT(projector, "heads", heads, false, "resampler: heads"),
    XATTN_INT(projector, "head_dim", head_dim, false, "resampler: head dimension"),
    XATTN_INT(projector, "latents", latents, false, "resampler: latent tokens (its tokens per item)"),
    XATTN_INT(projector, "ffn_width", ffn_width, false, "resampler: FFN intermediate size"),
}};

#undef XATTN_INT
#undef XATTN_BOOL

struct Section {
  std::string_view name;
  std::span<const Key> keys;
};

const std::array<Section, 4>& sections() {
  static const std::array<Section, 4> all{
      {{"lm", lm_keys}, {"cross_attention", cross_keys}, {"vision", vision_keys}, {"projector", projector_keys}}};
  return all;
}

Origin at(const std::string& source, const YAML::Node& n) {
  const auto m = n.Mark();
  return Origin{source, m.line + 1, m.column + 1};
}

std::string names(std::span<const Key> keys) {
  std::string s;
  for (const Key& k : keys) s += fmt::format("{}{}", s.empty() ? "" : ", ", k.name);
  return s;
}

// The largest value an integer key takes (docs/limits.md), by its name: counts of layers,
// heads and tokens, vocabularies, and widths (everything else).
std::int64_t limit_of(std::string_view field) {
  const std::string_view key = field.substr(field.rfind('.') + 1);
  if (key == "layers" || key == "hidden_states_kept") return limits::max_layers;
  if (key == "heads" || key == "kv_heads") return limits::max_heads;
  if (key == "head_dim") return limits::max_head_dim;
  if (key == "vocab" || key == "embedding_rows") return limits::max_vocabulary;
  if (key == "tokens" || key == "output_tokens" || key == "latents") return limits::max_tokens;
  return limits::max_hidden;
}

// Parses one scalar or list as `type`; nothing (and a problem) when it does not parse or
// is beyond its key's limit.
std::optional<Value> parse(KeyType type, const YAML::Node& node, const Origin& origin, const std::string& field,
                           std::vector<Problem>& problems) {
  Value v;
  auto bad = [&](std::string_view what) {
    problems.push_back({origin, field, fmt::format("expected {}", what)});
    return std::nullopt;
  };
  auto integer = [](const std::string& text, std::int64_t& out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size() && !text.empty();
  };
  const std::int64_t limit = limit_of(field);
  auto out_of_range = [&](std::int64_t x) {
    problems.push_back({origin, field, fmt::format("{} is out of range: 0 to {} (docs/limits.md)", x, limit)});
    return std::nullopt;
  };
  if (type == KeyType::integer_list) {
    if (!node.IsSequence()) return bad("a list of integers, e.g. [3, 8, 13]");
    if (node.size() > static_cast<std::size_t>(limits::max_layers)) return bad("at most one entry per layer");
    for (const auto& item : node) {
      std::int64_t x = 0;
      if (!item.IsScalar() || !integer(item.Scalar(), x)) return bad("a list of integers, e.g. [3, 8, 13]");
      if (x < 0 || x >= limits::max_layers) {
        problems.push_back({at(origin.source, item), field,
                            fmt::format("layer {} is out of range: 0 to {} (docs/limits.md)", x, limits::max_layers - 1)});
        return std::nullopt;
      }
      v.list.push_back(static_cast<int>(x));
    }
    return v;
  }
  if (!node.IsScalar()) return bad("a single value");
  const std::string& text = node.Scalar();
  switch (type) {
    case KeyType::integer:
      if (!integer(text, v.i)) return bad("an integer");
      if (v.i < 0 || v.i > limit) return out_of_range(v.i);
      return v;
    case KeyType::number: {
      char* end = nullptr;
      v.x = std::strtod(text.c_str(), &end);
      if (text.empty() || end != text.c_str() + text.size()) return bad("a number");
      if (!(v.x >= 0 && v.x <= 1e18)) return bad("a number from 0 to 1e18");
      return v;
    }
    case KeyType::boolean:
      if (text == "true" || text == "yes" || text == "on") v.b = true;
      else if (text == "false" || text == "no" || text == "off") v.b = false;
      else return bad("true or false");
      return v;
    case KeyType::text: v.s = text; return v;
    case KeyType::integer_list: break;
  }
  return v;
}

// Text keys that name a kind: checked here so the problem points at the value.
std::optional<std::string> bad_choice(std::string_view section, std::string_view key, const std::string& value) {
  auto one_of = [&](std::initializer_list<std::string_view> ok) -> std::optional<std::string> {
    if (std::find(ok.begin(), ok.end(), value) != ok.end()) return std::nullopt;
    std::string list;
    for (auto o : ok) list += fmt::format("{}{}", list.empty() ? "" : ", ", o);
    return fmt::format("unknown '{}'; known: {}", value, list);
  };
  if (key == "mlp") return one_of({"swiglu", "gelu"});
  if (section == "lm" && key == "norm") return one_of({"rms", "layer", "layer-no-bias"});
  if (section == "cross_attention" && key == "kind") return one_of({"cross-layer", "hyper", "gated-block"});
  if (section == "projector" && key == "kind") return one_of({"linear", "resampler"});
  return std::nullopt;
}

}  // namespace

std::optional<ModelSpec> read_model_mapping(const YAML::Node& node, const std::string& source,
                                            std::map<std::string, Origin>& origins, std::vector<Problem>& problems) {
  const std::string root = "workload.model";
  const Origin root_at = at(source, node);
  const std::size_t before = problems.size();
  std::string name;
  Architecture arch;
  arch.vision.mlp = MlpSpec{MlpKind::gelu, 0, true};
  arch.cross.mlp = MlpSpec{MlpKind::gelu, 0, false};
  bool have_name = false, have_cross = false, have_vision = false, have_projector = false, have_embedding = false;
  bool have_kv_bias = false;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string key = it->first.Scalar();
    const Origin key_at = at(source, it->first);
    const std::string field = root + "." + key;
    const YAML::Node value = it->second;
    if (key == "name") {
      origins[field] = key_at;
      if (!value.IsScalar() || value.Scalar().empty()) problems.push_back({key_at, field, "expected the model's name"});
      else name = value.Scalar();
      have_name = true;
      continue;
    }
    const auto section = std::find_if(sections().begin(), sections().end(), [&](const Section& s) { return s.name == key; });
    if (section == sections().end()) {
      problems.push_back({key_at, field, "unknown field; known keys under workload.model: cross_attention, lm, name, "
                                         "projector, vision"});
      continue;
    }
    origins[field] = key_at;
    if (!value.IsMap()) {
      problems.push_back({key_at, field, fmt::format("expected a mapping with keys: {}", names(section->keys))});
      continue;
    }
    if (key == "cross_attention") have_cross = true;
    if (key == "vision") have_vision = true;
    if (key == "projector") have_projector = true;
    std::vector<std::string_view> given;
    for (auto kv = value.begin(); kv != value.end(); ++kv) {
      const std::string sub = kv->first.Scalar();
      const std::string path = field + "." + sub;
      const Origin sub_at = at(source, kv->first);
      const auto k = std::find_if(section->keys.begin(), section->keys.end(), [&](const Key& x) { return x.name == sub; });
      if (k == section->keys.end()) {
        problems.push_back({sub_at, path, fmt::format("unknown field; known keys under {}: {}", field, names(section->keys))});
        continue;
      }
      origins[path] = sub_at;
      given.push_back(k->name);
      const std::optional<Value> v = parse(k->type, kv->second, at(source, kv->second), path, problems);
      if (!v) continue;
      if (k->type == KeyType::text)
        if (auto why = bad_choice(section->name, k->name, v->s)) {
          problems.push_back({at(source, kv->second), path, *why});
          continue;
        }
      k->set(arch, *v);
      if (key == "lm" && sub == "embedding_rows") have_embedding = true;
      if (key == "cross_attention" && sub == "kv_bias") have_kv_bias = true;
    }
    for (const Key& k : section->keys)
      if (k.required && std::find(given.begin(), given.end(), k.name) == given.end())
        problems.push_back({key_at, field + "." + std::string(k.name), fmt::format("missing ({})", k.help)});
  }
  if (!have_name) problems.push_back({root_at, root + ".name", "missing (the model's name)"});
  if (!origins.contains(root + ".lm")) problems.push_back({root_at, root + ".lm", "missing (the language model)"});
  if (have_cross || have_vision || have_projector) {
    for (auto [have, part] : {std::pair{have_cross, "cross_attention"}, std::pair{have_vision, "vision"},
                              std::pair{have_projector, "projector"}})
      if (!have)
        problems.push_back({root_at, root + "." + part,
                            "missing: a model with visual input needs cross_attention, vision and projector"});
  }
  if (problems.size() != before) return std::nullopt;
  if (!have_embedding) arch.lm.embedding_rows = arch.lm.vocab;
  if (arch.cross.kind == CrossKind::cross_layer) arch.cross.mlp = arch.lm.mlp;
  if (arch.cross.kind == CrossKind::hyper && !have_kv_bias) arch.cross.kv_bias = true;
  // Values that parsed but do not make a model: a key left out where the kind needs it is
  // reported as missing, anything else with its reason.
  for (const ArchitectureProblem& p : check_architecture(arch)) {
    const std::string path = root + "." + std::string(p.key);
    const auto where = origins.find(path);
    if (where == origins.end()) {
      const std::string parent = path.substr(0, path.rfind('.'));
      const auto up = origins.find(parent);
      problems.push_back({up != origins.end() ? up->second : root_at, path,
                          p.message.starts_with("must be positive") ? "missing (needed by this kind)" : p.message});
    } else {
      problems.push_back({where->second, path, p.message});
    }
  }
  if (problems.size() != before) return std::nullopt;
  return describe_model(name, std::move(arch), std::string(kMappingSource));
}

bool is_model_mapping(const ModelSpec& m) { return m.source == kMappingSource; }

namespace {

// "lm.layers" -> the section and its key; nullopt when either is unknown.
std::optional<std::pair<const Section*, const Key*>> split_key_path(std::string_view path) {
  const std::size_t dot = path.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const std::string_view section = path.substr(0, dot), key = path.substr(dot + 1);
  for (const Section& s : sections()) {
    if (s.name != section) continue;
    for (const Key& k : s.keys)
      if (k.name == key) return std::pair{&s, &k};
  }
  return std::nullopt;
}

}  // namespace

std::optional<MappingKey> find_model_mapping_key(std::string_view path) {
  const auto found = split_key_path(path);
  if (!found) return std::nullopt;
  const Key& k = *found->second;
  const MappingKeyType type = k.type == KeyType::integer   ? MappingKeyType::integer
                              : k.type == KeyType::number  ? MappingKeyType::number
                              : k.type == KeyType::boolean ? MappingKeyType::boolean
                              : k.type == KeyType::text    ? MappingKeyType::text
                                                           : MappingKeyType::integer_list;
  return MappingKey{type, fmt::format("workload.model {}: {}", found->first->name, k.help)};
}

void set_model_mapping_key(ModelSpec& m, std::string_view path, const std::string& text, const Origin& origin) {
  const auto found = split_key_path(path);
  const std::string field = "workload.model." + std::string(path);
  if (!found) throw InputError(origin, field, "no such key in a model mapping");
  const auto& [section, key] = *found;
  // The same parser as the file's, on the text as YAML reads it ("3,8,13" is a list).
  YAML::Node node;
  try {
    node = key->type == KeyType::integer_list ? YAML::Load("[" + text + "]") : YAML::Node(text);
  } catch (const YAML::Exception&) {
    throw InputError(origin, field, "expected a list of integers, e.g. 3,8,13");
  }
  std::vector<Problem> problems;
  const std::optional<Value> v = parse(key->type, node, origin, field, problems);
  if (!problems.empty()) throw InputError(std::move(problems));
  if (key->type == KeyType::text)
    if (auto why = bad_choice(section->name, key->name, v->s)) throw InputError(origin, field, *why);
  Architecture arch = m.arch;
  key->set(arch, *v);
  // Keys whose defaults follow another's in the reader.
  if (section->name == "lm" && key->name == "vocab" && m.arch.lm.embedding_rows == m.arch.lm.vocab)
    arch.lm.embedding_rows = arch.lm.vocab;
  if (arch.cross.kind == CrossKind::cross_layer) arch.cross.mlp = arch.lm.mlp;
  m = describe_model(m.name, std::move(arch), std::string(kMappingSource));
}

std::string model_mapping_key_text(const ModelSpec& m, std::string_view path) {
  const auto found = split_key_path(path);
  if (!found) return "";
  Value v;
  found->second->get(m.arch, v);
  switch (found->second->type) {
    case KeyType::integer: return std::to_string(v.i);
    case KeyType::number: return fmt::format("{}", v.x);
    case KeyType::boolean: return v.b ? "true" : "false";
    case KeyType::text: return v.s;
    case KeyType::integer_list: {
      std::string out;
      for (int x : v.list) {  // two appends, not string + string: GCC 12 warns -Wrestrict on that
        if (!out.empty()) out += ',';
        out += std::to_string(x);
      }
      return out;
    }
  }
  return "";
}

void write_model_mapping(YAML::Emitter& out, const ModelSpec& m) {
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << m.name;
  const Architecture& a = m.arch;
  for (const Section& section : sections()) {
    if (section.name != "lm" && !a.multimodal()) continue;
    out << YAML::Key << std::string(section.name) << YAML::Value << YAML::Flow << YAML::BeginMap;
    for (const Key& k : section.keys) {
      Value v;
      k.get(a, v);
      out << YAML::Key << std::string(k.name) << YAML::Value;
      switch (k.type) {
        case KeyType::integer: out << v.i; break;
        case KeyType::number: out << fmt::format("{}", v.x); break;
        case KeyType::boolean: out << v.b; break;
        case KeyType::text: out << v.s; break;
        case KeyType::integer_list:
          out << YAML::Flow << YAML::BeginSeq;
          for (int x : v.list) out << x;
          out << YAML::EndSeq;
          break;
      }
    }
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
}

}  // namespace xattn
