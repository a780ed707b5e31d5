// One Schedule builder per mechanism (MECHANISMS.md; docs/schedules.md draws each one).
// Every builder starts from the sequence layout (rank at ring position p holds query
// block p and key/value block p, all heads) and ends in it: O, LSE, dQ for its queries and
// dK, dV for its keys. Ring positions map to ranks through `order`, so ranks may sit on
// the cluster in any order.
#pragma once

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

// Builds the schedule of one pass (fwd, bwd, or fwd+bwd in one program per rank). A
// backward-only schedule expects what the forward leaves behind (its `inputs`). Throws
// InfeasibleSchedule.
[[nodiscard]] Schedule build_schedule(const Mechanism& m, Pass pass, const BuildOptions& options);

}  // namespace xattn
