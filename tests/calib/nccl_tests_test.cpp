// The nccl-tests parser on the real Azure NDv4 logs and on hand-made variants of the
// format: newer versions (Group, root, #wrong), per-iteration and timestamp columns, MPI
// prefixes, JSON (-J), missing and reordered columns, and broken input.
#include <gtest/gtest.h>

#include <string>

#include "tests/calib/calib_test_util.hpp"
#include "model/core/error.hpp"
#include "model/calib/nccl_tests.hpp"

namespace xattn {
namespace {

using calib_test::fixture;
using calib_test::join_lines;
using calib_test::lines_of;
using calib_test::read_text;

// The message of the first problem of an InputError thrown by `f`, with file and line.
template <class F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.problems().empty() ? std::string(e.what()) : e.problems().front().str();
  }
  return "(no error)";
}

struct FixtureFacts {
  int gpus, nodes, gpus_per_node;
  LaunchMode launch;
  std::size_t rows;
  double first_size, last_size, first_time_us, last_time_us, avg_busbw;
};

TEST(NcclTestsFixtures, EveryLogReadsWithItsShapeAndRows) {
  // Figures read off the files by eye: first and last data rows (out-of-place time) and
  // the footer.
  const std::pair<int, FixtureFacts> facts[] = {
      {1, {1, 1, 1, LaunchMode::single_process, 28, 8, 1073741824, 4.47, 1620.4, 0}},
      {2, {2, 1, 2, LaunchMode::single_process, 28, 8, 1073741824, 8.65, 5203.1, 51.3018}},
      {4, {4, 1, 4, LaunchMode::single_process, 28, 8, 1073741824, 16.42, 7173.7, 59.2517}},
      {8, {8, 1, 8, LaunchMode::single_process, 28, 8, 1073741824, 31.44, 8139.2, 59.3571}},
      {16, {16, 2, 8, LaunchMode::mpi, 25, 1024, 17179869184.0, 34.66, 251757, 60.5716}},
  };
  for (const auto& [gpus, f] : facts) {
    SCOPED_TRACE(fixture(gpus));
    NcclLog log = read_nccl_tests_file(fixture(gpus));
    EXPECT_EQ(log.op, NcclCollective::all_reduce);  // from the file name
    EXPECT_EQ(log.ranks(), f.gpus);
    EXPECT_EQ(log.nodes(), f.nodes);
    EXPECT_EQ(log.gpus_per_node(), f.gpus_per_node);
    EXPECT_EQ(log.launch(), f.launch);
    EXPECT_EQ(log.gpu(), "A100-SXM4-40GB");
    ASSERT_EQ(log.rows.size(), f.rows);
    EXPECT_DOUBLE_EQ(log.rows.front().size.value(), f.first_size);
    EXPECT_DOUBLE_EQ(log.rows.back().size.value(), f.last_size);
    EXPECT_NEAR(log.rows.front().out_of_place->time.value() * 1e6, f.first_time_us, 1e-9);
    EXPECT_NEAR(log.rows.back().out_of_place->time.value() * 1e6, f.last_time_us, 1e-6);
    ASSERT_TRUE(log.avg_busbw_GBps.has_value());
    EXPECT_NEAR(*log.avg_busbw_GBps, f.avg_busbw, 1e-9);
    for (const auto& r : log.rows) {
      ASSERT_TRUE(r.out_of_place && r.in_place) << "line " << r.line;
      EXPECT_EQ(r.type, "float");
      EXPECT_EQ(r.count * 4, static_cast<std::int64_t>(r.size.value()));
    }
  }
}

TEST(NcclTestsFixtures, InPlaceColumnsAndLinesAreKept) {
  // 1 GPU: the in-place all-reduce is a no-op, 0.47 us, and its algbw is printed.
  NcclLog one = read_nccl_tests_file(fixture(1));
  EXPECT_NEAR(one.rows.front().in_place->time.value() * 1e6, 0.47, 1e-12);
  EXPECT_NEAR(*one.rows.back().in_place->algbw_GBps, 2251503.09, 1e-6);
  EXPECT_EQ(one.rows.front().line, 9);  // the first data line of the file
  // 16 GPUs: the "error" column says N/A and the MPI prefix is gone; busbw is read.
  NcclLog sixteen = read_nccl_tests_file(fixture(16));
  EXPECT_NEAR(*sixteen.rows.back().out_of_place->busbw_GBps, 127.95, 1e-9);
  EXPECT_EQ(sixteen.devices[8].host, "node-000002");
  EXPECT_EQ(sixteen.devices[8].device, 0);
  EXPECT_EQ(sixteen.processes(), 16);
}

TEST(NcclTestsVariants, MpiPrefixesAndStderrLinesChangeNothing) {
  const std::string plain = read_text(fixture(8));
  std::vector<std::string> prefixed;
  for (const auto& l : lines_of(plain)) {
    prefixed.push_back("[1,0]<stdout>:" + l);
    prefixed.push_back("[1,3]<stderr>:node-000000:63453 [3] NCCL WARN something 12 34");
  }
  NcclLog a = parse_nccl_tests(plain, "all_reduce_8gpu.log");
  NcclLog b = parse_nccl_tests(join_lines(prefixed), "all_reduce_8gpu.log");
  ASSERT_EQ(a.rows.size(), b.rows.size());
  for (std::size_t i = 0; i < a.rows.size(); ++i) {
    EXPECT_EQ(a.rows[i].size, b.rows[i].size);
    EXPECT_EQ(a.rows[i].out_of_place->time, b.rows[i].out_of_place->time);
  }
  EXPECT_EQ(b.ranks(), 8);
}

// Open MPI tags each write: a line written in two pieces carries a second tag where the
// second piece starts. The public 128-GPU log of the fixtures' cluster (Echo,
// nccl-test-log/nccl_128.log) has "on node-[1,0]<stdout>:00000C device  4". Read as one
// line, the host is node-00000C: 16 hosts of 8, not 17 with one "node-[1,0]<stdout>:..."
// host of one GPU.
TEST(NcclTestsVariants, ATagInsideALineFromASplitWriteIsRemoved) {
  std::vector<std::string> lines;
  for (const auto& l : lines_of(read_text(fixture(16)))) {
    std::string m = l;
    const std::string at = "node-000002 device  4";
    if (auto i = m.find(at); i != std::string::npos) m.replace(i, at.size(), "node-[1,0]<stdout>:000002 device  4");
    lines.push_back(m);
  }
  const std::string split = join_lines(lines);
  ASSERT_NE(split.find("node-[1,0]<stdout>:000002"), std::string::npos);  // the edit took
  NcclLog a = parse_nccl_tests(read_text(fixture(16)), "all_reduce_16gpu.log");
  NcclLog b = parse_nccl_tests(split, "all_reduce_16gpu.log");
  EXPECT_EQ(b.ranks(), 16);
  EXPECT_EQ(b.nodes(), 2);  // node-000000 and node-000002, 8 GPUs each
  EXPECT_EQ(b.gpus_per_node(), 8);
  ASSERT_EQ(a.rows.size(), b.rows.size());
  EXPECT_EQ(a.rows.back().out_of_place->time, b.rows.back().out_of_place->time);
}

// A newer nccl-tests all_gather log across two hosts: "Collective test starting", Group
// in the device lines, redop and root columns, #wrong, NCCL INFO lines in the table.
const char* kAllGatherLog = R"(# nccl-tests version 2.13.9 nccl-headers=21803 nccl-library=21803
# Collective test starting: all_gather_perf
# nThread 1 nGpus 1 minBytes 1024 maxBytes 4096 step: 2(factor) warmup iters: 5 iters: 20 agg iters: 1 validation: 1 graph: 0
#
# Using devices
#  Rank  0 Group  0 Pid   6899 on     host-a device  0 [0000:04:00] NVIDIA H100 80GB HBM3
#  Rank  1 Group  0 Pid   6900 on     host-a device  1 [0000:05:00] NVIDIA H100 80GB HBM3
#  Rank  2 Group  0 Pid   6733 on     host-b device  0 [0000:04:00] NVIDIA H100 80GB HBM3
#  Rank  3 Group  0 Pid   6734 on     host-b device  1 [0000:05:00] NVIDIA H100 80GB HBM3
#
#                                                              out-of-place                       in-place
#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)
        1024            64     float    none      -1    20.10    0.05    0.04      0    19.90    0.05    0.04      0
host-a:6899:6950 [0] NCCL INFO Channel 00/02 : 0 1 2 3
        2048           128     float    none      -1    21.00    0.10    0.07      0    20.50    0.10    0.07      0
        4096           256     float    none      -1    22.00    0.19    0.14      0    21.80    0.19    0.14      0
# Out of bounds values : 0 OK
# Avg bus bandwidth    : 0.0833
#
# Collective test concluded: all_gather_perf
)";

TEST(NcclTestsVariants, NewerFormatOtherCollectiveAcrossHosts) {
  NcclLog log = parse_nccl_tests(kAllGatherLog, "run.txt");  // the name says nothing
  EXPECT_EQ(log.op, NcclCollective::all_gather);
  EXPECT_EQ(log.ranks(), 4);
  EXPECT_EQ(log.nodes(), 2);
  EXPECT_EQ(log.gpus_per_node(), 2);
  EXPECT_EQ(log.launch(), LaunchMode::mpi);
  EXPECT_EQ(log.gpu(), "NVIDIA H100 80GB HBM3");
  ASSERT_EQ(log.rows.size(), 3u);
  EXPECT_EQ(log.rows[1].count, 128);
  EXPECT_NEAR(log.rows[1].out_of_place->time.value() * 1e6, 21.0, 1e-12);
  EXPECT_NEAR(*log.rows[1].in_place->busbw_GBps, 0.07, 1e-12);
  EXPECT_EQ(log.rows[1].line, 16);  // the INFO line before it counts
  // An explicit collective wins over what the log says.
  EXPECT_EQ(parse_nccl_tests(kAllGatherLog, "run.txt", NcclCollective::broadcast).op, NcclCollective::broadcast);
}

TEST(NcclTestsVariants, PerIterationAndTimestampColumnsAreMappedByName) {
  // sendrecv with -R style per-iteration columns and a timestamp of two tokens at the end.
  std::string log = R"(# Collective test starting: sendrecv_perf
# nThread 1 nGpus 2 minBytes 8 maxBytes 16 step: 2(factor) warmup iters: 5 iters: 20 agg iters: 1 validation: 1 graph: 0
#
# Using devices
#  Rank  0 Group  0 Pid   100 on n1 device  0 [0000:04:00] NVIDIA A100-SXM4-80GB
#  Rank  1 Group  0 Pid   100 on n1 device  1 [0000:05:00] NVIDIA A100-SXM4-80GB
#
#                                          out-of-place (+ per-iteration)                                in-place (+ per-iteration)
#       size         count      type   redop    root     time   algbw   busbw #wrong    i_min    i_max    i_p99    i_cv%     time   algbw   busbw #wrong    i_min    i_max    i_p99    i_cv%  timestamp
#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)     (us)     (us)      (%)     (us)  (GB/s)  (GB/s)            (us)     (us)     (us)      (%)  %Y-%m-%d %H:%M:%S
           8             2     float    none      -1     9.50    0.00    0.00      0     9.10    10.20     10.1     2.00     9.40    0.00    0.00      0     9.00    10.00     9.90     1.90  2025-01-01 10:00:00
          16             4     float    none      -1     9.60    0.00    0.00      0     9.20    10.30     10.2     2.10     9.45    0.00    0.00      0     9.05    10.05     9.95     2.00  2025-01-01 10:00:01
# Out of bounds values : 0 OK
# Avg bus bandwidth    : 0.001
)";
  NcclLog l = parse_nccl_tests(log, "x.log");
  EXPECT_EQ(l.op, NcclCollective::sendrecv);
  EXPECT_EQ(l.launch(), LaunchMode::single_process);
  ASSERT_EQ(l.rows.size(), 2u);
  // The in-place time is the second "time" column, after the per-iteration ones.
  EXPECT_NEAR(l.rows[1].in_place->time.value() * 1e6, 9.45, 1e-12);
  EXPECT_NEAR(l.rows[1].out_of_place->time.value() * 1e6, 9.60, 1e-12);
}

TEST(NcclTestsVariants, MissingAndReorderedColumns) {
  // No algbw/busbw columns, and count before size: still read by name.
  std::string log = R"(# nThread 1 nGpus 2
# Using devices
#   Rank  0 Pid  1 on a device  0 [0x00] A100
#   Rank  1 Pid  1 on a device  1 [0x00] A100
#
#  count   size   type   time   time
      2      8  float   5.00   4.00
      4     16  float   6.00   5.00
# Avg bus bandwidth    : 0
)";
  NcclLog l = parse_nccl_tests(log, "broadcast.log");
  EXPECT_EQ(l.op, NcclCollective::broadcast);
  ASSERT_EQ(l.rows.size(), 2u);
  EXPECT_DOUBLE_EQ(l.rows[1].size.value(), 16);
  EXPECT_EQ(l.rows[1].count, 4);
  EXPECT_NEAR(l.rows[1].in_place->time.value() * 1e6, 5.0, 1e-12);
  EXPECT_FALSE(l.rows[1].out_of_place->busbw_GBps.has_value());

  // Without any time column the header is not one: nothing is read.
  std::string no_time = log;
  no_time.replace(no_time.find("time   time"), 11, "lat    lat ");
  std::string msg = input_error([&] { (void)parse_nccl_tests(no_time, "broadcast.log"); });
  EXPECT_NE(msg.find("no header row"), std::string::npos) << msg;
}

TEST(NcclTestsErrors, TruncatedLogsNameTheLine) {
  auto lines = lines_of(read_text(fixture(8)));
  // Cut in the middle of the last data row (line 43 of the file).
  std::vector<std::string> cut(lines.begin(), lines.begin() + 43);
  cut.back() = cut.back().substr(0, 60);
  std::string msg = input_error([&] { (void)parse_nccl_tests(join_lines(cut), "all_reduce_8gpu.log"); });
  EXPECT_NE(msg.find("all_reduce_8gpu.log:43"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  // Cut after a whole row, before the footer: the last line is named.
  std::vector<std::string> cut2(lines.begin(), lines.begin() + 30);
  msg = input_error([&] { (void)parse_nccl_tests(join_lines(cut2), "all_reduce_8gpu.log"); });
  EXPECT_NE(msg.find("all_reduce_8gpu.log:30"), std::string::npos) << msg;
  EXPECT_NE(msg.find("footer"), std::string::npos) << msg;
}

TEST(NcclTestsErrors, BadValuesDevicesAndUnknownCollective) {
  auto lines = lines_of(read_text(fixture(4)));
  auto bad = lines;
  bad[20].replace(bad[20].find("16.11"), 5, "1x.11");  // line 21 (4096 B), out-of-place time
  std::string msg = input_error([&] { (void)parse_nccl_tests(join_lines(bad), "all_reduce_4gpu.log"); });
  EXPECT_NE(msg.find("all_reduce_4gpu.log:21"), std::string::npos) << msg;
  EXPECT_NE(msg.find("time_us"), std::string::npos) << msg;

  auto dev = lines;
  dev[4] = "#   Rank  1 Pid  63417 at node-000000 device  1 [0x00] A100-SXM4-40GB";
  msg = input_error([&] { (void)parse_nccl_tests(join_lines(dev), "all_reduce_4gpu.log"); });
  EXPECT_NE(msg.find(":5:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'on'"), std::string::npos) << msg;

  msg = input_error([&] { (void)parse_nccl_tests(read_text(fixture(4)), "mystery.log"); });
  EXPECT_NE(msg.find("--op"), std::string::npos) << msg;
  EXPECT_EQ(parse_nccl_tests(read_text(fixture(4)), "mystery.log", NcclCollective::all_reduce).ranks(), 4);

  msg = input_error([] { (void)parse_nccl_tests("hello\nworld\n", "notes.txt", NcclCollective::all_reduce); });
  EXPECT_NE(msg.find("Using devices"), std::string::npos) << msg;
  msg = input_error([] { (void)read_nccl_tests_file("/nonexistent/all_reduce.log"); });
  EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;
}

// nccl-tests -J output (src/util.cu, JSON_FILE_VERSION 2), abridged.
const char* kJsonLog = R"({"version":2,"start_time":"2025-01-01 10:00:00",
"args":["/opt/nccl-tests/build/reduce_scatter_perf","-b","1M","-e","2M"],"env":[],"nccl_version":22105,
"config":{"nthreads":1,"ngpus":1,"minimum_bytes":1048576,"maximum_bytes":2097152,"step_factor":2,
 "warmup_iters":5,"iterations":20,"aggregated_iterations":1,"validation":1,"graph":0,
 "blocking_collectives":"false","per_iter_timing":"false","parallel_init":"false",
 "devices":[{"rank":0,"group":0,"pid":11,"hostname":"a","device":0,"device_hex":"0000:04:00","device_info":"NVIDIA H100 80GB HBM3"},
            {"rank":1,"group":0,"pid":12,"hostname":"a","device":1,"device_hex":"0000:05:00","device_info":"NVIDIA H100 80GB HBM3"},
            {"rank":2,"group":0,"pid":13,"hostname":"b","device":0,"device_hex":"0000:04:00","device_info":"NVIDIA H100 80GB HBM3"},
            {"rank":3,"group":0,"pid":14,"hostname":"b","device":1,"device_hex":"0000:05:00","device_info":"NVIDIA H100 80GB HBM3"}]},
"results":[
 {"size":1048576,"count":65536,"type":"float","redop":"sum","root":"    -1",
  "out_of_place":{"time":50.5,"alg_bw":20.76,"bus_bw":15.57,"nwrong":0.0},
  "in_place":{"time":49.5,"alg_bw":21.18,"bus_bw":15.89,"nwrong":0.0},"actual_iterations":20,"experiment_name":""},
 {"size":2097152,"count":131072,"type":"float","redop":"sum","root":"    -1",
  "out_of_place":{"time":80.0,"alg_bw":26.21,"bus_bw":19.66,"nwrong":null},
  "in_place":null,"actual_iterations":20,"experiment_name":""}],
"out_of_bounds":{"count":0,"okay":"true"},"average_bus_bandwidth":{"bandwidth":17.0,"okay":"unchecked"},
"errors":[],"end_time":"2025-01-01 10:00:05"}
)";

TEST(NcclTestsJson, ReadsTheJsonForm) {
  NcclLog l = parse_nccl_tests(kJsonLog, "result.json");
  EXPECT_EQ(l.op, NcclCollective::reduce_scatter);  // from args[0]
  EXPECT_EQ(l.ranks(), 4);
  EXPECT_EQ(l.nodes(), 2);
  EXPECT_EQ(l.launch(), LaunchMode::mpi);
  ASSERT_EQ(l.rows.size(), 2u);
  EXPECT_NEAR(l.rows[0].in_place->time.value() * 1e6, 49.5, 1e-12);
  EXPECT_NEAR(*l.rows[1].out_of_place->busbw_GBps, 19.66, 1e-12);
  EXPECT_FALSE(l.rows[1].in_place.has_value());
  EXPECT_NEAR(*l.avg_busbw_GBps, 17.0, 1e-12);
}

TEST(NcclTestsJson, TruncatedJsonNamesTheLine) {
  std::string text = kJsonLog;
  text.resize(text.find("\"in_place\":null"));  // cut inside the second result (line 16)
  std::string msg = input_error([&] { (void)parse_nccl_tests(text, "result.json"); });
  EXPECT_NE(msg.find("result.json:16"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
}

TEST(NcclTestsNames, CollectiveNamesInEverySpelling) {
  EXPECT_EQ(parse_collective_op("alltoall"), NcclCollective::all_to_all);
  EXPECT_EQ(parse_collective_op("all_to_all"), NcclCollective::all_to_all);
  EXPECT_EQ(parse_collective_op("all_reduce_perf"), NcclCollective::all_reduce);
  EXPECT_EQ(parse_collective_op("reduce"), NcclCollective::reduce);
  EXPECT_FALSE(parse_collective_op("gather").has_value());
  EXPECT_EQ(collective_in_name("reduce_scatter_perf_8gpu.log"), NcclCollective::reduce_scatter);
  EXPECT_EQ(collective_in_name("run-reduce-64.txt"), NcclCollective::reduce);
  EXPECT_EQ(collective_in_name("allgather.log"), NcclCollective::all_gather);
}

}  // namespace
}  // namespace xattn
