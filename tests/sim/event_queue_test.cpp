// The event queue pops in (time, canonical key) order whatever order events were pushed
// in: the property that makes simulations reproducible bit for bit.
#include <algorithm>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "sim/event_queue.hpp"

namespace xattn::sim {
namespace {

std::vector<Event> drain(EventQueue& q) {
  std::vector<Event> out;
  while (!q.empty()) out.push_back(q.pop());
  return out;
}

TEST(EventQueue, KeyRoundTrips) {
  Event e = Event::make(Time::ps(7), EventKind::transfer_done, 1023, (std::int64_t{1} << 39) + 5);
  EXPECT_EQ(e.kind(), EventKind::transfer_done);
  EXPECT_EQ(e.rank(), 1023);
  EXPECT_EQ(e.index(), (std::int64_t{1} << 39) + 5);
  EXPECT_EQ(e.time, Time::ps(7));
}

TEST(EventQueue, TiesBreakByKindThenRankThenIndex) {
  // Four events at t = 10 ps and one earlier: the earlier one first, then completions
  // (kind 0) before transfers (kind 1), rank 2 before rank 3, index 4 before index 9.
  EventQueue q;
  q.push(Event::make(Time::ps(10), EventKind::transfer_done, 0, 0));
  q.push(Event::make(Time::ps(10), EventKind::compute_done, 3, 0));
  q.push(Event::make(Time::ps(10), EventKind::compute_done, 2, 9));
  q.push(Event::make(Time::ps(10), EventKind::compute_done, 2, 4));
  q.push(Event::make(Time::ps(5), EventKind::wake, 7, 7));
  const std::vector<Event> got = drain(q);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0], Event::make(Time::ps(5), EventKind::wake, 7, 7));
  EXPECT_EQ(got[1], Event::make(Time::ps(10), EventKind::compute_done, 2, 4));
  EXPECT_EQ(got[2], Event::make(Time::ps(10), EventKind::compute_done, 2, 9));
  EXPECT_EQ(got[3], Event::make(Time::ps(10), EventKind::compute_done, 3, 0));
  EXPECT_EQ(got[4], Event::make(Time::ps(10), EventKind::transfer_done, 0, 0));
}

TEST(EventQueue, PopOrderDoesNotDependOnPushOrder) {
  // 2000 events over only 50 distinct times (many ties), pushed in three different
  // orders: the three pop sequences are identical and sorted.
  std::vector<Event> events;
  for (int i = 0; i < 2000; ++i)
    events.push_back(Event::make(Time::ps((i * 7919) % 50), static_cast<EventKind>(i % 3), (i * 31) % 97, i));
  std::vector<std::vector<Event>> runs;
  for (unsigned seed : {1u, 2u, 3u}) {
    std::vector<Event> order = events;
    std::shuffle(order.begin(), order.end(), std::mt19937(seed));
    EventQueue q;
    for (const Event& e : order) q.push(e);
    runs.push_back(drain(q));
  }
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_EQ(runs[0], runs[2]);
  EXPECT_TRUE(std::is_sorted(runs[0].begin(), runs[0].end()));
  EXPECT_EQ(runs[0].size(), events.size());
}

TEST(EventQueue, InterleavedPushAndPop) {
  // A handler pushing events while others are queued: each pop is the minimum of what is
  // queued at that moment (checked against a sorted reference).
  EventQueue q;
  std::vector<Event> reference;
  std::mt19937 rng(42);
  Time now;
  for (int i = 0; i < 10000; ++i) {
    Event e = Event::make(now + Time::ps(static_cast<std::int64_t>(rng() % 1000)), EventKind::compute_done,
                          static_cast<int>(rng() % 64), i);
    q.push(e);
    reference.push_back(e);
    if (i % 3 == 2) {
      auto it = std::min_element(reference.begin(), reference.end());
      Event got = q.pop();
      EXPECT_EQ(got, *it);
      reference.erase(it);
      now = got.time;
    }
  }
}

}  // namespace
}  // namespace xattn::sim
