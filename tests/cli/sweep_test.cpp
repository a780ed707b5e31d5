// `xattn sweep`: sweep files (model/scenario/sweep_file.hpp), the sweep engine
// (sim/sweep.hpp) and its CSV (cli/sweep.hpp): grid expansion, ranges, determinism across
// --jobs, per-point infeasible rows, and sweep-file errors with file, line, field.
#include <gtest/gtest.h>

#include <cmath>

#include "cli/sweep.hpp"
#include "tests/cli/cli_test_util.hpp"
#include "model/analytic.hpp"
#include "model/scenario/scenario_file.hpp"
#include "model/scenario/sweep_file.hpp"
#include "sim/runner.hpp"
#include "sim/sweep.hpp"

namespace xattn::cli::test {
namespace {

// The shipped machine listed link by link: 4 A100s in NVLink pairs on two sockets.
const std::string kPcieMachine = kSourceDir + "/scenarios/llama32v-4xa100-pcie-pairs.yaml";

// A sweep file in `dir` over `base` (absolute path; the default scenario unless given).
std::string write_sweep(const TempDir& dir, const std::string& body, const std::string& name = "sweep.yaml",
                        const std::string& base = kDefaultScenario) {
  return dir.write(name, "base: " + base + "\n" + body);
}

std::vector<std::int64_t> ints(const GridAxis& a) {
  std::vector<std::int64_t> v;
  for (const auto& x : a.values) v.push_back(std::get<std::int64_t>(x));
  return v;
}

std::string sweep_csv(const SweepPlan& plan, int jobs, std::size_t chunk_points) {
  std::string csv = sweep_csv_header(plan);
  sim::SweepOptions o;
  o.jobs = jobs;
  o.chunk_points = chunk_points;
  write_sweep_csv(plan, o, [&](std::string_view rows) { csv.append(rows); });
  return csv;
}

TEST(SweepPlan, GridExpandsInFileOrderFirstKeySlowest) {
  TempDir dir;
  std::string f = write_sweep(dir,
                              "grid:\n"
                              "  workload.frames: [12, 24]\n"
                              "  workload.text_tokens: [256, 512, 1024]\n"
                              "mechanisms: [lv-xattn, ring]\n"
                              "scope: layer\n");
  SweepPlan plan = load_sweep(f);
  ASSERT_EQ(plan.axes.size(), 2u);
  EXPECT_EQ(plan.axes[0].field->path, "workload.frames");
  EXPECT_EQ(plan.points(), 6u);                   // 2 x 3
  EXPECT_EQ(plan.rows(), 12u);                    // x 2 mechanisms x 1 pass (default fwd+bwd)
  EXPECT_EQ(plan.passes, std::vector<Pass>{Pass::fwd_bwd});
  // Row-major: point 4 is (frames[1], text_tokens[1]) = (24, 512).
  EXPECT_EQ(plan.coordinates(4), (std::vector<std::size_t>{1, 1}));

  auto rows = parse_csv(sweep_csv(plan, 1, 512));
  ASSERT_EQ(rows.size(), 1u + 12u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"point", "workload.frames", "workload.text_tokens", "mechanism", "pass",
                                               "feasible", "time_s", "compute_s", "exposed_comm_s", "peak_memory_bytes",
                                               "fits", "reason"}));
  // Expected order: (12,256),(12,512),(12,1024),(24,256),(24,512),(24,1024), each with
  // lv-xattn then ring.
  const std::vector<std::pair<std::string, std::string>> points = {{"12", "256"}, {"12", "512"}, {"12", "1024"},
                                                                   {"24", "256"}, {"24", "512"}, {"24", "1024"}};
  for (std::size_t p = 0; p < 6; ++p) {
    for (std::size_t m = 0; m < 2; ++m) {
      const auto& row = rows[1 + p * 2 + m];
      EXPECT_EQ(row[0], std::to_string(p));
      EXPECT_EQ(row[1], points[p].first);
      EXPECT_EQ(row[2], points[p].second);
      EXPECT_EQ(row[3], m == 0 ? "lv-xattn" : "ring");
      EXPECT_EQ(row[4], "fwd+bwd");
    }
  }
}

TEST(SweepPlan, RangesStepFactorDescendingAndNumbers) {
  TempDir dir;
  std::string f = write_sweep(dir,
                              "grid:\n"
                              "  workload.frames: {from: 12, to: 48, step: 12}\n"         // 12 24 36 48
                              "  workload.text_tokens: {from: 64, to: 1024, factor: 2}\n" // 64 ... 1024: 5 values
                              "  cluster.nodes: {from: 4, to: 1, step: -1}\n"              // 4 3 2 1
                              "  cluster.inter_node.bandwidth_GBps: {from: 12.5, to: 50, step: 12.5}\n"
                              "mechanisms: [ring]\n");
  SweepPlan plan = load_sweep(f);
  ASSERT_EQ(plan.axes.size(), 4u);
  EXPECT_EQ(ints(plan.axes[0]), (std::vector<std::int64_t>{12, 24, 36, 48}));
  EXPECT_EQ(ints(plan.axes[1]), (std::vector<std::int64_t>{64, 128, 256, 512, 1024}));
  EXPECT_EQ(ints(plan.axes[2]), (std::vector<std::int64_t>{4, 3, 2, 1}));
  ASSERT_EQ(plan.axes[3].values.size(), 4u);  // 12.5, 25, 37.5, 50: inclusive of `to`
  EXPECT_DOUBLE_EQ(std::get<double>(plan.axes[3].values[3]), 50.0);
  EXPECT_EQ(plan.points(), 4u * 5u * 4u * 4u);
}

TEST(SweepPlan, GeometricIntegerRangesRoundAndStopAtTo) {
  TempDir dir;
  std::string f = write_sweep(dir,
                              "grid:\n"
                              // 1, 1.5 -> 2 (rounded), 3, 4.5 -> 5 (rounded), 7.5 -> 8, 12 > 10 stops.
                              "  workload.frames: {from: 1, to: 10, factor: 1.5}\n"
                              // `to` at the largest S xattn accepts, 2^31 - 1 (docs/limits.md): the next
                              // step, 2^30 x 4 = 2^32, is past both `to` and the limit, so it stops at 2^30
                              // and the step beyond is never made into a point (nor refused as one).
                              "  workload.text_tokens: {from: 1073741824, to: 2147483647, factor: 4}\n");
  SweepPlan plan = load_sweep(f);
  EXPECT_EQ(ints(plan.axes[0]), (std::vector<std::int64_t>{1, 2, 3, 5, 8}));
  EXPECT_EQ(ints(plan.axes[1]), (std::vector<std::int64_t>{1073741824}));
}

TEST(SweepPlan, RowsEqualEstimateOnTheDerivedScenario) {
  TempDir dir;
  std::string f = write_sweep(dir,
                              "set: {workload.text_tokens: 2016}\n"
                              "grid:\n"
                              "  workload.frames: [96, 192]\n"
                              "mechanisms: [lv-xattn, ulysses]\n"
                              "passes: [fwd, fwd+bwd]\n"
                              "scope: layer\n");
  auto rows = parse_csv(sweep_csv(load_sweep(f), 2, 1));
  ASSERT_EQ(rows.size(), 1u + 2u * 2u * 2u);
  const auto& h = rows[0];
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto& row = rows[i];
    // The same point built by hand: the default scenario with text_tokens and frames set.
    Scenario s = load_scenario(kDefaultScenario, {"workload.text_tokens=2016", "workload.frames=" + row[1]});
    Estimate e = estimate(s, *parse_mechanism(row[static_cast<std::size_t>(column(h, "mechanism"))]),
                          *parse_pass(row[static_cast<std::size_t>(column(h, "pass"))]));
    ASSERT_TRUE(e.feasible);
    EXPECT_EQ(row[static_cast<std::size_t>(column(h, "feasible"))], "true");
    double t = std::stod(row[static_cast<std::size_t>(column(h, "time_s"))]);
    EXPECT_NEAR(t, e.time.value(), 1e-12 * e.time.value());
    double c = std::stod(row[static_cast<std::size_t>(column(h, "compute_s"))]);
    EXPECT_NEAR(c, e.compute.value(), 1e-12 * e.compute.value());
    double mem = std::stod(row[static_cast<std::size_t>(column(h, "peak_memory_bytes"))]);
    EXPECT_NEAR(mem, e.memory.total().value(), 1e-9 * e.memory.total().value());
  }
}

TEST(SweepPlan, EventEngineRowsEqualTheSimulatorOnTheDerivedScenario) {
  // The PCIe-pairs machine with its socket link at 16 and 32 GB/s: every row is
  // sim::simulate_scenario of that point, built here independently. Ulysses' all-to-all
  // sends four messages each way over the one socket link (docs/topology.md §6):
  // link_shared is true for it and false for Ring.
  TempDir dir;
  const std::string f = write_sweep(dir,
                                    "engine: event\n"
                                    "grid:\n  cluster.links.socket-link.bandwidth_GBps: [16, 32]\n"
                                    "mechanisms: [ulysses, ring]\npasses: [fwd]\nscope: layer\n",
                                    "sweep.yaml", kPcieMachine);
  const SweepPlan plan = load_sweep(f);
  EXPECT_EQ(plan.engine, SweepEngine::event);
  const std::string csv = sweep_csv(plan, 2, 1);
  EXPECT_EQ(csv, sweep_csv(plan, 1, 512));  // nor here does the output depend on the jobs
  auto rows = parse_csv(csv);
  ASSERT_EQ(rows.size(), 1u + 2u * 2u);
  const auto& h = rows[0];
  EXPECT_EQ(column(h, "link_shared") + 1, column(h, "reason"));
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const auto& row = rows[i];
    auto cell = [&](const char* name) { return row[static_cast<std::size_t>(column(h, name))]; };
    Scenario s = load_scenario(kPcieMachine, {"cluster.links.socket-link.bandwidth_GBps=" + row[1]});
    const sim::EventResult ev = sim::simulate_scenario(s, *parse_mechanism(cell("mechanism")), Pass::fwd);
    ASSERT_TRUE(ev.estimate.feasible);
    EXPECT_EQ(cell("feasible"), "true");
    EXPECT_NEAR(std::stod(cell("time_s")), ev.estimate.time.value(), 1e-12 * ev.estimate.time.value());
    EXPECT_NEAR(std::stod(cell("exposed_comm_s")), ev.estimate.exposed_comm.value(), 1e-12 * ev.estimate.time.value());
    EXPECT_EQ(cell("link_shared"), cell("mechanism") == "ulysses" ? "true" : "false");
    EXPECT_EQ(ev.link_shared, cell("mechanism") == "ulysses");
  }
  // --engine wins over the file's engine: the closed form has no link_shared column.
  EXPECT_EQ(load_sweep(f, {}, "analytic").engine, SweepEngine::analytic);
  EXPECT_EQ(sweep_csv_header(load_sweep(f, {}, "analytic")).find("link_shared"), std::string::npos);
}

TEST(SweepRun, OutputDoesNotDependOnJobsOrChunks) {
  TempDir dir;
  std::string f = write_sweep(dir,
                              "grid:\n"
                              "  workload.frames: {from: 1, to: 40, step: 3}\n"
                              "  cluster.nodes: [1, 2, 3, 4]\n"
                              "passes: [fwd, bwd]\n");
  SweepPlan plan = load_sweep(f);
  std::string one = sweep_csv(plan, 1, 512);
  EXPECT_EQ(one, sweep_csv(plan, 2, 1));
  EXPECT_EQ(one, sweep_csv(plan, 2, 7));
  EXPECT_EQ(one, sweep_csv(plan, 5, 3));
  // Through the command line as well.
  CliResult a = run({"sweep", f, "--jobs", "1"});
  CliResult b = run({"sweep", f, "--jobs", "2"});
  ASSERT_EQ(a.code, 0) << a.err;
  EXPECT_EQ(a.out, one);
  EXPECT_EQ(a.out, b.out);
}

TEST(SweepRun, PointsAreDerivedInMemoryNotReadAgain) {
  // Once load_sweep has returned, the base scenario file is not needed: deleting it must
  // not change a single row (ARCHITECTURE/issue 2: never re-read YAML per point).
  TempDir dir;
  std::string base = dir.write("base.yaml", read_file(kDefaultScenario));
  std::string f = dir.write("s.yaml", "base: base.yaml\ngrid: {workload.frames: [12, 24, 36]}\n");
  SweepPlan plan = load_sweep(f);
  std::string before = sweep_csv(plan, 2, 1);
  std::filesystem::remove(base);
  std::filesystem::remove(f);
  EXPECT_EQ(sweep_csv(plan, 2, 1), before);
}

TEST(SweepRun, AFailingSinkStopsTheWorkersAndRethrows) {
  // The sink throws on its third piece; run_sweep must join its workers and rethrow that
  // exception (the command then removes its temporary --out file).
  TempDir dir;
  SweepPlan plan = load_sweep(write_sweep(dir, "grid: {workload.frames: {from: 1, to: 200, step: 1}}\n"));
  sim::SweepOptions o;
  o.jobs = 2;
  o.chunk_points = 1;
  int pieces = 0;
  EXPECT_THROW(write_sweep_csv(plan, o,
                         [&](std::string_view) {
                           if (++pieces == 3) throw std::runtime_error("disk full");
                         }),
               std::runtime_error);
  EXPECT_EQ(pieces, 3);
}

TEST(SweepRun, APointThatDoesNotResolveIsAnInfeasibleRow) {
  // The base cluster has 4 NICs per node; with 3 GPUs per node they do not divide evenly,
  // so point 1 cannot resolve: its rows say so, and point 0 and 2 are computed.
  TempDir dir;
  std::string f = write_sweep(dir,
                              "grid:\n"
                              "  cluster.gpus_per_node: [4, 3, 2]\n"
                              "mechanisms: [ring]\n");
  CliResult r = run({"sweep", f});
  ASSERT_EQ(r.code, 0) << r.err;
  auto rows = parse_csv(r.out);
  ASSERT_EQ(rows.size(), 4u);
  const auto& h = rows[0];
  auto cell = [&](std::size_t row, const char* name) { return rows[row][static_cast<std::size_t>(column(h, name))]; };
  EXPECT_EQ(cell(1, "feasible"), "true");
  EXPECT_EQ(cell(2, "feasible"), "false");
  EXPECT_NE(cell(2, "reason").find("cluster.inter_node.nics_per_node"), std::string::npos) << cell(2, "reason");
  EXPECT_EQ(cell(2, "time_s"), "");
  // 2 GPUs per node with 4 NICs per node: 4 does not divide 2 evenly either.
  EXPECT_EQ(cell(3, "feasible"), "false");
}

TEST(SweepRun, OutWritesTheFileWholeAndStdoutStaysEmpty) {
  TempDir dir;
  std::string f = write_sweep(dir, "grid:\n  workload.frames: [12, 24]\n");
  std::string out = dir.path("out.csv");
  CliResult r = run({"sweep", f, "--out", out});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(read_file(out), run({"sweep", f}).out);
}

TEST(SweepRun, SetOverridesApplyToEveryPoint) {
  TempDir dir;
  std::string f = write_sweep(dir, "grid:\n  workload.frames: [12]\nmechanisms: [ring]\n");
  auto base = parse_csv(run({"sweep", f}).out);
  auto faster = parse_csv(run({"sweep", f, "--set", "cluster.inter_node.bandwidth_GBps=50"}).out);
  // Ring's exposed communication can only shrink when the NIC is twice as fast.
  int t = column(base[0], "time_s");
  EXPECT_LT(std::stod(faster[1][static_cast<std::size_t>(t)]), std::stod(base[1][static_cast<std::size_t>(t)]));
}

TEST(SweepRun, AListedLinksFigureIsAGridField) {
  // The shipped PCIe-pairs machine: Ring's messages between the sockets cross the 16 GB/s
  // socket link, then the 32 GB/s uplinks. Doubling the socket link to 32 must shorten Ring
  // (it was the bottleneck); at 64 the uplinks are, so 64 gives what 32 gives.
  TempDir dir;
  const std::string f = write_sweep(dir,
                                    "grid:\n  cluster.links.socket-link.bandwidth_GBps: [16, 32, 64]\n"
                                    "mechanisms: [ring]\npasses: [fwd]\nscope: layer\n",
                                    "sweep.yaml", kPcieMachine);
  CliResult r = run({"sweep", f});
  ASSERT_EQ(r.code, 0) << r.err;
  auto rows = parse_csv(r.out);
  ASSERT_EQ(rows.size(), 4u);
  const auto t = static_cast<std::size_t>(column(rows[0], "time_s"));
  const auto x = static_cast<std::size_t>(column(rows[0], "cluster.links.socket-link.bandwidth_GBps"));
  EXPECT_EQ(rows[1][x], "16");
  const double at16 = std::stod(rows[1][t]), at32 = std::stod(rows[2][t]), at64 = std::stod(rows[3][t]);
  EXPECT_LT(at32, 0.6 * at16);  // communication-bound: about half
  EXPECT_DOUBLE_EQ(at64, at32);
}

// ---- sweep-file errors ------------------------------------------------------------------

void expect_sweep_error(const CliResult& r, const std::vector<std::string>& needles) {
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  for (const auto& n : needles) EXPECT_NE(r.err.find(n), std::string::npos) << "missing '" << n << "' in: " << r.err;
}

TEST(SweepBadInput, AGridFieldNamingAnUnlistedLinkNamesTheKey) {
  TempDir dir;
  const std::string f =
      write_sweep(dir, "grid:\n  cluster.links.socket.bandwidth_GBps: [16, 32]\n", "sweep.yaml", kPcieMachine);
  expect_sweep_error(run({"sweep", f}), {f + ":3:3", "cluster.links.socket.bandwidth_GBps",
                                         "the scenario lists no link named 'socket'; listed: nvlink01"});
}

TEST(SweepBadInput, UnknownEngineNamesFileLineOrOption) {
  TempDir dir;
  std::string f = write_sweep(dir, "engine: events\ngrid:\n  workload.frames: [1]\n");
  expect_sweep_error(run({"sweep", f}), {f + ":2:9", "engine", "unknown engine 'events' (known: analytic, event)"});
  std::string g = write_sweep(dir, "grid:\n  workload.frames: [1]\n", "g.yaml");
  expect_sweep_error(run({"sweep", g, "--engine", "both"}), {"--engine both", "unknown engine 'both'"});
}

TEST(SweepBadInput, UnknownGridFieldNamesFileLineAndField) {
  TempDir dir;
  std::string f = write_sweep(dir, "grid:\n  workload.frames: [1]\n  workload.framez: [1, 2]\n");
  // line 1 base, 2 grid, 3 frames, 4 framez.
  expect_sweep_error(run({"sweep", f}), {f + ":4", "workload.framez"});
}

TEST(SweepBadInput, BadValueNamesItsLine) {
  TempDir dir;
  std::string f = write_sweep(dir, "grid:\n  workload.frames:\n    - 12\n    - twelve\n");
  expect_sweep_error(run({"sweep", f}), {f + ":5", "workload.frames", "twelve"});
}

TEST(SweepBadInput, BadRanges) {
  TempDir dir;
  expect_sweep_error(run({"sweep", write_sweep(dir, "grid:\n  workload.frames: {from: 1, to: 10, step: 0}\n")}),
                     {":3", "workload.frames", "step"});
  expect_sweep_error(run({"sweep", write_sweep(dir, "grid:\n  workload.frames: {from: 10, to: 1, step: 1}\n")}),
                     {":3", "workload.frames", "empty range"});
  expect_sweep_error(run({"sweep", write_sweep(dir, "grid:\n  workload.frames: {from: 1, to: 10}\n")}),
                     {":3", "workload.frames", "step"});
  expect_sweep_error(run({"sweep", write_sweep(dir, "grid:\n  workload.frames: {from: 1, to: 10, factor: 1}\n")}),
                     {":3", "workload.frames", "factor"});
  expect_sweep_error(run({"sweep", write_sweep(dir, "grid:\n  workload.model: {from: 1, to: 10, step: 1}\n")}),
                     {":3", "workload.model", "numeric"});
  expect_sweep_error(run({"sweep", write_sweep(dir, "grid:\n  workload.frames: {from: 1, upto: 10, step: 1}\n")}),
                     {":3", "workload.frames", "upto"});
}

TEST(SweepBadInput, SweepFileStructure) {
  TempDir dir;
  // Unknown top-level key, on line 2.
  expect_sweep_error(run({"sweep", write_sweep(dir, "gird:\n  workload.frames: [1]\n")}), {":2", "gird"});
  // Unknown mechanism and pass, each named at its own item: "warp" starts at line 2,
  // column 20 ("mechanisms: [ring, " is 19 characters) and "sideways" at line 3,
  // column 15 ("passes: [fwd, " is 14).
  expect_sweep_error(run({"sweep", write_sweep(dir, "mechanisms: [ring, warp]\npasses: [fwd, sideways]\n")}),
                     {":2:20: mechanisms", "warp", ":3:15: passes", "sideways"});
  // A bad fixed override, line 2.
  expect_sweep_error(run({"sweep", write_sweep(dir, "set: {workload.frames: -x}\n")}), {":2", "workload.frames"});
  // Malformed YAML.
  expect_sweep_error(run({"sweep", write_sweep(dir, "grid: [unclosed\n")}), {"sweep.yaml"});
  // No base, and a base that does not exist.
  expect_sweep_error(run({"sweep", dir.write("nobase.yaml", "grid: {workload.frames: [1]}\n")}), {"base"});
  expect_sweep_error(run({"sweep", dir.write("badbase.yaml", "base: nowhere.yaml\n")}), {"badbase.yaml:1", "nowhere.yaml"});
  // The sweep file itself does not exist.
  expect_sweep_error(run({"sweep", dir.path("missing.yaml")}), {"missing.yaml"});
  // A --set on a grid field would be silently overridden: refused.
  expect_sweep_error(run({"sweep", write_sweep(dir, "grid: {workload.frames: [1]}\n"), "--set", "workload.frames=2"}),
                     {"workload.frames", "grid"});
  expect_sweep_error(run({"sweep", write_sweep(dir, "grid: {workload.frames: [1]}\n"), "--set", " workload.frames =2"}),
                     {"workload.frames", "grid"});
  // The scenario's `mechanisms` field is not a grid dimension: the sweep's own list is.
  expect_sweep_error(run({"sweep", write_sweep(dir, "grid:\n  mechanisms: [ring, lv-xattn]\n")}), {":3", "mechanisms"});
  // --out into a folder that does not exist: refused before the sweep runs.
  expect_sweep_error(run({"sweep", write_sweep(dir, "grid: {workload.frames: [1]}\n"), "--out", dir.path("no/such.csv")}),
                     {"--out", "no such folder"});
  // --jobs must be positive (CLI11 validation).
  EXPECT_EQ(run({"sweep", write_sweep(dir, "grid: {workload.frames: [1]}\n"), "--jobs", "0"}).code, 2);
}

TEST(SweepBadInput, BaseIsRelativeToTheSweepFile) {
  TempDir dir;
  dir.write("scenario.yaml", read_file(kDefaultScenario));
  std::string f = dir.write("rel.yaml", "base: scenario.yaml\ngrid: {workload.frames: [1, 2]}\n");
  CliResult r = run({"sweep", f});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(parse_csv(r.out).size(), 1u + 2u * 4u);  // 2 points x the base's 4 mechanisms
}

TEST(SweepBadInput, OutLeavesNothingBehindOnError) {
  TempDir dir;
  std::string f = write_sweep(dir, "grid:\n  workload.framez: [1]\n");
  CliResult r = run({"sweep", f, "--out", dir.path("out.csv")});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(dir.files(), std::vector<std::string>{"sweep.yaml"});  // no out.csv, no temporary
}

TEST(SweepExample, TheShippedExampleRuns) {
  // scenarios/sweeps/llama32v-frames.yaml: frames 12..384 step 12 (32 values) x nodes
  // [1, 2, 4] (3) = 96 points x 3 mechanisms x 1 pass = 288 rows.
  CliResult r = run({"sweep", kSourceDir + "/scenarios/sweeps/llama32v-frames.yaml", "--jobs", "2"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(parse_csv(r.out).size(), 1u + 288u);
}

}  // namespace
}  // namespace xattn::cli::test
