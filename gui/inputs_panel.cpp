// Inputs panel (see inputs_panel.hpp).
#include "gui/inputs_panel.hpp"
#include "model/scenario/scenario_file.hpp"

#include <QFormLayout>
#include <QGroupBox>
#include <QGridLayout>
#include <QVBoxLayout>

#include <cmath>

namespace xattn::gui {
namespace {

QString text_of(const FieldValue& v) {
  return std::visit(
      [](const auto& x) -> QString {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::int64_t>) return QString::number(x);
        else if constexpr (std::is_same_v<T, double>) return QString::number(x, 'g', 6);
        else if constexpr (std::is_same_v<T, bool>) return x ? "true" : "false";
        else if constexpr (std::is_same_v<T, std::string>) return QString::fromStdString(x);
        else {
          QStringList parts;
          for (const auto& s : x) parts << QString::fromStdString(s);
          return parts.join(", ");
        }
      },
      v);
}

// The resolved value of a field, as text.
QString resolved(const Scenario& s, const QString& path) {
  const Field* f = find_field(path.toStdString());
  return f ? text_of(f->get(s)) : QString();
}

const char* const kMechanisms[] = {"lv-xattn", "ring", "ulysses", "no-comm", "ring-zigzag", "ring-stripe",
                                   "startrail:c=2", "usp:u=2"};

}  // namespace

InputsPanel::InputsPanel(Controller& controller, QWidget* parent) : QWidget(parent), controller_(controller) {
  setObjectName("inputsPanel");
  auto* top = new QVBoxLayout(this);

  // ---- presets
  auto* presets = new QGroupBox("Presets");
  auto* pf = new QFormLayout(presets);
  model_ = new QComboBox;
  model_->setObjectName("workload.model");
  for (const ModelSpec& m : model_presets()) model_->addItem(QString::fromStdString(m.name));
  cluster_ = new QComboBox;
  cluster_->setObjectName("cluster.preset");
  cluster_->addItem("(none: fields below)", QString());
  for (const ClusterPreset& c : cluster_presets())
    cluster_->addItem(QString::fromStdString(c.name), QString::fromStdString(c.name));
  gpu_ = new QComboBox;
  gpu_->setObjectName("cluster.gpu");
  for (const GpuSpec& g : gpu_presets()) gpu_->addItem(QString::fromStdString(g.name));
  model_->setToolTip(QString::fromStdString(find_field("workload.model")->help));
  cluster_->setToolTip(QString::fromStdString(find_field("cluster.preset")->help));
  gpu_->setToolTip(QString::fromStdString(find_field("cluster.gpu")->help));
  pf->addRow("model", model_);
  pf->addRow("cluster", cluster_);
  pf->addRow("GPU", gpu_);
  top->addWidget(presets);

  // ---- workload
  auto* work = new QGroupBox("Workload");
  auto* wf = new QFormLayout(work);
  minutes_ = new QLineEdit;
  minutes_->setObjectName("video.minutes");
  minutes_->setPlaceholderText("minutes");
  fps_ = new QLineEdit("1");
  fps_->setObjectName("video.fps");
  fps_->setPlaceholderText("frames/s");
  auto* video = new QWidget;
  auto* vl = new QHBoxLayout(video);
  vl->setContentsMargins(0, 0, 0, 0);
  vl->addWidget(minutes_);
  vl->addWidget(new QLabel("min ×"));
  vl->addWidget(fps_);
  vl->addWidget(new QLabel("fps"));
  video->setToolTip("video length: sets workload.frames = minutes × 60 × frames per second");
  wf->addRow("video", video);
  add_edit(wf, "frames", "workload.frames");
  add_edit(wf, "tokens / frame", "workload.tokens_per_frame");
  visual_tokens_ = new QLabel;
  visual_tokens_->setObjectName("visualTokens");
  wf->addRow("visual tokens", visual_tokens_);
  add_edit(wf, "text tokens", "workload.text_tokens");
  add_edit(wf, "batch", "workload.batch");
  dtype_ = new QComboBox;
  dtype_->setObjectName("workload.dtype");
  dtype_->addItems({"fp16", "bf16", "fp32"});
  wf->addRow("dtype", dtype_);
  pass_ = new QComboBox;
  pass_->setObjectName("pass");
  pass_->addItems({"fwd", "bwd", "fwd+bwd"});
  pass_->setToolTip("the pass the single-layer views (GPU-count table, scaling and speedup charts) and the sweep use;\n"
                    "the Training step tab always shows the whole step (fwd+bwd)");
  wf->addRow("pass", pass_);
  top->addWidget(work);

  // ---- cluster
  auto* clus = new QGroupBox("Cluster");
  auto* cf = new QFormLayout(clus);
  add_edit(cf, "nodes", "cluster.nodes");
  add_edit(cf, "GPUs / node", "cluster.gpus_per_node");
  intra_kind_ = new QComboBox;
  intra_kind_->setObjectName("cluster.intra_node.kind");
  intra_kind_->addItems({"nvlink-switch", "nvlink-mesh", "pcie", "none"});
  cf->addRow("intra fabric", intra_kind_);
  add_edit(cf, "intra GB/s", "cluster.intra_node.bandwidth_GBps");
  add_edit(cf, "intra µs", "cluster.intra_node.latency_us");
  add_edit(cf, "inter GB/s / NIC", "cluster.inter_node.bandwidth_GBps");
  add_edit(cf, "inter µs", "cluster.inter_node.latency_us");
  add_edit(cf, "NICs / node", "cluster.inter_node.nics_per_node");
  add_edit(cf, "reserved GB", "cluster.memory_reserved_GB");
  top->addWidget(clus);

  // ---- the training step: every training.* key of the field table (scenario_file.hpp),
  // so a key added there appears here with its help as the tooltip.
  auto* train = new QGroupBox("Training step");
  train->setObjectName("trainingGroup");
  auto* tf = new QFormLayout(train);
  for (const Field& f : scenario_fields()) {
    const QString path = QString::fromStdString(f.path);
    if (!path.startsWith("training.")) continue;
    add_edit(tf, path.mid(static_cast<int>(std::string_view("training.").size())), path);
  }
  top->addWidget(train);

  // ---- mechanisms
  auto* mech = new QGroupBox("Mechanisms");
  auto* ml = new QGridLayout(mech);
  int i = 0;
  for (const char* name : kMechanisms) {
    auto* box = new QCheckBox(name);
    box->setObjectName(QString("mechanism:") + name);
    mechanisms_ << box;
    ml->addWidget(box, i / 2, i % 2);
    ++i;
    connect(box, &QCheckBox::toggled, this, [this] { apply_mechanisms(); });
  }
  top->addWidget(mech);

  error_ = new QLabel;
  error_->setObjectName("errorLabel");
  error_->setWordWrap(true);
  error_->setStyleSheet("QLabel { color: #b00020; font-weight: bold; }");
  error_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  error_->hide();
  top->addWidget(error_);
  top->addStretch(1);

  connect(model_, &QComboBox::textActivated, this, [this](const QString& t) { controller_.pickModel(t); });
  connect(cluster_, &QComboBox::activated, this,
          [this](int index) { controller_.pickCluster(cluster_->itemData(index).toString()); });
  connect(gpu_, &QComboBox::textActivated, this, [this](const QString& t) { controller_.pickGpu(t); });
  connect(dtype_, &QComboBox::textActivated, this,
          [this](const QString& t) { controller_.setField("workload.dtype", t); });
  connect(intra_kind_, &QComboBox::textActivated, this,
          [this](const QString& t) { controller_.setField("cluster.intra_node.kind", t); });
  connect(pass_, &QComboBox::textActivated, this, [this](const QString& t) {
    if (auto p = parse_pass(t.toStdString())) controller_.setPass(*p);
  });
  connect(minutes_, &QLineEdit::editingFinished, this, [this] { apply_video(); });
  connect(fps_, &QLineEdit::editingFinished, this, [this] { apply_video(); });

  connect(&controller_, &Controller::dashboardChanged, this, [this] { refresh(false); });
  connect(&controller_, &Controller::specChanged, this, [this] { refresh(true); });
  connect(&controller_, &Controller::inputError, this, [this](const QString& message) {
    error_->setText(message);
    error_->setVisible(!message.isEmpty());
  });
  refresh(true);
}

void InputsPanel::add_edit(QFormLayout* form, const QString& label, const QString& path) {
  const Field* f = find_field(path.toStdString());
  auto* edit = new QLineEdit;
  edit->setObjectName(path);
  if (f) edit->setToolTip(path + ": " + QString::fromStdString(f->help));
  edits_.insert(path, edit);
  form->addRow(label, edit);
  connect(edit, &QLineEdit::editingFinished, this, [this, edit, path] {
    if (refreshing_) return;
    // Nothing changed: keep the preset-derived value unpinned.
    const auto d = controller_.dashboard();
    if (d && controller_.error().isEmpty() && edit->text().trimmed() == resolved(d->scenario, path)) return;
    const bool ok = controller_.setField(path, edit->text());
    edit->setStyleSheet(ok ? QString() : "QLineEdit { border: 2px solid #b00020; }");
  });
}

void InputsPanel::apply_video() {
  bool ok_m = false, ok_f = false;
  const double minutes = minutes_->text().toDouble(&ok_m);
  const double fps = fps_->text().toDouble(&ok_f);
  if (!ok_m || !ok_f) return;
  // A unit conversion of the input, not a model formula: frames = seconds × frame rate.
  const auto frames = static_cast<long long>(std::llround(minutes * 60.0 * fps));
  controller_.setField("workload.frames", QString::number(frames));
}

void InputsPanel::apply_mechanisms() {
  if (refreshing_) return;
  QStringList names;
  for (QCheckBox* b : mechanisms_)
    if (b->isChecked()) names << b->text();
  if (names.isEmpty()) return;  // at least one; the box just unticked comes back on refresh
  controller_.setMechanisms(names);
}

void InputsPanel::refresh(bool force) {
  const auto d = controller_.dashboard();
  if (!d) return;
  refreshing_ = true;
  const Scenario& s = d->scenario;
  for (auto it = edits_.begin(); it != edits_.end(); ++it) {
    if (!force && it.value()->hasFocus()) continue;
    it.value()->setText(resolved(s, it.key()));
    it.value()->setStyleSheet(QString());
  }
  model_->setCurrentText(QString::fromStdString(controller_.spec().workload.model));
  const auto& preset = controller_.spec().cluster.preset;
  const int ci = cluster_->findData(preset ? QString::fromStdString(*preset) : QString());
  cluster_->setCurrentIndex(ci < 0 ? 0 : ci);
  gpu_->setCurrentText(QString::fromStdString(s.cluster.gpu.name));
  dtype_->setCurrentText(resolved(s, "workload.dtype"));
  intra_kind_->setCurrentText(resolved(s, "cluster.intra_node.kind"));
  pass_->setCurrentText(QString::fromUtf8(to_string(controller_.pass()).data()));
  visual_tokens_->setText(QString("%1 (%2 frames × %3)").arg(s.shape.kv_tokens).arg(s.frames).arg(s.tokens_per_frame));
  QStringList on;
  for (const Mechanism& m : s.mechanisms) on << QString::fromStdString(m.name());
  for (QCheckBox* b : mechanisms_) {
    QSignalBlocker block(b);
    b->setChecked(on.contains(b->text()));
  }
  refreshing_ = false;
}

}  // namespace xattn::gui
