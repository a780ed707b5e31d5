// One trace from a multi-process run (issue 6). Each process measures only its own rank's
// ops — the executor's Timeline leaves the other ranks empty — so after the timed runs
// every process slices out its rank's op times (all runs), sends them to rank 0 through
// the bootstrap (rendezvous.hpp), and rank 0 merges the slices into one Timeline per run.
// Host-only (no CUDA).
//
// Times share an origin because the executor records each rank's origin event right
// after an NCCL all-reduce across all ranks (a device-side barrier): every rank's origin
// fires when that all-reduce completes on its GPU, and the completions differ by up to
// about one network hop's latency (docs/gpu_backend.md, "Multi-process runs"). That skew
// is in every cross-rank comparison of a merged trace.
//
// A single-process run goes through the same merge (one slice per rank, all from one
// process), so both produce their final Timeline the same way.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "model/schedule/schedule.hpp"
#include "model/schedule/timeline.hpp"

namespace xattn::gpu {

// One rank's op times in each timed run: runs[i][op index].
struct RankTimes {
  int rank = 0;
  std::vector<std::vector<OpTimes>> runs;
};

// The slice of `runs` (one Timeline per timed run) for `rank`. Throws std::invalid_argument
// when a run has no such rank.
[[nodiscard]] RankTimes slice_rank(const std::vector<Timeline>& runs, int rank);

// Bytes for the bootstrap, and back. decode throws std::invalid_argument for bytes that
// encode did not write (truncated, another format version).
[[nodiscard]] std::string encode_rank_times(const RankTimes& t);
[[nodiscard]] RankTimes decode_rank_times(std::string_view bytes);

// One Timeline per run with every rank's ops, finished (finish_timeline). Throws
// std::invalid_argument naming the rank when a rank is missing or sent twice, when a
// slice's op count differs from the rank's program, or the slices hold different numbers
// of runs.
[[nodiscard]] std::vector<Timeline> merge_rank_times(const Schedule& s, std::vector<RankTimes> parts);

// What a timeline assembled from its ranks needs before it is reported:
//  * a matched Send and Recv both start at the later of their two starts, and every member
//    of a collective at the latest of its members' starts (the schedule's rendezvous: data
//    moves once every side is there). In a multi-process run each process saw only its own
//    side become ready; in a single-process run each side's start event already waited
//    for the other side, so this only evens out the few microseconds between the sides'
//    events (nothing at all on one GPU, where both sides read one event). A start never
//    moves past its op's end;
//  * makespan (the last end) and each rank's compute busy time (the sum of its compute
//    ops' durations).
void finish_timeline(const Schedule& s, Timeline& t);

}  // namespace xattn::gpu
