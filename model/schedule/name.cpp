// The pool behind Name (see name.hpp): a node-based set, so that the address of an
// interned text never changes, behind a reader-writer lock. Lookups of texts already
// interned (almost all of them while a schedule is built) take the shared lock only.
#include "model/schedule/name.hpp"

#include <mutex>
#include <shared_mutex>
#include <unordered_set>

namespace xattn {

namespace {

struct TextHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>()(s); }
};

struct Pool {
  std::shared_mutex lock;
  std::unordered_set<std::string, TextHash, std::equal_to<>> texts;
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
    if (auto it = p.texts.find(text); it != p.texts.end()) {
      p_ = &*it;
      return;
    }
  }
  std::unique_lock write(p.lock);
  p_ = &*p.texts.emplace(text).first;
}

const std::string& Name::empty_text() noexcept {
  static const std::string empty;
  return empty;
}

std::size_t Name::pool_size() {
  Pool& p = pool();
  std::shared_lock read(p.lock);
  return p.texts.size();
}

}  // namespace xattn
