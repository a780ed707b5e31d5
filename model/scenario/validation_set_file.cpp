// The validation set file's reader (validation_set_file.hpp): `scenario`, `calibration` and
// `cases`, each case a trace or a mapping with its own scenario and calibration; paths are
// relative to the set file. Every problem names the file, line and field.
#include "model/scenario/validation_set_file.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "model/core/error.hpp"
#include "model/core/input_file.hpp"
#include "model/scenario/yaml_check.hpp"

namespace xattn {
namespace {

void check_readable(const std::string& path, const std::string& field) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw InputError(Origin{path}, field, std::filesystem::exists(path, ec) ? "not a regular file" : "no such file");
}

}  // namespace

std::vector<ValidationCase> read_validation_set(const std::string& path, const std::string& scenario) {
  check_readable(path, "--set-file");
  return parse_validation_set(read_input_file(path, "--set-file"), path, scenario);
}

std::vector<ValidationCase> parse_validation_set(const std::string& text, const std::string& path,
                                                 const std::string& scenario) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw InputError(Origin{path, e.mark.line + 1, e.mark.column + 1}, "", e.msg);
  }
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  auto at = [&](const YAML::Node& n) { return Origin{path, n.Mark().line + 1, n.Mark().column + 1}; };
  auto rel = [&](const std::string& p) { return std::filesystem::path(p).is_absolute() ? p : (dir / p).string(); };
  auto files = [&](const YAML::Node& n, const std::string& field) {
    std::vector<std::string> out;
    if (!n) return out;
    if (n.IsScalar()) out.push_back(rel(n.as<std::string>()));
    else if (n.IsSequence())
      for (const auto& v : n) {
        if (!v.IsScalar()) throw InputError(at(v), field, "expected a file name");
        out.push_back(rel(v.as<std::string>()));
      }
    else throw InputError(at(n), field, "expected a file name or a list of them");
    return out;
  };
  if (!root.IsMap()) throw InputError(Origin{path}, "", "expected a mapping with `cases:` (docs/validation.md)");
  {
    std::vector<Problem> document;
    check_yaml_document(root, path, text.size(), document);
    if (!document.empty()) throw InputError(std::move(document));
  }
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string key = it->first.as<std::string>();
    if (key != "scenario" && key != "calibration" && key != "cases")
      throw InputError(at(it->first), key, "unknown field; known keys: scenario, calibration, cases");
  }
  const std::vector<std::string> scen = files(root["scenario"], "scenario");
  if (scen.size() > 1) throw InputError(at(root["scenario"]), "scenario", "one scenario file");
  const std::vector<std::string> cals = files(root["calibration"], "calibration");
  const YAML::Node cases = root["cases"];
  if (!cases || !cases.IsSequence() || cases.size() == 0)
    throw InputError(cases ? at(cases) : Origin{path}, "cases", "expected a non-empty list of measured traces");
  std::vector<ValidationCase> out;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const YAML::Node n = cases[i];
    const std::string field = fmt::format("cases[{}]", i);
    ValidationCase c{"", scen.empty() ? scenario : scen.front(), cals};
    if (n.IsScalar()) {
      c.measured = rel(n.as<std::string>());
    } else if (n.IsMap()) {
      for (auto it = n.begin(); it != n.end(); ++it) {
        const std::string key = it->first.as<std::string>();
        if (key != "measured" && key != "scenario" && key != "calibration")
          throw InputError(at(it->first), field + "." + key, "unknown field; known keys: measured, scenario, calibration");
      }
      if (!n["measured"] || !n["measured"].IsScalar()) throw InputError(at(n), field + ".measured", "missing: the trace file");
      c.measured = rel(n["measured"].as<std::string>());
      if (n["scenario"]) c.scenario = files(n["scenario"], field + ".scenario").front();
      if (n["calibration"]) c.calibrations = files(n["calibration"], field + ".calibration");
    } else {
      throw InputError(at(n), field, "expected a trace file name or a mapping with measured:");
    }
    if (c.scenario.empty()) throw InputError(at(n), field + ".scenario", "no scenario: give one for the case, for the set or with --scenario");
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace xattn
