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
      free_heap();
      take(o);
    }
    return *this;
  }
  SmallVec& operator=(std::initializer_list<T> values) {
    assign(values.begin(), values.end());
    return *this;
  }
  ~SmallVec() { free_heap(); }

  template <typename It>
  void assign(It first, It last) {
    clear();
    reserve(static_cast<std::size_t>(std::distance(first, last)));
    for (; first != last; ++first) data()[size_++] = *first;
  }

  [[nodiscard]] T* data() { return on_heap() ? store_.heap : store_.items; }
  [[nodiscard]] const T* data() const { return on_heap() ? store_.heap : store_.items; }
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
    T* grown = new T[n];
    std::copy(begin(), end(), grown);
    free_heap();
    store_.heap = grown;
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
  [[nodiscard]] bool on_heap() const { return capacity_ > N; }
  void free_heap() {
    if (on_heap()) delete[] store_.heap;
    capacity_ = N;
  }
  // Leaves `o` empty and inline; `this` holds no heap block when called.
  void take(SmallVec& o) {
    size_ = o.size_;
    capacity_ = o.capacity_;
    if (o.on_heap()) {
      store_.heap = o.store_.heap;
    } else {
      std::copy(o.store_.items, o.store_.items + o.size_, store_.items);
    }
    o.size_ = 0;
    o.capacity_ = N;
  }

  // The first N in place, or past N the heap block: one or the other, never both, so a
  // list of four ints is 24 bytes. The slots are left unwritten until pushed (size_ says
  // how many hold a value): small lists are built in hot loops, where filling N slots
  // first would cost more than the list.
  union Store {
    Store() {}  // NOLINT(modernize-use-equals-default): = default would value-initialize
    T items[N];
    T* heap;
  } store_;
  std::uint32_t size_ = 0;
  std::uint32_t capacity_ = N;  // > N: the values are in store_.heap
};

}  // namespace xattn
