// The worker threads the sweep engine and the planner share (sim/workers.hpp): every index
// is taken exactly once whatever the number of threads; the first exception thrown — by a
// worker or by the leading thread — is the one rethrown, after every worker has ended;
// stop() ends the pool without an error.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "sim/workers.hpp"

namespace xattn::sim {
namespace {

TEST(Workers, EveryIndexIsTakenExactlyOnce) {
  // 1000 indices over 1, 3 and 8 threads: each index's counter ends at exactly 1, and
  // each worker ran once (worker numbers 0 .. jobs-1).
  constexpr std::size_t kCount = 1000;
  for (int jobs : {1, 3, 8}) {
    std::vector<std::atomic<int>> taken(kCount);
    std::vector<std::atomic<int>> ran(static_cast<std::size_t>(jobs));
    Workers pool;
    pool.run(
        jobs,
        [&](std::size_t w) {
          ran[w].fetch_add(1);
          while (const std::optional<std::size_t> k = pool.take(kCount)) taken[*k].fetch_add(1);
        },
        [] {});
    for (std::size_t k = 0; k < kCount; ++k) EXPECT_EQ(taken[k].load(), 1) << "jobs " << jobs << ", index " << k;
    for (const auto& r : ran) EXPECT_EQ(r.load(), 1) << "jobs " << jobs;
    EXPECT_FALSE(pool.stopped());
  }
}

TEST(Workers, TheFirstExceptionIsRethrownAfterEveryWorkerEnds) {
  // Worker 0 throws "first" at once; the other three wait until they see the stop it
  // causes, then throw "second". run() must rethrow "first", and only once all four have
  // finished (each counts itself out before leaving).
  constexpr int kJobs = 4;
  std::atomic<int> finished{0};
  Workers pool;
  try {
    pool.run(
        kJobs,
        [&](std::size_t w) {
          struct CountOut {
            std::atomic<int>& n;
            ~CountOut() { n.fetch_add(1); }
          } out{finished};
          if (w == 0) throw std::runtime_error("first");
          while (!pool.stopped()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
          throw std::runtime_error("second");
        },
        [] {});
    FAIL() << "run() returned although a worker threw";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "first");
  }
  EXPECT_EQ(finished.load(), kJobs);
  EXPECT_TRUE(pool.stopped());
}

// A worker that never runs out of work (take() on an unbounded count): it ends only when
// the pool stops, and counts itself out in `finished`.
std::function<void(std::size_t)> until_stopped(Workers& pool, std::atomic<int>& finished) {
  return [&pool, &finished](std::size_t) {
    while (pool.take(static_cast<std::size_t>(-1))) std::this_thread::yield();
    finished.fetch_add(1);
  };
}

TEST(Workers, AThrowingLeadStopsTheWorkersAndIsRethrown) {
  // Three workers end only when the lead's throw stops the pool; run() then rethrows the
  // lead's exception, after all three have ended.
  std::atomic<int> finished{0};
  Workers pool;
  EXPECT_THROW(pool.run(3, until_stopped(pool, finished), [] { throw std::logic_error("lead"); }), std::logic_error);
  EXPECT_EQ(finished.load(), 3);
}

TEST(Workers, StopEndsThePoolWithoutAnError) {
  // The lead stops the pool (as a cancel does): take() answers nullopt from then on, the
  // two workers end, and run() returns normally.
  std::atomic<int> finished{0};
  Workers pool;
  EXPECT_NO_THROW(pool.run(2, until_stopped(pool, finished), [&] { pool.stop(); }));
  EXPECT_EQ(finished.load(), 2);
  EXPECT_EQ(pool.take(10), std::nullopt);
}

}  // namespace
}  // namespace xattn::sim
