// The attention mechanisms xattn compares, by name (ARCHITECTURE.md, "Mechanism names").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace xattn {

enum class MechanismKind {
  lv_xattn,     // LV-XAttn: KV stays, query blocks with (O, LSE) travel
  ring,         // Ring Attention: Q stays, KV blocks travel (contiguous layout)
  ulysses,      // all-to-all (DeepSpeed-Ulysses): heads re-sharded
  no_comm,      // the ring-family compute with no communication: the floor
  ring_zigzag,  // causal ring, rank r holds chunks r and 2P-1-r
  ring_stripe,  // causal ring, rank r holds tokens r, r+P, ...
  startrail,    // StarTrail concentric sub-rings, team size c ("startrail:c=C")
  usp,          // Ulysses x Ring hybrid, Ulysses degree u ("usp:u=U")
};

struct Mechanism {
  MechanismKind kind = MechanismKind::lv_xattn;
  int param = 0;  // c for startrail, u for usp; 0 otherwise

  [[nodiscard]] std::string name() const;  // "lv-xattn", "startrail:c=2", ...
  friend bool operator==(const Mechanism&, const Mechanism&) = default;
};

// nullopt for an unknown or malformed name ("startrail:c=0", "usp" without u, ...).
[[nodiscard]] std::optional<Mechanism> parse_mechanism(std::string_view name);
// The default comparison: lv-xattn, ring, ulysses, no-comm.
[[nodiscard]] std::vector<Mechanism> default_mechanisms();
// Every accepted spelling, for help text and error messages.
[[nodiscard]] std::string mechanism_names();

}  // namespace xattn
