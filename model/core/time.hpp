// Simulated time: an integer count of picoseconds (STYLE.md, "Units are types"). Integer
// time never drifts, and two runs of the same input compare bit for bit. The clock holds
// up to 2^63 − 2 ps, about 106 days of simulated time: far beyond one layer or one training
// step, but not beyond what an absurd input asks for (a link of 1 B/s, a straggler a
// trillion times slow). Every conversion into it and every sum is checked: past the end
// it throws ClockOverflow, never wraps (docs/limits.md). The one value above the range is
// never(), the "no event" sentinel, which arithmetic does not produce.
#pragma once

#include <cmath>
#include <compare>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "model/core/units.hpp"

namespace xattn {

// A time beyond the clock's range. `what` says which duration or sum it was; the event
// engine's callers turn it into an InputError naming the input responsible.
class ClockOverflow : public std::overflow_error {
 public:
  explicit ClockOverflow(const std::string& what) : std::overflow_error(what) {}
};

class Time {
 public:
  // The largest time the clock holds, in picoseconds (never() is one above).
  static constexpr std::int64_t max_ps = std::numeric_limits<std::int64_t>::max() - 1;

  constexpr Time() = default;
  static constexpr Time ps(std::int64_t v) { return Time(v); }
  static constexpr Time never() { return Time(std::numeric_limits<std::int64_t>::max()); }
  // Seconds from the closed form, rounded up to the next picosecond so that a non-zero
  // duration never becomes zero. Throws ClockOverflow beyond max_ps (infinity included).
  static Time from(Seconds s) { return Time(round_up_ps(s.value() * 1e12)); }
  // Rounds a duration in (fractional) picoseconds up to whole ones, except that values
  // within a thousandth of a picosecond of an integer snap to it: 1e6 B / 1e9 B/s is
  // 1 us exactly even though the double arithmetic lands a hair above. Zero for zero,
  // negative and NaN; throws ClockOverflow beyond max_ps.
  static std::int64_t round_up_ps(double ps) {
    if (!(ps > 0)) return 0;
    // 2^63 is exact in a double; anything at or above it does not fit (and the double
    // just below it, 2^63 − 1024, rounds to a value at most max_ps).
    if (!(ps < 9223372036854775808.0)) throw ClockOverflow(overflow_text(ps));
    const double nearest = std::round(ps);
    const double v = std::abs(ps - nearest) < 1e-3 ? nearest : std::ceil(ps);
    if (!(v < 9223372036854775808.0)) throw ClockOverflow(overflow_text(ps));
    const auto whole = static_cast<std::int64_t>(std::max(v, 1.0));
    if (whole > max_ps) throw ClockOverflow(overflow_text(ps));
    return whole;
  }

  // The nearest whole picosecond of a duration (0 for zero, negative and NaN); throws
  // ClockOverflow beyond max_ps. Doubles this large are whole numbers: no rounding moves
  // one past 2^63.
  static std::int64_t nearest_ps(double ps) {
    if (!(ps > 0)) return 0;
    if (!(ps < 9223372036854775808.0)) throw ClockOverflow(overflow_text(ps));
    const auto whole = static_cast<std::int64_t>(std::llround(ps));
    if (whole > max_ps) throw ClockOverflow(overflow_text(ps));
    return whole;
  }

  [[nodiscard]] constexpr std::int64_t ps() const { return v_; }
  [[nodiscard]] constexpr Seconds seconds() const { return Seconds(static_cast<double>(v_) * 1e-12); }
  [[nodiscard]] constexpr double microseconds() const { return static_cast<double>(v_) * 1e-6; }
  [[nodiscard]] constexpr bool is_never() const { return v_ == std::numeric_limits<std::int64_t>::max(); }

  Time& operator+=(Time o) { return *this = *this + o; }
  Time& operator-=(Time o) { return *this = *this - o; }
  friend Time operator+(Time a, Time b) {
    std::int64_t sum = 0;
    if (__builtin_add_overflow(a.v_, b.v_, &sum) || sum > max_ps)
      throw ClockOverflow(sum_text(a.v_, b.v_));
    return Time(sum);
  }
  friend Time operator-(Time a, Time b) {
    std::int64_t diff = 0;
    if (__builtin_sub_overflow(a.v_, b.v_, &diff) || diff > max_ps)
      throw ClockOverflow(sum_text(a.v_, -static_cast<double>(b.v_)));
    return Time(diff);
  }
  friend constexpr auto operator<=>(Time a, Time b) = default;

 private:
  constexpr explicit Time(std::int64_t v) : v_(v) {}
  static std::string overflow_text(double ps);
  static std::string sum_text(double a_ps, double b_ps);
  std::int64_t v_ = 0;
};

constexpr Time max(Time a, Time b) { return a < b ? b : a; }
constexpr Time min(Time a, Time b) { return a < b ? a : b; }

}  // namespace xattn
