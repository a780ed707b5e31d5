// One Schedule builder per mechanism (MECHANISMS.md; docs/schedules.md draws each one).
// Every builder starts from the sequence layout (rank at ring position p holds query
// block p and key/value block p, all heads) and ends in it: O, LSE, dQ for its queries and
// dK, dV for its keys. Ring positions map to ranks through `order`, so ranks may sit on
// the cluster in any order.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/mechanism.hpp"
#include "model/schedule/schedule.hpp"
#include "model/types.hpp"

namespace xattn {

struct BuildOptions {
  AttentionShape shape;
  int ranks = 1;
  std::int64_t media_items = 1;  // media-local mask: number of media items
  std::vector<int> order;        // ring position -> rank; empty: identity
  int accumulator_bytes = 0;     // travelling accumulators (O, dQ, dK, dV); 0: the activation dtype's
};

// A mechanism that cannot run this shape (Ulysses with H not divisible by P, StarTrail
// with C² not dividing P, ...). The message says why.
class InfeasibleSchedule : public std::runtime_error {
 public:
  explicit InfeasibleSchedule(const std::string& why) : std::runtime_error(why) {}
};

// The token layout a mechanism uses for its sequence blocks: ring-zigzag zigzag,
// ring-stripe striped, StarTrail zigzag when causal, everything else contiguous.
[[nodiscard]] Layout layout_of(const Mechanism& m, Mask mask);

// How large a schedule will be, known before it is built (docs/limits.md, "Memory"): an
// upper bound on the ops of one rank's program, from the mechanism's rounds (P for the
// ring family and LV-XAttn, P/u for USP, P/c² for StarTrail, none for Ulysses) at 8 ops
// per round and 16 per pass; tests/schedule/schedule_size_test.cpp holds every builder to
// it. Also the most messages one all-to-all has in flight at once (Ulysses: P(P−1),
// USP: P(u−1) over its groups; 0 for the others), which the event engine holds as flows.
struct ScheduleSize {
  // What one op of a Schedule takes with its dependencies and name (about 216 bytes for
  // the op; measured, with room): the Schedule alone, before any executor runs it.
  static constexpr double bytes_per_op = 320;
  std::int64_t ops_per_rank = 0;
  std::int64_t ops = 0;              // all ranks
  std::int64_t all_to_all_flows = 0;
  [[nodiscard]] double bytes() const { return static_cast<double>(ops) * bytes_per_op; }
};
[[nodiscard]] ScheduleSize schedule_size(const Mechanism& m, Pass pass, int ranks);

// Builds the schedule of one pass (fwd, bwd, or fwd+bwd in one program per rank). A
// backward-only schedule expects what the forward leaves behind (its `inputs`). Throws
// InfeasibleSchedule.
[[nodiscard]] Schedule build_schedule(const Mechanism& m, Pass pass, const BuildOptions& options);

}  // namespace xattn
