// Token layouts and exact allowed-pair counts (see layout.hpp).
#include "model/schedule/layout.hpp"

#include <cassert>

namespace xattn {

namespace {
// Media span of a position among n tokens cut into m spans: floor(i·m/n).
std::int64_t span_of(std::int64_t i, std::int64_t m, std::int64_t n) { return i * m / n; }
// First token of span s: the smallest i with floor(i·m/n) >= s, i.e. ceil(s·n/m).
std::int64_t span_start(std::int64_t s, std::int64_t m, std::int64_t n) { return (s * n + m - 1) / m; }
}  // namespace

bool MaskSpec::allows(std::int64_t q, std::int64_t k) const {
  switch (kind) {
    case Mask::dense: return true;
    case Mask::causal: return k <= q;
    case Mask::media_local:
      return span_of(q, media_items, q_tokens) == span_of(k, media_items, kv_tokens);
  }
  return false;
}

std::int64_t MaskSpec::allowed_pairs(const IndexSet& q, const IndexSet& k) const {
  if (q.empty() || k.empty()) return 0;
  if (kind == Mask::dense) return q.size() * k.size();
  std::int64_t n = 0;
  for (const IndexRange& r : q.ranges()) {
    for (std::int64_t i = r.begin; i < r.end; ++i) {
      if (kind == Mask::causal) {
        n += k.count_below(i + 1);
      } else {
        std::int64_t s = span_of(i, media_items, q_tokens);
        n += k.count_in(span_start(s, media_items, kv_tokens), span_start(s + 1, media_items, kv_tokens));
      }
    }
  }
  return n;
}

IndexSet contiguous_block(std::int64_t tokens, int n, int p) {
  assert(n > 0 && p >= 0 && p < n);
  std::int64_t base = tokens / n, extra = tokens % n;
  std::int64_t begin = p * base + std::min<std::int64_t>(p, extra);
  std::int64_t size = base + (p < extra ? 1 : 0);
  return IndexSet::range(begin, begin + size);
}

IndexSet layout_block(Layout layout, std::int64_t tokens, int positions, int p) {
  switch (layout) {
    case Layout::contiguous: return contiguous_block(tokens, positions, p);
    case Layout::zigzag: {
      IndexSet s = contiguous_block(tokens, 2 * positions, p);
      s.add(contiguous_block(tokens, 2 * positions, 2 * positions - 1 - p));
      return s;
    }
    case Layout::striped: {
      IndexSet s;
      for (std::int64_t i = p; i < tokens; i += positions) s.add(i, i + 1);
      return s;
    }
  }
  return {};
}

std::vector<IndexSet> layout_blocks(Layout layout, std::int64_t tokens, int positions) {
  std::vector<IndexSet> v;
  v.reserve(static_cast<std::size_t>(positions));
  for (int p = 0; p < positions; ++p) v.push_back(layout_block(layout, tokens, positions, p));
  return v;
}

}  // namespace xattn
