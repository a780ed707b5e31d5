// `xattn calibrate nccl-tests` and `xattn collective`, in-process on argument vectors:
// files written whole or not at all, exit code 2 with file:line for bad logs, and
// predictions that line up with the measurements they were fitted to.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/calib/calib_test_util.hpp"
#include "tests/cli/cli_test_util.hpp"
#include "model/calib/nccl_tests.hpp"
#include "model/scenario.hpp"
#include "model/scenario/calibration_file.hpp"

namespace xattn {
namespace {

using calib_test::fixture;
using xattn::test::run;
using calib_test::TempDir;

TEST(CalibrateCli, WritesTheCalibrationAndThePlotAndPrintsTheFit) {
  TempDir dir;
  std::string out = dir.path("ndv4.yaml"), plot = dir.path("fit.svg");
  auto r = run({"calibrate", "nccl-tests", fixture(2), fixture(4), fixture(8), fixture(16), "--out", out, "--plot", plot});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("MAPE"), std::string::npos);
  EXPECT_NE(r.out.find("all_reduce_16gpu.log"), std::string::npos);
  ASSERT_TRUE(std::filesystem::exists(out));
  ASSERT_TRUE(std::filesystem::exists(plot));
  EXPECT_EQ(dir.file_count(), 2u);  // no temporary files left behind
  Calibration c = load_calibration(out);
  EXPECT_EQ(c.intra_node.protocols.size(), 3u);
  EXPECT_FALSE(c.inter_node.protocols.empty());
  EXPECT_TRUE(c.launch.mpi.has_value());
  EXPECT_TRUE(c.launch.single_process.has_value());
}

TEST(CalibrateCli, PlotAsPngWhenBuiltWithTheDashboard) {
  // With Qt (the dashboard's build) a .png --plot is the SVG rendered 1600 pixels wide: the
  // file starts with PNG's 8-byte signature and its IHDR chunk (bytes 16-19, big-endian)
  // says 1600. Without Qt it is refused before anything is written.
  TempDir dir;
  const std::string plot = dir.path("fit.png");
  auto r = run({"calibrate", "nccl-tests", fixture(8), "--plot", plot});
#ifdef XATTN_HAVE_PNG
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream in(plot, std::ios::binary);
  std::string head(24, '\0');
  in.read(head.data(), 24);
  ASSERT_EQ(in.gcount(), 24);
  EXPECT_EQ(head.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  const auto byte = [&](int i) { return static_cast<unsigned>(static_cast<unsigned char>(head[static_cast<std::size_t>(i)])); };
  EXPECT_EQ((byte(16) << 24) | (byte(17) << 16) | (byte(18) << 8) | byte(19), 1600u);
#else
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("PNG plots need"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(plot));
#endif
}

TEST(CalibrateCli, JsonReportCarriesPerLogQuality) {
  auto r = run({"calibrate", "nccl-tests", fixture(8), "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["logs"].size(), 1u);
  EXPECT_EQ(j["logs"][0]["gpus"], 8);
  EXPECT_EQ(j["logs"][0]["launch"], "single_process");
  EXPECT_EQ(j["logs"][0]["rows"].size(), 28u);
  EXPECT_LT(j["logs"][0]["mape"].get<double>(), 0.10);
  EXPECT_NE(r.err.find("no --out"), std::string::npos);  // nothing was asked to be written
}

TEST(CalibrateCli, TruncatedLogIsExitTwoWithFileAndLineAndNothingWritten) {
  TempDir dir;
  auto lines = calib_test::lines_of(calib_test::read_text(fixture(8)));
  lines.resize(36);
  lines.back() = lines.back().substr(0, 50);
  std::string bad = dir.write("all_reduce_8gpu_cut.log", calib_test::join_lines(lines));
  std::string out = dir.path("calib.yaml"), plot = dir.path("fit.svg");
  auto r = run({"calibrate", "nccl-tests", fixture(2), bad, "--out", out, "--plot", plot});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(bad + ":36"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_FALSE(std::filesystem::exists(plot));
  EXPECT_EQ(dir.file_count(), 1u);  // only the log the test wrote
}

TEST(CalibrateCli, NcclFigurePerNicIsTheInterNodePriorOfAOneNodeFit) {
  // One node's logs say nothing across nodes: the Simple figure per NIC written is the
  // prior, --nccl-per-nic's 20 GB/s in place of azure-ndv4's 18.0; above the NIC's 25 GB/s
  // line rate it is refused, and nothing is written.
  TempDir dir;
  const std::string out = dir.path("c.yaml");
  auto r = run({"calibrate", "nccl-tests", fixture(2), fixture(4), fixture(8), "--out", out, "--nccl-per-nic", "20"});
  ASSERT_EQ(r.code, 0) << r.err;
  const Calibration c = load_calibration(out);
  ASSERT_TRUE(c.inter_node.bandwidth);
  EXPECT_NEAR(to_gigabytes_per_second(*c.inter_node.bandwidth), 20.0, 0.5);
  const std::string refused = dir.path("d.yaml");
  r = run({"calibrate", "nccl-tests", fixture(8), "--out", refused, "--nccl-per-nic", "30"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--nccl-per-nic"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(refused));
}

TEST(CalibrateCli, BadArgumentsAreExitTwo) {
  TempDir dir;
  EXPECT_EQ(run({"calibrate", "nccl-tests", fixture(8), "--op", "gather"}).code, 2);
  EXPECT_EQ(run({"calibrate", "nccl-tests"}).code, 2);
  EXPECT_EQ(run({"calibrate"}).code, 2);
  auto r = run({"calibrate", "nccl-tests", fixture(8), "--out", dir.path("no/such/folder/c.yaml")});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--out"), std::string::npos) << r.err;
  r = run({"calibrate", "nccl-tests", dir.path("missing.log")});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("missing.log"), std::string::npos) << r.err;
}

TEST(CollectiveCli, JsonPredictionsLineUpWithTheMeasurement) {
  TempDir dir;
  std::string calib = dir.path("ndv4.yaml");
  ASSERT_EQ(run({"calibrate", "nccl-tests", fixture(2), fixture(4), fixture(8), fixture(16), "--out", calib}).code, 0);
  auto r = run({"collective", "--calibration", calib, "--op", "all_reduce", "--gpus", "16", "--gpus-per-node", "8",
                "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["op"], "all_reduce");
  EXPECT_EQ(j["gpus"], 16);
  EXPECT_EQ(j["launch"], "mpi");
  // Default sizes: 8 B to 16 GiB by powers of two.
  ASSERT_EQ(j["rows"].size(), 32u);
  EXPECT_EQ(j["rows"][0]["size_bytes"], 8);
  EXPECT_EQ(j["rows"][31]["size_bytes"], 17179869184LL);
  // Against the measured 16-GPU log, row by row for the sizes it has (>= 1 KiB): within
  // 15% each, and busbw = algbw * 2(n-1)/n.
  NcclLog measured = read_nccl_tests_file(fixture(16));
  for (const auto& row : j["rows"]) {
    double size = row["size_bytes"].get<double>();
    EXPECT_NEAR(row["busbw_GBps"].get<double>(), row["algbw_GBps"].get<double>() * 30.0 / 16.0, 1e-9);
    EXPECT_NEAR(row["algbw_GBps"].get<double>(), size / row["time_us"].get<double>() * 1e-3, 1e-9);
    for (const auto& m : measured.rows) {
      if (m.size.value() == size) {
        EXPECT_NEAR(row["time_us"].get<double>() / (m.out_of_place->time.value() * 1e6), 1.0, 0.15) << size;
      }
    }
  }
}

TEST(CollectiveCli, TableHasNcclTestsColumnsAndSizesParse) {
  auto r = run({"collective", "--op", "alltoall", "--gpus", "16", "--gpus-per-node", "8", "--sizes", "1K,1M,1G"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("size"), std::string::npos);
  EXPECT_NE(r.out.find("busbw"), std::string::npos);
  EXPECT_NE(r.out.find("(GB/s)"), std::string::npos);
  EXPECT_NE(r.out.find("1073741824"), std::string::npos);
  // nccl-tests' count for all-to-all is per rank: 1 MiB / 4 B / 16 ranks = 16384.
  EXPECT_NE(r.out.find("16384"), std::string::npos);
  EXPECT_EQ(run({"collective", "--op", "gather", "--gpus", "8"}).code, 2);
  EXPECT_EQ(run({"collective", "--gpus", "8", "--sizes", "12Q"}).code, 2);
  EXPECT_EQ(run({"collective", "--gpus", "12", "--gpus-per-node", "8"}).code, 2);
  EXPECT_EQ(run({"collective", "--gpus", "8", "--calibration", "/nonexistent.yaml"}).code, 2);
}

}  // namespace
}  // namespace xattn
