// The (O, LSE) merge: the CPU reference against the formula in double precision, and the
// CUDA kernel against the CPU reference when a GPU is present (skipped, saying so, when not).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "gpu/device.hpp"
#include "gpu/merge.hpp"

namespace xattn::gpu {
namespace {

struct Partials {
  std::vector<float> oa, la, ob, lb;
};

Partials random_partials(std::int64_t rows, int d, float lse_offset) {
  std::mt19937 rng(7);
  std::normal_distribution<float> n(0.f, 1.f);
  Partials p;
  for (std::int64_t i = 0; i < rows * d; ++i) {
    p.oa.push_back(n(rng));
    p.ob.push_back(n(rng));
  }
  for (std::int64_t i = 0; i < rows; ++i) {
    p.la.push_back(lse_offset + 3 * n(rng));
    p.lb.push_back(lse_offset + 3 * n(rng));
  }
  return p;
}

TEST(MergeReference, MatchesTheFormulaInDouble) {
  // LSE around 1000: exp(L) overflows even a double (> 709), the stable form must not.
  Partials p = random_partials(16, 64, 1000.f);
  Partials out = p;
  merge_reference(out.oa.data(), out.la.data(), p.ob.data(), p.lb.data(), 16, 64);
  for (int r = 0; r < 16; ++r) {
    double la = p.la[r], lb = p.lb[r];
    double l = std::max(la, lb) + std::log1p(std::exp(-std::abs(la - lb)));
    EXPECT_NEAR(out.la[r], l, 1e-3);
    for (int j = 0; j < 64; ++j) {
      double o = std::exp(la - l) * p.oa[r * 64 + j] + std::exp(lb - l) * p.ob[r * 64 + j];
      EXPECT_NEAR(out.oa[r * 64 + j], o, 1e-5);
    }
  }
}

TEST(MergeReference, EmptyPartialContributesNothing) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> oa = {1, 2}, la = {-inf}, ob = {3, 4}, lb = {0.5f};
  merge_reference(oa.data(), la.data(), ob.data(), lb.data(), 1, 2);
  EXPECT_EQ(oa, (std::vector<float>{3, 4}));  // the accumulator was empty: take the partial
  EXPECT_FLOAT_EQ(la[0], 0.5f);
}

TEST(MergeKernel, MatchesTheReferenceOnTheDevice) {
  DeviceReport dev = query_devices();
  if (dev.devices.empty()) GTEST_SKIP() << "needs a GPU: " << dev.why_none;
  Partials p = random_partials(1000, 128, 1000.f);
  Partials cpu = p, gpu = p;
  merge_reference(cpu.oa.data(), cpu.la.data(), p.ob.data(), p.lb.data(), 1000, 128);
  ASSERT_EQ(merge_via_device(gpu.oa.data(), gpu.la.data(), p.ob.data(), p.lb.data(), 1000, 128), "");
  for (std::size_t i = 0; i < cpu.oa.size(); ++i) ASSERT_NEAR(gpu.oa[i], cpu.oa[i], 1e-5) << i;
  for (std::size_t i = 0; i < cpu.la.size(); ++i) ASSERT_NEAR(gpu.la[i], cpu.la[i], 1e-3) << i;
}

TEST(Devices, QueryNeverFailsWithoutAGpu) {
  DeviceReport dev = query_devices();
  // Either devices are listed, or we are told why there are none.
  EXPECT_TRUE(!dev.devices.empty() || !dev.why_none.empty());
}

}  // namespace
}  // namespace xattn::gpu
