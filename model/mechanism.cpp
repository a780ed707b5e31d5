#include "model/mechanism.hpp"

#include <charconv>

#include <fmt/format.h>

namespace xattn {

std::string Mechanism::name() const {
  switch (kind) {
    case MechanismKind::lv_xattn: return "lv-xattn";
    case MechanismKind::ring: return "ring";
    case MechanismKind::ulysses: return "ulysses";
    case MechanismKind::no_comm: return "no-comm";
    case MechanismKind::ring_zigzag: return "ring-zigzag";
    case MechanismKind::ring_stripe: return "ring-stripe";
    case MechanismKind::startrail: return fmt::format("startrail:c={}", param);
    case MechanismKind::usp: return fmt::format("usp:u={}", param);
  }
  return "?";
}

std::vector<Mechanism> default_mechanisms() {
  return {{MechanismKind::lv_xattn, 0}, {MechanismKind::ring, 0}, {MechanismKind::ulysses, 0},
          {MechanismKind::no_comm, 0}};
}

namespace {
// "prefix:key=N" with N >= 1.
std::optional<int> parse_param(std::string_view name, std::string_view prefix) {
  if (!name.starts_with(prefix)) return std::nullopt;
  std::string_view digits = name.substr(prefix.size());
  int value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size() || value < 1) return std::nullopt;
  return value;
}
}  // namespace

std::optional<Mechanism> parse_mechanism(std::string_view name) {
  if (name == "lv-xattn") return Mechanism{MechanismKind::lv_xattn, 0};
  if (name == "ring") return Mechanism{MechanismKind::ring, 0};
  if (name == "ulysses") return Mechanism{MechanismKind::ulysses, 0};
  if (name == "no-comm") return Mechanism{MechanismKind::no_comm, 0};
  if (name == "ring-zigzag") return Mechanism{MechanismKind::ring_zigzag, 0};
  if (name == "ring-stripe") return Mechanism{MechanismKind::ring_stripe, 0};
  if (auto c = parse_param(name, "startrail:c=")) return Mechanism{MechanismKind::startrail, *c};
  if (auto u = parse_param(name, "usp:u=")) return Mechanism{MechanismKind::usp, *u};
  return std::nullopt;
}

std::string mechanism_names() {
  return "lv-xattn, ring, ulysses, no-comm, ring-zigzag, ring-stripe, startrail:c=C, usp:u=U";
}

}  // namespace xattn
