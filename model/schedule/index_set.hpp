// IndexSet: a sorted set of token (or head) indices held as half-open ranges. Blocks of a
// sequence are contiguous ranges, zigzag blocks two ranges, striped blocks many ranges of
// one; the schedule builders, the mask pair counts and the numerical reference all speak
// in these sets, so that "which tokens does rank r hold" has one representation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace xattn {

struct IndexRange {
  std::int64_t begin = 0;
  std::int64_t end = 0;  // exclusive
  [[nodiscard]] std::int64_t size() const { return end - begin; }
  friend bool operator==(const IndexRange&, const IndexRange&) = default;
};

class IndexSet {
 public:
  IndexSet() = default;
  [[nodiscard]] static IndexSet range(std::int64_t begin, std::int64_t end);

  // Adds [begin, end); ranges are kept sorted, disjoint and merged when adjacent.
  void add(std::int64_t begin, std::int64_t end);
  void add(const IndexSet& other);

  [[nodiscard]] std::int64_t size() const { return size_; }
  [[nodiscard]] bool empty() const { return size_ == 0; }
  [[nodiscard]] bool contains(std::int64_t i) const;
  // How many members are < x.
  [[nodiscard]] std::int64_t count_below(std::int64_t x) const;
  // How many members lie in [lo, hi).
  [[nodiscard]] std::int64_t count_in(std::int64_t lo, std::int64_t hi) const;
  [[nodiscard]] const std::vector<IndexRange>& ranges() const { return ranges_; }
  [[nodiscard]] std::vector<std::int64_t> to_vector() const;
  [[nodiscard]] IndexSet intersect(const IndexSet& other) const;
  [[nodiscard]] std::string str() const;  // "[0,5)+[10,12)"

  friend bool operator==(const IndexSet&, const IndexSet&) = default;

 private:
  std::vector<IndexRange> ranges_;
  std::int64_t size_ = 0;
};

}  // namespace xattn
