// Simulated time: an integer count of picoseconds (STYLE.md, "Units are types"). Integer
// time never drifts, and two runs of the same input compare bit for bit. 2^63 ps is about
// 106 days of simulated time, far beyond one attention layer.
#pragma once

#include <cmath>
#include <compare>
#include <cstdint>
#include <limits>

#include "model/core/units.hpp"

namespace xattn {

class Time {
 public:
  constexpr Time() = default;
  static constexpr Time ps(std::int64_t v) { return Time(v); }
  static constexpr Time never() { return Time(std::numeric_limits<std::int64_t>::max()); }
  // Seconds from the closed form, rounded up to the next picosecond so that a non-zero
  // duration never becomes zero.
  static Time from(Seconds s) { return Time(round_up_ps(s.value() * 1e12)); }
  // Rounds a duration in (fractional) picoseconds up to whole ones, except that values
  // within a thousandth of a picosecond of an integer snap to it: 1e6 B / 1e9 B/s is
  // 1 us exactly even though the double arithmetic lands a hair above.
  static std::int64_t round_up_ps(double ps) {
    if (!(ps > 0)) return 0;
    const double nearest = std::round(ps);
    const double v = std::abs(ps - nearest) < 1e-3 ? nearest : std::ceil(ps);
    return static_cast<std::int64_t>(std::max(v, 1.0));
  }

  [[nodiscard]] constexpr std::int64_t ps() const { return v_; }
  [[nodiscard]] constexpr Seconds seconds() const { return Seconds(static_cast<double>(v_) * 1e-12); }
  [[nodiscard]] constexpr double microseconds() const { return static_cast<double>(v_) * 1e-6; }
  [[nodiscard]] constexpr bool is_never() const { return v_ == std::numeric_limits<std::int64_t>::max(); }

  constexpr Time& operator+=(Time o) { v_ += o.v_; return *this; }
  constexpr Time& operator-=(Time o) { v_ -= o.v_; return *this; }
  friend constexpr Time operator+(Time a, Time b) { return Time(a.v_ + b.v_); }
  friend constexpr Time operator-(Time a, Time b) { return Time(a.v_ - b.v_); }
  friend constexpr auto operator<=>(Time a, Time b) = default;

 private:
  constexpr explicit Time(std::int64_t v) : v_(v) {}
  std::int64_t v_ = 0;
};

constexpr Time max(Time a, Time b) { return a < b ? b : a; }
constexpr Time min(Time a, Time b) { return a < b ? a : b; }

}  // namespace xattn
