// The dashboard's window: the inputs panel on the left, one tab per view (first the
// training step: time per step against GPU count per cross-attention mechanism, the
// fastest whose whole step fits, its time and memory stacked by part; then the
// single-layer views — GPU scaling table and chart, time breakdown, speedup over Ring,
// memory —, sweep heatmap, simulated timeline of a step or a layer, the planner's answer), File menu actions for scenarios and exports, and the screenshot mode
// behind `xattn-gui --scenario FILE --screenshot DIR`.
#pragma once

#include <QComboBox>
#include <QLabel>
#include <QLineEdit>
#include <QMainWindow>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QTabWidget>
#include <QTableView>

#include "gui/charts/charts.hpp"
#include "gui/controller.hpp"
#include "gui/gantt_view.hpp"
#include "gui/inputs_panel.hpp"

namespace xattn::gui {

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);

  [[nodiscard]] Controller& controller() { return controller_; }
  [[nodiscard]] InputsPanel* inputs() const { return inputs_; }
  [[nodiscard]] QTabWidget* tabs() const { return tabs_; }
  [[nodiscard]] StepScalingChart* stepScalingChart() const { return step_scaling_chart_; }
  [[nodiscard]] StepBreakdownChart* stepBreakdownChart() const { return step_breakdown_chart_; }
  [[nodiscard]] StepMemoryChart* stepMemoryChart() const { return step_memory_chart_; }
  [[nodiscard]] QStandardItemModel* stepTable() const { return step_model_; }
  [[nodiscard]] QLabel* stepAnswer() const { return step_answer_; }
  [[nodiscard]] ScalingChart* scalingChart() const { return scaling_chart_; }
  [[nodiscard]] BreakdownChart* breakdownChart() const { return breakdown_chart_; }
  [[nodiscard]] SpeedupChart* speedupChart() const { return speedup_chart_; }
  [[nodiscard]] MemoryChart* memoryChart() const { return memory_chart_; }
  [[nodiscard]] HeatmapChart* heatmapChart() const { return heatmap_chart_; }
  [[nodiscard]] GanttView* ganttView() const { return gantt_; }
  [[nodiscard]] QStandardItemModel* scalingTable() const { return scaling_model_; }
  [[nodiscard]] QStandardItemModel* estimateTable() const { return estimate_model_; }
  [[nodiscard]] QStandardItemModel* heatmapTable() const { return heatmap_model_; }
  [[nodiscard]] QStandardItemModel* phaseTable() const { return phase_model_; }
  [[nodiscard]] QLabel* timelineSummary() const { return sim_summary_; }
  [[nodiscard]] PlanChart* planChart() const { return plan_chart_; }
  [[nodiscard]] QStandardItemModel* planTable() const { return plan_model_; }
  [[nodiscard]] QLabel* planExplanation() const { return plan_text_; }
  [[nodiscard]] std::shared_ptr<const sim::PlanResult> planResult() const { return plan_; }

  // Runs the planner on the scenario as edited (the Plan tab's button).
  void start_plan();
  // Loads the settings of row `row` of the plan table (0: the recommended plan) into the
  // inputs; false when there is no such plan or its settings are rejected.
  bool load_plan(int row);

  // The chart or table of the current tab, for the export actions.
  [[nodiscard]] QWidget* currentChart() const;
  [[nodiscard]] QStandardItemModel* currentTable() const;

  // Renders every tab to DIR/NN-name.png (running the sweep and the simulation first).
  // Returns the files written; an empty list with `error` set on failure.
  QStringList screenshot_all(const QString& dir, QString* error = nullptr);

  // How long the last closed-form refresh of every view took (ms), edit to charts drawn.
  [[nodiscard]] double lastRefreshMs() const { return last_refresh_ms_; }

 private:
  void build_menus();
  QWidget* build_step_tab();
  QWidget* build_sweep_tab();
  QWidget* build_timeline_tab();
  QWidget* build_plan_tab();
  void show_plan(const std::shared_ptr<const sim::PlanResult>& r);
  void show_dashboard(const std::shared_ptr<const Dashboard>& d);
  void open_scenario();
  void save_scenario();
  void export_chart();
  void export_table();
  void start_sweep();
  void start_simulation();

  Controller controller_;
  InputsPanel* inputs_ = nullptr;
  StepScalingChart* step_scaling_chart_ = nullptr;
  StepBreakdownChart* step_breakdown_chart_ = nullptr;
  StepMemoryChart* step_memory_chart_ = nullptr;
  QStandardItemModel* step_model_ = nullptr;
  QLabel* step_answer_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  ScalingChart* scaling_chart_ = nullptr;
  BreakdownChart* breakdown_chart_ = nullptr;
  SpeedupChart* speedup_chart_ = nullptr;
  MemoryChart* memory_chart_ = nullptr;
  HeatmapChart* heatmap_chart_ = nullptr;
  GanttView* gantt_ = nullptr;
  QStandardItemModel* scaling_model_ = nullptr;
  QStandardItemModel* estimate_model_ = nullptr;
  QStandardItemModel* heatmap_model_ = nullptr;
  QLabel* answer_ = nullptr;  // the one-line answer above the scaling chart

  // Sweep controls.
  QComboBox* sweep_x_field_ = nullptr;
  QComboBox* sweep_y_field_ = nullptr;
  QLineEdit* sweep_x_values_ = nullptr;
  QLineEdit* sweep_y_values_ = nullptr;
  QPushButton* sweep_run_ = nullptr;
  QPushButton* sweep_cancel_ = nullptr;
  QProgressBar* progress_ = nullptr;
  // Timeline controls.
  QComboBox* sim_mechanism_ = nullptr;
  QComboBox* sim_pass_ = nullptr;
  QComboBox* sim_scope_ = nullptr;  // "training step" or "one layer"
  QSpinBox* first_rank_ = nullptr;
  QLabel* sim_summary_ = nullptr;               // a step's event vs closed form, busiest and shared links
  QStandardItemModel* phase_model_ = nullptr;  // a step's phases (fill_phase_table)
  QPushButton* sim_run_ = nullptr;
  // Plan view.
  PlanChart* plan_chart_ = nullptr;
  QStandardItemModel* plan_model_ = nullptr;
  QTableView* plan_view_ = nullptr;
  QLabel* plan_text_ = nullptr;
  QPushButton* plan_run_ = nullptr;
  QPushButton* plan_load_ = nullptr;
  std::shared_ptr<const sim::PlanResult> plan_;
  std::vector<const sim::Plan*> plan_rows_;  // the table's rows: the top plans, best first

  double last_refresh_ms_ = 0;
};

}  // namespace xattn::gui
