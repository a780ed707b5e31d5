// Reading NVIDIA nccl-tests output (github.com/NVIDIA/nccl-tests): the text a `*_perf`
// binary prints and the JSON file it writes with `-J`. The result is the measured rows
// plus what the "Using devices" block says about the run: ranks, hosts, GPU model, how
// many nodes and GPUs per node, and whether one process drove every GPU or MPI started one
// process per GPU. Columns are found by the header row, never by position; a malformed
// or truncated log is an InputError naming the line, and nothing partial is returned.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/calibration.hpp"
#include "model/collective.hpp"
#include "model/core/units.hpp"

namespace xattn {

// One line of the "Using devices" block.
struct NcclDevice {
  int rank = 0;
  std::int64_t pid = 0;
  std::string host;
  int device = 0;
  std::string gpu;  // e.g. "A100-SXM4-40GB"
};

// One measurement (out-of-place or in-place) of one size.
struct NcclMeasure {
  Seconds time;
  std::optional<double> algbw_GBps;  // absent when the log says N/A or lacks the column
  std::optional<double> busbw_GBps;
};

struct NcclRow {
  int line = 0;  // 1-based line in the log (0 for JSON input)
  Bytes size;    // nccl-tests' "size" column, its own definition for each collective
  std::int64_t count = 0;
  std::string type;
  std::optional<NcclMeasure> out_of_place;
  std::optional<NcclMeasure> in_place;

  // The out-of-place time if measured, else the in-place one.
  [[nodiscard]] const NcclMeasure& best_known() const { return out_of_place ? *out_of_place : *in_place; }
};

struct NcclLog {
  std::string source;  // file name
  NcclCollective op = NcclCollective::all_reduce;
  int threads = 1;        // nThread
  int gpus_per_thread = 1;  // nGpus
  std::vector<NcclDevice> devices;
  std::vector<NcclRow> rows;  // in the order printed
  std::optional<double> avg_busbw_GBps;  // the footer: a mean over all sizes, not a peak

  [[nodiscard]] int ranks() const { return static_cast<int>(devices.size()); }
  [[nodiscard]] int nodes() const;          // distinct hosts
  [[nodiscard]] int gpus_per_node() const;  // ranks / nodes
  [[nodiscard]] int processes() const;      // distinct (host, pid) pairs
  // One process for all ranks: single_process; one per GPU (or any split): mpi.
  [[nodiscard]] LaunchMode launch() const { return processes() > 1 ? LaunchMode::mpi : LaunchMode::single_process; }
  [[nodiscard]] std::string gpu() const;  // the first device's model
};

// Parses nccl-tests text output or its `-J` JSON (recognised by a leading '{'). `source`
// names the input in errors. The collective comes from `op` when given, else from the log
// ("# Collective test starting: ..." or the JSON "args"), else from `source`'s file name;
// if none says, InputError. Throws InputError for any malformed or truncated input.
[[nodiscard]] NcclLog parse_nccl_tests(std::string_view text, const std::string& source,
                                       std::optional<NcclCollective> op = std::nullopt);

// Reads and parses a file (InputError if it cannot be read).
[[nodiscard]] NcclLog read_nccl_tests_file(const std::string& path, std::optional<NcclCollective> op = std::nullopt);

}  // namespace xattn
