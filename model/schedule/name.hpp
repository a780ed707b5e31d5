// Name: an interned string for the Schedule's buffer names and message tags.
//
// A 1024-GPU Ring Attention schedule has about ten million ops, each naming up to ten
// buffers; held as std::string that is hundreds of bytes per op and a string compare for
// every lookup an executor makes. The names themselves are few (a ring's slots, a tag per
// round), so each distinct text is stored once and a Name is its number in the pool: four
// bytes, copied freely, equal exactly when the texts are equal (one integer compare),
// ordered by the text so that sorted output never depends on interning order.
//
// The pool behind it is process-wide, append-only and thread-safe; a text, once interned,
// lives until the process ends (the pool holds the distinct names of every schedule built,
// typically kilobytes). The empty text is the null Name.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace xattn {

class Name {
 public:
  constexpr Name() = default;
  Name(std::string_view text);  // NOLINT(google-explicit-constructor): a Name is its text
  Name(const std::string& text) : Name(std::string_view(text)) {}  // NOLINT
  Name(const char* text) : Name(std::string_view(text)) {}         // NOLINT

  [[nodiscard]] const std::string& str() const noexcept { return id_ != 0 ? text_of(id_) : empty_text(); }
  operator const std::string&() const noexcept { return str(); }  // NOLINT
  [[nodiscard]] std::string_view view() const noexcept { return str(); }
  [[nodiscard]] bool empty() const noexcept { return id_ == 0; }
  [[nodiscard]] std::size_t size() const noexcept { return str().size(); }
  [[nodiscard]] const char* c_str() const noexcept { return str().c_str(); }
  [[nodiscard]] std::size_t hash() const noexcept { return id_; }
  // The pool number: 0 for the empty text, then 1, 2, ... in interning order (for dense
  // per-name tables; not an order of the texts).
  [[nodiscard]] std::uint32_t id() const noexcept { return id_; }

  friend bool operator==(Name a, Name b) noexcept { return a.id_ == b.id_; }
  friend bool operator==(Name a, const std::string& b) noexcept { return a.str() == b; }
  friend bool operator==(Name a, std::string_view b) noexcept { return a.view() == b; }
  friend bool operator==(Name a, const char* b) noexcept { return a.view() == std::string_view(b); }
  friend std::strong_ordering operator<=>(Name a, Name b) noexcept {
    if (a.id_ == b.id_) return std::strong_ordering::equal;
    return a.str().compare(b.str()) < 0 ? std::strong_ordering::less : std::strong_ordering::greater;
  }
  friend std::ostream& operator<<(std::ostream& os, Name n) { return os << n.str(); }

  // How many distinct texts the process has interned (for tests and memory reports).
  [[nodiscard]] static std::size_t pool_size();

 private:
  static const std::string& empty_text() noexcept;
  static const std::string& text_of(std::uint32_t id) noexcept;
  std::uint32_t id_ = 0;
};

}  // namespace xattn

template <>
struct std::hash<xattn::Name> {
  std::size_t operator()(xattn::Name n) const noexcept { return n.hash(); }
};

template <>
struct fmt::formatter<xattn::Name> : fmt::formatter<std::string_view> {
  template <typename Ctx>
  auto format(xattn::Name n, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(n.view(), ctx);
  }
};
