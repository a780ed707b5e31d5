// Scenario: the workload, the cluster, the calibration and the mechanisms to compare,
// every value known and checked: what the closed form, the simulator and the GPU backend
// read. Where a Scenario comes from (a YAML file, --set overrides, sweeps, the field
// table, resolve()) is model/scenario/'s concern.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/calibration.hpp"
#include "model/core/error.hpp"
#include "model/core/units.hpp"
#include "model/hardware.hpp"
#include "model/mechanism.hpp"
#include "model/presets.hpp"
#include "model/training.hpp"
#include "model/types.hpp"

namespace xattn {

// Travelling accumulators (LV-XAttn's O, Ring's dK/dV, LV-XAttn's dQ): by default in the
// activation dtype, as the published code does; fp32 doubles those bytes.
enum class AccumulatorDType { activation, fp32 };

// The resolved scenario: every value known and checked.
struct Scenario {
  std::string name;
  std::string description;
  std::string path;
  ModelSpec model;  // the preset with overrides applied
  std::int64_t batch = 1;
  std::int64_t text_tokens = 0;      // S_q
  std::int64_t frames = 0;
  std::int64_t tokens_per_frame = 0;
  AttentionShape shape;              // S_kv = frames * tokens_per_frame
  AccumulatorDType accumulator = AccumulatorDType::activation;
  bool recompute = false;
  Cluster cluster;
  Bytes memory_reserved;
  Calibration calibration;
  std::vector<Mechanism> mechanisms;  // layer scope: all; iteration scope: the cross-attention ones
  TrainingSetup training;             // iteration scope (model/iteration.hpp)
  // Where each field was set (dotted path -> file:line, or the --set that set it), so that
  // a problem found after resolving (the event engine's clock, a run too large for the
  // machine) names the input responsible.
  std::map<std::string, Origin> origins;

  [[nodiscard]] int ranks() const { return cluster.ranks(); }
  // Where `field` was set; the scenario file itself (or "scenario") when it was not.
  [[nodiscard]] Origin origin_of(const std::string& field) const {
    if (auto it = origins.find(field); it != origins.end()) return it->second;
    return Origin{path.empty() ? std::string("scenario") : path, 0, 0};
  }
  [[nodiscard]] int accumulator_bytes() const {
    return accumulator == AccumulatorDType::fp32 ? 4 : shape.element_bytes();
  }
};

}  // namespace xattn
