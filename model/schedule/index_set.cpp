// IndexSet: sorted, merged half-open ranges (see index_set.hpp).
#include "model/schedule/index_set.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace xattn {

IndexSet IndexSet::range(std::int64_t begin, std::int64_t end) {
  IndexSet s;
  s.add(begin, end);
  return s;
}

void IndexSet::add(std::int64_t begin, std::int64_t end) {
  if (end <= begin) return;
  std::vector<IndexRange> merged;
  merged.reserve(ranges_.size() + 1);
  IndexRange cur{begin, end};
  bool placed = false;
  for (const IndexRange& r : ranges_) {
    if (r.end < cur.begin) {
      merged.push_back(r);
    } else if (cur.end < r.begin) {
      if (!placed) { merged.push_back(cur); placed = true; }
      merged.push_back(r);
    } else {
      cur.begin = std::min(cur.begin, r.begin);
      cur.end = std::max(cur.end, r.end);
    }
  }
  if (!placed) merged.push_back(cur);
  std::sort(merged.begin(), merged.end(), [](const IndexRange& a, const IndexRange& b) { return a.begin < b.begin; });
  ranges_ = std::move(merged);
  size_ = 0;
  for (const IndexRange& r : ranges_) size_ += r.size();
}

void IndexSet::add(const IndexSet& other) {
  // Appending ranges in order is the common case (building blocks left to right).
  for (const IndexRange& r : other.ranges_) {
    if (!ranges_.empty() && r.begin > ranges_.back().end) {
      ranges_.push_back(r);
      size_ += r.size();
    } else {
      add(r.begin, r.end);
    }
  }
}

bool IndexSet::contains(std::int64_t i) const { return count_in(i, i + 1) == 1; }

std::int64_t IndexSet::count_below(std::int64_t x) const {
  // Ranges are sorted: binary search for the first range starting at or after x.
  auto it = std::lower_bound(ranges_.begin(), ranges_.end(), x,
                             [](const IndexRange& r, std::int64_t v) { return r.end <= v; });
  std::int64_t n = 0;
  for (auto r = ranges_.begin(); r != it; ++r) n += r->size();
  if (it != ranges_.end() && it->begin < x) n += x - it->begin;
  return n;
}

std::int64_t IndexSet::count_in(std::int64_t lo, std::int64_t hi) const {
  if (hi <= lo) return 0;
  return count_below(hi) - count_below(lo);
}

std::vector<std::int64_t> IndexSet::to_vector() const {
  std::vector<std::int64_t> v;
  v.reserve(static_cast<std::size_t>(size_));
  for (const IndexRange& r : ranges_)
    for (std::int64_t i = r.begin; i < r.end; ++i) v.push_back(i);
  return v;
}

IndexSet IndexSet::intersect(const IndexSet& other) const {
  IndexSet out;
  std::size_t i = 0, j = 0;
  while (i < ranges_.size() && j < other.ranges_.size()) {
    std::int64_t lo = std::max(ranges_[i].begin, other.ranges_[j].begin);
    std::int64_t hi = std::min(ranges_[i].end, other.ranges_[j].end);
    if (lo < hi) out.add(lo, hi);
    if (ranges_[i].end < other.ranges_[j].end) ++i; else ++j;
  }
  return out;
}

std::string IndexSet::str() const {
  if (ranges_.empty()) return "{}";
  std::string s;
  for (std::size_t i = 0; i < ranges_.size(); ++i) {
    if (i) s += "+";
    if (i == 8 && ranges_.size() > 10) {
      s += fmt::format("...({} ranges)", ranges_.size());
      break;
    }
    s += fmt::format("[{},{})", ranges_[i].begin, ranges_[i].end);
  }
  return s;
}

}  // namespace xattn
