// The rooms of the tree and what may depend on what (docs/layout.md), checked on every
// #include of every source file: a wrong-way include fails this test, and so CI. The
// build gives every target the project root as its include path, so it cannot catch a
// header of the wrong room by itself; this test reads the includes instead.
//
// Rooms: core <- model <- schedule <- {sim, gpu}; scenario and calib depend on model
// (calib also on schedule, whose builders give the FLOPs a GPU calibration divides by,
// and on scenario, whose calibration-file writer it uses); sim also on scenario (its
// runner and sweep engine take scenario files); gpu never on sim; cli on everything but
// the dashboard, save gui/png; gui on everything but cli. Only gpu/ sees CUDA and only
// gui/ sees Qt. Tests of a room include what the room may, plus the test helpers.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace xattn {
namespace {

namespace fs = std::filesystem;

// The room a source path (relative to the project root, '/'-separated) belongs to, or ""
// for a path outside every room.
std::string room_of(const std::string& path) {
  static const std::vector<std::pair<std::string, std::string>> prefixes = {
      {"model/core/", "core"},       {"model/schedule/", "schedule"}, {"model/scenario/", "scenario"},
      {"model/calib/", "calib"},     {"model/", "model"},             {"sim/", "sim"},
      {"gpu/", "gpu"},               {"gui/png/", "png"},             {"gui/", "gui"},
      {"cli/", "cli"},               {"bench/", "bench"},             {"tests/", "tests"}};
  for (const auto& [prefix, room] : prefixes)
    if (path.rfind(prefix, 0) == 0) return room;
  return "";
}

// What each library room may include (itself included).
const std::map<std::string, std::set<std::string>>& allowed() {
  static const std::map<std::string, std::set<std::string>> table = {
      {"core", {"core"}},
      {"model", {"core", "model"}},
      {"schedule", {"core", "model", "schedule"}},
      {"scenario", {"core", "model", "scenario"}},
      {"calib", {"core", "model", "schedule", "scenario", "calib"}},
      {"sim", {"core", "model", "schedule", "scenario", "sim"}},
      {"gpu", {"core", "model", "schedule", "gpu"}},
      {"png", {"png"}},
      {"gui", {"core", "model", "schedule", "scenario", "calib", "sim", "gui", "png"}},
      {"cli", {"core", "model", "schedule", "scenario", "calib", "sim", "gpu", "cli", "png"}},
      {"bench", {"core", "model", "schedule", "scenario", "calib", "sim", "gpu", "bench"}},
      // The one suite that crosses rooms on purpose (tests/integration/CMakeLists.txt).
      {"integration", {"core", "model", "schedule", "scenario", "calib", "sim", "gpu"}},
      // The fuzz harnesses drive the parsers of these rooms (tests/fuzz/CMakeLists.txt).
      {"fuzz", {"core", "model", "schedule", "scenario", "calib", "sim"}},
  };
  return table;
}

// A test file's rules are those of the room it tests: tests/sim/x.cpp as sim, with the
// test helpers (anything under tests/) on top. tests/gpu_host tests gpu's host half.
std::string tested_room(const std::string& path) {
  const std::string rest = path.substr(std::string("tests/").size());
  std::string folder = rest.substr(0, rest.find('/'));
  if (folder == "gpu_host") folder = "gpu";
  if (folder == "layering") folder = "core";
  return folder;
}

struct Violation {
  std::string file;
  int line = 0;
  std::string what;
};

bool is_cuda_header(const std::string& h) {
  return h.rfind("cuda", 0) == 0 || h.rfind("nccl", 0) == 0 || h.rfind("cub/", 0) == 0 ||
         h.rfind("thrust/", 0) == 0 || h == "mma.h" || h.rfind("cooperative_groups", 0) == 0;
}
bool is_qt_header(const std::string& h) { return h.size() > 1 && h[0] == 'Q' && std::isupper(static_cast<unsigned char>(h[1])); }

// Every include of `text` (the file at `path`) that its room may not have.
std::vector<Violation> check_includes(const std::string& path, const std::string& text) {
  std::vector<Violation> out;
  std::string room = room_of(path);
  if (room.empty()) return out;
  const bool is_test = room == "tests";
  if (is_test) room = tested_room(path);
  const auto rules = allowed().find(room);
  static const std::regex quoted(R"re(^\s*#\s*include\s*"([^"]+)")re");
  static const std::regex angled(R"re(^\s*#\s*include\s*<([^>]+)>)re");
  std::istringstream in(text);
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    std::smatch m;
    if (std::regex_search(line, m, angled)) {
      const std::string h = m[1];
      const bool cuda_ok = room == "gpu" || path.rfind("bench/gpu/", 0) == 0;
      const bool qt_ok = room == "gui" || room == "png";
      if (is_cuda_header(h) && !cuda_ok) out.push_back({path, n, "<" + h + ">: only gpu/ sees CUDA"});
      if (is_qt_header(h) && !qt_ok) out.push_back({path, n, "<" + h + ">: only gui/ sees Qt"});
      continue;
    }
    if (!std::regex_search(line, m, quoted)) continue;
    const std::string inc = m[1];
    const std::string to = room_of(inc);
    if (to.empty()) continue;  // a header beside the file, same room
    if (to == "tests") {
      if (!is_test) out.push_back({path, n, "\"" + inc + "\": only tests include test helpers"});
      continue;
    }
    if (rules == allowed().end()) {
      out.push_back({path, n, "\"" + inc + "\": the room '" + room + "' has no entry in the layering table"});
      continue;
    }
    if (rules->second.count(to) == 0) {
      std::string may;
      for (const auto& r : rules->second) may += (may.empty() ? "" : ", ") + r;
      out.push_back({path, n, "\"" + inc + "\" is in room '" + to + "', but '" + room + "' may include only " + may});
    }
  }
  return out;
}

// The C++ and CUDA sources under `tops` of the project root, each as (path relative to the
// root, '/'-separated; its text), in path order.
std::vector<std::pair<std::string, std::string>> sources(std::initializer_list<const char*> tops) {
  const fs::path root = XATTN_SOURCE_DIR;
  std::vector<std::pair<std::string, std::string>> files;
  for (const char* top : tops) {
    if (!fs::exists(root / top)) continue;
    for (const auto& e : fs::recursive_directory_iterator(root / top)) {
      if (!e.is_regular_file()) continue;
      const std::string ext = e.path().extension().string();
      if (ext != ".cpp" && ext != ".hpp" && ext != ".cu" && ext != ".cuh") continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::stringstream text;
      text << in.rdbuf();
      files.emplace_back(fs::relative(e.path(), root).generic_string(), text.str());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// One line per violation: "file:line: what".
std::string report(const std::vector<Violation>& all) {
  std::string out;
  for (const auto& v : all) out += v.file + ":" + std::to_string(v.line) + ": " + v.what + "\n";
  return out;
}

TEST(Layering, TheCheckerCatchesAWrongWayInclude) {
  // gpu/ including the simulator, model/ including a scenario file, the CLI including the
  // dashboard, and CUDA outside gpu/: each is named with its line.
  auto v = check_includes("gpu/walk.cpp", "#include <vector>\n#include \"sim/executor.hpp\"\n");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].line, 2);
  EXPECT_NE(v[0].what.find("room 'sim'"), std::string::npos) << v[0].what;
  EXPECT_EQ(check_includes("model/analytic.cpp", "#include \"model/scenario/scenario_file.hpp\"\n").size(), 1u);
  EXPECT_EQ(check_includes("cli/simulate.cpp", "#include \"gui/analysis.hpp\"\n").size(), 1u);
  EXPECT_EQ(check_includes("sim/executor.cpp", "#include <cuda_runtime.h>\n").size(), 1u);
  EXPECT_EQ(check_includes("model/types.cpp", "#include <QString>\n").size(), 1u);
  // ... and lets the right ways through.
  EXPECT_TRUE(check_includes("cli/calibrate_cmd.cpp", "#include \"gui/png/png_export.hpp\"\n").empty());
  EXPECT_TRUE(check_includes("model/scenario.hpp", "#include \"model/core/units.hpp\"\n").empty());
  EXPECT_TRUE(check_includes("tests/sim/x_test.cpp", "#include \"tests/sim/sim_test_util.hpp\"\n#include \"sim/x.hpp\"\n").empty());
  EXPECT_EQ(check_includes("tests/model/x_test.cpp", "#include \"sim/runner.hpp\"\n").size(), 1u);
}

TEST(Layering, EveryIncludeOfTheTreeGoesTheAllowedWay) {
  const auto files = sources({"model", "sim", "gpu", "gui", "cli", "bench", "tests"});
  EXPECT_GT(files.size(), 100u) << "the source tree was not found under " << XATTN_SOURCE_DIR;
  std::vector<Violation> all;
  for (const auto& [path, text] : files) {
    auto v = check_includes(path, text);
    all.insert(all.end(), v.begin(), v.end());
  }
  EXPECT_TRUE(all.empty()) << all.size() << " include(s) go the wrong way (docs/layout.md):\n" << report(all);
}

// Where a type is defined at namespace scope: "xattn::sim::PhaseRow" -> "sim/x.hpp:12".
// Two definitions of one name in two files break the one-definition rule silently: the
// linker keeps one copy of their inline member functions for both (two branches once
// each added a `sim::PhaseRow`, and only the AddressSanitizer build showed the wrong move
// constructor running). The tree's style makes this readable line by line: namespaces
// open at column 0 (`namespace xattn::sim {`) and close with `}  // namespace`, types at
// namespace scope start at column 0; types in an anonymous namespace are the file's own.
std::vector<Violation> check_type_names(const std::vector<std::pair<std::string, std::string>>& files) {
  static const std::regex opens(R"re(^namespace\s*([A-Za-z_:0-9]*)\s*\{)re");
  static const std::regex closes(R"re(^\}\s*//\s*namespace)re");
  static const std::regex type(R"re(^(?:struct|class|union|enum\s+class|enum\s+struct|enum)\s+(?:\[\[[^\]]*\]\]\s*)?([A-Za-z_]\w*)\s*(.*)$)re");
  std::map<std::string, std::pair<std::string, int>> first;
  std::vector<Violation> out;
  for (const auto& [path, text] : files) {
    std::vector<std::string> stack;
    std::istringstream in(text);
    int n = 0;
    for (std::string line; std::getline(in, line);) {
      ++n;
      std::smatch m;
      if (std::regex_search(line, m, opens)) {
        stack.push_back(m[1].str().empty() ? "(anonymous)" : m[1].str());
        continue;
      }
      if (std::regex_search(line, m, closes)) {
        if (!stack.empty()) stack.pop_back();
        continue;
      }
      if (!std::regex_search(line, m, type)) continue;
      const std::string rest = m[2];
      if (!rest.empty() && rest[0] == ';') continue;  // declared only
      if (!rest.empty() && rest[0] == '<') continue;  // a specialization of a template named elsewhere
      if (rest.rfind("::", 0) == 0) continue;          // Outer::Inner, std::hash<...>: declared elsewhere
      if (std::find(stack.begin(), stack.end(), "(anonymous)") != stack.end()) continue;
      std::string name;
      for (const auto& ns : stack) name += ns + "::";
      name += m[1].str();
      const auto [it, fresh] = first.emplace(name, std::make_pair(path, n));
      if (!fresh && it->second.first != path)
        out.push_back({path, n, name + " is also defined at " + it->second.first + ":" + std::to_string(it->second.second)});
    }
  }
  return out;
}

TEST(Layering, TheTypeNameCheckCatchesOneNameDefinedTwice) {
  // Two files each defining xattn::sim::Row (hand-written): one violation naming both;
  // the same name in an anonymous namespace, in another namespace, or declared only, is fine.
  const auto v = check_type_names({{"sim/a.hpp", "namespace xattn::sim {\n\nstruct Row {\n  int x;\n};\n\n}  // namespace xattn::sim\n"},
                                   {"sim/b.hpp", "namespace xattn::sim {\nstruct Row;\nstruct Row {\n  double y;\n};\n}  // namespace xattn::sim\n"}});
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].line, 3);
  EXPECT_NE(v[0].what.find("xattn::sim::Row is also defined at sim/a.hpp:3"), std::string::npos) << v[0].what;
  EXPECT_TRUE(check_type_names({{"sim/a.cpp", "namespace xattn::sim {\nnamespace {\nstruct Row {};\n}  // namespace\n}  // namespace xattn::sim\n"},
                                {"sim/b.cpp", "namespace xattn::sim {\nnamespace {\nstruct Row {};\n}  // namespace\n}  // namespace xattn::sim\n"},
                                {"gpu/c.hpp", "namespace xattn::gpu {\nstruct Row {};\n}  // namespace xattn::gpu\n"},
                                {"gpu/c.cpp", "namespace xattn::gpu {\nstruct Row::Impl {};\n}  // namespace xattn::gpu\ntemplate <>\nstruct std::hash<Row> {};\n"}})
                  .empty());
}

TEST(Layering, NoTwoFilesDefineOneTypeName) {
  const auto files = sources({"model", "sim", "gpu", "gui", "cli"});
  EXPECT_GT(files.size(), 100u) << "the source tree was not found under " << XATTN_SOURCE_DIR;
  const auto all = check_type_names(files);
  EXPECT_TRUE(all.empty()) << all.size() << " type name(s) defined in two files (the one-definition rule):\n"
                           << report(all);
}


}  // namespace
}  // namespace xattn
