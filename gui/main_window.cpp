// The dashboard's window (see main_window.hpp).
#include "gui/main_window.hpp"

#include <QApplication>
#include <iterator>
#include <QDir>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QMenuBar>
#include <QMessageBox>
#include <QScrollArea>
#include <QSpinBox>
#include <QSplitter>
#include <QStatusBar>
#include <QVBoxLayout>

#include "gui/export.hpp"
#include "gui/tables.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn::gui {
namespace {

QTableView* make_table(QStandardItemModel* model, const QString& name) {
  auto* view = new QTableView;
  view->setObjectName(name);
  view->setModel(model);
  view->setEditTriggers(QAbstractItemView::NoEditTriggers);
  view->verticalHeader()->setVisible(false);
  view->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
  view->setAlternatingRowColors(false);
  return view;
}

QStringList split_values(const QString& text) {
  QStringList out;
  for (const QString& v : text.split(',', Qt::SkipEmptyParts))
    if (!v.trimmed().isEmpty()) out << v.trimmed();
  return out;
}

std::vector<std::string> to_std(const QStringList& l) {
  std::vector<std::string> out;
  for (const QString& s : l) out.push_back(s.toStdString());
  return out;
}

}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setWindowTitle("xattn — distributed attention dashboard");
  inputs_ = new InputsPanel(controller_);
  auto* scroll = new QScrollArea;
  scroll->setWidget(inputs_);
  scroll->setWidgetResizable(true);
  scroll->setMinimumWidth(inputs_->sizeHint().width() + 24);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);

  scaling_model_ = new QStandardItemModel(this);
  estimate_model_ = new QStandardItemModel(this);
  heatmap_model_ = new QStandardItemModel(this);

  step_model_ = new QStandardItemModel(this);
  tabs_ = new QTabWidget;
  tabs_->setObjectName("views");
  // 0. The planning question at iteration scope: the whole training step.
  tabs_->addTab(build_step_tab(), "Training step");
  // 1. The single-layer question: GPUs 8..1024.
  {
    auto* page = new QWidget;
    auto* l = new QVBoxLayout(page);
    answer_ = new QLabel;
    answer_->setObjectName("answer");
    answer_->setWordWrap(true);
    answer_->setStyleSheet("QLabel { font-size: 11pt; padding: 4px; }");
    l->addWidget(answer_);
    auto* split = new QSplitter(Qt::Vertical);
    scaling_chart_ = new ScalingChart;
    split->addWidget(scaling_chart_);
    split->addWidget(make_table(scaling_model_, "scalingTableView"));
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    l->addWidget(split, 1);
    tabs_->addTab(page, "Layer: GPUs 8–1024");
  }
  // 2. Breakdown, with the simulate-style table.
  {
    auto* split = new QSplitter(Qt::Vertical);
    breakdown_chart_ = new BreakdownChart;
    split->addWidget(breakdown_chart_);
    split->addWidget(make_table(estimate_model_, "estimateTableView"));
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    tabs_->addTab(split, "Layer: breakdown");
  }
  speedup_chart_ = new SpeedupChart;
  tabs_->addTab(speedup_chart_, "Layer: speedup");
  memory_chart_ = new MemoryChart;
  tabs_->addTab(memory_chart_, "Layer: memory");
  tabs_->addTab(build_sweep_tab(), "Sweep");
  tabs_->addTab(build_timeline_tab(), "Timeline");
  tabs_->addTab(build_plan_tab(), "Plan");

  auto* central = new QSplitter(Qt::Horizontal);
  central->addWidget(scroll);
  central->addWidget(tabs_);
  central->setStretchFactor(0, 0);
  central->setStretchFactor(1, 1);
  setCentralWidget(central);
  build_menus();

  connect(&controller_, &Controller::dashboardChanged, this,
          [this](const std::shared_ptr<const Dashboard>& d) { show_dashboard(d); });
  connect(&controller_, &Controller::jobProgress, this, [this](int done, int total) {
    progress_->setRange(0, total);
    progress_->setValue(done);
  });
  connect(&controller_, &Controller::jobStarted, this, [this](const QString& what) {
    statusBar()->showMessage(what + " running…");
    progress_->setRange(0, 0);
    sweep_run_->setEnabled(false);
    sim_run_->setEnabled(false);
    plan_run_->setEnabled(false);
    sweep_cancel_->setEnabled(true);
  });
  connect(&controller_, &Controller::jobFinished, this, [this](const QString& message) {
    statusBar()->showMessage(message);
    progress_->setRange(0, 1);
    progress_->setValue(message.contains("cancel") ? 0 : 1);
    sweep_run_->setEnabled(true);
    sim_run_->setEnabled(true);
    plan_run_->setEnabled(true);
    sweep_cancel_->setEnabled(false);
  });
  connect(&controller_, &Controller::heatmapReady, this, [this](const std::shared_ptr<const HeatmapResult>& r) {
    heatmap_chart_->show_result(r);
    fill_heatmap_table(*heatmap_model_, *r);
  });
  connect(&controller_, &Controller::planReady, this,
          [this](const std::shared_ptr<const sim::PlanResult>& r) { show_plan(r); });
  connect(&controller_, &Controller::timelineReady, this,
          [this](const std::shared_ptr<const TimelineResult>& r) { gantt_->show_result(r); });
  if (controller_.dashboard()) show_dashboard(controller_.dashboard());
  resize(1500, 950);
}

QWidget* MainWindow::build_step_tab() {
  auto* page = new QWidget;
  auto* l = new QVBoxLayout(page);
  step_answer_ = new QLabel;
  step_answer_->setObjectName("stepAnswer");
  step_answer_->setWordWrap(true);
  step_answer_->setStyleSheet("QLabel { font-size: 11pt; padding: 4px; }");
  l->addWidget(step_answer_);
  auto* split = new QSplitter(Qt::Vertical);
  step_scaling_chart_ = new StepScalingChart;
  split->addWidget(step_scaling_chart_);
  auto* parts = new QSplitter(Qt::Horizontal);
  step_breakdown_chart_ = new StepBreakdownChart;
  step_memory_chart_ = new StepMemoryChart;
  // Side by side they must fit the window's 1500 px beside the inputs panel.
  step_breakdown_chart_->setMinimumWidth(320);
  step_memory_chart_->setMinimumWidth(320);
  parts->addWidget(step_breakdown_chart_);
  parts->addWidget(step_memory_chart_);
  split->addWidget(parts);
  split->addWidget(make_table(step_model_, "stepTableView"));
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 3);
  split->setStretchFactor(2, 1);
  l->addWidget(split, 1);
  return page;
}

QWidget* MainWindow::build_sweep_tab() {
  auto* page = new QWidget;
  auto* l = new QVBoxLayout(page);
  auto* controls = new QWidget;
  auto* g = new QGridLayout(controls);
  g->setContentsMargins(0, 0, 0, 0);
  sweep_x_field_ = new QComboBox;
  sweep_y_field_ = new QComboBox;
  sweep_x_field_->setObjectName("sweepXField");
  sweep_y_field_->setObjectName("sweepYField");
  for (const Field& f : scenario_fields()) {
    if (f.type == FieldType::text_list || f.path == "name" || f.path == "description") continue;
    sweep_x_field_->addItem(QString::fromStdString(f.path));
    sweep_y_field_->addItem(QString::fromStdString(f.path));
  }
  sweep_x_field_->setCurrentText("cluster.nodes");
  sweep_y_field_->setCurrentText("workload.frames");
  sweep_x_values_ = new QLineEdit("1, 2, 4, 8, 16, 32, 64, 128");
  sweep_y_values_ = new QLineEdit("8, 16, 32, 64, 128, 256, 512, 1024, 2048");
  sweep_x_values_->setObjectName("sweepXValues");
  sweep_y_values_->setObjectName("sweepYValues");
  sweep_run_ = new QPushButton("Run sweep");
  sweep_run_->setObjectName("sweepRun");
  sweep_cancel_ = new QPushButton("Cancel");
  sweep_cancel_->setObjectName("sweepCancel");
  sweep_cancel_->setEnabled(false);
  progress_ = new QProgressBar;
  progress_->setObjectName("progress");
  progress_->setRange(0, 1);
  progress_->setValue(0);
  g->addWidget(new QLabel("x field"), 0, 0);
  g->addWidget(sweep_x_field_, 0, 1);
  g->addWidget(new QLabel("values"), 0, 2);
  g->addWidget(sweep_x_values_, 0, 3);
  g->addWidget(sweep_run_, 0, 4);
  g->addWidget(new QLabel("y field"), 1, 0);
  g->addWidget(sweep_y_field_, 1, 1);
  g->addWidget(new QLabel("values"), 1, 2);
  g->addWidget(sweep_y_values_, 1, 3);
  g->addWidget(sweep_cancel_, 1, 4);
  g->addWidget(progress_, 2, 0, 1, 5);
  g->setColumnStretch(3, 1);
  l->addWidget(controls);
  auto* split = new QSplitter(Qt::Vertical);
  heatmap_chart_ = new HeatmapChart;
  split->addWidget(heatmap_chart_);
  split->addWidget(make_table(heatmap_model_, "heatmapTableView"));
  split->setStretchFactor(0, 4);
  split->setStretchFactor(1, 1);
  l->addWidget(split, 1);
  connect(sweep_run_, &QPushButton::clicked, this, [this] { start_sweep(); });
  connect(sweep_cancel_, &QPushButton::clicked, this, [this] { controller_.cancel(); });
  return page;
}

QWidget* MainWindow::build_timeline_tab() {
  auto* page = new QWidget;
  auto* l = new QVBoxLayout(page);
  auto* bar = new QHBoxLayout;
  sim_mechanism_ = new QComboBox;
  sim_mechanism_->setObjectName("simMechanism");
  sim_pass_ = new QComboBox;
  sim_pass_->setObjectName("simPass");
  sim_pass_->addItems({"fwd", "bwd", "fwd+bwd"});
  sim_pass_->setCurrentText("fwd+bwd");
  sim_pass_->setToolTip("training step: fwd and bwd are one micro-step's phases, fwd+bwd the whole step");
  sim_scope_ = new QComboBox;
  sim_scope_->setObjectName("simScope");
  sim_scope_->addItems({"training step", "one layer"});
  sim_scope_->setToolTip("training step: the whole step in the event engine (sim::evaluate_iteration), "
                         "16 ranks recorded, coloured by phase;\none layer: the attention mechanism's schedule");
  sim_run_ = new QPushButton("Simulate");
  sim_run_->setObjectName("simRun");
  auto* cancel = new QPushButton("Cancel");
  bar->addWidget(sim_scope_);
  bar->addWidget(new QLabel("mechanism"));
  bar->addWidget(sim_mechanism_);
  bar->addWidget(new QLabel("pass"));
  bar->addWidget(sim_pass_);
  bar->addWidget(sim_run_);
  bar->addWidget(cancel);
  // Which ranks the Gantt draws: at most GanttView::kMaxRanks from this one.
  auto* first_rank = first_rank_ = new QSpinBox;
  first_rank->setObjectName("ganttFirstRank");
  first_rank->setRange(0, 0);
  first_rank->setSingleStep(GanttView::kMaxRanks);
  first_rank->setToolTip(QString("The first rank drawn; %1 ranks are shown at a time").arg(GanttView::kMaxRanks));
  bar->addWidget(new QLabel("from rank"));
  bar->addWidget(first_rank);
  auto* engine_note = new QLabel("event simulator on the scenario's own cluster (sim/)");
  engine_note->setWordWrap(true);
  bar->addWidget(engine_note, 1);
  l->addLayout(bar);
  sim_summary_ = new QLabel;
  sim_summary_->setObjectName("timelineSummary");
  sim_summary_->setWordWrap(true);
  sim_summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  l->addWidget(sim_summary_);
  gantt_ = new GanttView;
  phase_model_ = new QStandardItemModel(this);
  auto* split = new QSplitter(Qt::Vertical);
  split->addWidget(gantt_);
  split->addWidget(make_table(phase_model_, "phaseTableView"));
  split->setStretchFactor(0, 4);
  split->setStretchFactor(1, 1);
  l->addWidget(split, 1);
  connect(first_rank, qOverload<int>(&QSpinBox::valueChanged), this, [this](int r) {
    gantt_->show_ranks(r);
    // A step keeps only the ranks it recorded: another window is another run.
    const TimelineResult* t = gantt_->result();
    if (t && t->step && t->result.estimate.feasible && gantt_->first_rank() != t->first_rank)
      controller_.startStepTimeline(QString::fromStdString(t->mechanism == "none" ? sim_mechanism_->currentText().toStdString()
                                                                                  : t->mechanism),
                                    t->pass, gantt_->first_rank());
  });
  connect(&controller_, &Controller::planReady, this,
          [this](const std::shared_ptr<const sim::PlanResult>& r) { show_plan(r); });
  connect(&controller_, &Controller::timelineReady, this, [this](const std::shared_ptr<const TimelineResult>& r) {
    fill_phase_table(*phase_model_, *r);
    QString text;
    if (r->step && r->step_eval && r->step_eval->event) {
      const auto& e = *r->step_eval;
      const sim::StepStats& st = *e.event;
      text = QString("Event engine: %1 s per %2").arg(e.estimate.time.value(), 0, 'g', 5)
                 .arg(r->pass == Pass::fwd_bwd ? QString("step") : QString("phase"));
      if (e.vs_analytic)
        text += QString(", closed form %1 s (%2%3%, %4)")
                    .arg(e.estimate.time.value() - e.vs_analytic->time_diff_s, 0, 'g', 5)
                    .arg(e.vs_analytic->time_diff_rel >= 0 ? "+" : "")
                    .arg(e.vs_analytic->time_diff_rel * 100, 0, 'f', 2)
                    .arg(QString::fromUtf8(e.vs_analytic->closed_form.data(),
                                           static_cast<int>(e.vs_analytic->closed_form.size())));
      text += QString(". Critical rank %1; %2 events, %3 messages.").arg(st.critical_rank).arg(st.link.events).arg(st.messages);
      if (!st.link.busiest_link.empty())
        text += QString(" Busiest link %1, busy %2% of the time.")
                    .arg(QString::fromStdString(st.link.busiest_link))
                    .arg(st.link.busiest_utilization * 100, 0, 'f', 1);
      if (!st.mixed_link.empty())
        text += QString(" Sequence-parallel and sharding traffic shared %1 for %2% of it.")
                    .arg(QString::fromStdString(st.mixed_link))
                    .arg(st.mixed_share * 100, 0, 'f', 1);
    }
    sim_summary_->setText(text);
    sim_summary_->setVisible(!text.isEmpty());
  });
  connect(&controller_, &Controller::timelineReady, this, [first_rank](const std::shared_ptr<const TimelineResult>& r) {
    const int ranks = r && r->result.estimate.feasible ? r->result.schedule.ranks() : 1;
    QSignalBlocker block(first_rank);
    first_rank->setRange(0, std::max(0, ranks - 1));
    if (r && r->step) first_rank->setValue(r->first_rank);
    first_rank->setEnabled(ranks > GanttView::kMaxRanks);
  });
  connect(sim_run_, &QPushButton::clicked, this, [this] { start_simulation(); });
  connect(cancel, &QPushButton::clicked, this, [this] { controller_.cancel(); });
  return page;
}

void MainWindow::build_menus() {
  QMenu* file = menuBar()->addMenu("&File");
  file->addAction("&Open scenario…", QKeySequence::Open, this, [this] { open_scenario(); });
  file->addAction("&Save scenario as…", QKeySequence::SaveAs, this, [this] { save_scenario(); });
  file->addSeparator();
  file->addAction("Export chart (PNG/SVG)…", this, [this] { export_chart(); });
  file->addAction("Export table (CSV)…", this, [this] { export_table(); });
  file->addSeparator();
  file->addAction("&Quit", QKeySequence::Quit, this, [this] { close(); });
}

void MainWindow::show_dashboard(const std::shared_ptr<const Dashboard>& d) {
  QElapsedTimer timer;
  timer.start();
  step_scaling_chart_->show_result(*d);
  step_breakdown_chart_->show_result(*d);
  step_memory_chart_->show_result(*d);
  fill_step_table(*step_model_, *d);
  {
    const Scenario& s = d->scenario;
    QString a = QString("<b>%1</b>, one training step (fwd+bwd, global batch %2) on %3 × %4 %5: ")
                    .arg(QString::fromStdString(s.model.name))
                    .arg(d->step.empty() ? 0 : d->step.front().layout.global_batch)
                    .arg(s.cluster.nodes).arg(s.cluster.gpus_per_node)
                    .arg(QString::fromStdString(s.cluster.gpu.name));
    if (d->step_best >= 0) {
      const IterationEstimate& b = d->step[static_cast<std::size_t>(d->step_best)];
      a += QString("fastest whose whole step fits: <b>%1</b>, %2 s per step (sp %3 × dp %4, peak %5 GiB of %6). ")
               .arg(QString::fromStdString(b.cross_attention_name()))
               .arg(b.time.value(), 0, 'g', 4).arg(b.layout.sp).arg(b.layout.dp)
               .arg(b.peak_memory.value() / 1073741824.0, 0, 'f', 1)
               .arg(d->capacity.value() / 1073741824.0, 0, 'f', 1);
    } else {
      a += "<b>no cross-attention mechanism's step fits here.</b> ";
    }
    const StepScalingRow* first_fit = nullptr;
    for (const StepScalingRow& row : d->step_scaling.rows)
      if (row.best >= 0) {
        first_fit = &row;
        break;
      }
    if (first_fit)
      a += QString("Fewest GPUs where a step fits: <b>%1</b> (%2).")
               .arg(first_fit->gpus)
               .arg(QString::fromStdString(
                   first_fit->estimates[static_cast<std::size_t>(first_fit->best)].cross_attention_name()));
    step_answer_->setText(a);
  }
  scaling_chart_->show_result(*d);
  breakdown_chart_->show_result(*d);
  speedup_chart_->show_result(*d);
  memory_chart_->show_result(*d);
  fill_scaling_table(*scaling_model_, *d);
  fill_estimate_table(*estimate_model_, *d);
  // The one-line answer: at the scenario's own size and at the smallest size where
  // something fits.
  QString answer;
  const Scenario& s = d->scenario;
  answer = QString("<b>%1</b>: %2 text tokens, %3 visual tokens (%4 frames), %5, on %6 × %7 GPUs per node. ")
               .arg(QString::fromStdString(s.model.name)).arg(s.text_tokens).arg(s.shape.kv_tokens).arg(s.frames)
               .arg(QString::fromUtf8(to_string(d->pass).data()))
               .arg(QString::fromStdString(s.cluster.gpu.name)).arg(s.cluster.gpus_per_node);
  const ScalingRow* first_fit = nullptr;
  for (const ScalingRow& row : d->scaling.rows)
    if (row.best >= 0) {
      first_fit = &row;
      break;
    }
  if (first_fit)
    answer += QString("Fewest GPUs where something fits: <b>%1</b>, fastest there <b>%2</b> (%3 ms per layer).")
                  .arg(first_fit->gpus)
                  .arg(QString::fromStdString(first_fit->estimates[static_cast<std::size_t>(first_fit->best)].mechanism.name()))
                  .arg(first_fit->estimates[static_cast<std::size_t>(first_fit->best)].time.value() * 1e3, 0, 'g', 4);
  else
    answer += "<b>No mechanism fits in memory between 8 and 1024 GPUs.</b>";
  answer_->setText(answer);
  // Keep the simulator's mechanism list in step with the scenario's.
  const QString current = sim_mechanism_->currentText();
  sim_mechanism_->clear();
  for (const Mechanism& m : s.mechanisms) sim_mechanism_->addItem(QString::fromStdString(m.name()));
  if (sim_mechanism_->findText(current) >= 0) sim_mechanism_->setCurrentText(current);
  last_refresh_ms_ = static_cast<double>(timer.nsecsElapsed()) * 1e-6;
}

QWidget* MainWindow::currentChart() const {
  switch (tabs_->currentIndex()) {
    case 0: return step_scaling_chart_;
    case 1: return scaling_chart_;
    case 2: return breakdown_chart_;
    case 3: return speedup_chart_;
    case 4: return memory_chart_;
    case 5: return heatmap_chart_;
    case 6: return gantt_;
  }
  return nullptr;
}

QStandardItemModel* MainWindow::currentTable() const {
  switch (tabs_->currentIndex()) {
    case 0: return step_model_;
    case 1: return scaling_model_;
    case 5: return heatmap_model_;
    case 6: return phase_model_;
    default: return estimate_model_;
  }
}

void MainWindow::open_scenario() {
  const QString path = QFileDialog::getOpenFileName(this, "Open scenario", "scenarios", "Scenario YAML (*.yaml *.yml)");
  if (!path.isEmpty() && controller_.load(path)) statusBar()->showMessage("opened " + path);
}

void MainWindow::save_scenario() {
  const QString path = QFileDialog::getSaveFileName(this, "Save scenario", "scenario.yaml", "Scenario YAML (*.yaml)");
  if (!path.isEmpty() && controller_.save(path)) statusBar()->showMessage("saved " + path);
}

void MainWindow::export_chart() {
  QWidget* w = currentChart();
  if (!w) return;
  const QString path = QFileDialog::getSaveFileName(this, "Export chart", w->objectName() + ".png",
                                                    "PNG image (*.png);;SVG image (*.svg)");
  if (path.isEmpty()) return;
  const QString error = export_widget(*w, path);
  if (!error.isEmpty()) QMessageBox::warning(this, "Export", error);
  else statusBar()->showMessage("wrote " + path);
}

void MainWindow::export_table() {
  QStandardItemModel* m = currentTable();
  const QString path = QFileDialog::getSaveFileName(this, "Export table", "table.csv", "CSV (*.csv)");
  if (path.isEmpty()) return;
  const QString error = export_csv(*m, path);
  if (!error.isEmpty()) QMessageBox::warning(this, "Export", error);
  else statusBar()->showMessage("wrote " + path);
}

void MainWindow::start_sweep() {
  HeatmapAxis x{sweep_x_field_->currentText().toStdString(), to_std(split_values(sweep_x_values_->text()))};
  HeatmapAxis y{sweep_y_field_->currentText().toStdString(), to_std(split_values(sweep_y_values_->text()))};
  controller_.startHeatmap(x, y);
}

QWidget* MainWindow::build_plan_tab() {
  auto* page = new QWidget;
  auto* l = new QVBoxLayout(page);
  auto* bar = new QHBoxLayout;
  plan_run_ = new QPushButton("Find the fastest set-up that fits");
  plan_run_->setObjectName("planRun");
  plan_run_->setToolTip("xattn plan: every GPU count up to the scenario's nodes, sp x dp at its global batch,\n"
                        "every mechanism, sharding stage, checkpointing mode and recomputation (docs/plan.md)");
  plan_load_ = new QPushButton("Load the selected plan into the inputs");
  plan_load_->setObjectName("planLoad");
  plan_load_->setEnabled(false);
  bar->addWidget(plan_run_);
  bar->addWidget(plan_load_);
  bar->addStretch(1);
  l->addLayout(bar);
  plan_text_ = new QLabel("Run the planner to see the recommended set-up, why, and what would change it.");
  plan_text_->setObjectName("planExplanation");
  plan_text_->setWordWrap(true);
  plan_text_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  l->addWidget(plan_text_);
  plan_model_ = new QStandardItemModel(this);
  auto* split = new QSplitter(Qt::Vertical);
  plan_chart_ = new PlanChart;
  split->addWidget(plan_chart_);
  plan_view_ = make_table(plan_model_, "planTableView");
  plan_view_->setSelectionBehavior(QAbstractItemView::SelectRows);
  plan_view_->setSelectionMode(QAbstractItemView::SingleSelection);
  split->addWidget(plan_view_);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  l->addWidget(split, 1);
  connect(plan_run_, &QPushButton::clicked, this, [this] { start_plan(); });
  connect(plan_load_, &QPushButton::clicked, this, [this] {
    const auto rows = plan_view_->selectionModel()->selectedRows();
    load_plan(rows.isEmpty() ? 0 : rows.front().row());
  });
  return page;
}

void MainWindow::start_plan() { controller_.startPlan(); }

void MainWindow::show_plan(const std::shared_ptr<const sim::PlanResult>& r) {
  plan_ = r;
  plan_rows_.clear();
  for (const auto& p : r->top) plan_rows_.push_back(&p);
  plan_chart_->show_result(*r);
  QStringList text;
  text << QString("%1 plans considered, %2 evaluated, %3 pruned, %4 fit in memory.")
              .arg(r->tally.considered)
              .arg(r->tally.evaluated)
              .arg(r->tally.pruned)
              .arg(r->tally.fitting);
  if (r->best)
    for (const auto& line : r->explanation.text) text << QString::fromStdString(line);
  else
    text << "No plan fits.";
  plan_text_->setText(text.join("\n"));
  plan_model_->clear();
  plan_model_->setHorizontalHeaderLabels({"rank", "GPUs", "nodes", "sp", "dp", "cross-attention", "self-attention",
                                          "sharding", "checkpointing", "recompute", "step (s)", "GPU-hours",
                                          "peak (GiB)"});
  int rank = 1;
  for (const sim::Plan* p : plan_rows_) {
    QList<QStandardItem*> row;
    for (const QString& cell :
         {QString::number(rank++), QString::number(p->gpus), QString::number(p->nodes), QString::number(p->sp),
          QString::number(p->dp), QString::fromStdString(p->cross_attention_name()),
          QString::fromStdString(p->self_attention.name()), QString::fromStdString(std::string(to_string(p->sharding))),
          QString::fromStdString(std::string(to_string(p->checkpointing))), p->recompute ? QString("yes") : QString("no"),
          QString::number(p->time.value(), 'g', 5), QString::number(p->gpu_hours, 'g', 5),
          QString::number(p->peak_memory.value() / 1073741824.0, 'f', 2)})
      row << new QStandardItem(cell);
    plan_model_->appendRow(row);
  }
  if (!plan_rows_.empty()) plan_view_->selectRow(0);
  plan_load_->setEnabled(!plan_rows_.empty());
}

bool MainWindow::load_plan(int row) {
  if (row < 0 || row >= static_cast<int>(plan_rows_.size())) return false;
  const bool ok = controller_.applyPlan(plan_rows_[static_cast<std::size_t>(row)]->set);
  if (ok) statusBar()->showMessage(QString("loaded plan %1 into the inputs").arg(row + 1));
  return ok;
}

void MainWindow::start_simulation() {
  auto pass = parse_pass(sim_pass_->currentText().toStdString());
  if (sim_scope_->currentText() == "training step")
    controller_.startStepTimeline(sim_mechanism_->currentText(), pass.value_or(Pass::fwd_bwd), first_rank_->value());
  else
    controller_.startTimeline(sim_mechanism_->currentText(), pass.value_or(Pass::fwd));
}

QStringList MainWindow::screenshot_all(const QString& dir, QString* error) {
  QStringList written;
  if (!QDir().mkpath(dir)) {
    if (error) *error = "cannot create " + dir;
    return {};
  }
  show();
  // The heavy views first: run them and wait.
  start_sweep();
  controller_.waitForJob();
  start_simulation();
  controller_.waitForJob();
  start_plan();
  controller_.waitForJob();
  const char* const names[] = {"step", "gpus", "breakdown", "speedup", "memory", "sweep", "timeline", "plan"};
  static_assert(std::size(names) == 8);
  for (int i = 0; i < tabs_->count() && i < static_cast<int>(std::size(names)); ++i) {
    tabs_->setCurrentIndex(i);
    QApplication::processEvents();
    const QString path = QDir(dir).filePath(QString("%1-%2.png").arg(i + 1, 2, 10, QChar('0')).arg(names[i]));
    const QString e = export_png(*this, path);
    if (!e.isEmpty()) {
      if (error) *error = e;
      return {};
    }
    written << path;
  }
  tabs_->setCurrentIndex(0);
  return written;
}

}  // namespace xattn::gui
