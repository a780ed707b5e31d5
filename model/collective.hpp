// The collectives NCCL runs and nccl-tests measures, by name: the vocabulary that the
// collective cost model (collective_model.hpp), the nccl-tests reader (model/calib/) and
// the simulator share. Sizes and bus-bandwidth factors follow nccl-tests'
// doc/PERFORMANCE.md (see collective_model.hpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace xattn {

enum class NcclCollective { all_reduce, all_gather, reduce_scatter, all_to_all, broadcast, reduce, sendrecv };

[[nodiscard]] std::string_view to_string(NcclCollective op);
// Accepts xattn's names (all_reduce, all_to_all, ...) and nccl-tests' (allreduce,
// alltoall, all_reduce_perf, ...).
[[nodiscard]] std::optional<NcclCollective> parse_collective_op(std::string_view s);
// The collective named in a file name or program path ("all_reduce_16gpu.log",
// "/opt/nccl-tests/build/alltoall_perf"), or nothing.
[[nodiscard]] std::optional<NcclCollective> collective_in_name(std::string_view name);
// "all_reduce, all_gather, ..." for error messages.
[[nodiscard]] std::string collective_names();

}  // namespace xattn
