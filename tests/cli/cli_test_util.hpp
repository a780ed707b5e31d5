// Helpers for the CLI tests: run `xattn` in-process on an argument vector, temporary
// folders with files written by the test itself, and a small CSV reader.
#pragma once

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "cli/app.hpp"
#include "tests/test_support.hpp"

namespace xattn::test {

struct CliResult {
  int code = -1;
  std::string out;
  std::string err;
};

// Runs `xattn ARGS...` in-process.
inline CliResult run(const std::vector<std::string>& args) {
  std::vector<const char*> argv{"xattn"};
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  CliResult r;
  r.code = cli::run_cli(static_cast<int>(argv.size()), argv.data(), out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

}  // namespace xattn::test

namespace xattn::cli::test {

inline const std::string kSourceDir = XATTN_SOURCE_DIR;
inline const std::string kDefaultScenario = kSourceDir + "/scenarios/llama32v-16xa100.yaml";

using xattn::test::CliResult;
using xattn::test::run;
using xattn::test::TempDir;

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// RFC 4180 CSV, enough for our output: quoted cells may hold commas and doubled quotes.
inline std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string cell;
  bool quoted = false, any = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    any = true;
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        cell += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cell += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(cell);
      cell.clear();
    } else if (c == '\n') {
      row.push_back(cell);
      cell.clear();
      rows.push_back(row);
      row.clear();
      any = false;
    } else {
      cell += c;
    }
  }
  if (any) {
    row.push_back(cell);
    rows.push_back(row);
  }
  return rows;
}

// Index of a column by its header name; -1 when absent.
inline int column(const std::vector<std::string>& header, const std::string& name) {
  for (std::size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return static_cast<int>(i);
  return -1;
}

}  // namespace xattn::cli::test
