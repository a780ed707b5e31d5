// The closed form on the scenario files we ship (scenarios/*.yaml), read and overridden as
// `xattn simulate --set` does: the floor no ring-family mechanism beats holds over a grid of
// overrides, and the LV-XAttn paper's first set-up favours LV-XAttn. The closed form's hand
// arithmetic is in tests/model/analytic_test.cpp.
#include <string>

#include <gtest/gtest.h>

#include "model/analytic.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn {
namespace {

const std::string kScenarios = std::string(XATTN_SOURCE_DIR) + "/scenarios";

constexpr Mechanism kLv{MechanismKind::lv_xattn, 0};
constexpr Mechanism kRing{MechanismKind::ring, 0};
constexpr Mechanism kUlysses{MechanismKind::ulysses, 0};
constexpr Mechanism kNoComm{MechanismKind::no_comm, 0};

TEST(ShippedScenarios, FloorInvariantOverAGrid) {
  // No ring-family mechanism beats the no-communication bound, on every shipped scenario
  // and a grid of overrides; time >= compute everywhere.
  for (const char* file : {"llama32v-16xa100.yaml", "mplug-owl3-8xa30.yaml", "openflamingo3b-8xa30.yaml",
                           "llama32v-12xa100-pcie.yaml", "llama32v-dgx-h100.yaml"}) {
    for (int frames : {1, 12, 96, 768}) {
      for (int text : {64, 1008, 8192}) {
        ScenarioSpec spec = load_scenario_spec(kScenarios + "/" + file);
        apply_override(spec, "workload.frames=" + std::to_string(frames));
        apply_override(spec, "workload.text_tokens=" + std::to_string(text));
        Scenario s = resolve(spec);
        for (Pass p : {Pass::fwd, Pass::bwd, Pass::fwd_bwd}) {
          Estimate floor = estimate(s, kNoComm, p);
          for (Mechanism m : {kLv, kRing, kUlysses}) {
            Estimate e = estimate(s, m, p);
            if (!e.feasible) continue;
            EXPECT_GE(e.time.value(), e.compute.value()) << file << " " << m.name();
            if (m.kind != MechanismKind::ulysses) {
              EXPECT_GE(e.time.value(), floor.time.value()) << file << " " << m.name() << " " << frames << " " << text;
            }
          }
        }
      }
    }
  }
}

TEST(ShippedScenarios, ThePapersSetUpFavoursLvXAttn) {
  // The LV-XAttn paper's first set-up (Llama-3.2-11B-Vision, 16 A100, 25 GB/s between
  // nodes): LV-XAttn hides its small transfers; Ring is bound by moving KV blocks.
  Scenario s = load_scenario(kScenarios + "/llama32v-16xa100.yaml");
  Estimate lv = estimate(s, kLv, Pass::fwd_bwd);
  Estimate ring = estimate(s, kRing, Pass::fwd_bwd);
  EXPECT_LT(lv.exposed_comm.value(), 0.01 * lv.time.value());
  EXPECT_GT(ring.time.value(), 5 * lv.time.value());
}

}  // namespace
}  // namespace xattn
