// Verification of a mechanism's schedule against dense attention: build the forward and
// backward schedule (one fwd+bwd program per rank), run it in the numerical reference on
// random tensors, and report the max abs error of O, LSE, dQ, dK and dV. Shared by the
// tests and `xattn verify`.
#pragma once

#include <cstdint>
#include <vector>

#include "model/mechanism.hpp"
#include "model/types.hpp"

namespace xattn::reference {

struct VerifyOptions {
  Mechanism mechanism;
  int ranks = 1;
  AttentionShape shape;        // batch 1
  std::int64_t media_items = 2;
  std::uint64_t seed = 1;
  double q_scale = 1.0;        // scales Q: large values give LSE above 709
  std::vector<int> order;      // ring position -> rank; empty: identity
};

struct VerifyResult {
  double o = 0, lse = 0, dq = 0, dk = 0, dv = 0;  // max abs error against dense attention
  double max_lse = 0;                             // largest finite LSE seen (dense)
  int ops = 0;                                    // ops in all programs
  [[nodiscard]] double worst() const;
  [[nodiscard]] bool passed(double tolerance) const { return worst() <= tolerance; }
};

// Throws InfeasibleSchedule when the mechanism cannot run the shape, ScheduleError when the
// schedule fails its checks.
[[nodiscard]] VerifyResult verify(const VerifyOptions& options);

inline constexpr double kVerifyTolerance = 1e-10;

}  // namespace xattn::reference
