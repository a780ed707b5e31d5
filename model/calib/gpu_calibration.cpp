// Timings to a Calibration (see gpu_calibration.hpp).
#include "model/calib/gpu_calibration.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "model/analytic.hpp"
#include "model/presets.hpp"
#include "model/schedule/builders.hpp"
#include "model/scenario.hpp"
#include "model/scenario/calibration_file.hpp"

namespace xattn {
namespace {

// The FLOPs the Schedule builders give one dense block of this shape: the attention op of
// a one-rank no-comm schedule (its only block).
Flops builder_flops(const BlockTiming& b, DType dtype) {
  BuildOptions o;
  o.shape.batch = b.batch;
  o.shape.heads = b.heads;
  o.shape.kv_heads = b.kv_heads;
  o.shape.head_dim = b.head_dim;
  o.shape.q_tokens = b.q_rows;
  o.shape.kv_tokens = b.kv_rows;
  o.shape.dtype = dtype;
  o.shape.mask = Mask::dense;
  o.ranks = 1;
  const Schedule s = build_schedule(*parse_mechanism("no-comm"), b.pass == BlockPass::fwd ? Pass::fwd : Pass::bwd, o);
  const ComputeKind want = b.pass == BlockPass::fwd ? ComputeKind::attention_forward : ComputeKind::attention_backward;
  Flops f;
  int blocks = 0;
  for (const Op& op : s.programs.at(0).ops)
    if (const ComputeOp* c = op.compute(); c != nullptr && c->kind == want) {
      f += c->flops;
      ++blocks;
    }
  if (blocks != 1) throw std::logic_error(fmt::format("a one-rank no-comm schedule has {} attention blocks", blocks));
  return f;
}

BlockDims dims_of(const BlockTiming& b) {
  return BlockDims{b.batch, static_cast<double>(b.heads), static_cast<double>(b.kv_heads), b.head_dim, b.q_rows, b.kv_rows};
}

const char* pass_name(BlockPass p) { return p == BlockPass::fwd ? "fwd" : "bwd"; }

}  // namespace

LinkSpec fit_latency_bandwidth(const std::vector<MessageTiming>& samples) {
  if (samples.size() < 2) throw std::invalid_argument("a latency-bandwidth fit needs two message sizes or more");
  // Minimize sum ((a + n x - t) / t)^2 over latency a and inverse bandwidth x.
  double s11 = 0, s12 = 0, s22 = 0, r1 = 0, r2 = 0;
  for (const auto& m : samples) {
    if (!(m.time.value() > 0) || !(m.bytes.value() >= 0))
      throw std::invalid_argument(fmt::format("message of {} B timed at {} s", m.bytes.value(), m.time.value()));
    const double w = 1.0 / (m.time.value() * m.time.value());
    const double n = m.bytes.value(), t = m.time.value();
    s11 += w;
    s12 += w * n;
    s22 += w * n * n;
    r1 += w * t;
    r2 += w * n * t;
  }
  const double det = s11 * s22 - s12 * s12;
  double a = 0, x = 0;
  if (std::abs(det) > 0) {
    a = (r1 * s22 - s12 * r2) / det;
    x = (s11 * r2 - s12 * r1) / det;
  }
  if (!(a >= 0) || !(x > 0)) {  // no positive intercept: bandwidth alone
    a = 0;
    x = s22 > 0 ? r2 / s22 : 0;
  }
  if (!(x > 0)) throw std::invalid_argument("the message times do not grow with size: no bandwidth to fit");
  return LinkSpec{BytesPerSecond(1.0 / x), Seconds(a)};
}

GpuCalibration calibration_from_timings(const GpuTimings& t) {
  if (t.blocks.empty()) throw std::invalid_argument("no attention blocks were timed");
  if (!(t.gpu.peak(t.dtype).value() > 0) || !(t.gpu.hbm.value() > 0))
    throw std::invalid_argument(fmt::format("GPU '{}' has no peak FLOP/s or HBM bandwidth", t.gpu.name));
  GpuCalibration out;
  ComputeCalibration& cc = out.calibration.compute;

  // Launch overhead: the probe's time, kept below 90% of every grid time.
  double min_block = std::numeric_limits<double>::infinity();
  for (const auto& b : t.blocks) {
    if (!(b.time.value() > 0))
      throw std::invalid_argument(fmt::format("{} block {}x{} was timed at {} s", pass_name(b.pass), b.q_rows, b.kv_rows,
                                              b.time.value()));
    min_block = std::min(min_block, b.time.value());
  }
  double launch = t.launch_probe ? t.launch_probe->time.value() : 0.0;
  if (launch > 0.9 * min_block) {
    out.notes.push_back(fmt::format("the launch probe took {:.2f} us, more than 90% of the fastest grid block ({:.2f} us): "
                                    "launch overhead capped at {:.2f} us",
                                    launch * 1e6, min_block * 1e6, 0.9 * min_block * 1e6));
    launch = 0.9 * min_block;
  }
  cc.launch_overhead = Seconds(std::max(0.0, launch));

  // Elementwise: fixed cost + bytes / (HBM · m) from the two-parameter relative fit when
  // two sizes or more were timed, else m from the zero-intercept fit.
  if (!t.elementwise.empty()) {
    double sa = 0, saa = 0;
    std::vector<MessageTiming> as_messages;
    for (const auto& e : t.elementwise) {
      if (!(e.time.value() > 0) || !(e.bytes.value() > 0))
        throw std::invalid_argument(fmt::format("elementwise {} of {} B timed at {} s", e.kernel, e.bytes.value(), e.time.value()));
      const double a = e.bytes.value() / (t.gpu.hbm.value() * e.time.value());  // the efficiency this point alone implies
      sa += a;
      saa += a * a;
      as_messages.push_back({e.bytes, e.time});
    }
    const double m = saa / sa;  // 1/m = argmin over x of sum (a_i x - 1)^2 = sum a / sum a^2
    cc.memory_efficiency = std::clamp(m, 1e-3, 1.0);
    if (m > 1.0) out.notes.push_back(fmt::format("elementwise kernels ran at {:.2f}x the HBM datasheet bandwidth; memory "
                                                 "efficiency capped at 1", m));
    if (as_messages.size() >= 2) {
      std::set<double> sizes;
      for (const auto& s : as_messages) sizes.insert(s.bytes.value());
      if (sizes.size() >= 2) {
        const LinkSpec fit = fit_latency_bandwidth(as_messages);
        out.elementwise_intercept = fit.latency;
        const double m2 = fit.bandwidth.value() / t.gpu.hbm.value();
        if (fit.latency.value() > 0 && m2 > 0) {
          cc.elementwise_overhead = fit.latency;
          cc.memory_efficiency = std::clamp(m2, 1e-3, 1.0);
          if (m2 > 1.0)
            out.notes.push_back(fmt::format("elementwise kernels ran at {:.2f}x the HBM datasheet bandwidth; memory "
                                            "efficiency capped at 1", m2));
        }
      }
    }
    for (const auto& e : t.elementwise)
      out.elementwise.push_back({e.kernel, e.bytes, e.time, elementwise_time(t.gpu, cc, e.bytes)});
  }

  // Efficiency table: one grid per (pass, head_dim).
  std::map<std::pair<int, std::int64_t>, std::set<std::pair<std::int64_t, std::int64_t>>> cells;
  for (const auto& b : t.blocks) {
    const Flops f = builder_flops(b, t.dtype);
    const double compute_s = b.time.value() - cc.launch_overhead->value();
    double e = f.value() / (compute_s * t.gpu.peak(t.dtype).value());
    if (e > 1.0) {
      out.notes.push_back(fmt::format("{} block {}x{} d={} ran above the datasheet peak ({:.2f}); efficiency capped at 1",
                                      pass_name(b.pass), b.q_rows, b.kv_rows, b.head_dim, e));
      e = 1.0;
    }
    cc.table.push_back(EfficiencyPoint{b.pass, b.head_dim, b.q_rows, b.kv_rows, e});
    out.blocks.push_back(BlockFitRow{b, f, e, Seconds(0), false});
  }
  if (std::string why = validate_table(cc.table); !why.empty()) throw std::invalid_argument("the timed blocks: " + why);
  // What the simulator now charges for each grid block (and whether HBM traffic, not
  // FLOPs, sets it: then the measured time is not reproduced).
  for (auto& row : out.blocks) {
    row.simulated = block_time(t.gpu, cc, t.dtype, row.timing.pass, dims_of(row.timing), row.flops);
    const Seconds compute_term = row.flops / (t.gpu.peak(t.dtype) * row.efficiency) + *cc.launch_overhead;
    row.memory_bound = row.simulated.value() > compute_term.value() * (1 + 1e-9);
    if (row.memory_bound)
      out.notes.push_back(fmt::format("{} block {}x{} d={} is charged by its HBM traffic, not its FLOPs: the simulator "
                                      "gives {:.2f} us for the {:.2f} us measured",
                                      pass_name(row.timing.pass), row.timing.q_rows, row.timing.kv_rows, row.timing.head_dim,
                                      row.simulated.value() * 1e6, row.timing.time.value() * 1e6));
  }

  if (!t.link.empty()) {
    const LinkSpec l = fit_latency_bandwidth(t.link);
    out.calibration.intra_node.latency = l.latency;
    out.calibration.intra_node.bandwidth = l.bandwidth;
    for (const auto& m : t.link) out.link.push_back({"message", m.bytes, m.time, l.transfer(m.bytes)});
  }
  return out;
}

std::string gpu_calibration_yaml(const GpuTimings& t, const GpuCalibration& c) {
  std::string head = fmt::format(
      "# Written by `xattn calibrate gpu` on {} ({} activations), efficiencies as fractions of the\n"
      "# {} preset's peak ({:.0f} TFLOP/s, HBM {:.0f} GB/s). docs/calibration.md, \"calibrate gpu\".\n",
      t.device, to_string(t.dtype), t.gpu.name, t.gpu.peak(t.dtype).value() * 1e-12, t.gpu.hbm.value() * 1e-9);
  if (!t.blocks.empty())
    head += fmt::format("# blocks: batch {}, {} heads, {} kv heads\n", t.blocks.front().batch, t.blocks.front().heads,
                        t.blocks.front().kv_heads);
  if (!c.elementwise.empty())
    head += fmt::format("# elementwise kernels: {:.2f} us per launch (elementwise_overhead_us) + bytes / (HBM x "
                        "memory_efficiency)\n",
                        c.calibration.compute.elementwise_fixed().value() * 1e6);
  if (!c.link.empty()) head += "# links.intra_node: " + t.link_description + "\n";
  for (const auto& n : c.notes) head += "# note: " + n + "\n";
  return head + calibration_to_yaml(c.calibration);
}

std::string gpu_calibration_table(const GpuTimings& t, const GpuCalibration& c) {
  fmt::memory_buffer b;
  auto out = std::back_inserter(b);
  fmt::format_to(out, "# xattn calibrate gpu: {} ({}), peak {:.0f} TFLOP/s ({} preset)\n", t.device, to_string(t.dtype),
                 t.gpu.peak(t.dtype).value() * 1e-12, t.gpu.name);
  fmt::format_to(out, "# attention blocks: launch overhead {:.2f} us\n", c.calibration.compute.launch_overhead.value_or(Seconds(0)).value() * 1e6);
  fmt::format_to(out, "# {:>4} {:>4} {:>6} {:>7} {:>7} {:>12} {:>10} {:>10} {:>6} {:>7}\n", "pass", "d", "heads", "q_rows",
                 "kv_rows", "FLOPs", "measured", "simulated", "eff", "error");
  fmt::format_to(out, "# {:>4} {:>4} {:>6} {:>7} {:>7} {:>12} {:>10} {:>10} {:>6} {:>7}\n", "", "", "", "(rows)", "(rows)",
                 "(GFLOP)", "(us)", "(us)", "", "(%)");
  for (const auto& r : c.blocks)
    fmt::format_to(out, "  {:>4} {:>4} {:>6} {:>7} {:>7} {:>12.3f} {:>10.2f} {:>10.2f} {:>6.3f} {:>+7.1f}\n",
                   pass_name(r.timing.pass), r.timing.head_dim, r.timing.heads, r.timing.q_rows, r.timing.kv_rows,
                   r.flops.value() * 1e-9, r.timing.time.value() * 1e6, r.simulated.value() * 1e6, r.efficiency,
                   100.0 * (r.simulated.value() / r.timing.time.value() - 1.0));
  if (!c.elementwise.empty()) {
    fmt::format_to(out, "# elementwise: memory efficiency {:.3f}, fixed cost per launch {:.2f} us\n",
                   c.calibration.compute.hbm_efficiency(), c.calibration.compute.elementwise_fixed().value() * 1e6);
    fmt::format_to(out, "# {:>12} {:>12} {:>10} {:>10} {:>7}\n", "kernel", "size", "measured", "simulated", "error");
    fmt::format_to(out, "# {:>12} {:>12} {:>10} {:>10} {:>7}\n", "", "(B)", "(us)", "(us)", "(%)");
    for (const auto& r : c.elementwise)
      fmt::format_to(out, "  {:>12} {:>12.0f} {:>10.2f} {:>10.2f} {:>+7.1f}\n", r.what, r.bytes.value(),
                     r.measured.value() * 1e6, r.fitted.value() * 1e6, 100.0 * (r.fitted.value() / r.measured.value() - 1.0));
  }
  if (!c.link.empty()) {
    fmt::format_to(out, "# link ({}): latency {:.2f} us, bandwidth {:.2f} GB/s\n", t.link_description,
                   c.calibration.intra_node.latency->value() * 1e6, c.calibration.intra_node.bandwidth->value() * 1e-9);
    fmt::format_to(out, "# {:>12} {:>10} {:>10} {:>7}\n", "size", "measured", "fitted", "error");
    fmt::format_to(out, "# {:>12} {:>10} {:>10} {:>7}\n", "(B)", "(us)", "(us)", "(%)");
    for (const auto& r : c.link)
      fmt::format_to(out, "  {:>12.0f} {:>10.2f} {:>10.2f} {:>+7.1f}\n", r.bytes.value(), r.measured.value() * 1e6,
                     r.fitted.value() * 1e6, 100.0 * (r.fitted.value() / r.measured.value() - 1.0));
  }
  for (const auto& n : c.notes) fmt::format_to(out, "# note: {}\n", n);
  return fmt::to_string(b);
}


}  // namespace xattn
