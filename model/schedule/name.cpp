// The pool behind Name (see name.hpp). Texts live in a node-based map (their addresses
// never change) from text to number, behind a reader-writer lock; lookups of texts already
// interned (almost all of them while a schedule is built) take the shared lock only.
// Number to text goes through a two-level table of fixed-size chunks that are filled once
// and never moved, so Name::str() reads it without a lock: a thread holding a Name got it
// from the interning call (which published the entry under the lock) or from another
// thread through whatever synchronization handed the Name over.
#include "model/schedule/name.hpp"

#include <array>
#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <unordered_map>

namespace xattn {

namespace {

struct TextHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>()(s); }
};

constexpr std::uint32_t chunk_bits = 12;
constexpr std::uint32_t chunk_size = 1U << chunk_bits;
constexpr std::uint32_t max_chunks = 1U << 14;  // 2^26 distinct texts

struct Pool {
  std::shared_mutex lock;
  // Text -> number, numbered 1, 2, ... in interning order (0 is the empty text).
  std::unordered_map<std::string, std::uint32_t, TextHash, std::equal_to<>> ids;
  std::array<std::atomic<const std::string**>, max_chunks> chunks{};
};

Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: Names may outlive static destructors
  return *p;
}

}  // namespace

Name::Name(std::string_view text) {
  if (text.empty()) return;
  Pool& p = pool();
  {
    std::shared_lock read(p.lock);
    if (auto it = p.ids.find(text); it != p.ids.end()) {
      id_ = it->second;
      return;
    }
  }
  std::unique_lock write(p.lock);
  if (auto it = p.ids.find(text); it != p.ids.end()) {  // interned while we waited
    id_ = it->second;
    return;
  }
  const auto id = static_cast<std::uint32_t>(p.ids.size() + 1);
  if ((id >> chunk_bits) >= max_chunks) throw std::length_error("Name: more distinct texts than the pool holds");
  auto& slot = p.chunks[id >> chunk_bits];
  const std::string** chunk = slot.load(std::memory_order_relaxed);
  if (chunk == nullptr) {
    chunk = new const std::string*[chunk_size]();
    slot.store(chunk, std::memory_order_release);
  }
  auto it = p.ids.emplace(std::string(text), id).first;
  chunk[id & (chunk_size - 1)] = &it->first;
  id_ = id;
}

const std::string& Name::text_of(std::uint32_t id) noexcept {
  const std::string** chunk = pool().chunks[id >> chunk_bits].load(std::memory_order_acquire);
  return *chunk[id & (chunk_size - 1)];
}

const std::string& Name::empty_text() noexcept {
  static const std::string empty;
  return empty;
}

std::size_t Name::pool_size() {
  Pool& p = pool();
  std::shared_lock read(p.lock);
  return p.ids.size();
}

}  // namespace xattn
