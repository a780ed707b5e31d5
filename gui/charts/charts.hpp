// Every Qt Charts use of the dashboard lives in this folder (Qt Charts is deprecated in
// newer Qt; a port touches only these files). Each view keeps one QChart and refills its
// series from an immutable result; points carry hover tooltips. Units on the axes: time
// in ms, memory in GiB, tokens as counts.
#pragma once

#include <QChartView>
#include <QColor>
#include <QString>

#include <memory>

#include "gui/analysis.hpp"
#include "sim/plan.hpp"

namespace xattn::gui {

// One colour per mechanism name, the same in every view.
[[nodiscard]] QColor mechanism_color(const QString& name);

class ChartBase : public QChartView {
  Q_OBJECT
 public:
  explicit ChartBase(const QString& title, QWidget* parent = nullptr);

 protected:
  void clear();  // removes every series and axis
};

// The one-screen question: time per mechanism against GPU count (log-log), hollow red
// markers where a mechanism does not fit in memory.
class ScalingChart : public ChartBase {
  Q_OBJECT
 public:
  explicit ScalingChart(QWidget* parent = nullptr);
  void show_result(const Dashboard& d);
};

// ---- iteration scope: the whole training step (pass fwd+bwd, docs/model.md §13) ----------

// Time per training step against GPU count, one line per cross-attention mechanism (log-log),
// hollow red markers where the whole step does not fit, the fastest that fits ringed.
class StepScalingChart : public ChartBase {
  Q_OBJECT
 public:
  explicit StepScalingChart(QWidget* parent = nullptr);
  void show_result(const Dashboard& d);
};

// The step's time per mechanism, stacked by the parts of `breakdown_s` (IterationBreakdown).
class StepBreakdownChart : public ChartBase {
  Q_OBJECT
 public:
  explicit StepBreakdownChart(QWidget* parent = nullptr);
  void show_result(const Dashboard& d);
};

// The step's peak memory per GPU per mechanism, stacked by the parts of `memory_bytes`
// (IterationMemory), against the GPU's capacity.
class StepMemoryChart : public ChartBase {
  Q_OBJECT
 public:
  explicit StepMemoryChart(QWidget* parent = nullptr);
  void show_result(const Dashboard& d);
};

// Compute vs exposed communication per mechanism, forward and backward, stacked (ms).
class BreakdownChart : public ChartBase {
  Q_OBJECT
 public:
  explicit BreakdownChart(QWidget* parent = nullptr);
  void show_result(const Dashboard& d);
};

// Speedup over Ring against visual tokens, with the break-even points marked.
class SpeedupChart : public ChartBase {
  Q_OBJECT
 public:
  explicit SpeedupChart(QWidget* parent = nullptr);
  void show_result(const Dashboard& d);
};

// Peak memory per GPU (fwd and bwd) against the GPU's capacity for attention.
class MemoryChart : public ChartBase {
  Q_OBJECT
 public:
  explicit MemoryChart(QWidget* parent = nullptr);
  void show_result(const Dashboard& d);
};

// A grid over two fields, each cell coloured by the fastest mechanism that fits.
class HeatmapChart : public ChartBase {
  Q_OBJECT
 public:
  explicit HeatmapChart(QWidget* parent = nullptr);
  void show_result(std::shared_ptr<const HeatmapResult> r);

 private:
  void resize_markers();
  std::shared_ptr<const HeatmapResult> result_;
};

// The planner's answer: step time against GPU-hours, the frontier (no plan both faster and
// cheaper) as a line, the top plans as points, the recommended plan highlighted.
class PlanChart : public ChartBase {
  Q_OBJECT
 public:
  explicit PlanChart(QWidget* parent = nullptr);
  void show_result(const sim::PlanResult& r);
};

}  // namespace xattn::gui
