// The discrete-event queue: a binary min-heap of events keyed by (time, canonical key).
// The key is derived from what the event is — its kind, the rank it concerns and an index
// (an op index, a flow number) — never from the order events were pushed, so the same
// input pops in the same order however the simulation was set up (issue 4, "Engine").
// Two events with equal time and key are the same event. The queue is an object: no
// global state, no wall clock.
#pragma once

#include <cassert>
#include <cstdint>
#include <vector>

#include "model/core/time.hpp"

namespace xattn::sim {

// What happened. The numeric order is the tie-breaker between kinds at equal times:
// completions are handled before the starts they may enable.
enum class EventKind : std::uint8_t {
  compute_done = 0,   // an op finished: compute, or a member of a finished collective (rank, op index)
  transfer_done = 1,  // a point-to-point flow finished (sender rank, the Send's op index)
  collective_step = 2,  // one flow of a collective finished (first member, flow number)
  wake = 3,           // generic: a rank should look for ops that may start
  device = 4,         // a shared device may start its next compute op (device index, 0); after
                      // every completion of the instant, so ops ready together compete fairly
};

struct Event {
  Time time;
  std::uint64_t key = 0;  // kind (4 bits) | rank (20 bits) | index (40 bits)

  static constexpr int rank_bits = 20;
  static constexpr int index_bits = 40;

  static Event make(Time t, EventKind kind, int rank, std::int64_t index) {
    assert(rank >= 0 && rank < (1 << rank_bits));
    assert(index >= 0 && index < (std::int64_t{1} << index_bits));
    return Event{t, (std::uint64_t{static_cast<std::uint8_t>(kind)} << (rank_bits + index_bits)) |
                        (static_cast<std::uint64_t>(rank) << index_bits) | static_cast<std::uint64_t>(index)};
  }
  [[nodiscard]] EventKind kind() const { return static_cast<EventKind>(key >> (rank_bits + index_bits)); }
  [[nodiscard]] int rank() const { return static_cast<int>((key >> index_bits) & ((1u << rank_bits) - 1)); }
  [[nodiscard]] std::int64_t index() const {
    return static_cast<std::int64_t>(key & ((std::uint64_t{1} << index_bits) - 1));
  }
  friend bool operator<(const Event& a, const Event& b) {
    return a.time < b.time || (a.time == b.time && a.key < b.key);
  }
  friend bool operator==(const Event& a, const Event& b) = default;
};

class EventQueue {
 public:
  void reserve(std::size_t n) { heap_.reserve(n); }
  [[nodiscard]] bool empty() const { return heap_.empty(); }
  [[nodiscard]] std::size_t size() const { return heap_.size(); }
  [[nodiscard]] const Event& top() const { return heap_.front(); }
  [[nodiscard]] Time next_time() const { return heap_.empty() ? Time::never() : heap_.front().time; }

  void push(Event e) {
    // Sift up with a hole: move parents down until e fits.
    std::size_t i = heap_.size();
    heap_.push_back(e);
    while (i > 0) {
      std::size_t parent = (i - 1) / 2;
      if (!(e < heap_[parent])) break;
      heap_[i] = heap_[parent];
      i = parent;
    }
    heap_[i] = e;
  }

  Event pop() {
    assert(!heap_.empty());
    Event out = heap_.front();
    Event last = heap_.back();
    heap_.pop_back();
    const std::size_t n = heap_.size();
    if (n > 0) {
      // Sift the last element down from the root with a hole.
      std::size_t i = 0;
      for (;;) {
        std::size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && heap_[child + 1] < heap_[child]) ++child;
        if (!(heap_[child] < last)) break;
        heap_[i] = heap_[child];
        i = child;
      }
      heap_[i] = last;
    }
    return out;
  }

  void clear() { heap_.clear(); }

 private:
  std::vector<Event> heap_;
};

}  // namespace xattn::sim
