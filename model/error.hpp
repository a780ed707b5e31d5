// Errors from bad input. Every problem names where it came from (file and line, or the
// command-line option) and the field; an InputError carries all problems found at once.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace xattn {

// Where a value came from: a file and 1-based line/column, or a command-line origin such
// as "--set workload.frames=abc" (line 0).
struct Origin {
  std::string source;  // file path, or "--set ..." / "command line"
  int line = 0;        // 1-based; 0 when not from a file
  int column = 0;

  [[nodiscard]] std::string str() const;
};

struct Problem {
  Origin origin;
  std::string field;    // dotted path, e.g. "cluster.inter_node.bandwidth_GBps"
  std::string message;  // what is wrong, in words

  [[nodiscard]] std::string str() const;  // "file:line:col: field: message"
};

// Thrown for bad input of any kind; the CLI maps it to exit code 2.
class InputError : public std::runtime_error {
 public:
  explicit InputError(std::vector<Problem> problems);
  InputError(Origin origin, std::string field, std::string message);
  [[nodiscard]] const std::vector<Problem>& problems() const { return problems_; }

 private:
  std::vector<Problem> problems_;
};

}  // namespace xattn
