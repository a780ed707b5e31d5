// Controller (see controller.hpp): edits through the field registry, closed-form
// re-evaluation on each edit, worker-thread sweeps and simulations.
#include "gui/controller.hpp"
#include "model/scenario/scenario_file.hpp"

#include <QEventLoop>
#include <QMetaObject>
#include <QSaveFile>

#include <fstream>

namespace xattn::gui {
namespace {

QString message_of(const InputError& e) {
  QString out;
  for (const Problem& p : e.problems()) {
    if (!out.isEmpty()) out += '\n';
    QString where = QString::fromStdString(p.origin.source);
    if (where.startsWith("xattn-gui: ")) where.clear();  // an edit in the panel: the field says enough
    if (p.origin.line > 0) where += QString(":%1").arg(p.origin.line);
    out += (where.isEmpty() ? QString() : where + ": ") +
           (p.field.empty() ? QString() : QString::fromStdString(p.field) + ": ") + QString::fromStdString(p.message);
  }
  return out.isEmpty() ? QString::fromUtf8(e.what()) : out;
}

}  // namespace

Controller::Controller(QObject* parent) : QObject(parent) {
  qRegisterMetaType<std::shared_ptr<const Dashboard>>();
  qRegisterMetaType<std::shared_ptr<const HeatmapResult>>();
  qRegisterMetaType<std::shared_ptr<const TimelineResult>>();
  // The CLI's default scenario until a file is opened.
  spec_.cluster.preset = "lvxattn-16xa100";
  spec_.workload.text_tokens = 1008;
  spec_.workload.frames = 192;
  commit(spec_);
}

Controller::~Controller() {
  cancel();
  if (worker_) worker_->wait();
}

void Controller::reportError(const QString& message) {
  error_ = message;
  emit inputError(message);
}

bool Controller::commit(ScenarioSpec candidate) {
  spec_ = std::move(candidate);
  try {
    dashboard_ = std::make_shared<const Dashboard>(evaluate(spec_, pass_));
  } catch (const InputError& e) {
    reportError(message_of(e));
    return false;
  }
  if (!error_.isEmpty()) reportError(QString());
  emit dashboardChanged(dashboard_);
  return true;
}

bool Controller::commitEdit(const std::function<ScenarioSpec()>& edit, bool announce) {
  ScenarioSpec candidate;
  try {
    candidate = edit();
  } catch (const InputError& e) {
    reportError(message_of(e));
    return false;
  }
  commit(std::move(candidate));
  if (announce) emit specChanged();
  return true;
}

bool Controller::setField(const QString& path, const QString& value) {
  return commitEdit([&] { return with_field(spec_, path.toStdString(), value.toStdString()); }, false);
}

bool Controller::pickModel(const QString& name) {
  ScenarioSpec candidate = spec_;
  auto& w = candidate.workload;
  w.tokens_per_frame.reset();
  w.heads.reset();
  w.kv_heads.reset();
  w.head_dim.reset();
  w.text_hidden.reset();
  w.visual_hidden.reset();
  w.cross_attention_layers.reset();
  // A decoder-only model has no visual input: its frames are left at the model's default
  // (0), not at the count the previous model had.
  if (const ModelSpec* m = find_model(name.toStdString()); m != nullptr && m->decoder_only()) {
    w.frames = ScenarioSpec::WorkloadSpec::kFramesOfModel;
    candidate.origins.erase("workload.frames");
  }
  return commitEdit([&] { return with_field(candidate, "workload.model", name.toStdString()); }, true);
}

bool Controller::pickCluster(const QString& name) {
  ScenarioSpec candidate = spec_;
  const double reserved = candidate.cluster.memory_reserved_GB;
  if (!name.isEmpty()) {
    candidate.cluster = ScenarioSpec::ClusterSpec{};
    candidate.cluster.memory_reserved_GB = reserved;
  }
  candidate.cluster.preset.reset();
  return commitEdit(
      [&] {
        if (!name.isEmpty()) return with_field(candidate, "cluster.preset", name.toStdString());
        if (dashboard_) {
          // No preset: the cluster as it stands, its fields explicit (Field::get); the GPU's
          // own figures stay derived from cluster.gpu unless they were overridden already.
          for (const Field& f : scenario_fields()) {
            if (f.path.rfind("cluster.", 0) != 0 || f.path == "cluster.preset" || f.path.rfind("cluster.gpu_", 0) == 0)
              continue;
            const FieldValue v = f.get(dashboard_->scenario);
            std::string text;
            if (const auto* i = std::get_if<std::int64_t>(&v)) text = std::to_string(*i);
            else if (const auto* d = std::get_if<double>(&v)) text = QString::number(*d, 'g', 17).toStdString();
            else if (const auto* t = std::get_if<std::string>(&v)) text = *t;
            else continue;
            candidate = with_field(candidate, f.path, text);
          }
        }
        return candidate;
      },
      true);
}

bool Controller::pickGpu(const QString& name) {
  ScenarioSpec candidate = spec_;
  candidate.cluster.gpu_peak_TFLOPS.reset();
  candidate.cluster.gpu_hbm_GBps.reset();
  candidate.cluster.gpu_memory_GB.reset();
  return commitEdit([&] { return with_field(candidate, "cluster.gpu", name.toStdString()); }, true);
}

bool Controller::setMechanisms(const QStringList& names) {
  return setField("mechanisms", names.join(", "));
}

void Controller::setPass(Pass pass) {
  pass_ = pass;
  commit(spec_);
}

void Controller::setSpec(const ScenarioSpec& spec) {
  commit(spec);
  emit specChanged();
}

bool Controller::load(const QString& path) {
  ScenarioSpec loaded;
  try {
    loaded = load_scenario_spec(path.toStdString());
  } catch (const InputError& e) {
    reportError(message_of(e));
    return false;
  }
  const bool ok = commit(std::move(loaded));
  emit specChanged();
  return ok;
}

bool Controller::save(const QString& path) {
  if (!dashboard_ || !error_.isEmpty()) {
    reportError("cannot save: the scenario does not resolve" + (error_.isEmpty() ? QString() : "\n" + error_));
    return false;
  }
  // Whole or not at all: QSaveFile renames its temporary file onto `path` on commit().
  QSaveFile out(path);
  const QByteArray yaml = QByteArray::fromStdString(to_yaml(dashboard_->scenario));
  if (!out.open(QIODevice::WriteOnly) || out.write(yaml) != yaml.size() || !out.commit()) {
    reportError("cannot write " + path);
    return false;
  }
  return true;
}

void Controller::runJob(const QString& what, std::function<std::function<void()>()> body) {
  if (worker_) return;
  cancel_ = false;
  deliver_ = nullptr;
  // The body runs on the worker and returns what to do with its result on this thread;
  // that runs once the thread has ended, so a new job may start from a result's handler.
  worker_ = QThread::create([this, body = std::move(body)] { deliver_ = body(); });
  connect(worker_, &QThread::finished, this, [this] {
    worker_->deleteLater();
    worker_ = nullptr;
    auto deliver = std::move(deliver_);
    deliver_ = nullptr;
    if (deliver) deliver();
  });
  emit jobStarted(what);
  worker_->start();
}

void Controller::startHeatmap(const HeatmapAxis& x, const HeatmapAxis& y) {
  if (worker_) return;
  const ScenarioSpec spec = spec_;
  const Pass pass = pass_;
  runJob("sweep", [this, spec, pass, x, y] {
    QString message;
    std::shared_ptr<const HeatmapResult> result;
    try {
      result = std::make_shared<const HeatmapResult>(heatmap(spec, pass, x, y, cancel_, [this](std::size_t d, std::size_t t) {
        QMetaObject::invokeMethod(this, [this, d, t] { emit jobProgress(static_cast<int>(d), static_cast<int>(t)); },
                                  Qt::QueuedConnection);
      }));
      message = result->cancelled ? "sweep cancelled" : QString("sweep done: %1 points").arg(result->cells.size());
    } catch (const InputError& e) {
      message = "sweep: " + message_of(e);
    } catch (const std::exception& e) {  // not enough memory, a run past the clock: never out of the worker
      message = QString("sweep failed: ") + e.what();
    }
    return std::function<void()>([this, result, message] {
      if (result && !result->cancelled) emit heatmapReady(result);
      emit jobFinished(message);
    });
  });
}

void Controller::startPlan() {
  if (worker_) return;
  sim::PlanRequest request;
  request.spec = spec_;
  runJob("plan", [this, request] {
    QString message;
    std::shared_ptr<const sim::PlanResult> result;
    try {
      sim::PlanOptions options;
      options.jobs = std::max(1, QThread::idealThreadCount());
      options.cancel = &cancel_;
      result = std::make_shared<const sim::PlanResult>(sim::plan_search(request, options));
      message = result->cancelled ? "plan cancelled"
                                  : QString("plan done: %1 plans considered, %2 evaluated, %3 pruned")
                                        .arg(result->tally.considered)
                                        .arg(result->tally.evaluated)
                                        .arg(result->tally.pruned);
    } catch (const InputError& e) {
      message = "plan: " + message_of(e);
    }
    return std::function<void()>([this, result, message] {
      if (result && !result->cancelled) emit planReady(result);
      emit jobFinished(message);
    });
  });
}

bool Controller::applyPlan(const std::vector<std::string>& set) {
  return commitEdit(
      [&] {
        ScenarioSpec candidate = spec_;
        for (const auto& o : set) apply_override(candidate, o);
        return candidate;
      },
      true);
}

void Controller::startTimeline(const QString& mechanism, Pass pass) {
  runTimeline(mechanism, [pass](const Scenario& s, const Mechanism& m) { return simulate_timeline(s, m, pass); });
}

void Controller::startStepTimeline(const QString& mechanism, Pass pass, int first_rank) {
  runTimeline(mechanism, [pass, first_rank](const Scenario& s, const Mechanism& m) {
    return simulate_step_timeline(s, m, pass, first_rank, kGanttRanks);
  });
}

void Controller::runTimeline(const QString& mechanism,
                             std::function<TimelineResult(const Scenario&, const Mechanism&)> sim) {
  if (worker_ || !dashboard_) return;
  const auto m = parse_mechanism(mechanism.toStdString());
  if (!m) {
    reportError("unknown mechanism " + mechanism);
    return;
  }
  const Scenario s = dashboard_->scenario;
  runJob("simulation", [this, s, mech = *m, sim = std::move(sim)] {
    QString message;
    std::shared_ptr<const TimelineResult> result;
    try {
      result = std::make_shared<const TimelineResult>(sim(s, mech));
      message = result->result.estimate.feasible ? "simulation done" : "infeasible: " + QString::fromStdString(result->result.estimate.reason);
    } catch (const std::exception& e) {
      message = QString("simulation failed: ") + e.what();
    }
    return std::function<void()>([this, result, message] {
      if (result && !cancel_) emit timelineReady(result);
      emit jobFinished(cancel_ ? QString("simulation cancelled") : message);
    });
  });
}

void Controller::cancel() { cancel_ = true; }

void Controller::waitForJob() {
  if (!worker_) return;
  QEventLoop loop;
  connect(this, &Controller::jobFinished, &loop, &QEventLoop::quit);
  loop.exec();
}

}  // namespace xattn::gui
