// The dashboard's controller: owns the ScenarioSpec the user is editing, applies every
// edit through the field registry (apply_override, as `--set` does), re-evaluates the
// closed form on each edit (microseconds, on the GUI thread) and runs sweeps and
// simulations on a worker thread. Results are emitted as immutable shared objects that
// the views only read.
#pragma once

#include <QObject>
#include <QString>
#include <QStringList>
#include <QThread>
#include <algorithm>

#include <atomic>
#include <functional>
#include <memory>

#include "gui/analysis.hpp"
#include "sim/plan.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn::gui {

class Controller : public QObject {
  Q_OBJECT
 public:
  explicit Controller(QObject* parent = nullptr);
  ~Controller() override;

  [[nodiscard]] const ScenarioSpec& spec() const { return spec_; }
  [[nodiscard]] Pass pass() const { return pass_; }
  // The last scenario that resolved (null before the first).
  [[nodiscard]] std::shared_ptr<const Dashboard> dashboard() const { return dashboard_; }
  [[nodiscard]] QString error() const { return error_; }

  // Edits. Each returns false (and emits inputError) when the value is rejected; a value
  // that parses but leaves the scenario unresolvable is kept, and the error shown.
  bool setField(const QString& path, const QString& value);
  bool pickModel(const QString& name);    // resets the preset-derived shape fields
  // Resets the cluster fields to the preset's; "" keeps the cluster as shown, every field explicit.
  bool pickCluster(const QString& name);
  bool pickGpu(const QString& name);
  bool setMechanisms(const QStringList& names);
  void setPass(Pass pass);
  void setSpec(const ScenarioSpec& spec);

  // Files: the same YAML the CLI reads (load_scenario_spec) and writes (to_yaml).
  bool load(const QString& path);
  bool save(const QString& path);

  // Worker-thread jobs; one of each kind at a time.
  void startHeatmap(const HeatmapAxis& x, const HeatmapAxis& y);
  void startTimeline(const QString& mechanism, Pass pass);
  // A whole training step in the event engine, ranks first_rank .. first_rank + 15 recorded
  // (GanttView::kMaxRanks) for the Gantt view.
  void startStepTimeline(const QString& mechanism, Pass pass, int first_rank);
  // The planner (sim/plan.hpp) over the scenario as edited: every GPU count up to its
  // nodes, every layout, mechanism, sharding and checkpointing; emits planReady.
  void startPlan();
  // Loads a plan's settings (its `set`, KEY=VALUE as `--set` takes them) into the spec.
  bool applyPlan(const std::vector<std::string>& set);
  void cancel();
  [[nodiscard]] bool busy() const { return worker_ != nullptr; }
  // Blocks (running the event loop) until the current job ends; for --screenshot and tests.
  void waitForJob();

 signals:
  void dashboardChanged(std::shared_ptr<const xattn::gui::Dashboard> dashboard);
  void inputError(const QString& message);  // empty: the scenario resolves again
  void specChanged();                      // after load or preset picks: refresh every field
  void jobProgress(int done, int total);
  void jobStarted(const QString& what);
  void jobFinished(const QString& message);
  void heatmapReady(std::shared_ptr<const xattn::gui::HeatmapResult> result);
  void timelineReady(std::shared_ptr<const xattn::gui::TimelineResult> result);
  void planReady(std::shared_ptr<const xattn::sim::PlanResult> result);

 private:
  bool commit(ScenarioSpec candidate);
  // Builds a candidate with `edit` (which may throw InputError: shown inline, nothing
  // committed), commits it and, when `announce`, tells the inputs panel the spec changed.
  bool commitEdit(const std::function<ScenarioSpec()>& edit, bool announce);
  void reportError(const QString& message);
  void runJob(const QString& what, std::function<std::function<void()>()> body);
  void runTimeline(const QString& mechanism, std::function<TimelineResult(const Scenario&, const Mechanism&)> sim);

  ScenarioSpec spec_;
  Pass pass_ = Pass::fwd;
  std::shared_ptr<const Dashboard> dashboard_;
  QString error_;
  QThread* worker_ = nullptr;
  std::function<void()> deliver_;  // set by the worker, run on this thread when it ends
  std::atomic<bool> cancel_{false};
};

}  // namespace xattn::gui
