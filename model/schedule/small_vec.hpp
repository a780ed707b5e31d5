// SmallVec: a vector of trivially copyable values that keeps its first N in place and
// only allocates beyond them. An op's dependencies (usually one to three) and a message's
// parts (one to four buffers) are SmallVecs: a ten-million-op schedule then makes no heap
// allocation per op for them, and an executor reading them touches the op's own cache
// lines only.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <type_traits>
#include <vector>

namespace xattn {

template <typename T, std::size_t N>
class SmallVec {
  static_assert(std::is_trivially_copyable_v<T>, "SmallVec holds plain values");

 public:
  using value_type = T;
  using size_type = std::size_t;
  using iterator = T*;
  using const_iterator = const T*;

  SmallVec() = default;
  SmallVec(std::initializer_list<T> values) { assign(values.begin(), values.end()); }
  SmallVec(const std::vector<T>& values) { assign(values.begin(), values.end()); }  // NOLINT: a drop-in for vector
  SmallVec(const SmallVec& o) { assign(o.begin(), o.end()); }
  SmallVec(SmallVec&& o) noexcept { take(o); }
  SmallVec& operator=(const SmallVec& o) {
    if (this != &o) assign(o.begin(), o.end());
    return *this;
  }
  SmallVec& operator=(SmallVec&& o) noexcept {
    if (this != &o) {
      heap_.reset();
      take(o);
    }
    return *this;
  }
  SmallVec& operator=(std::initializer_list<T> values) {
    assign(values.begin(), values.end());
    return *this;
  }
  ~SmallVec() = default;

  template <typename It>
  void assign(It first, It last) {
    clear();
    reserve(static_cast<std::size_t>(std::distance(first, last)));
    for (; first != last; ++first) data()[size_++] = *first;
  }

  [[nodiscard]] T* data() { return heap_ ? heap_.get() : inline_.items; }
  [[nodiscard]] const T* data() const { return heap_ ? heap_.get() : inline_.items; }
  [[nodiscard]] std::size_t size() const { return size_; }
  [[nodiscard]] bool empty() const { return size_ == 0; }
  [[nodiscard]] std::size_t capacity() const { return capacity_; }
  [[nodiscard]] T* begin() { return data(); }
  [[nodiscard]] T* end() { return data() + size_; }
  [[nodiscard]] const T* begin() const { return data(); }
  [[nodiscard]] const T* end() const { return data() + size_; }
  [[nodiscard]] T& operator[](std::size_t i) { return data()[i]; }
  [[nodiscard]] const T& operator[](std::size_t i) const { return data()[i]; }
  [[nodiscard]] T& front() { return data()[0]; }
  [[nodiscard]] const T& front() const { return data()[0]; }
  [[nodiscard]] T& back() { return data()[size_ - 1]; }
  [[nodiscard]] const T& back() const { return data()[size_ - 1]; }

  void clear() { size_ = 0; }
  void reserve(std::size_t n) {
    if (n <= capacity_) return;
    auto grown = std::make_unique<T[]>(n);
    std::copy(begin(), end(), grown.get());
    heap_ = std::move(grown);
    capacity_ = static_cast<std::uint32_t>(n);
  }
  void push_back(const T& v) {
    if (size_ == capacity_) reserve(2 * static_cast<std::size_t>(capacity_));
    data()[size_++] = v;
  }
  template <typename... Args>
  T& emplace_back(Args&&... args) {
    push_back(T{std::forward<Args>(args)...});
    return back();
  }

  friend bool operator==(const SmallVec& a, const SmallVec& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  friend bool operator==(const SmallVec& a, const std::vector<T>& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  void take(SmallVec& o) {
    size_ = o.size_;
    capacity_ = o.capacity_;
    if (o.heap_) {
      heap_ = std::move(o.heap_);
    } else {
      std::copy(o.inline_.items, o.inline_.items + o.size_, inline_.items);
    }
    o.size_ = 0;
    o.capacity_ = N;
  }

  // The first N, left unwritten until pushed (size_ says how many hold a value): small
  // lists are built in hot loops, where filling N slots first would cost more than the list.
  union Inline {
    Inline() {}  // NOLINT(modernize-use-equals-default): = default would value-initialize
    T items[N];
  } inline_;
  std::unique_ptr<T[]> heap_;  // set once more than N are held
  std::uint32_t size_ = 0;
  std::uint32_t capacity_ = N;
};

}  // namespace xattn
