// The shared worker threads (workers.hpp): start, lead, stop on the first throw, join,
// rethrow.
#include "sim/workers.hpp"

#include <algorithm>
#include <thread>
#include <vector>

namespace xattn::sim {

void Workers::stop() {
  std::lock_guard lock(mu_);
  stop_ = true;
  cv_.notify_all();
}

void Workers::fail(std::exception_ptr e) {
  std::lock_guard lock(mu_);
  if (!failure_) failure_ = std::move(e);
  stop_ = true;
  cv_.notify_all();
}

void Workers::run(int jobs, const std::function<void(std::size_t)>& worker, const std::function<void()>& lead) {
  auto guarded = [this](const auto& body) {
    try {
      body();
    } catch (...) {
      fail(std::current_exception());
    }
  };
  std::vector<std::thread> threads;
  const auto count = static_cast<std::size_t>(std::max(1, jobs));
  threads.reserve(count);
  // A thread that cannot be started fails the pool like a throw inside one: those started
  // see the stop and end, and are joined below.
  guarded([&] {
    for (std::size_t w = 0; w < count; ++w)
      threads.emplace_back([&guarded, &worker, w] { guarded([&] { worker(w); }); });
  });
  guarded(lead);
  for (auto& t : threads) t.join();
  std::exception_ptr failure;
  {
    std::lock_guard lock(mu_);
    failure = failure_;
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace xattn::sim
