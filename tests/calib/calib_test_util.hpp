// Helpers for the calibration tests: the nccl-tests fixtures and temporary folders.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "tests/test_support.hpp"

namespace xattn::calib_test {

inline const std::string kFixtures = std::string(XATTN_SOURCE_DIR) + "/tests/data/nccl-tests/azure-ndv4-a100/";

inline std::string fixture(int gpus) { return kFixtures + "all_reduce_" + std::to_string(gpus) + "gpu.log"; }

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

inline std::string join_lines(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

using xattn::test::TempDir;

}  // namespace xattn::calib_test
