// Document-level YAML checks (yaml_check.hpp): duplicate keys, keys that are not names,
// aliases that explode.
#include "model/scenario/yaml_check.hpp"

#include <map>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace xattn {
namespace {

struct Walk {
  const std::string& source;
  std::vector<Problem>& problems;
  std::size_t budget;  // nodes left to visit
  bool exhausted = false;

  Origin at(const YAML::Node& n) const { return Origin{source, n.Mark().line + 1, n.Mark().column + 1}; }

  void visit(const YAML::Node& node, const std::string& path) {
    if (exhausted) return;
    if (budget == 0) {
      exhausted = true;
      problems.push_back({at(node), path,
                          "the document's aliases (*name) expand it far beyond its own size: xattn reads no such "
                          "file"});
      return;
    }
    --budget;
    if (node.IsSequence()) {
      std::size_t i = 0;
      for (const auto& item : node) visit(item, fmt::format("{}[{}]", path, i++));
      return;
    }
    if (!node.IsMap()) return;
    std::map<std::string, int> seen;  // key -> its line
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;
      if (!key.IsScalar() && !key.IsNull()) {  // YAML's '? ' complex key: the readers take names only
        problems.push_back({at(key), path, "a key is a name, not a mapping or a list"});
        continue;
      }
      std::string child = path;
      if (key.IsScalar()) {
        const std::string& name = key.Scalar();
        child = path.empty() ? name : path + "." + name;
        const int line = key.Mark().line + 1;
        if (auto [first, inserted] = seen.emplace(name, line); !inserted)
          problems.push_back({at(key), child,
                              fmt::format("appears twice in this mapping (first on line {}); a key is given once "
                                          "(YAML 1.2: the keys of a mapping are unique)",
                                          first->second)});
      }
      visit(it->second, child);
    }
  }
};

}  // namespace

void check_yaml_document(const YAML::Node& root, const std::string& source, std::size_t text_size,
                         std::vector<Problem>& problems) {
  // A document without aliases has fewer nodes than bytes; a few more for short ones.
  Walk walk{source, problems, 2 * text_size + 64};
  walk.visit(root, "");
}

}  // namespace xattn
