// The words of a ClockOverflow (time.hpp): what did not fit, in seconds.
#include "model/core/time.hpp"

#include <fmt/format.h>

namespace xattn {

std::string Time::overflow_text(double ps) {
  return fmt::format("a duration of {:.3g} s is beyond the event engine's clock (2^63 ps, about 106 days of "
                     "simulated time)",
                     ps * 1e-12);
}

std::string Time::sum_text(double a_ps, double b_ps) {
  return fmt::format("simulated time {:.3g} s is beyond the event engine's clock (2^63 ps, about 106 days of "
                     "simulated time)",
                     (a_ps + b_ps) * 1e-12);
}

}  // namespace xattn
