// `xattn run` in a build with the GPU backend: without a GPU it says so and exits 3, bad
// input exits 2, and on a GPU it writes a measured trace carrying the run's settings.
// (Without the backend, `run` is tested in tests/gpu_host/run_launch_test.cpp.)
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_test_util.hpp"

#ifdef XATTN_HAVE_GPU
#include "gpu/device.hpp"

namespace xattn::gpu {
namespace {

bool have_gpu() { return !query_devices().devices.empty(); }
#define SKIP_WITHOUT_GPU() \
  if (!have_gpu()) GTEST_SKIP() << "no GPU: " << query_devices().why_none

TEST(RunCommand, WithoutAGpuSaysItNeedsOneAndExits3) {
  if (have_gpu()) GTEST_SKIP() << "this machine has a GPU";
  auto r = test::run({"run", std::string(XATTN_SOURCE_DIR) + "/scenarios/llama32v-16xa100.yaml", "-m", "ring", "-P", "2"});
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_NE(r.err.find("needs a GPU"), std::string::npos) << r.err;
}

TEST(RunCommand, BadInputIsExit2) {
  auto r = test::run({"run", std::string(XATTN_SOURCE_DIR) + "/scenarios/llama32v-16xa100.yaml", "-m", "nonsense"});
  EXPECT_EQ(r.code, 2) << r.err;
}

TEST(RunCommand, WritesAMeasuredTraceWithItsSettings) {
  SKIP_WITHOUT_GPU();
  test::TempDir dir;
  const std::string trace = dir.path("t.json");
  auto r = test::run({"run", std::string(XATTN_SOURCE_DIR) + "/scenarios/llama32v-16xa100.yaml", "-m", "lv-xattn", "-P", "2",
                      "--compute", "serial", "--reps", "2", "--set", "workload.text_tokens=128", "--set", "workload.frames=1",
                      "--set", "workload.batch=1", "--trace", trace});
  if (r.code == 2) GTEST_SKIP() << "scenario override names differ here: " << r.err;
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream in(trace);
  nlohmann::json doc = nlohmann::json::parse(in);
  const auto& md = doc["metadata"];
  EXPECT_EQ(md["engine"], "measured");
  EXPECT_EQ(md["mechanism"], "lv-xattn");
  EXPECT_EQ(md["P"], 2);
  for (const char* key : {"transport", "link_bandwidth_GBps", "link_latency_us", "link_paced", "compute_placement", "dtype",
                          "device", "compute_order", "makespans_s"})
    EXPECT_TRUE(md.contains(key)) << key;
  EXPECT_EQ(md["compute_placement"], "one_device_stream");
  EXPECT_FALSE(doc["traceEvents"].empty());
}

}  // namespace
}  // namespace xattn::gpu
#endif  // XATTN_HAVE_GPU
