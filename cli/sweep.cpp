// The sweep's CSV (sweep.hpp): typed points from the sweep engine, spelled as rows.
#include "cli/sweep.hpp"

#include <iterator>
#include <span>
#include <vector>

#include <fmt/format.h>

#include "cli/output.hpp"

namespace xattn::cli {

std::string sweep_csv_header(const SweepPlan& plan) {
  fmt::memory_buffer b;
  b.append(std::string_view("point"));
  for (const auto& a : plan.axes) {
    b.push_back(',');
    append_csv_cell(b, a.field->path);
  }
  if (plan.scope == Scope::iteration) {
    b.append(std::string_view(",mechanism,self_attention,pass,feasible,time_s,compute_s,exposed_comm_s,tokens_per_s,mfu,"
                              "peak_memory_bytes,fits,reason\n"));
    return fmt::to_string(b);
  }
  b.append(std::string_view(",mechanism,pass,feasible,time_s,compute_s,exposed_comm_s,peak_memory_bytes,fits,"));
  if (plan.engine == SweepEngine::event) b.append(std::string_view("link_shared,"));
  b.append(std::string_view("reason\n"));
  return fmt::to_string(b);
}

namespace {

// What every row of a plan spells the same way, formatted once: each grid value as its
// CSV cell, each mechanism's name.
class RowWriter {
 public:
  explicit RowWriter(const SweepPlan& plan)
      : plan_(plan), event_(plan.engine == SweepEngine::event), at_(plan.axes.size()) {
    for (const auto& a : plan.axes) {
      std::vector<std::string> cells;
      for (const auto& v : a.values) {
        fmt::memory_buffer cell;
        append_csv_cell(cell, field_value_text(v));
        cells.push_back(fmt::to_string(cell));
      }
      cells_.push_back(std::move(cells));
    }
    for (const auto& m : plan.mechanisms) mechanism_names_.push_back(m.name());
  }

  // Appends the rows of `point` to `out`.
  void append_rows(const sim::SweepPoint& point, fmt::memory_buffer& out) {
    auto it = std::back_inserter(out);
    // The point's index into each axis (SweepPlan::coordinates, without allocating).
    std::size_t rest = point.index;
    for (std::size_t a = plan_.axes.size(); a-- > 0;) {
      at_[a] = rest % plan_.axes[a].values.size();
      rest /= plan_.axes[a].values.size();
    }
    std::string error;
    for (const auto& p : point.problems) {
      if (!error.empty()) error += "; ";
      error += p.field.empty() ? p.message : p.field + ": " + p.message;
    }
    if (plan_.scope == Scope::iteration) return append_steps(point, error, out);
    const std::string_view empty = event_ ? std::string_view("false,,,,,,,") : std::string_view("false,,,,,,");
    std::size_t r = 0;
    for (std::size_t m = 0; m < plan_.mechanisms.size(); ++m) {
      for (Pass pass : plan_.passes) {
        fmt::format_to(it, "{}", point.index);
        for (std::size_t a = 0; a < plan_.axes.size(); ++a) {
          out.push_back(',');
          out.append(cells_[a][at_[a]]);
        }
        fmt::format_to(it, ",{},{},", mechanism_names_[m], to_string(pass));
        if (!point.resolved()) {
          out.append(empty);
          append_csv_cell(out, error);
          out.push_back('\n');
          continue;
        }
        const sim::Evaluation& row = point.results[r++];
        const Estimate& e = row.estimate;
        if (!e.feasible) {
          out.append(empty);
          append_csv_cell(out, e.reason);
          out.push_back('\n');
          continue;
        }
        fmt::format_to(it, "true,{},{},{},{},{},", e.time.value(), e.compute.value(), e.exposed_comm.value(),
                       e.memory.total().value(), e.fits ? "true" : "false");
        if (event_) fmt::format_to(it, "{},", row.event && row.event->link_shared ? "true" : "false");
        out.push_back('\n');
      }
    }
  }

 private:
  // The point index and its grid values, then a comma.
  void append_point(const sim::SweepPoint& point, fmt::memory_buffer& out) {
    fmt::format_to(std::back_inserter(out), "{}", point.index);
    for (std::size_t a = 0; a < plan_.axes.size(); ++a) {
      out.push_back(',');
      out.append(cells_[a][at_[a]]);
    }
    out.push_back(',');
  }

  // Iteration scope: one row per step estimate (a point that did not resolve: one per
  // mechanism and pass, with its problems).
  void append_steps(const sim::SweepPoint& point, const std::string& error, fmt::memory_buffer& out) {
    auto it = std::back_inserter(out);
    const std::string_view empty("false,,,,,,,,");
    if (!point.resolved()) {
      for (std::size_t m = 0; m < plan_.mechanisms.size(); ++m)
        for (Pass pass : plan_.passes) {
          append_point(point, out);
          fmt::format_to(it, "{},,{},", mechanism_names_[m], to_string(pass));
          out.append(empty);
          append_csv_cell(out, error);
          out.push_back('\n');
        }
      return;
    }
    for (const IterationEstimate& e : point.steps) {
      append_point(point, out);
      fmt::format_to(it, "{},{},{},", e.cross_attention_name(), e.self_attention.name(), to_string(e.pass));
      if (!e.feasible) {
        out.append(empty);
        append_csv_cell(out, e.reason);
        out.push_back('\n');
        continue;
      }
      fmt::format_to(it, "true,{},{},{},{},{},{},{},\n", e.time.value(), e.compute.value(), e.exposed_comm.value(),
                     e.tokens_per_s, e.mfu, e.peak_memory.value(), e.fits ? "true" : "false");
    }
  }

  const SweepPlan& plan_;
  bool event_;
  std::vector<std::vector<std::string>> cells_;  // [axis][value]
  std::vector<std::string> mechanism_names_;
  std::vector<std::size_t> at_;  // the current point's coordinates
};

}  // namespace

sim::SweepOutcome write_sweep_csv(const SweepPlan& plan, const sim::SweepOptions& options, const CsvSink& sink) {
  RowWriter writer(plan);
  fmt::memory_buffer rows;
  return sim::run_sweep(plan, options, [&](std::span<const sim::SweepPoint> points) {
    rows.clear();
    for (const auto& p : points) writer.append_rows(p, rows);
    sink(std::string_view(rows.data(), rows.size()));
  });
}

}  // namespace xattn::cli
