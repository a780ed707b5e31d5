// Errors from bad input. Every problem names where it came from (file and line, or the
// command-line option) and the field; an InputError carries all problems found at once.
// Problems of the machine rather than the input (an output that cannot be written, not
// enough memory for a run, a part this build lacks) are an EnvironmentError.
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

// The machine, not the input, is the problem: an output that cannot be written, not
// enough memory for the run, a part this build lacks. `subject` names the file or the
// thing concerned; the CLI maps it to exit code 3 (docs/limits.md).
class EnvironmentError : public std::runtime_error {
 public:
  EnvironmentError(std::string subject, const std::string& message);
  [[nodiscard]] const std::string& subject() const { return subject_; }

 private:
  std::string subject_;
};

// Gathers the problems of independent checks so that all of them are reported at once.
class ProblemList {
 public:
  // Runs `check`; an InputError it throws is added to the list, not propagated.
  template <class F>
  void check(F&& check) {
    try {
      check();
    } catch (const InputError& e) {
      add(e);
    }
  }
  void add(Problem p) { problems_.push_back(std::move(p)); }
  void add(const InputError& e) { problems_.insert(problems_.end(), e.problems().begin(), e.problems().end()); }
  [[nodiscard]] bool empty() const { return problems_.empty(); }
  // Throws one InputError carrying every problem added, if there is any.
  void throw_if_any() {
    if (!problems_.empty()) throw InputError(std::move(problems_));
  }

 private:
  std::vector<Problem> problems_;
};

}  // namespace xattn
