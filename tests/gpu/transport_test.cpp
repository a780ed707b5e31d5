// Transports (gpu/transport.hpp): the pacing arithmetic everywhere; on a GPU, a paced
// loopback message moves the right bytes and takes about latency + bytes/bandwidth, and
// NCCL sends to itself. Device tests skip, saying why, where there is no GPU.
#include <gtest/gtest.h>

#include <cmath>

#include "gpu/device.hpp"
#include "gpu/executor.hpp"
#include "gpu/transport.hpp"
#include "model/schedule/schedule.hpp"

namespace xattn::gpu {
namespace {

bool have_gpu() { return !query_devices().devices.empty(); }
#define SKIP_WITHOUT_GPU() \
  if (!have_gpu()) GTEST_SKIP() << "no GPU: " << query_devices().why_none

TEST(Pacing, LatencyPlusBytesOverBandwidth) {
  // 1 MB at 10 GB/s is 100 us; with 10 us of latency the message takes 110 us.
  LoopbackOptions o{10.0, 10.0, true};
  EXPECT_EQ(paced_duration_ns(o, 1'000'000), 110'000);
  // A zero-byte message still pays the latency.
  EXPECT_EQ(paced_duration_ns(o, 0), 10'000);
  // Unpaced: the copies take what they take.
  o.pace = false;
  EXPECT_EQ(paced_duration_ns(o, 1'000'000), 0);
}

TEST(Pacing, NamesOfTransports) {
  EXPECT_EQ(to_string(TransportKind::loopback), "loopback");
  EXPECT_EQ(to_string(TransportKind::nccl), "nccl");
}

// Two ranks, one message of `bytes` (fp16 activations) from rank 0 to rank 1.
Schedule one_message(std::int64_t elems) {
  Schedule s;
  s.shape.dtype = DType::fp16;
  s.shape.head_dim = 64;
  s.programs.resize(2);
  s.programs[0].rank = 0;
  s.programs[1].rank = 1;
  const Bytes b(static_cast<double>(elems * 2));
  Op send{SendOp{{1, "x", {Part{"a", b}}, -1}}, comm_stream(0), {}, 0, "send"};
  Op recv{RecvOp{{0, "x", {Part{"b", b}}, -1}}, comm_stream(0), {}, 0, "recv"};
  s.programs[0].ops.push_back(send);
  s.programs[1].ops.push_back(recv);
  return s;
}

TEST(Loopback, MovesTheBytesInAboutLatencyPlusBytesOverBandwidth) {
  SKIP_WITHOUT_GPU();
  const std::int64_t elems = 2'000'000;  // 4 MB: 800 us at 5 GB/s, plus 20 us
  Schedule s = one_message(elems);
  ExecOptions o;
  o.link = LoopbackOptions{5.0, 20.0, true};
  Executor ex(s, o);
  std::vector<float> x(static_cast<std::size_t>(elems));
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(static_cast<int>(i % 2001) - 1000);
  ex.write(0, "a", x);
  (void)ex.run();  // warm-up
  Timeline t = ex.run();
  EXPECT_EQ(ex.read(1, "b"), x);
  const double expected = 20e-6 + 4e6 / 5e9;
  const double got = (t.ops[1][0].end - t.ops[1][0].start).seconds().value();
  std::printf("loopback 4 MB at 5 GB/s + 20 us: expected %.1f us, measured %.1f us\n", expected * 1e6, got * 1e6);
  EXPECT_NEAR(got, expected, 0.25 * expected);
  // Send and receive complete together.
  EXPECT_EQ(t.ops[0][0].end, t.ops[1][0].end);
}

TEST(Loopback, MeasureLinkFollowsThePacing) {
  SKIP_WITHOUT_GPU();
  LoopbackOptions o{10.0, 10.0, true};
  auto samples = measure_link(TransportKind::loopback, o, {0, 1 << 20, 8 << 20}, 5);
  ASSERT_EQ(samples.size(), 3u);
  for (const auto& s : samples) {
    const double expected = static_cast<double>(paced_duration_ns(o, s.bytes)) * 1e-9;
    std::printf("measure_link loopback %lld bytes: %.1f us (paced to %.1f us)\n", static_cast<long long>(s.bytes),
                s.seconds * 1e6, expected * 1e6);
    EXPECT_NEAR(s.seconds, expected, 0.25 * expected + 5e-6);
  }
  // Unpaced: the raw pinned-host round trip, positive and no faster than PCIe allows.
  o.pace = false;
  auto raw = measure_link(TransportKind::loopback, o, {8 << 20}, 3);
  std::printf("unpaced loopback 8 MiB: %.1f us (%.1f GB/s)\n", raw[0].seconds * 1e6, 8.0 * (1 << 20) / raw[0].seconds * 1e-9);
  EXPECT_GT(raw[0].seconds, 0.0);
}

TEST(Nccl, SendsToItself) {
  SKIP_WITHOUT_GPU();
  double seconds = 0;
  try {
    seconds = nccl_self_test(4 << 20);
  } catch (const GpuUnavailable& e) {
    GTEST_SKIP() << e.what();
  }
  std::printf("NCCL self send/recv of 4 MiB: %.1f us\n", seconds * 1e6);
  EXPECT_GT(seconds, 0.0);
  auto samples = measure_link(TransportKind::nccl, {}, {1 << 10, 1 << 20, 16 << 20}, 5);
  for (const auto& s : samples) {
    std::printf("measure_link nccl %lld bytes: %.1f us\n", static_cast<long long>(s.bytes), s.seconds * 1e6);
    EXPECT_GT(s.seconds, 0.0);
  }
}

TEST(Transport, WithoutAGpuSaysSo) {
  if (have_gpu()) GTEST_SKIP() << "this machine has a GPU";
  EXPECT_THROW((void)measure_link(TransportKind::loopback, {}, {1024}, 1), GpuUnavailable);
  EXPECT_THROW((void)nccl_self_test(1024), GpuUnavailable);
}

}  // namespace
}  // namespace xattn::gpu
