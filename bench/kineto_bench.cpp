// bench_kineto: how fast `xattn import kineto` reads a profiler trace (issue 19, "traces of
// hundreds of MB are read as a stream"). ReadTrace/copies: the synthetic rank-0 FSDP
// trace (tests/data/kineto/) repeated `copies` times into one temporary file, its events
// shifted in time and ids, then read and classified (model/calib/kineto.hpp); the figure
// is bytes of trace per second, with kernels per second and the file's size as counters.
// Figures are printed, never asserted.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include "model/calib/kineto.hpp"

namespace {

using xattn::KinetoTrace;

// Writes the fixture's events `copies` times, each copy one step further on, and returns
// the file's path.
std::string write_big_trace(int copies) {
  const std::string src = std::string(XATTN_SOURCE_DIR) + "/tests/data/kineto/synthetic-fsdp-2rank/rank0.json";
  std::ifstream in(src);
  nlohmann::json doc = nlohmann::json::parse(in);
  nlohmann::json events = std::move(doc["traceEvents"]);
  doc.erase("traceEvents");
  double lo = 1e300, hi = -1e300;
  for (const auto& e : events) {
    lo = std::min(lo, e["ts"].get<double>());
    hi = std::max(hi, e["ts"].get<double>() + e.value("dur", 0.0));
  }
  const double span = hi - lo + 1000;
  const std::string path =
      (std::filesystem::temp_directory_path() / ("xattn-bench-kineto-" + std::to_string(copies) + ".json")).string();
  std::ofstream out(path);
  std::string head = doc.dump();
  head.pop_back();  // the closing brace
  out << head << ",\"traceEvents\":[\n";
  bool first = true;
  for (int c = 0; c < copies; ++c)
    for (nlohmann::json e : events) {
      e["ts"] = e["ts"].get<double>() + c * span;
      if (e.contains("args"))
        for (const char* k : {"External id", "correlation"})
          if (e["args"].contains(k) && e["args"][k].get<std::int64_t>() != 0)
            e["args"][k] = e["args"][k].get<std::int64_t>() + static_cast<std::int64_t>(c) * 1000000;
      const std::string name = e["name"].get<std::string>();
      if (name.rfind("ProfilerStep#", 0) == 0) e["name"] = "ProfilerStep#" + std::to_string(c * 2 + std::stoi(name.substr(13)));
      out << (first ? "" : ",\n") << e.dump();
      first = false;
    }
  out << "]}\n";
  return path;
}

void ReadTrace(benchmark::State& state) {
  const std::string path = write_big_trace(static_cast<int>(state.range(0)));
  const auto size = static_cast<std::int64_t>(std::filesystem::file_size(path));
  std::size_t kernels = 0;
  for (auto _ : state) {
    KinetoTrace t = xattn::read_kineto_trace(path);
    kernels = t.kernels.size();
    benchmark::DoNotOptimize(t);
  }
  state.SetBytesProcessed(state.iterations() * size);
  state.counters["file_MB"] = static_cast<double>(size) / 1e6;
  state.counters["kernels_per_s"] =
      benchmark::Counter(static_cast<double>(kernels), benchmark::Counter::kIsIterationInvariantRate);
  std::filesystem::remove(path);
}
BENCHMARK(ReadTrace)->Arg(1)->Arg(100)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
