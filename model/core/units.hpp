// Units as types. The closed-form model works in double seconds, bytes, FLOPs and rates;
// each has its own type so that Bytes / BytesPerSecond is Seconds and Bytes + Seconds
// does not compile. Values are read with .value() in base units (s, B, FLOP, B/s, FLOP/s).
#pragma once

#include <compare>

namespace xattn {

template <class Tag>
class Quantity {
 public:
  constexpr Quantity() = default;
  constexpr explicit Quantity(double v) : v_(v) {}
  [[nodiscard]] constexpr double value() const { return v_; }

  constexpr Quantity& operator+=(Quantity o) { v_ += o.v_; return *this; }
  constexpr Quantity& operator-=(Quantity o) { v_ -= o.v_; return *this; }
  constexpr Quantity& operator*=(double k) { v_ *= k; return *this; }
  friend constexpr Quantity operator+(Quantity a, Quantity b) { return Quantity(a.v_ + b.v_); }
  friend constexpr Quantity operator-(Quantity a, Quantity b) { return Quantity(a.v_ - b.v_); }
  friend constexpr Quantity operator*(Quantity a, double k) { return Quantity(a.v_ * k); }
  friend constexpr Quantity operator*(double k, Quantity a) { return Quantity(a.v_ * k); }
  friend constexpr Quantity operator/(Quantity a, double k) { return Quantity(a.v_ / k); }
  // The ratio of two like quantities is a plain number.
  friend constexpr double operator/(Quantity a, Quantity b) { return a.v_ / b.v_; }
  friend constexpr auto operator<=>(Quantity a, Quantity b) = default;

 private:
  double v_ = 0.0;
};

struct SecondsTag;
struct BytesTag;
struct FlopsTag;
struct BytesPerSecondTag;
struct FlopsPerSecondTag;

using Seconds = Quantity<SecondsTag>;
using Bytes = Quantity<BytesTag>;
using Flops = Quantity<FlopsTag>;
using BytesPerSecond = Quantity<BytesPerSecondTag>;
using FlopsPerSecond = Quantity<FlopsPerSecondTag>;

constexpr Seconds operator/(Bytes b, BytesPerSecond r) { return Seconds(b.value() / r.value()); }
constexpr Seconds operator/(Flops f, FlopsPerSecond r) { return Seconds(f.value() / r.value()); }
constexpr Bytes operator*(BytesPerSecond r, Seconds t) { return Bytes(r.value() * t.value()); }
constexpr Flops operator*(FlopsPerSecond r, Seconds t) { return Flops(r.value() * t.value()); }

constexpr Seconds max(Seconds a, Seconds b) { return a < b ? b : a; }

// Conversions from the units used in files (GB = 1e9 bytes, as nccl-tests and datasheets use).
constexpr Seconds microseconds(double us) { return Seconds(us * 1e-6); }
constexpr Bytes gigabytes(double gb) { return Bytes(gb * 1e9); }
constexpr Bytes gibibytes(double gib) { return Bytes(gib * 1073741824.0); }
constexpr BytesPerSecond gigabytes_per_second(double gbps) { return BytesPerSecond(gbps * 1e9); }
constexpr FlopsPerSecond teraflops_per_second(double tf) { return FlopsPerSecond(tf * 1e12); }

constexpr double to_microseconds(Seconds s) { return s.value() * 1e6; }
constexpr double to_gigabytes_per_second(BytesPerSecond r) { return r.value() * 1e-9; }

}  // namespace xattn
