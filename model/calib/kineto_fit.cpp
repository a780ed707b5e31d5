// The calibration fitted to profiler traces (docs/kineto.md §6): what each figure is
// fitted from, the replay of the fit through the model, and the file written.
#include "model/calib/kineto_fit.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "model/core/error.hpp"
#include "model/iteration.hpp"
#include "model/kernel_model.hpp"
#include "model/presets.hpp"
#include "model/scenario/calibration_file.hpp"

namespace xattn {
namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string shape_text(const GemmShape& g) { return fmt::format("{}x{}x{}", g.m, g.k, g.n); }

// Head dimensions up to 96 take the d64 figure (model/calibration.hpp).
bool small_head(std::int64_t d) { return d <= 96; }

std::string attention_key(BlockPass pass, std::int64_t head_dim) {
  return fmt::format("compute.{}_max_{}", pass == BlockPass::fwd ? "fwd" : "bwd", small_head(head_dim) ? "d64" : "d128");
}

BlockDims dims_of(const AttentionCall& a) {
  BlockDims d;
  d.batch = a.batch;
  d.heads = static_cast<double>(a.heads);
  d.kv_heads = static_cast<double>(a.kv_heads);
  d.head_dim = a.head_dim;
  d.rows = a.q_rows;
  d.cols = a.kv_rows;
  d.pairs = a.pairs();
  d.mask = a.causal ? Mask::causal : Mask::dense;
  return d;
}

// A call of a class together with its launching op.
struct OpCall {
  const KinetoTrace* trace = nullptr;
  const KinetoOp* op = nullptr;
  const KernelName* name = nullptr;  // its first kernel's
  std::int64_t kernels = 0;
  double time_s = 0;
};

std::vector<OpCall> op_calls(const std::vector<KinetoTrace>& traces, KernelClass cls) {
  std::vector<OpCall> out;
  for (const KinetoTrace& t : traces)
    for (const KernelCall& c : kernel_calls(t, cls)) {
      const KinetoKernel& k = t.kernels[c.first];
      if (k.op < 0) continue;
      out.push_back(OpCall{&t, &t.ops[static_cast<std::size_t>(k.op)], &t.name_class[k.name],
                           static_cast<std::int64_t>(c.kernels.size()), c.time_s});
    }
  return out;
}

DType dtype_or_bf16(const KinetoOp& op) { return op.dtype.value_or(DType::bf16); }

// ---- the figures, one by one -----------------------------------------------------------------

// compute.launch_overhead_us: back-to-back kernels on a stream, the next already queued.
void fit_launch(const std::vector<KinetoTrace>& traces, KinetoFit& fit) {
  std::vector<double> gaps;
  for (const KinetoTrace& t : traces) {
    std::map<std::int64_t, std::vector<const KinetoKernel*>> streams;
    for (const KinetoKernel& k : t.kernels) streams[k.stream].push_back(&k);
    for (auto& [stream, ks] : streams) {
      std::sort(ks.begin(), ks.end(), [](const KinetoKernel* a, const KinetoKernel* b) { return a->ts_us < b->ts_us; });
      for (std::size_t i = 1; i < ks.size(); ++i) {
        const double end = ks[i - 1]->ts_us + ks[i - 1]->dur_us;
        const double gap = ks[i]->ts_us - end;
        if (ks[i]->launch_us >= 0 && ks[i]->launch_us < end && gap >= 0 && gap < 100) gaps.push_back(gap);
      }
    }
  }
  constexpr std::size_t kMinGaps = 10;
  if (gaps.size() < kMinGaps) {
    fit.left_out.push_back({"compute.launch_overhead_us",
                            fmt::format("{} back-to-back kernels already queued (at least {} needed): the GPU was rarely "
                                        "ahead of the host, so its own start-up cost per kernel cannot be seen",
                                        gaps.size(), kMinGaps)});
    return;
  }
  const double us = median(gaps);
  fit.calibration.compute.launch_overhead = microseconds(us);
  fit.entries.push_back({"compute.launch_overhead_us", "every kernel", us, static_cast<std::int64_t>(gaps.size()),
                         "median gap between a kernel's end and the next one's start on its stream, the next one "
                         "already launched"});
}

// compute.gemm_table and compute.gemm_efficiency.
void fit_gemms(const std::vector<KinetoTrace>& traces, const GpuSpec* gpu, KinetoFit& fit) {
  struct Group {
    GemmShape shape;
    std::map<int, std::pair<double, std::int64_t>> time_by_dtype;  // dtype -> (time, calls)
    std::int64_t kernels = 0;
  };
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t>, Group> groups;
  std::int64_t batched = 0, unshaped = 0;
  for (const OpCall& c : op_calls(traces, KernelClass::gemm)) {
    if (!c.op->gemm) {
      ++unshaped;
      continue;
    }
    if (c.op->gemm->batch != 1) {
      ++batched;
      continue;
    }
    Group& g = groups[{c.op->gemm->m, c.op->gemm->k, c.op->gemm->n}];
    g.shape = *c.op->gemm;
    auto& [time, calls] = g.time_by_dtype[c.op->dtype ? static_cast<int>(*c.op->dtype) : -1];
    time += c.time_s;
    ++calls;
    g.kernels += c.kernels;
  }
  if (groups.empty()) {
    fit.left_out.push_back({"compute.gemm_table", "no GEMM call with recorded shapes (record_shapes=True) of batch 1"});
    return;
  }
  if (gpu == nullptr) {
    fit.left_out.push_back({"compute.gemm_table", "the GPU is not a known preset: no peak to divide by (give --gpu)"});
    return;
  }
  if (batched > 0)
    fit.notes.push_back(fmt::format("{} batched GEMM calls (bmm) are not in the table: the model's GEMMs have no batch", batched));
  double ridge_flops = 0, ridge_time = 0;
  std::int64_t ridge_calls = 0;
  for (auto& [key, g] : groups) {
    // The dtype most of the shape's time ran in; its peak is what the fraction is of.
    auto best = std::max_element(g.time_by_dtype.begin(), g.time_by_dtype.end(),
                                 [](const auto& a, const auto& b) { return a.second.first < b.second.first; });
    if (best->first < 0) {
      fit.left_out.push_back({"compute.gemm_table", fmt::format("{}: its dtype was not recorded", shape_text(g.shape))});
      continue;
    }
    const DType dt = static_cast<DType>(best->first);
    const double time = best->second.first;
    const auto calls = best->second.second;
    const double flops = static_cast<double>(calls) * g.shape.flops();
    const double e = flops / (gpu->peak(dt).value() * time);
    if (!(e > 0) || e > 1) {
      fit.left_out.push_back({"compute.gemm_table",
                              fmt::format("{} {}: {:.2f} of the {} peak, above 1 (TF32 for fp32, or another GPU than {})",
                                          shape_text(g.shape), to_string(dt), e, gpu->name, gpu->name)});
      continue;
    }
    fit.calibration.compute.gemm_table.push_back(GemmPoint{g.shape.m, g.shape.k, g.shape.n, e, static_cast<int>(calls)});
    fit.entries.push_back({"compute.gemm_table", fmt::format("{} {}", shape_text(g.shape), to_string(dt)), e, g.kernels,
                           fmt::format("FLOPs over time of {} calls ({:.1f} TFLOP/s)", calls, flops / time * 1e-12)});
    // Above the roofline's ridge the math term decides: those shapes give η_gemm.
    const double m = static_cast<double>(g.shape.m), k = static_cast<double>(g.shape.k), n = static_cast<double>(g.shape.n);
    const double intensity = 2 * m * k * n / ((k * n + m * k + m * n) * bytes_per_element(dt));
    if (intensity >= gpu->peak(dt).value() / gpu->hbm.value()) {
      ridge_flops += flops / gpu->peak(dt).value();
      ridge_time += time;
      ridge_calls += calls;
    }
  }
  if (ridge_time > 0) {
    const double e = ridge_flops / ridge_time;
    fit.calibration.compute.gemm_efficiency = e;
    fit.entries.push_back({"compute.gemm_efficiency", "shapes not in the table", e, ridge_calls,
                           "FLOPs over time of the measured shapes above the roofline's ridge"});
  } else {
    fit.left_out.push_back({"compute.gemm_efficiency", "every measured shape is below the roofline's ridge (bound by "
                                                       "memory): they say nothing of η_gemm for larger shapes"});
  }
  if (unshaped > 0)
    fit.notes.push_back(fmt::format("{} GEMM calls have no recorded shape and are not fitted", unshaped));
}

// compute.memory_efficiency and compute.elementwise_overhead_us: ordinary least squares of
// time = fixed + bytes / (η_mem · HBM) over the elementwise calls with recorded shapes.
void fit_elementwise(const std::vector<KinetoTrace>& traces, const GpuSpec* gpu, KinetoFit& fit) {
  std::vector<std::pair<double, double>> pts;  // (bytes, seconds)
  for (const OpCall& c : op_calls(traces, KernelClass::elementwise))
    if (c.op->bytes > 0) pts.emplace_back(c.op->bytes, c.time_s);
  if (pts.size() < 3) {
    fit.left_out.push_back({"compute.memory_efficiency", fmt::format("{} elementwise calls with recorded shapes (at "
                                                                     "least 3 needed)",
                                                                     pts.size())});
    return;
  }
  if (gpu == nullptr) {
    fit.left_out.push_back({"compute.memory_efficiency", "the GPU is not a known preset: no HBM bandwidth (give --gpu)"});
    return;
  }
  const double n = static_cast<double>(pts.size());
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (auto [x, y] : pts) {
    sx += x;
    sy += y;
    sxx += x * x;
    sxy += x * y;
  }
  const double W = gpu->hbm.value();
  double slope = 0, fixed = 0;
  const double det = n * sxx - sx * sx;
  const bool spread = det > 1e-9 * n * sxx;
  if (spread) {
    slope = (n * sxy - sx * sy) / det;
    fixed = (sy - slope * sx) / n;
  }
  if (!spread || fixed < 0 || slope <= 0) {  // one size, or a negative intercept: bandwidth only
    fixed = 0;
    slope = sy / sx;
  }
  double eta = 1.0 / (slope * W);
  if (eta > 1) {  // faster than HBM (caches): hold η at 1 and give the rest to the fixed cost
    eta = 1;
    slope = 1.0 / W;
    fixed = std::max(0.0, (sy - slope * sx) / n);
  }
  fit.calibration.compute.memory_efficiency = eta;
  fit.calibration.compute.elementwise_overhead = Seconds(fixed);
  const auto calls = static_cast<std::int64_t>(pts.size());
  fit.entries.push_back({"compute.memory_efficiency", "elementwise passes", eta, calls,
                         "least squares of time = fixed + bytes / (η · HBM) over the calls"});
  fit.entries.push_back({"compute.elementwise_overhead_us", "elementwise passes", fixed * 1e6, calls,
                         spread ? "the same fit's fixed cost" : "one size only: no fixed cost can be told apart"});
}

// The key of an attention call shape as kernel_cost sees it (docs/model.md eq. 3c): the
// kernel's causal mask only where it leaves pairs out.
std::tuple<int, std::int64_t, std::int64_t, std::int64_t, bool> attention_shape(const AttentionCall& a) {
  const bool causal = a.causal && a.pairs() < static_cast<double>(a.q_rows) * static_cast<double>(a.kv_rows);
  return {static_cast<int>(a.pass), a.head_dim, a.q_rows, a.kv_rows, causal};
}

std::string attention_shape_text(const AttentionPoint& p) {
  return fmt::format("{} {}x{} d{}{}", p.pass == BlockPass::fwd ? "fwd" : "bwd", p.q_rows, p.kv_rows, p.head_dim,
                     p.causal ? " causal" : "");
}

// compute.attention_table: per call shape, FLOPs over the time of its calls at the peak of
// the dtype most of its time ran in (docs/model.md eq. 3f).
void fit_attention_table(const std::vector<OpCall>& calls, const GpuSpec& gpu, KinetoFit& fit) {
  struct Group {
    std::map<int, std::tuple<double, double, std::int64_t>> by_dtype;  // dtype -> (flops, time, calls)
    std::int64_t kernels = 0;
  };
  std::map<std::tuple<int, std::int64_t, std::int64_t, std::int64_t, bool>, Group> groups;
  for (const OpCall& c : calls) {
    const AttentionCall& a = *c.op->attention;
    Group& g = groups[attention_shape(a)];
    auto& [flops, time, n] = g.by_dtype[static_cast<int>(dtype_or_bf16(*c.op))];
    flops += a.flops();
    time += c.time_s;
    ++n;
    g.kernels += c.kernels;
  }
  for (const auto& [key, g] : groups) {
    const auto& [pass, d, q, kv, causal] = key;
    auto best = std::max_element(g.by_dtype.begin(), g.by_dtype.end(), [](const auto& x, const auto& y) {
      return std::get<1>(x.second) < std::get<1>(y.second);
    });
    const DType dt = static_cast<DType>(best->first);
    const auto& [flops, time, n] = best->second;
    AttentionPoint p{static_cast<BlockPass>(pass), d, q, kv, causal, 0.0, static_cast<int>(g.kernels)};
    const double e = time > 0 ? flops / (gpu.peak(dt).value() * time) : 0.0;
    if (!(e > 0) || e > 1) {
      fit.left_out.push_back({"compute.attention_table",
                              fmt::format("{} {}: {:.2f} of the {} peak, outside (0, 1] (another GPU than {}, or a "
                                          "mask the recorded arguments did not say)",
                                          attention_shape_text(p), to_string(dt), e, gpu.name, gpu.name)});
      continue;
    }
    p.efficiency = e;
    fit.calibration.compute.attention_table.push_back(p);
    fit.entries.push_back({"compute.attention_table", fmt::format("{} {}", attention_shape_text(p), to_string(dt)), e,
                           g.kernels,
                           fmt::format("FLOPs over the kernel time of {} calls ({:.1f} TFLOP/s)", n,
                                       flops / time * 1e-12)});
  }
}

// compute.kernel and the attention family's peak fractions.
void fit_attention(const std::vector<KinetoTrace>& traces, const GpuSpec* gpu, KinetoFit& fit) {
  std::vector<OpCall> calls;
  std::set<int> families;
  std::int64_t unshaped = 0;
  for (const OpCall& c : op_calls(traces, KernelClass::attention)) {
    if (!c.op->attention) {
      ++unshaped;
      continue;
    }
    calls.push_back(c);
    if (c.name->family) families.insert(static_cast<int>(*c.name->family));
  }
  if (calls.empty()) {
    fit.left_out.push_back({"compute.fwd_max_d64 ...", "no attention call with recorded shapes (an SDPA or flash-attn "
                                                       "op with record_shapes=True)"});
    return;
  }
  if (gpu == nullptr) {
    fit.left_out.push_back({"compute.fwd_max_d64 ...", "the GPU is not a known preset: no peak to divide by (give --gpu)"});
    return;
  }
  ComputeCalibration& cc = fit.calibration.compute;
  if (families.size() == 1) {
    cc.kernel = static_cast<KernelFamily>(*families.begin());
    fit.entries.push_back({"compute.kernel", std::string(to_string(*cc.kernel)), 0, static_cast<std::int64_t>(calls.size()),
                           "the attention kernels' names"});
  } else {
    fit.notes.push_back(families.empty()
                            ? std::string("the attention kernels' names match no modelled family (FlashAttention-2, -3, "
                                          "cuDNN): the GPU's default family is fitted")
                            : std::string("attention kernels of several families: the GPU's default family is fitted"));
  }
  // One peak fraction per (pass, head-dimension class): the kernel model's time of every
  // call added up equals the measured time (bisection; the time falls as the fraction rises).
  std::map<std::pair<int, bool>, std::vector<const OpCall*>> by_key;
  for (const OpCall& c : calls) by_key[{static_cast<int>(c.op->attention->pass), small_head(c.op->attention->head_dim)}].push_back(&c);
  for (auto& entry : by_key) {
    // Named, not a structured binding: the lambda below captures it (clang 14 cannot capture bindings).
    const auto& key = entry.first;
    const std::vector<const OpCall*>& group = entry.second;
    const BlockPass pass = static_cast<BlockPass>(key.first);
    const bool small = key.second;
    double measured = 0;
    std::int64_t kernels = 0;
    for (const OpCall* c : group) {
      measured += c->time_s;
      kernels += c->kernels;
    }
    auto predicted = [&](double e) {
      ComputeCalibration trial = cc;
      std::optional<double>& slot = pass == BlockPass::fwd ? (small ? trial.fwd_max_d64 : trial.fwd_max_d128)
                                                           : (small ? trial.bwd_max_d64 : trial.bwd_max_d128);
      slot = e;
      double t = 0;
      for (const OpCall* c : group) {
        const AttentionCall& a = *c->op->attention;
        t += kernel_cost(*gpu, trial, dtype_or_bf16(*c->op), pass, dims_of(a), Flops(a.flops())).time.value();
      }
      return t;
    };
    const std::string k = attention_key(pass, small ? 64 : 128);
    if (predicted(1.0) > measured) {
      fit.left_out.push_back({k, fmt::format("the {} calls ran faster than the kernel model allows at 100% of peak",
                                             group.size())});
      continue;
    }
    double lo = 1e-3, hi = 1.0;
    for (int i = 0; i < 60; ++i) {
      const double mid = std::sqrt(lo * hi);
      (predicted(mid) > measured ? lo : hi) = mid;
    }
    const double e = std::sqrt(lo * hi);
    (pass == BlockPass::fwd ? (small ? cc.fwd_max_d64 : cc.fwd_max_d128) : (small ? cc.bwd_max_d64 : cc.bwd_max_d128)) = e;
    fit.entries.push_back({k, fmt::format("{} head dim {}", pass == BlockPass::fwd ? "forward" : "backward", small ? "<= 96" : "> 96"),
                           e, kernels,
                           fmt::format("peak fraction at which the kernel model's time of the {} calls adds up to theirs",
                                       group.size())});
  }
  fit_attention_table(calls, *gpu, fit);
  fit.left_out.push_back({"compute.table", "an efficiency grid needs a full q_rows x kv_rows grid per pass and head "
                                           "dim; the trace's call shapes are in compute.attention_table instead, and "
                                           "other shapes take the family's peak fraction through eq. 3"});
  if (unshaped > 0)
    fit.notes.push_back(fmt::format("{} attention calls have no recorded shape and are not fitted", unshaped));
}

// links: the NCCL kernels as nccl-tests rows, fitted as `xattn calibrate nccl-tests` does.
void fit_collectives(const std::vector<KinetoTrace>& traces, const GpuSpec* gpu, const KinetoFitOptions& options,
                     KinetoFit& fit) {
  int gpn = options.gpus_per_node;
  if (gpn <= 0)
    for (const KinetoTrace& t : traces) gpn = std::max(gpn, t.devices_listed);
  if (gpn <= 0) gpn = 8;
  std::map<std::pair<int, int>, std::map<double, std::vector<double>>> rows;  // (op, group) -> size -> times
  std::map<std::pair<int, int>, std::string> dtypes;
  std::int64_t without = 0;
  for (const KinetoTrace& t : traces)
    for (const KinetoKernel& k : t.kernels) {
      if (k.cls != KernelClass::nccl) continue;
      if (k.collective < 0) {
        ++without;
        continue;
      }
      const CollectiveCall& c = t.collectives[static_cast<std::size_t>(k.collective)];
      if (c.group < 2 || c.size_bytes <= 0) continue;
      rows[{static_cast<int>(c.op), c.group}][c.size_bytes].push_back(k.dur_us * 1e-6);
      dtypes[{static_cast<int>(c.op), c.group}] = c.dtype;
    }
  if (rows.empty()) {
    fit.left_out.push_back({"links", without > 0 ? "the NCCL kernels carry no size or group (PyTorch's communication "
                                                   "metadata is missing)"
                                                 : "no NCCL collective over two or more GPUs in the traces"});
    return;
  }
  std::vector<NcclLog> logs;
  for (const auto& [key, sizes] : rows) {
    NcclLog log;
    log.op = static_cast<NcclCollective>(key.first);
    const int group = key.second;
    log.source = fmt::format("{} over {} GPUs (profiler trace)", to_string(log.op), group);
    for (int r = 0; r < group; ++r)
      log.devices.push_back(NcclDevice{r, r + 1, fmt::format("node{}", r / gpn), r % gpn, gpu != nullptr ? gpu->name : ""});
    for (const auto& [size, times] : sizes) {
      NcclRow row;
      row.size = Bytes(size);
      row.type = dtypes[key];
      row.count = static_cast<std::int64_t>(size);
      row.out_of_place = NcclMeasure{Seconds(median(times)), std::nullopt, std::nullopt};
      log.rows.push_back(row);
    }
    logs.push_back(std::move(log));
  }
  FitOptions fo;
  fo.nics_per_node = options.nics_per_node;
  if (gpu != nullptr) fo.cluster.gpu = *gpu;
  fo.cluster.gpus_per_node = gpn;
  try {
    LinkFit lf = fit_links(logs, fo);
    fit.calibration.intra_node = lf.calibration.intra_node;
    fit.calibration.inter_node = lf.calibration.inter_node;
    fit.calibration.launch = lf.calibration.launch;
    std::int64_t kernels = 0;
    for (const auto& [key, sizes] : rows)
      for (const auto& [size, times] : sizes) kernels += static_cast<std::int64_t>(times.size());
    for (const FitParameter& p : lf.parameters)
      if (p.how == Identification::identified)
        fit.entries.push_back({"links", p.name, p.value, kernels, "fitted to the median kernel time per size, as "
                                                                  "`xattn calibrate nccl-tests` fits logs"});
    std::string priors, floors;
    for (const FitParameter& p : lf.parameters) {
      if (p.how == Identification::prior) priors += (priors.empty() ? "" : ", ") + p.name;
      if (p.how == Identification::floor) floors += (floors.empty() ? "" : ", ") + p.name;
    }
    if (!priors.empty())
      fit.left_out.push_back({"links", "not identified by the traces, written at their physical priors "
                                       "(docs/calibration.md, \"Priors\"): " + priors});
    if (!floors.empty())
      fit.left_out.push_back({"links", "pushed below their physical floor by the traces, held there: " + floors});
    for (std::size_t li = 0; li < logs.size(); ++li) {
      ReplayRow r;
      r.what = "nccl " + log_name(logs[li].source);
      for (const FitRow& row : lf.rows)
        if (row.log == li) {
          r.measured_s += row.measured.value();
          r.predicted_s += row.fitted.value();
          ++r.calls;
        }
      fit.replay.push_back(r);
    }
    fit.notes.push_back("a NCCL kernel's time in a trace includes waiting for the slowest rank: the links fitted from "
                        "it are a lower bound on what the fabric can do");
    fit.links = std::move(lf);
  } catch (const InputError& e) {
    std::string why;
    for (const auto& p : e.problems()) why += (why.empty() ? "" : "; ") + p.message;
    fit.left_out.push_back({"links", "the collectives could not be fitted: " + why});
  }
}

}  // namespace

std::string FitEntry::value_text() const {
  return key == "compute.kernel" ? what : fmt::format("{:.6g}", value);
}

std::vector<ReplayRow> replay_kineto(const Calibration& cal, const GpuSpec& gpu, const std::vector<KinetoTrace>& traces) {
  std::vector<ReplayRow> rows;
  // GEMMs of batch 1 with a dtype, as gemm_time charges them.
  ReplayRow gemm{"gemm"};
  std::map<std::string, ReplayRow> shapes;
  for (const OpCall& c : op_calls(traces, KernelClass::gemm)) {
    if (!c.op->gemm || c.op->gemm->batch != 1 || !c.op->dtype) continue;
    const GemmShape& g = *c.op->gemm;
    const double t = gemm_time(gpu, cal.compute, *c.op->dtype, static_cast<double>(g.m), static_cast<double>(g.k),
                               static_cast<double>(g.n)).value();
    ++gemm.calls;
    gemm.measured_s += c.time_s;
    gemm.predicted_s += t;
    ReplayRow& r = shapes[fmt::format("gemm {} {}", shape_text(g), to_string(*c.op->dtype))];
    ++r.calls;
    r.measured_s += c.time_s;
    r.predicted_s += t;
  }
  // Attention calls through the kernel model.
  ReplayRow attn{"attention"};
  std::map<std::string, ReplayRow> attn_keys;
  for (const OpCall& c : op_calls(traces, KernelClass::attention)) {
    if (!c.op->attention) continue;
    const AttentionCall& a = *c.op->attention;
    const double t = kernel_cost(gpu, cal.compute, dtype_or_bf16(*c.op), a.pass, dims_of(a), Flops(a.flops())).time.value();
    ++attn.calls;
    attn.measured_s += c.time_s;
    attn.predicted_s += t;
    ReplayRow& r = attn_keys[fmt::format("attention {} {}x{} d{}{}", a.pass == BlockPass::fwd ? "fwd" : "bwd", a.q_rows,
                                         a.kv_rows, a.head_dim, a.causal ? " causal" : "")];
    ++r.calls;
    r.measured_s += c.time_s;
    r.predicted_s += t;
  }
  // Elementwise passes over their recorded bytes (eq. 5).
  ReplayRow elem{"elementwise"};
  for (const OpCall& c : op_calls(traces, KernelClass::elementwise)) {
    if (c.op->bytes <= 0) continue;
    ++elem.calls;
    elem.measured_s += c.time_s;
    elem.predicted_s += elementwise_time(gpu, cal.compute, Bytes(c.op->bytes)).value();
  }
  for (const ReplayRow& r : {gemm, attn, elem})
    if (r.calls > 0) rows.push_back(r);
  for (auto& [what, r] : shapes) {
    r.what = what;
    rows.push_back(r);
  }
  for (auto& [what, r] : attn_keys) {
    r.what = what;
    rows.push_back(r);
  }
  return rows;
}

KinetoFit fit_kineto(const std::vector<KinetoTrace>& traces, const KinetoFitOptions& options) {
  KinetoFit fit;
  const GpuSpec* gpu = nullptr;
  if (!options.gpu.empty()) {
    gpu = find_gpu(options.gpu);
    if (gpu == nullptr)
      throw InputError(Origin{"--gpu " + options.gpu}, "gpu", fmt::format("unknown GPU preset; known: {}", gpu_names()));
  } else {
    for (const KinetoTrace& t : traces)
      if (gpu == nullptr && !t.device.empty()) gpu = gpu_preset_for_device(t.device);
    if (gpu == nullptr)
      fit.notes.push_back(fmt::format("the trace's GPU ({}) matches no preset: efficiencies are left out (give --gpu)",
                                      traces.empty() || traces[0].device.empty() ? "not recorded" : traces[0].device));
  }
  if (gpu != nullptr) fit.gpu_preset = gpu->name;
  fit_launch(traces, fit);
  fit_gemms(traces, gpu, fit);
  fit_elementwise(traces, gpu, fit);
  fit_attention(traces, gpu, fit);  // after the launch overhead: the kernel model charges it
  fit_collectives(traces, gpu, options, fit);
  if (gpu != nullptr) {
    std::vector<ReplayRow> compute = replay_kineto(fit.calibration, *gpu, traces);
    compute.insert(compute.end(), fit.replay.begin(), fit.replay.end());
    fit.replay = std::move(compute);
  }
  return fit;
}

std::string kineto_calibration_yaml(const KinetoFit& fit, const std::vector<std::string>& sources) {
  fmt::memory_buffer b;
  auto out = std::back_inserter(b);
  fmt::format_to(out, "# Calibration fitted by `xattn import kineto` to {} profiler trace(s):\n", sources.size());
  for (const auto& s : sources) fmt::format_to(out, "#   {}\n", s);
  fmt::format_to(out, "# Efficiencies are fractions of the {} peak for the dtype each kernel ran in.\n",
                 fit.gpu_preset.empty() ? "(unknown)" : fit.gpu_preset);
  fmt::format_to(out, "# Fitted, with the kernels behind each figure (docs/kineto.md, section 6):\n");
  for (const FitEntry& e : fit.entries)
    fmt::format_to(out, "#   {} [{}] = {}: {} kernels; {}\n", e.key, e.what, e.value_text(), e.kernels, e.basis);
  if (!fit.left_out.empty()) fmt::format_to(out, "# Left out (the traces cannot tell):\n");
  for (const LeftOut& l : fit.left_out) fmt::format_to(out, "#   {}: {}\n", l.key, l.why);
  for (const std::string& n : fit.notes) fmt::format_to(out, "# Note: {}\n", n);
  std::string body = calibration_to_yaml(fit.calibration);
  fmt::format_to(out, "{}", body);
  fmt::format_to(out, "source: \"xattn import kineto\"\n");
  return fmt::to_string(b);
}

}  // namespace xattn
