// The worker threads the sweep engine (sweep.cpp) and the planner (plan.cpp) share: `jobs`
// threads take indices from one counter while the calling thread leads (hands results
// over, reports progress); the first exception any of them throws is kept, stops the
// others — they poll stopped() or wait on changed() — and is rethrown once every thread
// has been joined. What a worker computes, and how results come back, stays with the caller.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>

namespace xattn::sim {

class Workers {
 public:
  Workers() = default;
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // Runs worker(w) on `jobs` threads (at least one), w = 0 .. jobs-1, and lead() on this
  // thread meanwhile; then joins them all and rethrows the first exception any threw (a
  // throw stops the pool). Call it once.
  void run(int jobs, const std::function<void(std::size_t)>& worker, const std::function<void()>& lead);

  // The next index below `count` no thread has taken yet; nullopt once all are taken or
  // the pool has stopped.
  [[nodiscard]] std::optional<std::size_t> take(std::size_t count) {
    if (stopped()) return std::nullopt;
    const std::size_t k = next_.fetch_add(1);
    return k < count ? std::optional<std::size_t>(k) : std::nullopt;
  }
  [[nodiscard]] bool stopped() const { return stop_.load(std::memory_order_relaxed); }
  // Tells every thread to finish: sets the flag under mutex() and wakes changed()'s waiters.
  void stop();

  // For the caller's own shared state: a waiter on changed() holding mutex() sees stop()
  // in its predicate without missing the wake-up.
  [[nodiscard]] std::mutex& mutex() { return mu_; }
  [[nodiscard]] std::condition_variable& changed() { return cv_; }

 private:
  void fail(std::exception_ptr e);  // keeps e if it is the first, then stops
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> next_{0};
  std::exception_ptr failure_;  // guarded by mu_
};

}  // namespace xattn::sim
