// `xattn simulate` on a machine listed link by link (docs/topology.md), end to end: the
// three GPUs of tests/data/topology/three-gpus.yaml, where gpu1 and gpu2 reach gpu0 only
// through one 10 GB/s uplink they share (drawn in tests/sim/listed_links_test.cpp, which
// tests the simulator on the same machine without the command line).
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cli/cli_test_util.hpp"

namespace xattn::cli::test {
namespace {

const std::string kThreeGpusFile = kSourceDir + "/tests/data/topology/three-gpus.yaml";

TEST(SimulateListedLinks, TheEventEngineRunsOnTheListedLinks) {
  // Ring Attention, forward, on the three GPUs: the ring 0 -> 1 -> 2 -> 0 rotates each
  // rank's K, V block twice. A block is 2 (K and V) x 8 KV heads x 6404 tokens (S_kv / 3 =
  // 3 x 6404 / 3) x 128 x 2 bytes = 26,230,784 B. The hops 0 -> 1 and 2 -> 0 cross the
  // 10 GB/s uplink with 4 us of latency: 4 + 2623.0784 = 2627.0784 us each; the ranks
  // advance in lock step, so the two rotations take 5254.1568 us and the last round's
  // block (a third of compute_s; the rounds are equal under a dense mask) follows them.
  // The closed form sees the same slowest pair (10 GB/s, 4 us) and agrees.
  const double block = 26230784.0;
  CliResult r = run({"simulate", kThreeGpusFile, "--scope", "layer", "--engine", "both", "-m", "ring", "-p", "fwd", "-f", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto doc = nlohmann::json::parse(r.out);
  ASSERT_EQ(doc["results"].size(), 2u);
  ASSERT_EQ(doc["results"][1]["engine"], "event");
  const double compute = doc["results"][1]["compute_s"].get<double>();
  const double expect = 2 * (4e-6 + block / 10e9) + compute / 3;
  EXPECT_NEAR(doc["results"][1]["time_s"].get<double>(), expect, 0.005 * expect);
  EXPECT_NEAR(doc["results"][0]["time_s"].get<double>(), expect, 0.01 * expect);
  // The scenario's JSON carries the listed links and the figures the closed form used.
  const auto& cluster = doc["scenario"]["cluster"];
  ASSERT_EQ(cluster["links"].size(), 4u);
  EXPECT_EQ(cluster["links"][3]["name"], "uplink");
  EXPECT_DOUBLE_EQ(cluster["intra_node"]["bandwidth_GBps"].get<double>(), 10.0);

  // Telling the closed form 100 GB/s and 1 us moves only the closed form: 2 x (1 us +
  // 262.30784 us) + the last block = 526.6 us + compute_s / 3. The event engine still
  // crosses the 10 GB/s uplink and its time does not move.
  r = run({"simulate", kThreeGpusFile, "--scope", "layer", "--engine", "both", "-m", "ring", "-p", "fwd", "-f", "json", "--set",
           "cluster.intra_node.bandwidth_GBps=100", "--set", "cluster.intra_node.latency_us=1"});
  ASSERT_EQ(r.code, 0) << r.err;
  doc = nlohmann::json::parse(r.out);
  const double told = 2 * (1e-6 + block / 100e9) + compute / 3;
  EXPECT_NEAR(doc["results"][0]["time_s"].get<double>(), told, 0.01 * told);
  EXPECT_NEAR(doc["results"][1]["time_s"].get<double>(), expect, 0.005 * expect);
}

TEST(SimulateListedLinks, ABadGraphExitsWithCodeTwoAndWritesNothing) {
  // The uplink's bandwidth set to 0 (line 18 of the copy; its key at column 44), and an
  // --out that must not appear.
  TempDir dir;
  std::string yaml = read_file(kThreeGpusFile);
  const std::string from = "bandwidth_GBps: 10,";
  yaml.replace(yaml.find(from), from.size(), "bandwidth_GBps: 0,");
  const std::string path = dir.write("bad.yaml", yaml);
  const std::string out = dir.path("out.json");
  CliResult r = run({"simulate", path, "--scope", "layer", "--engine", "event", "-m", "ring", "-p", "fwd", "-f", "json", "-o", out});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(path + ":18:44: cluster.links[3].bandwidth_GBps: must be positive, got 0"), std::string::npos)
      << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace xattn::cli::test
