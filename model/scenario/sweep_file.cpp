// Sweep files read into a SweepPlan (sweep_file.hpp): the YAML, ranges expanded, every grid
// value parsed once, every problem collected with the sweep file's line and field.
#include "model/scenario/sweep_file.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "model/core/input_file.hpp"
#include "model/scenario/scenario_input.hpp"
#include "model/scenario/yaml_check.hpp"

namespace xattn {

std::size_t SweepPlan::points() const {
  std::size_t n = 1;
  for (const auto& a : axes) n *= a.values.size();
  return n;
}

std::vector<std::size_t> SweepPlan::coordinates(std::size_t index) const {
  std::vector<std::size_t> c(axes.size());
  for (std::size_t a = axes.size(); a-- > 0;) {
    c[a] = index % axes[a].values.size();
    index /= axes[a].values.size();
  }
  return c;
}

// ---- reading the sweep file -----------------------------------------------------------

namespace {

// Guards against a typo that would expand to billions of points.
constexpr std::size_t kMaxAxisValues = 1'000'000;  // 40 MB of values; docs/limits.md
constexpr double kMaxPoints = 1e10;

Origin mark_of(const std::string& source, const YAML::Node& node) {
  YAML::Mark m = node.Mark();
  return Origin{source, m.line + 1, m.column + 1};
}

// Text of a scalar, or of a flow list of scalars ("a,b") for list fields.
std::optional<std::string> scalar_text(const YAML::Node& node, FieldType type) {
  if (node.IsScalar()) return node.Scalar();
  if (type == FieldType::text_list && node.IsSequence()) {
    std::string text;
    for (const auto& item : node) {
      if (!item.IsScalar()) return std::nullopt;
      if (!text.empty()) text += ',';
      text += item.Scalar();
    }
    return text;
  }
  return std::nullopt;
}

std::optional<std::int64_t> to_integer(const std::string& s) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<double> to_number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// {from, to, step} or {from, to, factor}: inclusive of `to` when the steps land on it.
std::vector<FieldValue> expand_range(const Field& field, const YAML::Node& map, const std::string& source) {
  const std::string& path = field.path;
  Origin where = mark_of(source, map);
  if (field.type != FieldType::integer && field.type != FieldType::number)
    throw InputError(where, path, "a range {from, to, step|factor} needs a numeric field; give a list instead");
  std::map<std::string, YAML::Node> keys;
  ProblemList problems;
  for (auto it = map.begin(); it != map.end(); ++it) {
    std::string k = it->first.Scalar();
    if (k == "from" || k == "to" || k == "step" || k == "factor") {
      if (!it->second.IsScalar())
        problems.add(Problem{mark_of(source, it->second), path, fmt::format("range '{}' must be a number", k)});
      else
        keys[k] = it->second;
    } else {
      problems.add(Problem{mark_of(source, it->first), path,
                          fmt::format("unknown range key '{}'; a range is {{from, to, step}} or {{from, to, factor}}", k)});
    }
  }
  problems.throw_if_any();
  for (const char* k : {"from", "to"})
    if (!keys.count(k)) throw InputError(where, path, fmt::format("range without '{}'", k));
  bool has_step = keys.count("step") > 0, has_factor = keys.count("factor") > 0;
  if (has_step == has_factor) throw InputError(where, path, "a range needs exactly one of 'step' or 'factor'");

  auto origin_of = [&](const char* k) { return mark_of(source, keys[k]); };
  auto text_of = [&](const char* k) { return keys[k].Scalar(); };
  std::vector<FieldValue> values;

  if (has_factor) {
    auto factor = to_number(text_of("factor"));
    if (!factor || *factor <= 1.0)
      throw InputError(origin_of("factor"), path, fmt::format("range factor '{}' must be a number > 1", text_of("factor")));
    if (field.type == FieldType::integer) {
      auto from = to_integer(text_of("from")), to = to_integer(text_of("to"));
      if (!from) throw InputError(origin_of("from"), path, fmt::format("range from '{}' is not an integer", text_of("from")));
      if (!to) throw InputError(origin_of("to"), path, fmt::format("range to '{}' is not an integer", text_of("to")));
      if (*from <= 0) throw InputError(origin_of("from"), path, "a range with a factor must start above 0");
      if (*to < *from) throw InputError(where, path, fmt::format("empty range: to ({}) < from ({})", *to, *from));
      check_field_value(field, FieldValue(*to), origin_of("to"));
      for (std::int64_t v = *from;;) {
        values.emplace_back(v);
        double next = std::round(static_cast<double>(v) * *factor);
        if (next > static_cast<double>(*to)) break;  // also keeps the cast below in range
        // A small factor on small integers still moves on.
        v = std::max(v + 1, static_cast<std::int64_t>(next));
        if (v > *to) break;
      }
    } else {
      auto from = to_number(text_of("from")), to = to_number(text_of("to"));
      if (!from) throw InputError(origin_of("from"), path, fmt::format("range from '{}' is not a number", text_of("from")));
      if (!to) throw InputError(origin_of("to"), path, fmt::format("range to '{}' is not a number", text_of("to")));
      if (*from <= 0) throw InputError(origin_of("from"), path, "a range with a factor must start above 0");
      if (*to < *from) throw InputError(where, path, fmt::format("empty range: to ({}) < from ({})", *to, *from));
      for (double v = *from; v <= *to * (1 + 1e-12) && values.size() <= kMaxAxisValues; v *= *factor)
        values.emplace_back(v);
    }
  } else if (field.type == FieldType::integer) {
    auto from = to_integer(text_of("from")), to = to_integer(text_of("to")), step = to_integer(text_of("step"));
    if (!from) throw InputError(origin_of("from"), path, fmt::format("range from '{}' is not an integer", text_of("from")));
    if (!to) throw InputError(origin_of("to"), path, fmt::format("range to '{}' is not an integer", text_of("to")));
    if (!step || *step == 0)
      throw InputError(origin_of("step"), path, fmt::format("range step '{}' must be a non-zero integer", text_of("step")));
    // The endpoints first, so that the arithmetic below stays in range.
    check_field_value(field, FieldValue(*from), origin_of("from"));
    check_field_value(field, FieldValue(*to), origin_of("to"));
    if ((*to - *from) / *step < 0)
      throw InputError(where, path, fmt::format("empty range: step {} never goes from {} to {}", *step, *from, *to));
    std::size_t n = static_cast<std::size_t>((*to - *from) / *step) + 1;
    if (n > kMaxAxisValues) throw InputError(where, path, fmt::format("range has {} values (at most {})", n, kMaxAxisValues));
    values.reserve(n);
    for (std::size_t i = 0; i < n; ++i) values.emplace_back(*from + static_cast<std::int64_t>(i) * *step);
  } else {
    auto from = to_number(text_of("from")), to = to_number(text_of("to")), step = to_number(text_of("step"));
    if (!from) throw InputError(origin_of("from"), path, fmt::format("range from '{}' is not a number", text_of("from")));
    if (!to) throw InputError(origin_of("to"), path, fmt::format("range to '{}' is not a number", text_of("to")));
    if (!step || *step == 0)
      throw InputError(origin_of("step"), path, fmt::format("range step '{}' must be a non-zero number", text_of("step")));
    double span = (*to - *from) / *step;
    if (span < -1e-9)
      throw InputError(where, path, fmt::format("empty range: step {} never goes from {} to {}", *step, *from, *to));
    // Inclusive of `to` up to rounding: 0.1 steps from 0 to 1 give 11 values.
    double n = std::floor(span + 1e-9) + 1;
    if (n > static_cast<double>(kMaxAxisValues))
      throw InputError(where, path, fmt::format("range has {} values (at most {})", n, kMaxAxisValues));
    for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) values.emplace_back(*from + static_cast<double>(i) * *step);
  }
  if (values.size() > kMaxAxisValues)
    throw InputError(where, path, fmt::format("range has more than {} values", kMaxAxisValues));
  // Every value must be one the field accepts, as a listed value must.
  for (const FieldValue& v : values) check_field_value(field, v, where);
  return values;
}

GridAxis read_axis(const Field& field, const YAML::Node& key, const YAML::Node& value, const std::string& source) {
  GridAxis axis;
  axis.field = &field;
  axis.origin = mark_of(source, key);
  if (value.IsMap()) {
    axis.values = expand_range(field, value, source);
  } else if (value.IsSequence()) {
    // A list of values; for a list field each item is itself a value (a scalar or a list).
    ProblemList problems;
    for (const auto& item : value) {
      auto text = scalar_text(item, field.type);
      if (!text) {
        problems.add(Problem{mark_of(source, item), field.path, "expected a value, not a mapping or nested list"});
        continue;
      }
      problems.check([&] {
        axis.values.push_back(parse_field_value(field, *text, mark_of(source, item)));
      });
    }
    problems.throw_if_any();
  } else if (value.IsScalar()) {
    axis.values.push_back(parse_field_value(field, value.Scalar(), mark_of(source, value)));
  } else {
    throw InputError(axis.origin, field.path, "expected a list of values or a range {from, to, step|factor}");
  }
  if (axis.values.empty()) throw InputError(axis.origin, field.path, "no values: the grid would be empty");
  return axis;
}

// What every grid axis is checked for before its values are read, a sweep file's key or a
// front end's: a known field, not the scenario's `mechanisms`, not already in the grid.
// nullptr, with the problem added, when it is none of these.
const Field* grid_field(const SweepPlan& plan, const std::string& key, const Origin& at, ProblemList& problems) {
  const Field* f = find_field(key);
  if (f == nullptr) {
    // apply_override's message lists the keys that would have been accepted.
    try {
      ScenarioSpec scratch;
      apply_override(scratch, key, "", at);
    } catch (const InputError& e) {
      problems.add(e);
    }
    return nullptr;
  }
  if (f->path == "mechanisms") {
    problems.add(Problem{at, key,
                         "not a grid field: list the mechanisms under the sweep's top-level `mechanisms:`; "
                         "every point is evaluated for each of them"});
    return nullptr;
  }
  for (const auto& a : plan.axes)
    if (a.field == f) {
      problems.add(Problem{at, key, "appears twice in the grid"});
      return nullptr;
    }
  return f;
}

// A listed link's figure: the base scenario must list that link (points cannot add links),
// checked once the axis is read so the problem names the grid key. False, with the
// problems added, when it does not.
bool base_lists_link(const SweepPlan& plan, const GridAxis& axis, const std::string& key, const Origin& at,
                     ProblemList& problems) {
  if (!is_listed_link_field(key)) return true;
  ScenarioSpec probe = plan.base;
  try {
    axis.field->set(probe, axis.values.front());
  } catch (const InputError& e) {
    for (const auto& p : e.problems()) problems.add(Problem{at, key, p.message});
    return false;
  }
  return true;
}

// The size guard, once the axes are known.
void check_points(const SweepPlan& plan, const Origin& at, ProblemList& problems) {
  double n = 1;
  for (const auto& a : plan.axes) n *= static_cast<double>(a.values.size());
  if (n > kMaxPoints)
    problems.add(Problem{at, "grid", fmt::format("{:.3g} points is more than this tool will sweep ({:.0e})", n, kMaxPoints)});
}

// A sweep without `mechanisms:` evaluates the base scenario's.
std::vector<Mechanism> base_mechanisms(const ScenarioSpec& base) {
  return base.mechanisms.empty() ? default_mechanisms()
                                 : parse_mechanisms(base.mechanisms, base.origin_of("mechanisms"), "mechanisms");
}

}  // namespace

SweepPlan load_sweep(const std::string& path, const std::vector<std::string>& overrides, const std::string& engine) {
  return parse_sweep(read_input_file(path, "sweep"), path, overrides, engine);
}

SweepPlan parse_sweep(const std::string& text, const std::string& path, const std::vector<std::string>& overrides,
                      const std::string& engine) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw InputError(Origin{path, e.mark.line + 1, e.mark.column + 1}, "", "malformed YAML: " + e.msg);
  }
  if (!root.IsMap())
    throw InputError(Origin{path, 1, 1}, "", "a sweep file is a YAML mapping with base: and grid: (docs/sweep.md)");
  {
    std::vector<Problem> document;
    check_yaml_document(root, path, text.size(), document);
    if (!document.empty()) throw InputError(std::move(document));
  }

  SweepPlan plan;
  plan.path = path;
  ProblemList problems;

  // Absent keys (and keys with no value) are null nodes.
  YAML::Node base{YAML::NodeType::Null}, set{YAML::NodeType::Null}, grid{YAML::NodeType::Null},
      mechanisms{YAML::NodeType::Null}, passes{YAML::NodeType::Null}, engine_node{YAML::NodeType::Null},
      scope_node{YAML::NodeType::Null};
  for (auto it = root.begin(); it != root.end(); ++it) {
    std::string key = it->first.Scalar();
    if (key == "base") base = it->second;
    else if (key == "set") set = it->second;
    else if (key == "grid") grid = it->second;
    else if (key == "mechanisms") mechanisms = it->second;
    else if (key == "passes") passes = it->second;
    else if (key == "engine") engine_node = it->second;
    else if (key == "scope") scope_node = it->second;
    else if (key == "name" || key == "description") continue;
    else
      problems.add(Problem{mark_of(path, it->first), key,
                          "unknown sweep key; known: base, set, grid, mechanisms, passes, engine, scope, name, "
                          "description"});
  }
  // The scope: one training step unless the file says `layer`.
  plan.scope = Scope::iteration;
  if (!scope_node.IsNull()) {
    const std::optional<Scope> scope = scope_node.IsScalar() ? parse_scope(scope_node.Scalar()) : std::nullopt;
    if (scope) plan.scope = *scope;
    else problems.add(Problem{mark_of(path, scope_node), "scope", "expected iteration or layer"});
  }
  // The engine: --engine, else the file's, else the closed form.
  auto read_engine = [&](const std::string& name, const Origin& origin) {
    if (name == "analytic") plan.engine = SweepEngine::analytic;
    else if (name == "event") plan.engine = SweepEngine::event;
    else problems.add(Problem{origin, "engine", fmt::format("unknown engine '{}' (known: analytic, event)", name)});
  };
  if (!engine.empty()) {
    read_engine(engine, Origin{"--engine " + engine});
  } else if (!engine_node.IsNull()) {
    if (engine_node.IsScalar()) read_engine(engine_node.Scalar(), mark_of(path, engine_node));
    else problems.add(Problem{mark_of(path, engine_node), "engine", "expected analytic or event"});
  }

  // The base scenario, relative to the sweep file.
  bool have_base = false;
  if (base.IsNull()) {
    problems.add(Problem{Origin{path, 1, 1}, "base", "missing: name the base scenario file, e.g. base: ../llama32v-16xa100.yaml"});
  } else if (!base.IsScalar()) {
    problems.add(Problem{mark_of(path, base), "base", "expected a scenario file name"});
  } else {
    std::filesystem::path p(base.Scalar());
    if (p.is_relative()) p = std::filesystem::path(path).parent_path() / p;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(p, ec)) {
      problems.add(Problem{mark_of(path, base), "base", fmt::format("no such scenario file: {}", p.string())});
    } else {
      try {
        plan.base = load_scenario_spec(p.lexically_normal().string());
        have_base = true;
      } catch (const InputError& e) {
        problems.add(e);
      }
    }
  }

  // Fixed overrides: `set: {dotted.path: value}`, then the command line's --set.
  if (!set.IsNull()) {
    if (!set.IsMap()) {
      problems.add(Problem{mark_of(path, set), "set", "expected a mapping of dotted field paths to values"});
    } else {
      for (auto it = set.begin(); it != set.end(); ++it) {
        std::string key = it->first.Scalar();
        const Field* f = find_field(key);
        auto value = scalar_text(it->second, f ? f->type : FieldType::text);
        try {
          if (!value) throw InputError(mark_of(path, it->second), key, "expected a value");
          apply_override(plan.base, key, *value, mark_of(path, it->first));
        } catch (const InputError& e) {
          problems.add(e);
        }
      }
    }
  }

  // The grid, in file order.
  if (!grid.IsNull()) {
    if (!grid.IsMap()) {
      problems.add(Problem{mark_of(path, grid), "grid", "expected a mapping of dotted field paths to values or ranges"});
    } else {
      for (auto it = grid.begin(); it != grid.end(); ++it) {
        std::string key = it->first.Scalar();
        const Origin at = mark_of(path, it->first);
        const Field* f = grid_field(plan, key, at, problems);
        if (f == nullptr) continue;
        try {
          plan.axes.push_back(read_axis(*f, it->first, it->second, path));
          if (!base_lists_link(plan, plan.axes.back(), key, at, problems)) plan.axes.pop_back();
        } catch (const InputError& e) {
          problems.add(e);
        }
      }
    }
  }

  try {
    apply_overrides(plan.base, overrides);
  } catch (const InputError& e) {
    problems.add(e);
  }
  // A value of the base (its file, `set:`, --set) that fails its own check is refused here, as
  // simulate refuses it, not left to make every row infeasible; a grid field's is the grid's.
  for (const Problem& p : plan.base.value_problems)
    if (std::none_of(plan.axes.begin(), plan.axes.end(), [&](const auto& a) { return a.field->path == p.field; }))
      problems.add(p);
  for (const auto& o : overrides) {
    std::string key = o.substr(0, o.find('='));
    key.erase(0, key.find_first_not_of(" \t"));  // as apply_override reads it
    key.erase(key.find_last_not_of(" \t") + 1);
    for (const auto& a : plan.axes)
      if (a.field->path == key)
        problems.add(Problem{Origin{"--set " + o}, key,
                            fmt::format("is a grid field ({}); the grid would override it", a.origin.str())});
  }

  // Mechanisms and passes.
  // A list of names (or one name), each parsed with the origin of its own item.
  auto parse_list = [&](const YAML::Node& node, const std::string& field, auto parse_one) {
    using Item = typename decltype(parse_one({}, Origin{}))::value_type;
    std::vector<Item> out;
    std::vector<YAML::Node> items;
    if (node.IsScalar()) {
      items.push_back(node);
    } else if (node.IsSequence()) {
      for (const auto& item : node) items.push_back(item);
    } else {
      problems.add(Problem{mark_of(path, node), field, "expected a list of names"});
    }
    for (const auto& item : items) {
      if (!item.IsScalar()) {
        problems.add(Problem{mark_of(path, item), field, "expected a name"});
        continue;
      }
      try {
        auto parsed = parse_one(item.Scalar(), mark_of(path, item));
        out.insert(out.end(), parsed.begin(), parsed.end());
      } catch (const InputError& e) {
        problems.add(e);
      }
    }
    return out;
  };
  if (!mechanisms.IsNull()) {
    plan.mechanisms = parse_list(mechanisms, "mechanisms", [](const std::string& name, const Origin& origin) {
      return parse_mechanisms({name}, origin, "mechanisms");
    });
  } else if (have_base) {
    try {
      plan.mechanisms = base_mechanisms(plan.base);
    } catch (const InputError& e) {
      problems.add(e);
    }
  }
  if (!passes.IsNull()) {
    plan.passes = parse_list(passes, "passes", [](const std::string& name, const Origin& origin) {
      return parse_passes({name}, origin, "passes");
    });
  } else {
    plan.passes = {Pass::fwd_bwd};
  }
  if (!mechanisms.IsNull() && plan.mechanisms.empty() && problems.empty())
    problems.add(Problem{mark_of(path, mechanisms), "mechanisms", "empty list"});
  if (!passes.IsNull() && plan.passes.empty() && problems.empty())
    problems.add(Problem{mark_of(path, passes), "passes", "empty list"});

  if (problems.empty()) check_points(plan, !grid.IsNull() ? mark_of(path, grid) : Origin{path}, problems);
  problems.throw_if_any();
  return plan;
}

SweepPlan grid_plan(const ScenarioSpec& base, const std::vector<GridAxisText>& axes, std::vector<Mechanism> mechanisms,
                    std::vector<Pass> passes, SweepEngine engine, const std::string& source) {
  SweepPlan plan;
  plan.engine = engine;
  plan.base = base;
  const Origin at{source};
  ProblemList problems;
  for (const GridAxisText& text : axes) {
    const Field* f = grid_field(plan, text.field, at, problems);
    if (f == nullptr) continue;
    GridAxis axis;
    axis.field = f;
    axis.origin = at;
    ProblemList value_problems;
    for (const std::string& v : text.values)
      value_problems.check([&] { axis.values.push_back(parse_field_value(*f, v, at)); });
    if (!value_problems.empty()) {
      problems.check([&] { value_problems.throw_if_any(); });
      continue;
    }
    if (axis.values.empty()) {
      problems.add(Problem{at, f->path, "no values: the grid would be empty"});
      continue;
    }
    if (base_lists_link(plan, axis, text.field, at, problems)) plan.axes.push_back(std::move(axis));
  }
  plan.mechanisms = std::move(mechanisms);
  if (plan.mechanisms.empty()) problems.check([&] { plan.mechanisms = base_mechanisms(plan.base); });
  plan.passes = passes.empty() ? std::vector<Pass>{Pass::fwd_bwd} : std::move(passes);
  if (problems.empty()) check_points(plan, at, problems);
  problems.throw_if_any();
  return plan;
}

}  // namespace xattn
