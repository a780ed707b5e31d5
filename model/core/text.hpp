// Text from input is UTF-8: YAML requires it of a stream (YAML 1.2, §5.2) and JSON of a
// document (RFC 8259, §8.1), and xattn writes names it read into JSON. A byte sequence
// that is not UTF-8 is refused where it is read, with its file, line and field.
#pragma once

#include <string>
#include <string_view>

namespace xattn {

// True when `s` is well-formed UTF-8 (RFC 3629): no stray continuation bytes, no overlong
// forms, no surrogates, nothing above U+10FFFF.
[[nodiscard]] constexpr bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = 0;
    unsigned lo = 0x80, hi = 0xbf;  // the allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c == 0xe0) n = 2, lo = 0xa0;
    else if (c >= 0xe1 && c <= 0xec) n = 2;
    else if (c == 0xed) n = 2, hi = 0x9f;
    else if (c >= 0xee && c <= 0xef) n = 2;
    else if (c == 0xf0) n = 3, lo = 0x90;
    else if (c >= 0xf1 && c <= 0xf3) n = 3;
    else if (c == 0xf4) n = 3, hi = 0x8f;
    else return false;
    if (i + n >= s.size()) return false;  // the sequence is cut short
    for (std::size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf)) return false;
    }
    i += n + 1;
  }
  return true;
}

// `s` with every byte that is not part of well-formed UTF-8 replaced by U+FFFD, as a JSON
// writer must (nlohmann::json's error_handler_t::replace does the same): for output only —
// input that is not UTF-8 is refused, not repaired.
[[nodiscard]] inline std::string to_valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t n = 1;  // the length of the well-formed sequence at i, or 1 for a bad byte
    while (n <= 4 && i + n <= s.size() && !is_valid_utf8(s.substr(i, n))) ++n;
    if (n <= 4 && i + n <= s.size()) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

}  // namespace xattn
