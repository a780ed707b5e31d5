// Calibration files (docs/calibration.md): YAML that sets only the keys it names, so that
// several files apply in order, later ones winning per key.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "model/core/error.hpp"
#include "model/core/input_file.hpp"
#include "model/core/limits.hpp"
#include "model/kernel_model.hpp"
#include "model/scenario.hpp"
#include "model/scenario/calibration_file.hpp"
#include "model/scenario/yaml_check.hpp"

namespace xattn {
namespace {

struct Reader {
  std::string source;
  std::vector<Problem> problems;

  Origin at(const YAML::Node& n) const { return Origin{source, n.Mark().line + 1, n.Mark().column + 1}; }

  template <class T>
  std::optional<T> get(const YAML::Node& map, const char* key, const std::string& path) {
    if (!map.IsMap()) return std::nullopt;  // a section that is no mapping: check_keys says so, once
    YAML::Node n = map[key];
    if (!n) return std::nullopt;
    std::optional<T> v;
    try {
      v = n.as<T>();
    } catch (const YAML::Exception&) {
      problems.push_back({at(n), path, fmt::format("'{}' has the wrong type", n.IsScalar() ? n.Scalar() : "")});
      return std::nullopt;
    }
    // Every figure is a finite number, every count within the longest sequence
    // (docs/limits.md); the callers check signs and the ranges of their own.
    if constexpr (std::is_same_v<T, double>) {
      if (!std::isfinite(*v)) {
        problems.push_back({at(n), path, fmt::format("must be a finite number, got {}", n.Scalar())});
        return std::nullopt;
      }
    } else if constexpr (std::is_same_v<T, std::int64_t>) {
      if (*v > limits::max_tokens) {
        problems.push_back({at(n), path, fmt::format("{} is beyond the largest value xattn accepts, {} (docs/limits.md)",
                                                     *v, limits::max_tokens)});
        return std::nullopt;
      }
    }
    return v;
  }

  // A figure within [lo, hi] (above lo when `open`), else a problem: true when it is.
  bool within(const YAML::Node& n, const std::string& path, double v, double lo, double hi, bool open) {
    if ((open ? v > lo : v >= lo) && v <= hi) return true;
    problems.push_back({at(n), path,
                        fmt::format("{} is out of range: {} {} to {} (docs/limits.md)", v, open ? "above" : "from", lo, hi)});
    return false;
  }

  void check_keys(const YAML::Node& map, const std::string& path, std::initializer_list<const char*> known) {
    if (!map.IsMap()) {
      std::string list;
      for (const char* k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      if (!map.IsNull()) problems.push_back({at(map), path, fmt::format("expected a mapping with keys: {}", list)});
      return;
    }
    for (auto it = map.begin(); it != map.end(); ++it) {
      std::string key = it->first.as<std::string>();
      bool ok = false;
      std::string list;
      for (const char* k : known) {
        ok = ok || key == k;
        list += (list.empty() ? "" : ", ") + std::string(k);
      }
      if (!ok)
        problems.push_back({at(it->first), path.empty() ? key : path + "." + key,
                            fmt::format("unknown field; known keys: {}", list)});
    }
  }

  void fraction(const YAML::Node& map, const char* key, const std::string& path, std::optional<double>& out) {
    if (auto v = get<double>(map, key, path + "." + key)) {
      if (!(*v > 0 && *v <= 1)) problems.push_back({at(map[key]), path + "." + key, "must be in (0, 1]"});
      else out = *v;
    }
  }
};

// One {latency_us, bandwidth_GBps} pair; both required when `both` (protocol regimes).
void read_pair(Reader& r, const YAML::Node& node, const std::string& path, std::optional<Seconds>& latency,
               std::optional<BytesPerSecond>& bandwidth) {
  if (auto v = r.get<double>(node, "latency_us", path + ".latency_us")) {
    if (*v < 0) r.problems.push_back({r.at(node["latency_us"]), path + ".latency_us", "must not be negative"});
    else if (r.within(node["latency_us"], path + ".latency_us", *v, 0, limits::max_latency_us, false)) latency = microseconds(*v);
  }
  if (auto v = r.get<double>(node, "bandwidth_GBps", path + ".bandwidth_GBps")) {
    if (*v <= 0) r.problems.push_back({r.at(node["bandwidth_GBps"]), path + ".bandwidth_GBps", "must be positive"});
    else if (r.within(node["bandwidth_GBps"], path + ".bandwidth_GBps", *v, limits::min_bandwidth_GBps,
                      limits::max_bandwidth_GBps, false))
      bandwidth = gigabytes_per_second(*v);
  }
}

// One map of protocol regimes (`protocols:` or `p2p:` of a link class). A later file
// replaces the regimes it names and keeps the others. `collective`: the collective-only
// keys (base, tree and local figures) are allowed.
void read_regimes(Reader& r, const YAML::Node& protos, const std::string& ppath, std::vector<ProtocolRegime>& out,
                  bool collective) {
  if (!protos.IsMap()) {
    r.problems.push_back({r.at(protos), ppath, "expected a mapping of ll, ll128, simple to {latency_us, bandwidth_GBps, ...}"});
    return;
  }
  r.check_keys(protos, ppath, {"ll", "ll128", "simple"});
  for (Protocol p : {Protocol::ll, Protocol::ll128, Protocol::simple}) {
    const std::string name(to_string(p));
    YAML::Node one = protos[name];
    if (!one) continue;
    const std::string rpath = ppath + "." + name;
    if (!one.IsMap()) {
      r.problems.push_back({r.at(one), rpath, "expected {latency_us, bandwidth_GBps}"});
      continue;
    }
    if (collective)
      r.check_keys(one, rpath, {"latency_us", "bandwidth_GBps", "base_latency_us", "tree_latency_us", "local_bandwidth_GBps"});
    else
      r.check_keys(one, rpath, {"latency_us", "bandwidth_GBps"});
    std::optional<Seconds> lat;
    std::optional<BytesPerSecond> bw;
    read_pair(r, one, rpath, lat, bw);
    ProtocolRegime regime;
    regime.protocol = p;
    if (auto v = r.get<double>(one, "base_latency_us", rpath + ".base_latency_us")) {
      if (*v < 0) r.problems.push_back({r.at(one["base_latency_us"]), rpath + ".base_latency_us", "must not be negative"});
      else if (r.within(one["base_latency_us"], rpath + ".base_latency_us", *v, 0, limits::max_latency_us, false))
        regime.base_latency = microseconds(*v);
    }
    if (auto v = r.get<double>(one, "tree_latency_us", rpath + ".tree_latency_us")) {
      if (*v < 0) r.problems.push_back({r.at(one["tree_latency_us"]), rpath + ".tree_latency_us", "must not be negative"});
      else if (r.within(one["tree_latency_us"], rpath + ".tree_latency_us", *v, 0, limits::max_latency_us, false))
        regime.tree_latency = microseconds(*v);
    }
    if (auto v = r.get<double>(one, "local_bandwidth_GBps", rpath + ".local_bandwidth_GBps")) {
      if (!(*v > 0))
        r.problems.push_back({r.at(one["local_bandwidth_GBps"]), rpath + ".local_bandwidth_GBps", "must be positive"});
      else if (r.within(one["local_bandwidth_GBps"], rpath + ".local_bandwidth_GBps", *v, limits::min_bandwidth_GBps,
                        limits::max_bandwidth_GBps, false))
        regime.local_bandwidth = gigabytes_per_second(*v);
    }
    if (!one["latency_us"] || !one["bandwidth_GBps"]) {
      r.problems.push_back({r.at(one), rpath, "a protocol regime needs both latency_us and bandwidth_GBps"});
      continue;
    }
    if (!lat || !bw) continue;  // already reported
    regime.latency = *lat;
    regime.bandwidth = *bw;
    std::erase_if(out, [&](const ProtocolRegime& x) { return x.protocol == p; });
    out.push_back(regime);
  }
  std::sort(out.begin(), out.end(), [](const ProtocolRegime& a, const ProtocolRegime& b) { return a.protocol < b.protocol; });
}

void read_link(Reader& r, const YAML::Node& node, const std::string& path, LinkCalibration& link) {
  if (!node) return;
  if (!node.IsMap()) {
    r.problems.push_back({r.at(node), path, "expected a mapping with latency_us and/or bandwidth_GBps"});
    return;
  }
  r.check_keys(node, path, {"latency_us", "bandwidth_GBps", "protocols", "p2p"});
  read_pair(r, node, path, link.latency, link.bandwidth);
  if (YAML::Node protos = node["protocols"]) read_regimes(r, protos, path + ".protocols", link.protocols, true);
  if (YAML::Node p2p = node["p2p"]) read_regimes(r, p2p, path + ".p2p", link.p2p, false);
}

void read_launch(Reader& r, const YAML::Node& node, LaunchCalibration& launch) {
  if (!node) return;
  const std::string path = "links.launch_overhead_us";
  if (!node.IsMap()) {
    r.problems.push_back({r.at(node), path, "expected a mapping with single_process, mpi and/or per_gpu"});
    return;
  }
  r.check_keys(node, path, {"single_process", "mpi", "per_gpu"});
  if (auto v = r.get<double>(node, "per_gpu", path + ".per_gpu")) {
    if (*v < 0) r.problems.push_back({r.at(node["per_gpu"]), path + ".per_gpu", "must not be negative"});
    else if (r.within(node["per_gpu"], path + ".per_gpu", *v, 0, limits::max_latency_us, false))
      launch.per_gpu = microseconds(*v);
  }
  for (LaunchMode m : {LaunchMode::single_process, LaunchMode::mpi}) {
    const std::string name(to_string(m));
    if (auto v = r.get<double>(node, name.c_str(), path + "." + name)) {
      if (*v < 0) r.problems.push_back({r.at(node[name]), path + "." + name, "must not be negative"});
      else if (r.within(node[name], path + "." + name, *v, 0, limits::max_latency_us, false))
        (m == LaunchMode::mpi ? launch.mpi : launch.single_process) = microseconds(*v);
    }
  }
}

// `iteration:` (docs/calibration.md): the training step's own figures (docs/model.md §14).
void read_iteration(Reader& r, const YAML::Node& node, IterationCalibration& it) {
  const std::string path = "iteration";
  if (!node.IsMap()) {
    r.problems.push_back({r.at(node), path,
                          "expected a mapping with vision_efficiency, host_sync_us, zero_bucket_elements and/or "
                          "ddp_bucket_bytes"});
    return;
  }
  r.check_keys(node, path, {"vision_efficiency", "host_sync_us", "zero_bucket_elements", "ddp_bucket_bytes"});
  r.fraction(node, "vision_efficiency", path, it.vision_efficiency);
  if (auto v = r.get<double>(node, "host_sync_us", path + ".host_sync_us")) {
    if (!(*v >= 0)) r.problems.push_back({r.at(node["host_sync_us"]), path + ".host_sync_us", "must not be negative"});
    else if (r.within(node["host_sync_us"], path + ".host_sync_us", *v, 0, limits::max_latency_us, false))
      it.host_sync = microseconds(*v);
  }
  for (auto [key, member] : {std::pair{"zero_bucket_elements", &IterationCalibration::zero_bucket_elements},
                             std::pair{"ddp_bucket_bytes", &IterationCalibration::ddp_bucket_bytes}}) {
    if (auto v = r.get<double>(node, key, path + "." + key)) {
      // Buckets of up to 2^50 elements or bytes, as the largest message (docs/limits.md).
      if (!(*v >= 1)) r.problems.push_back({r.at(node[key]), path + "." + key, "must be at least 1"});
      else if (r.within(node[key], path + "." + key, *v, 1, static_cast<double>(limits::max_message_bytes), false))
        it.*member = *v;
    }
  }
}

// compute.gemm_table: measured GEMM shapes (docs/model.md eq. 22). A later file replaces
// the points of the shapes it names and keeps the others.
void read_gemm_table(Reader& r, const YAML::Node& table, std::vector<GemmPoint>& out) {
  const std::string path = "compute.gemm_table";
  if (!table.IsSequence()) {
    r.problems.push_back({r.at(table), path, "expected a list of {m, k, n, efficiency, kernels}"});
    return;
  }
  for (const auto& row : table) {
    if (!row.IsMap()) {
      r.problems.push_back({r.at(row), path, "expected {m, k, n, efficiency, kernels}"});
      continue;
    }
    r.check_keys(row, path + "[]", {"m", "k", "n", "efficiency", "kernels"});
    auto m = r.get<std::int64_t>(row, "m", path + "[].m");
    auto k = r.get<std::int64_t>(row, "k", path + "[].k");
    auto n = r.get<std::int64_t>(row, "n", path + "[].n");
    auto e = r.get<double>(row, "efficiency", path + "[].efficiency");
    auto count = r.get<int>(row, "kernels", path + "[].kernels");
    if (!m || !k || !n || !e) {
      r.problems.push_back({r.at(row), path + "[]", "every point needs m, k, n and efficiency"});
      continue;
    }
    if (*m <= 0 || *k <= 0 || *n <= 0) {
      r.problems.push_back({r.at(row), path + "[]", "m, k and n must be positive"});
      continue;
    }
    if (!(*e > 0 && *e <= 1)) {
      r.problems.push_back({r.at(row["efficiency"]), path + "[].efficiency", "must be in (0, 1]"});
      continue;
    }
    if (count && *count < 0) {
      r.problems.push_back({r.at(row["kernels"]), path + "[].kernels", "must not be negative"});
      continue;
    }
    std::erase_if(out, [&](const GemmPoint& p) { return p.m == *m && p.k == *k && p.n == *n; });
    out.push_back(GemmPoint{*m, *k, *n, *e, count.value_or(0)});
  }
}

// compute.attention_table: measured attention call shapes (docs/model.md eq. 3f). A later
// file replaces the points of the shapes it names and keeps the others.
void read_attention_table(Reader& r, const YAML::Node& table, std::vector<AttentionPoint>& out) {
  const std::string path = "compute.attention_table";
  const std::string fields = "{pass, head_dim, q_rows, kv_rows, causal, efficiency, kernels}";
  if (!table.IsSequence()) {
    r.problems.push_back({r.at(table), path, "expected a list of " + fields});
    return;
  }
  for (const auto& row : table) {
    if (!row.IsMap()) {
      r.problems.push_back({r.at(row), path, "expected " + fields});
      continue;
    }
    r.check_keys(row, path + "[]", {"pass", "head_dim", "q_rows", "kv_rows", "causal", "efficiency", "kernels"});
    auto pass = r.get<std::string>(row, "pass", path + "[].pass");
    auto d = r.get<std::int64_t>(row, "head_dim", path + "[].head_dim");
    auto q = r.get<std::int64_t>(row, "q_rows", path + "[].q_rows");
    auto kv = r.get<std::int64_t>(row, "kv_rows", path + "[].kv_rows");
    auto causal = r.get<bool>(row, "causal", path + "[].causal");
    auto e = r.get<double>(row, "efficiency", path + "[].efficiency");
    auto count = r.get<int>(row, "kernels", path + "[].kernels");
    if (!pass || !d || !q || !kv || !e) {
      r.problems.push_back({r.at(row), path + "[]", "every point needs pass, head_dim, q_rows, kv_rows and efficiency"});
      continue;
    }
    if (*pass != "fwd" && *pass != "bwd") {
      r.problems.push_back({r.at(row["pass"]), path + "[].pass", "must be fwd or bwd"});
      continue;
    }
    if (*d <= 0 || *q <= 0 || *kv <= 0) {
      r.problems.push_back({r.at(row), path + "[]", "head_dim, q_rows and kv_rows must be positive"});
      continue;
    }
    if (!(*e > 0 && *e <= 1)) {
      r.problems.push_back({r.at(row["efficiency"]), path + "[].efficiency", "must be in (0, 1]"});
      continue;
    }
    if (count && *count < 0) {
      r.problems.push_back({r.at(row["kernels"]), path + "[].kernels", "must not be negative"});
      continue;
    }
    const AttentionPoint p{*pass == "fwd" ? BlockPass::fwd : BlockPass::bwd, *d, *q, *kv, causal.value_or(false), *e,
                           count.value_or(0)};
    std::erase_if(out, [&](const AttentionPoint& o) {
      return o.pass == p.pass && o.head_dim == p.head_dim && o.q_rows == p.q_rows && o.kv_rows == p.kv_rows &&
             o.causal == p.causal;
    });
    out.push_back(p);
  }
}

}  // namespace

void apply_calibration_file(Calibration& c, const std::string& path) {
  apply_calibration_text(c, read_input_file(path, "calibration"), path);
}

void apply_calibration_text(Calibration& c, const std::string& text, const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw InputError(Origin{path, e.mark.line + 1, e.mark.column + 1}, "", "malformed YAML: " + e.msg);
  }
  Reader r{path, {}};
  if (!root.IsMap()) throw InputError(Origin{path, 1, 1}, "", "a calibration file is a YAML mapping");
  check_yaml_document(root, path, text.size(), r.problems);
  if (!r.problems.empty()) throw InputError(std::move(r.problems));
  r.check_keys(root, "", {"compute", "iteration", "links", "source", "notes"});
  Calibration next = c;
  if (YAML::Node comp = root["compute"]) {
    auto& cc = next.compute;
    r.check_keys(comp, "compute",
                 {"kernel", "fwd_max_d64", "fwd_max_d128", "bwd_max_d64", "bwd_max_d128", "fwd_tile_rows",
                  "fwd_tile_cols", "bwd_tile_rows", "bwd_tile_cols", "kv_half", "q_half", "split_kv", "gqa_packing",
                  "accumulate", "launch_overhead_us", "elementwise_overhead_us", "memory_efficiency", "gemm_efficiency",
                  "comm_interference", "table", "gemm_table", "attention_table"});
    // docs/model.md §3: the kernel family and how a ring step folds its partials.
    if (auto v = r.get<std::string>(comp, "kernel", "compute.kernel")) {
      if (auto f = parse_kernel_family(*v)) cc.kernel = *f;
      else
        r.problems.push_back({r.at(comp["kernel"]), "compute.kernel",
                              fmt::format("unknown kernel family '{}'; known: flash-attention-2, flash-attention-3, cudnn", *v)});
    }
    if (auto v = r.get<std::string>(comp, "accumulate", "compute.accumulate")) {
      if (auto a = parse_accumulate_pass(*v)) cc.accumulate = *a;
      else r.problems.push_back({r.at(comp["accumulate"]), "compute.accumulate", fmt::format("'{}': must be separate, fused or eager", *v)});
    }
    for (auto [key, member] : {std::pair{"split_kv", &ComputeCalibration::split_kv},
                               std::pair{"gqa_packing", &ComputeCalibration::gqa_packing}})
      if (auto v = r.get<bool>(comp, key, std::string("compute.") + key)) cc.*member = *v;
    r.fraction(comp, "fwd_max_d64", "compute", cc.fwd_max_d64);
    r.fraction(comp, "fwd_max_d128", "compute", cc.fwd_max_d128);
    r.fraction(comp, "bwd_max_d64", "compute", cc.bwd_max_d64);
    r.fraction(comp, "bwd_max_d128", "compute", cc.bwd_max_d128);
    r.fraction(comp, "memory_efficiency", "compute", cc.memory_efficiency);
    r.fraction(comp, "gemm_efficiency", "compute", cc.gemm_efficiency);
    for (auto [key, member] : {std::pair{"fwd_tile_rows", &ComputeCalibration::fwd_tile_rows},
                               std::pair{"fwd_tile_cols", &ComputeCalibration::fwd_tile_cols},
                               std::pair{"bwd_tile_rows", &ComputeCalibration::bwd_tile_rows},
                               std::pair{"bwd_tile_cols", &ComputeCalibration::bwd_tile_cols}}) {
      if (auto v = r.get<std::int64_t>(comp, key, std::string("compute.") + key)) {
        if (*v <= 0) r.problems.push_back({r.at(comp[key]), std::string("compute.") + key, "must be positive"});
        else cc.*member = *v;
      }
    }
    for (auto [key, member] : {std::pair{"kv_half", &ComputeCalibration::kv_half},
                               std::pair{"q_half", &ComputeCalibration::q_half}}) {
      if (auto v = r.get<double>(comp, key, std::string("compute.") + key)) {
        if (!(*v >= 0)) r.problems.push_back({r.at(comp[key]), std::string("compute.") + key, "must not be negative"});
        else cc.*member = *v;
      }
    }
    if (auto v = r.get<double>(comp, "elementwise_overhead_us", "compute.elementwise_overhead_us")) {
      if (!(*v >= 0))
        r.problems.push_back({r.at(comp["elementwise_overhead_us"]), "compute.elementwise_overhead_us", "must not be negative"});
      else if (r.within(comp["elementwise_overhead_us"], "compute.elementwise_overhead_us", *v, 0, limits::max_latency_us, false))
        cc.elementwise_overhead = microseconds(*v);
    }
    if (auto v = r.get<double>(comp, "comm_interference", "compute.comm_interference")) {
      if (!(*v >= 0)) r.problems.push_back({r.at(comp["comm_interference"]), "compute.comm_interference", "must not be negative"});
      else if (r.within(comp["comm_interference"], "compute.comm_interference", *v, 0, limits::max_factor, false))
        cc.comm_interference = *v;
    }
    if (auto v = r.get<double>(comp, "launch_overhead_us", "compute.launch_overhead_us")) {
      if (*v < 0) r.problems.push_back({r.at(comp["launch_overhead_us"]), "compute.launch_overhead_us", "must not be negative"});
      else if (r.within(comp["launch_overhead_us"], "compute.launch_overhead_us", *v, 0, limits::max_latency_us, false))
        cc.launch_overhead = microseconds(*v);
    }
    if (YAML::Node table = comp.IsMap() ? comp["table"] : YAML::Node(YAML::NodeType::Undefined)) {
      std::vector<EfficiencyPoint> points;
      if (!table.IsSequence()) {
        r.problems.push_back({r.at(table), "compute.table", "expected a list of points"});
      } else {
        for (const auto& row : table) {
          if (!row.IsMap()) {
            r.problems.push_back({r.at(row), "compute.table", "expected {pass, head_dim, q_rows, kv_rows, efficiency}"});
            continue;
          }
          r.check_keys(row, "compute.table[]", {"pass", "head_dim", "q_rows", "kv_rows", "efficiency"});
          EfficiencyPoint p;
          auto pass = r.get<std::string>(row, "pass", "compute.table[].pass");
          auto d = r.get<std::int64_t>(row, "head_dim", "compute.table[].head_dim");
          auto q = r.get<std::int64_t>(row, "q_rows", "compute.table[].q_rows");
          auto k = r.get<std::int64_t>(row, "kv_rows", "compute.table[].kv_rows");
          auto e = r.get<double>(row, "efficiency", "compute.table[].efficiency");
          if (!pass || !d || !q || !k || !e) {
            r.problems.push_back({r.at(row), "compute.table[]", "every point needs pass, head_dim, q_rows, kv_rows, efficiency"});
            continue;
          }
          if (*pass != "fwd" && *pass != "bwd") {
            r.problems.push_back({r.at(row["pass"]), "compute.table[].pass", "must be fwd or bwd"});
            continue;
          }
          p.pass = *pass == "fwd" ? BlockPass::fwd : BlockPass::bwd;
          p.head_dim = *d;
          p.q_rows = *q;
          p.kv_rows = *k;
          p.efficiency = *e;
          points.push_back(p);
        }
        std::string why = validate_table(points);
        if (!why.empty()) r.problems.push_back({r.at(table), "compute.table", why});
        // Later files replace earlier points of the same (pass, head_dim).
        auto& old = cc.table;
        for (const auto& p : points)
          std::erase_if(old, [&](const EfficiencyPoint& o) { return o.pass == p.pass && o.head_dim == p.head_dim; });
        old.insert(old.end(), points.begin(), points.end());
      }
    }
    if (YAML::Node gt = comp.IsMap() ? comp["gemm_table"] : YAML::Node(YAML::NodeType::Undefined)) read_gemm_table(r, gt, cc.gemm_table);
    if (YAML::Node at = comp.IsMap() ? comp["attention_table"] : YAML::Node(YAML::NodeType::Undefined)) read_attention_table(r, at, cc.attention_table);
  }
  if (YAML::Node it = root["iteration"]) read_iteration(r, it, next.iteration);
  if (YAML::Node links = root["links"]) {
    r.check_keys(links, "links", {"intra_node", "inter_node", "launch_overhead_us"});  // says when no mapping
    if (links.IsMap()) {
      read_launch(r, links["launch_overhead_us"], next.launch);
      read_link(r, links["intra_node"], "links.intra_node", next.intra_node);
      read_link(r, links["inter_node"], "links.inter_node", next.inter_node);
    }
  }
  if (!r.problems.empty()) throw InputError(std::move(r.problems));
  next.sources.push_back(path);
  c = std::move(next);
}

Calibration load_calibration(const std::string& path) {
  Calibration c;
  apply_calibration_file(c, path);
  return c;
}

namespace {

// The `links:` part of a calibration file, when there is anything to write.
void emit_links(YAML::Emitter& out, const Calibration& c) {
  auto regimes = [&](const char* key, const std::vector<ProtocolRegime>& rs, bool collective) {
    if (rs.empty()) return;
    out << YAML::Key << key << YAML::Value << YAML::BeginMap;
    for (const auto& p : rs) {
      out << YAML::Key << std::string(to_string(p.protocol)) << YAML::Value << YAML::Flow << YAML::BeginMap
          << YAML::Key << "latency_us" << YAML::Value << to_microseconds(p.latency) << YAML::Key << "bandwidth_GBps"
          << YAML::Value << to_gigabytes_per_second(p.bandwidth);
      if (collective) {
        out << YAML::Key << "base_latency_us" << YAML::Value << to_microseconds(p.base_latency);
        if (p.tree_latency) out << YAML::Key << "tree_latency_us" << YAML::Value << to_microseconds(*p.tree_latency);
        if (p.local_bandwidth)
          out << YAML::Key << "local_bandwidth_GBps" << YAML::Value << to_gigabytes_per_second(*p.local_bandwidth);
      }
      out << YAML::EndMap;
    }
    out << YAML::EndMap;
  };
  auto has = [](const LinkCalibration& l) { return l.latency || l.bandwidth || !l.protocols.empty() || !l.p2p.empty(); };
  auto link = [&](const char* name, const LinkCalibration& l) {
    if (!has(l)) return;
    out << YAML::Key << name << YAML::Value << YAML::BeginMap;
    if (l.latency) out << YAML::Key << "latency_us" << YAML::Value << to_microseconds(*l.latency);
    if (l.bandwidth) out << YAML::Key << "bandwidth_GBps" << YAML::Value << to_gigabytes_per_second(*l.bandwidth);
    regimes("protocols", l.protocols, true);
    regimes("p2p", l.p2p, false);
    out << YAML::EndMap;
  };
  const bool has_launch = c.launch.single_process || c.launch.mpi || c.launch.per_gpu;
  if (has(c.intra_node) || has(c.inter_node) || has_launch) {
    out << YAML::Key << "links" << YAML::Value << YAML::BeginMap;
    if (has_launch) {
      out << YAML::Key << "launch_overhead_us" << YAML::Value << YAML::BeginMap;
      if (c.launch.single_process)
        out << YAML::Key << "single_process" << YAML::Value << to_microseconds(*c.launch.single_process);
      if (c.launch.mpi) out << YAML::Key << "mpi" << YAML::Value << to_microseconds(*c.launch.mpi);
      if (c.launch.per_gpu) out << YAML::Key << "per_gpu" << YAML::Value << to_microseconds(*c.launch.per_gpu);
      out << YAML::EndMap;
    }
    link("intra_node", c.intra_node);
    link("inter_node", c.inter_node);
    out << YAML::EndMap;
  }
}

}  // namespace

std::string calibration_to_yaml(const Calibration& c) {
  YAML::Emitter out;
  const auto& cc = c.compute;
  out << YAML::BeginMap;
  out << YAML::Key << "compute" << YAML::Value << YAML::BeginMap;
  // Only the fields set: an unset one takes the kernel family's default for the GPU when
  // the file is read back (docs/model.md §3), and stays reported as uncalibrated.
  auto put = [&](const char* key, const auto& value) {
    if (value) out << YAML::Key << key << YAML::Value << *value;
  };
  if (cc.kernel) out << YAML::Key << "kernel" << YAML::Value << std::string(to_string(*cc.kernel));
  put("fwd_max_d64", cc.fwd_max_d64);
  put("fwd_max_d128", cc.fwd_max_d128);
  put("bwd_max_d64", cc.bwd_max_d64);
  put("bwd_max_d128", cc.bwd_max_d128);
  put("fwd_tile_rows", cc.fwd_tile_rows);
  put("fwd_tile_cols", cc.fwd_tile_cols);
  put("bwd_tile_rows", cc.bwd_tile_rows);
  put("bwd_tile_cols", cc.bwd_tile_cols);
  put("kv_half", cc.kv_half);
  put("q_half", cc.q_half);
  put("split_kv", cc.split_kv);
  put("gqa_packing", cc.gqa_packing);
  if (cc.accumulate) out << YAML::Key << "accumulate" << YAML::Value << std::string(to_string(*cc.accumulate));
  if (cc.launch_overhead) out << YAML::Key << "launch_overhead_us" << YAML::Value << to_microseconds(*cc.launch_overhead);
  put("memory_efficiency", cc.memory_efficiency);
  if (cc.elementwise_overhead)
    out << YAML::Key << "elementwise_overhead_us" << YAML::Value << to_microseconds(*cc.elementwise_overhead);
  put("gemm_efficiency", cc.gemm_efficiency);
  out << YAML::Key << "comm_interference" << YAML::Value << cc.comm_interference;
  if (!cc.table.empty()) {
    out << YAML::Key << "table" << YAML::Value << YAML::BeginSeq;
    for (const auto& p : cc.table) {
      out << YAML::Flow << YAML::BeginMap << YAML::Key << "pass" << YAML::Value
          << (p.pass == BlockPass::fwd ? "fwd" : "bwd") << YAML::Key << "head_dim" << YAML::Value << p.head_dim
          << YAML::Key << "q_rows" << YAML::Value << p.q_rows << YAML::Key << "kv_rows" << YAML::Value << p.kv_rows
          << YAML::Key << "efficiency" << YAML::Value << p.efficiency << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  if (!cc.gemm_table.empty()) {
    out << YAML::Key << "gemm_table" << YAML::Value << YAML::BeginSeq;
    for (const auto& p : cc.gemm_table) {
      out << YAML::Flow << YAML::BeginMap << YAML::Key << "m" << YAML::Value << p.m << YAML::Key << "k" << YAML::Value
          << p.k << YAML::Key << "n" << YAML::Value << p.n << YAML::Key << "efficiency" << YAML::Value << p.efficiency;
      if (p.kernels > 0) out << YAML::Key << "kernels" << YAML::Value << p.kernels;
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  if (!cc.attention_table.empty()) {
    out << YAML::Key << "attention_table" << YAML::Value << YAML::BeginSeq;
    for (const auto& p : cc.attention_table) {
      out << YAML::Flow << YAML::BeginMap << YAML::Key << "pass" << YAML::Value
          << (p.pass == BlockPass::fwd ? "fwd" : "bwd") << YAML::Key << "head_dim" << YAML::Value << p.head_dim
          << YAML::Key << "q_rows" << YAML::Value << p.q_rows << YAML::Key << "kv_rows" << YAML::Value << p.kv_rows
          << YAML::Key << "causal" << YAML::Value << p.causal << YAML::Key << "efficiency" << YAML::Value
          << p.efficiency;
      if (p.kernels > 0) out << YAML::Key << "kernels" << YAML::Value << p.kernels;
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
  const IterationCalibration& it = c.iteration;
  if (it.vision_efficiency || it.host_sync || it.zero_bucket_elements || it.ddp_bucket_bytes) {
    out << YAML::Key << "iteration" << YAML::Value << YAML::BeginMap;
    put("vision_efficiency", it.vision_efficiency);
    if (it.host_sync) out << YAML::Key << "host_sync_us" << YAML::Value << to_microseconds(*it.host_sync);
    put("zero_bucket_elements", it.zero_bucket_elements);
    put("ddp_bucket_bytes", it.ddp_bucket_bytes);
    out << YAML::EndMap;
  }
  emit_links(out, c);
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

// Only the links (and launch overheads): what `xattn calibrate nccl-tests` writes, so that a
// compute calibration listed earlier in a scenario is not overwritten by defaults.
std::string links_calibration_to_yaml(const Calibration& c) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  emit_links(out, c);
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace xattn
