// The dashboard's Qt Charts views (see charts.hpp). They read results; they compute
// nothing but axis ranges and unit conversions for display (s -> ms, bytes -> GiB).
#include "gui/charts/charts.hpp"

#include <QBarCategoryAxis>
#include <QBarSeries>
#include <QBarSet>
#include <QCategoryAxis>
#include <QCursor>
#include <QLegendMarker>
#include <QLineSeries>
#include <QLocale>
#include <QLogValueAxis>
#include <QScatterSeries>
#include <QStackedBarSeries>
#include <QToolTip>
#include <QValueAxis>

#include <algorithm>
#include <cmath>
#include <limits>

namespace xattn::gui {
namespace {

constexpr double kMs = 1e3;
constexpr double kGiB = 1073741824.0;

QString qs(const std::string& s) { return QString::fromStdString(s); }
QString ms_text(Seconds t) { return QString::number(t.value() * kMs, 'g', 4) + " ms"; }
QString gib_text(Bytes b) { return QString::number(b.value() / kGiB, 'f', 2) + " GiB"; }

// Shows `tips[i]` when the point nearest the hovered one is point i of `series`.
void attach_tooltips(QXYSeries* series, QStringList tips) {
  QObject::connect(series, &QXYSeries::hovered, series, [series, tips](const QPointF& p, bool state) {
    if (!state) {
      QToolTip::hideText();
      return;
    }
    int nearest = -1;
    double best = std::numeric_limits<double>::infinity();
    const auto points = series->points();
    for (int i = 0; i < points.size() && i < tips.size(); ++i) {
      const double d = std::abs(std::log(points[i].x() / p.x())) + std::abs(std::log(points[i].y() / p.y()));
      if (d < best) best = d, nearest = i;
    }
    if (nearest >= 0) QToolTip::showText(QCursor::pos(), tips[nearest]);
  });
}

void attach_bar_tooltips(QBarSet* set, QStringList tips) {
  QObject::connect(set, &QBarSet::hovered, set, [tips](bool state, int index) {
    if (state && index >= 0 && index < tips.size()) QToolTip::showText(QCursor::pos(), tips[index]);
    else QToolTip::hideText();
  });
}

// Powers-of-ten range covering [lo, hi] for a log axis.
std::pair<double, double> decade_range(double lo, double hi) {
  if (!(lo > 0) || !(hi > 0)) return {1, 10};
  double a = std::pow(10.0, std::floor(std::log10(lo)));
  double b = std::pow(10.0, std::ceil(std::log10(hi)));
  if (a == b) b *= 10;
  return {a, b};
}

QLogValueAxis* log_axis(const QString& title, double base, const QString& format) {
  auto* a = new QLogValueAxis;
  a->setTitleText(title);
  a->setBase(base);
  a->setLabelFormat(format);
  a->setMinorTickCount(base == 10 ? 8 : 0);
  return a;
}

// no-comm is a floor, not a mechanism: dashed, so a mechanism on top of it stays visible.
QPen mechanism_pen(const QString& name) {
  QPen pen(mechanism_color(name), 2.2);
  if (name == "no-comm") {
    pen.setStyle(Qt::DashLine);
    pen.setWidthF(1.6);
  }
  return pen;
}

}  // namespace

QColor mechanism_color(const QString& name) {
  if (name == "lv-xattn") return QColor(0x1f, 0x77, 0xb4);
  if (name == "ring") return QColor(0xff, 0x7f, 0x0e);
  if (name == "ulysses") return QColor(0x2c, 0xa0, 0x2c);
  if (name == "no-comm") return QColor(0x7f, 0x7f, 0x7f);
  if (name == "ring-zigzag") return QColor(0x8c, 0x56, 0x4b);
  if (name == "ring-stripe") return QColor(0xe3, 0x77, 0xc2);
  if (name.startsWith("startrail")) return QColor(0x94, 0x67, 0xbd);
  if (name.startsWith("usp")) return QColor(0x17, 0xbe, 0xcf);
  return QColor(0xbc, 0xbd, 0x22);
}

ChartBase::ChartBase(const QString& title, QWidget* parent) : QChartView(parent) {
  auto* c = new QChart;
  c->setTitle(title);
  QFont f = c->titleFont();
  f.setBold(true);
  f.setPointSizeF(f.pointSizeF() * 1.15);
  c->setTitleFont(f);
  c->legend()->setAlignment(Qt::AlignBottom);
  c->setAnimationOptions(QChart::NoAnimation);
  c->setMargins(QMargins(6, 6, 12, 6));
  setChart(c);
  setRenderHint(QPainter::Antialiasing);
  setMinimumSize(420, 300);
}

void ChartBase::clear() {
  chart()->removeAllSeries();
  for (QAbstractAxis* a : chart()->axes()) {
    chart()->removeAxis(a);
    delete a;
  }
}

// ---- scaling --------------------------------------------------------------------------

ScalingChart::ScalingChart(QWidget* parent) : ChartBase("Time per layer vs GPUs", parent) {
  setObjectName("scalingChart");
}

void ScalingChart::show_result(const Dashboard& d) {
  clear();
  chart()->setTitle(QString("Time of one attention layer (%1) vs GPUs — %2 per node")
                        .arg(qs(std::string(to_string(d.pass))))
                        .arg(d.scaling.gpus_per_node));
  auto* x = log_axis("GPUs", 2, "%d");
  auto* y = log_axis("time (ms)", 10, "%g");
  chart()->addAxis(x, Qt::AlignBottom);
  chart()->addAxis(y, Qt::AlignLeft);
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  auto* unfit = new QScatterSeries;
  unfit->setName("does not fit in memory");
  unfit->setObjectName("time:unfit");
  unfit->setMarkerShape(QScatterSeries::MarkerShapeCircle);
  unfit->setMarkerSize(13);
  unfit->setColor(QColor(255, 255, 255, 0));
  unfit->setBorderColor(QColor(0xd6, 0x27, 0x28));
  unfit->setPen(QPen(QColor(0xd6, 0x27, 0x28), 2.5));
  QStringList unfit_tips;

  for (std::size_t m = 0; m < d.scenario.mechanisms.size(); ++m) {
    const QString name = qs(d.scenario.mechanisms[m].name());
    auto* s = new QLineSeries;
    s->setName(name);
    s->setObjectName("time:" + name);
    s->setPointsVisible(true);
    s->setPen(mechanism_pen(name));
    QStringList tips;
    for (const ScalingRow& row : d.scaling.rows) {
      if (row.estimates.size() <= m) continue;
      const Estimate& e = row.estimates[m];
      if (!e.feasible) continue;
      const double t = e.time.value() * kMs;
      if (!(t > 0)) continue;
      s->append(row.gpus, t);
      lo = std::min(lo, t);
      hi = std::max(hi, t);
      QString tip = QString("%1 on %2 GPUs (%3 nodes)\ntime %4 = compute %5 + exposed comm %6\nmemory %7 per GPU%8")
                        .arg(name).arg(row.gpus).arg(row.nodes)
                        .arg(ms_text(e.time), ms_text(e.compute), ms_text(e.exposed_comm), gib_text(e.memory.total()))
                        .arg(e.fits ? QString() : QString(" — does not fit in %1").arg(gib_text(d.capacity)));
      tips << tip;
      if (!e.fits) {
        unfit->append(row.gpus, t);
        unfit_tips << tip;
      }
    }
    chart()->addSeries(s);
    s->attachAxis(x);
    s->attachAxis(y);
    attach_tooltips(s, tips);
  }
  chart()->addSeries(unfit);
  unfit->attachAxis(x);
  unfit->attachAxis(y);
  attach_tooltips(unfit, unfit_tips);
  for (QLegendMarker* mk : chart()->legend()->markers(unfit)) {
    mk->setVisible(unfit->count() > 0);
    mk->setPen(unfit->pen());  // the legend shows the red ring, not the transparent fill
    mk->setBrush(Qt::white);
  }
  const int first = d.scaling.rows.empty() ? 8 : d.scaling.rows.front().gpus;
  const int last = d.scaling.rows.empty() ? 1024 : d.scaling.rows.back().gpus;
  x->setRange(first / 1.3, last * 1.3);
  auto [a, b] = decade_range(lo, hi);
  y->setRange(a, b);
}

// ---- the training step ------------------------------------------------------------------

StepScalingChart::StepScalingChart(QWidget* parent) : ChartBase("Time per training step vs GPUs", parent) {
  setObjectName("stepScalingChart");
}

void StepScalingChart::show_result(const Dashboard& d) {
  clear();
  chart()->setTitle(QString("Time per training step (fwd+bwd, optimizer included) vs GPUs — %1 per node")
                        .arg(d.step_scaling.gpus_per_node));
  auto* x = log_axis("GPUs", 2, "%d");
  auto* y = log_axis("time per step (s)", 10, "%g");
  chart()->addAxis(x, Qt::AlignBottom);
  chart()->addAxis(y, Qt::AlignLeft);
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  auto* unfit = new QScatterSeries;
  unfit->setName("step does not fit in memory");
  unfit->setObjectName("step:unfit");
  unfit->setMarkerShape(QScatterSeries::MarkerShapeCircle);
  unfit->setMarkerSize(13);
  unfit->setColor(QColor(255, 255, 255, 0));
  unfit->setBorderColor(QColor(0xd6, 0x27, 0x28));
  unfit->setPen(QPen(QColor(0xd6, 0x27, 0x28), 2.5));
  auto* best = new QScatterSeries;
  best->setName("fastest that fits");
  best->setObjectName("step:best");
  best->setMarkerShape(QScatterSeries::MarkerShapeRectangle);
  best->setMarkerSize(12);
  best->setColor(QColor(255, 255, 255, 0));
  best->setBorderColor(Qt::black);
  best->setPen(QPen(Qt::black, 2));
  QStringList unfit_tips, best_tips;
  const std::size_t lines = d.step.size();
  for (std::size_t m = 0; m < lines; ++m) {
    const QString name = qs(d.step[m].cross_attention_name());
    auto* s = new QLineSeries;
    s->setName(name);
    s->setObjectName("step:" + name);
    s->setPointsVisible(true);
    s->setPen(mechanism_pen(name));
    QStringList tips;
    for (const StepScalingRow& row : d.step_scaling.rows) {
      if (row.estimates.size() <= m) continue;
      const IterationEstimate& e = row.estimates[m];
      if (!e.feasible) continue;
      const double t = e.time.value();
      if (!(t > 0)) continue;
      s->append(row.gpus, t);
      lo = std::min(lo, t);
      hi = std::max(hi, t);
      QString tip = QString("%1 on %2 GPUs (sp %3 × dp %4, %5 micro-steps)\nstep %6 s = compute %7 s + exposed %8 s\n"
                            "MFU %9%, peak %10 per GPU%11")
                        .arg(name).arg(row.gpus).arg(e.layout.sp).arg(e.layout.dp).arg(e.layout.micro_steps)
                        .arg(e.time.value(), 0, 'g', 4).arg(e.compute.value(), 0, 'g', 4).arg(e.exposed_comm.value(), 0, 'g', 4)
                        .arg(e.mfu * 100, 0, 'f', 1).arg(gib_text(e.peak_memory))
                        .arg(e.fits ? QString() : QString(" — does not fit in %1").arg(gib_text(d.capacity)));
      tips << tip;
      if (!e.fits) {
        unfit->append(row.gpus, t);
        unfit_tips << tip;
      }
      if (row.best == static_cast<int>(m)) {
        best->append(row.gpus, t);
        best_tips << "fastest that fits: " + tip;
      }
    }
    chart()->addSeries(s);
    s->attachAxis(x);
    s->attachAxis(y);
    attach_tooltips(s, tips);
  }
  for (auto [series, tips] : {std::pair{unfit, &unfit_tips}, std::pair{best, &best_tips}}) {
    chart()->addSeries(series);
    series->attachAxis(x);
    series->attachAxis(y);
    attach_tooltips(series, *tips);
    for (QLegendMarker* mk : chart()->legend()->markers(series)) {
      mk->setVisible(series->count() > 0);
      mk->setPen(series->pen());
      mk->setBrush(Qt::white);
    }
  }
  const int first = d.step_scaling.rows.empty() ? 8 : d.step_scaling.rows.front().gpus;
  const int last = d.step_scaling.rows.empty() ? 1024 : d.step_scaling.rows.back().gpus;
  x->setRange(first / 1.3, last * 1.3);
  auto [a, b] = decade_range(lo, hi);
  y->setRange(a, b);
}

namespace {

// The parts of `breakdown_s` and `memory_bytes`, in the contract's order, with the colours
// the Timeline uses for the same phases.
struct StepPartView {
  const char* key;
  const char* label;
  QColor color;
  Seconds IterationBreakdown::*member;
};
const StepPartView kBreakdownParts[] = {
    {"vision", "vision encoder", QColor(0x8c, 0x56, 0x4b), &IterationBreakdown::vision},
    {"projector", "projector", QColor(0xc4, 0x9c, 0x94), &IterationBreakdown::projector},
    {"self_attention", "self-attention", QColor(0x1f, 0x77, 0xb4), &IterationBreakdown::self_attention},
    {"cross_attention", "cross-attention", QColor(0xd6, 0x27, 0x28), &IterationBreakdown::cross_attention},
    {"mlp", "MLP", QColor(0x2c, 0xa0, 0x2c), &IterationBreakdown::mlp},
    {"other_gemm", "other GEMMs", QColor(0xbc, 0xbd, 0x22), &IterationBreakdown::other_gemm},
    {"lm_head", "LM head and loss", QColor(0x17, 0xbe, 0xcf), &IterationBreakdown::lm_head},
    {"sharding_comm_exposed", "sharding exposed", QColor(0x94, 0x67, 0xbd),
     &IterationBreakdown::sharding_comm_exposed},
    {"optimizer", "optimizer", QColor(0x7f, 0x7f, 0x7f), &IterationBreakdown::optimizer},
};
struct MemoryPartView {
  const char* key;
  const char* label;
  QColor color;
  Bytes IterationMemory::*member;
};
const MemoryPartView kMemoryParts[] = {
    {"parameters", "parameters", QColor(0x1f, 0x4e, 0x79), &IterationMemory::parameters},
    {"gradients", "gradients", QColor(0x4c, 0x9f, 0xd8), &IterationMemory::gradients},
    {"optimizer", "optimizer state", QColor(0x7f, 0x7f, 0x7f), &IterationMemory::optimizer},
    {"activations", "activations", QColor(0x2c, 0xa0, 0x2c), &IterationMemory::activations},
    {"transient", "transient", QColor(0xff, 0x7f, 0x0e), &IterationMemory::transient},
};

}  // namespace

StepBreakdownChart::StepBreakdownChart(QWidget* parent) : ChartBase("Where the training step's time goes", parent) {
  setObjectName("stepBreakdownChart");
}

void StepBreakdownChart::show_result(const Dashboard& d) {
  clear();
  chart()->setTitle(QString("Step time by part, %1 GPUs (s)").arg(d.scenario.ranks()));
  auto* series = new QStackedBarSeries;
  QStringList categories;
  for (const IterationEstimate& e : d.step) categories << qs(e.cross_attention_name());
  double hi = 0;
  for (const IterationEstimate& e : d.step)
    if (e.feasible) hi = std::max(hi, e.breakdown.total().value());
  for (const StepPartView& part : kBreakdownParts) {
    auto* set = new QBarSet(part.label);
    set->setObjectName(QString("breakdown:") + part.key);
    set->setColor(part.color);
    QStringList tips;
    for (const IterationEstimate& e : d.step) {
      const double v = e.feasible ? (e.breakdown.*part.member).value() : 0.0;
      *set << v;
      tips << (e.feasible ? QString("%1: %2 %3 s of %4 s").arg(qs(e.cross_attention_name()), part.label)
                                .arg(v, 0, 'g', 4).arg(e.time.value(), 0, 'g', 4)
                          : qs(e.cross_attention_name()) + ": infeasible — " + qs(e.reason));
    }
    series->append(set);
    attach_bar_tooltips(set, tips);
  }
  series->setBarWidth(0.6);
  chart()->addSeries(series);
  auto* x = new QBarCategoryAxis;
  x->append(categories);
  auto* y = new QValueAxis;
  y->setTitleText("time per step (s)");
  y->setRange(0, hi > 0 ? hi * 1.08 : 1);
  y->applyNiceNumbers();
  chart()->addAxis(x, Qt::AlignBottom);
  chart()->addAxis(y, Qt::AlignLeft);
  series->attachAxis(x);
  series->attachAxis(y);
  chart()->legend()->setAlignment(Qt::AlignRight);
}

StepMemoryChart::StepMemoryChart(QWidget* parent) : ChartBase("The training step's memory per GPU", parent) {
  setObjectName("stepMemoryChart");
}

void StepMemoryChart::show_result(const Dashboard& d) {
  clear();
  chart()->setTitle(QString("Step peak memory per GPU, %1 GPUs (GiB)").arg(d.scenario.ranks()));
  auto* series = new QStackedBarSeries;
  QStringList categories;
  for (const IterationEstimate& e : d.step) categories << qs(e.cross_attention_name());
  double hi = d.capacity.value() / kGiB;
  for (const IterationEstimate& e : d.step) hi = std::max(hi, e.memory.total().value() / kGiB);
  for (const MemoryPartView& part : kMemoryParts) {
    auto* set = new QBarSet(part.label);
    set->setObjectName(QString("memory:") + part.key);
    set->setColor(part.color);
    QStringList tips;
    for (const IterationEstimate& e : d.step) {
      *set << (e.memory.*part.member).value() / kGiB;
      tips << QString("%1: %2 %3 of %4 per GPU%5")
                  .arg(qs(e.cross_attention_name()), part.label, gib_text(e.memory.*part.member), gib_text(e.memory.total()))
                  .arg(e.fits ? QString(" — fits") : QString(" — does not fit"));
    }
    series->append(set);
    attach_bar_tooltips(set, tips);
  }
  series->setBarWidth(0.6);
  chart()->addSeries(series);
  auto* x = new QBarCategoryAxis;
  x->append(categories);
  auto* y = new QValueAxis;
  y->setTitleText("GiB per GPU");
  y->setRange(0, hi * 1.1);
  y->applyNiceNumbers();
  chart()->addAxis(x, Qt::AlignBottom);
  chart()->addAxis(y, Qt::AlignLeft);
  series->attachAxis(x);
  series->attachAxis(y);
  auto* cap = new QLineSeries;
  cap->setName(QString("capacity %1").arg(gib_text(d.capacity)));
  cap->setObjectName("stepMemory:capacity");
  cap->setPen(QPen(QColor(0xd6, 0x27, 0x28), 2, Qt::DashLine));
  const double n = static_cast<double>(categories.size());
  cap->append(-0.5, d.capacity.value() / kGiB);
  cap->append(n - 0.5, d.capacity.value() / kGiB);
  chart()->addSeries(cap);
  cap->attachAxis(x);
  cap->attachAxis(y);
  chart()->legend()->setAlignment(Qt::AlignRight);
}

// ---- breakdown ------------------------------------------------------------------------

BreakdownChart::BreakdownChart(QWidget* parent) : ChartBase("Compute vs exposed communication", parent) {
  setObjectName("breakdownChart");
}

void BreakdownChart::show_result(const Dashboard& d) {
  clear();
  chart()->setTitle(QString("Compute vs exposed communication, %1 GPUs (ms, one layer)").arg(d.scenario.ranks()));
  auto* compute = new QBarSet("compute (busiest GPU)");
  auto* comm = new QBarSet("exposed communication");
  compute->setColor(QColor(0x1f, 0x77, 0xb4));
  comm->setColor(QColor(0xff, 0x7f, 0x0e));
  compute->setObjectName("compute");
  comm->setObjectName("exposed");
  QStringList categories, compute_tips, comm_tips;
  double hi = 0;
  for (const auto* list : {&d.fwd, &d.bwd}) {
    for (const Estimate& e : *list) {
      const QString label = qs(e.mechanism.name()) + "\n" + qs(std::string(to_string(e.pass)));
      categories << label;
      const double c = e.feasible ? e.compute.value() * kMs : 0;
      const double x = e.feasible ? e.exposed_comm.value() * kMs : 0;
      *compute << c;
      *comm << x;
      hi = std::max(hi, c + x);
      const QString head = qs(e.mechanism.name()) + " " + qs(std::string(to_string(e.pass)));
      if (!e.feasible) {
        compute_tips << head + ": infeasible — " + qs(e.reason);
        comm_tips << compute_tips.back();
      } else {
        compute_tips << QString("%1: compute %2 of %3").arg(head, ms_text(e.compute), ms_text(e.time));
        comm_tips << QString("%1: exposed communication %2 of %3").arg(head, ms_text(e.exposed_comm), ms_text(e.time));
      }
    }
  }
  auto* series = new QStackedBarSeries;
  series->append(compute);
  series->append(comm);
  series->setBarWidth(0.7);
  chart()->addSeries(series);
  attach_bar_tooltips(compute, compute_tips);
  attach_bar_tooltips(comm, comm_tips);
  auto* x = new QBarCategoryAxis;
  x->append(categories);
  auto* y = new QValueAxis;
  y->setTitleText("time (ms)");
  y->setRange(0, hi > 0 ? hi * 1.08 : 1);
  y->applyNiceNumbers();
  chart()->addAxis(x, Qt::AlignBottom);
  chart()->addAxis(y, Qt::AlignLeft);
  series->attachAxis(x);
  series->attachAxis(y);
}

// ---- speedup --------------------------------------------------------------------------

SpeedupChart::SpeedupChart(QWidget* parent) : ChartBase("Speedup over Ring", parent) {
  setObjectName("speedupChart");
}

void SpeedupChart::show_result(const Dashboard& d) {
  clear();
  chart()->setTitle(QString("Speedup over Ring vs visual tokens, %1 GPUs (%2)")
                        .arg(d.scenario.ranks())
                        .arg(qs(std::string(to_string(d.pass)))));
  auto* x = log_axis("visual tokens (S_kv)", 10, "%g");
  auto* y = log_axis("speedup over Ring (×)", 10, "%g");
  chart()->addAxis(x, Qt::AlignBottom);
  chart()->addAxis(y, Qt::AlignLeft);
  double xlo = std::numeric_limits<double>::infinity(), xhi = 0, ylo = 1, yhi = 1;
  auto* marks = new QScatterSeries;
  marks->setName("break-even (speedup 1)");
  marks->setObjectName("speedup:break-even");
  marks->setMarkerShape(QScatterSeries::MarkerShapeRectangle);
  marks->setMarkerSize(11);
  marks->setColor(Qt::black);
  QStringList mark_tips;
  for (const SpeedupCurve& c : d.speedup.curves) {
    const QString name = qs(c.mechanism.name());
    auto* s = new QLineSeries;
    s->setName(name);
    s->setObjectName("speedup:" + name);
    s->setPen(mechanism_pen(name));
    QStringList tips;
    for (std::size_t i = 0; i < c.speedup.size(); ++i) {
      if (std::isnan(c.speedup[i]) || !(c.speedup[i] > 0)) continue;
      s->append(c.visual_tokens[i], c.speedup[i]);
      tips << QString("%1: %2× over Ring at %3 visual tokens").arg(name).arg(c.speedup[i], 0, 'g', 4).arg(c.visual_tokens[i], 0, 'f', 0);
      xlo = std::min(xlo, c.visual_tokens[i]);
      xhi = std::max(xhi, c.visual_tokens[i]);
      ylo = std::min(ylo, c.speedup[i]);
      yhi = std::max(yhi, c.speedup[i]);
    }
    chart()->addSeries(s);
    s->attachAxis(x);
    s->attachAxis(y);
    attach_tooltips(s, tips);
    if (c.break_even) {
      marks->append(*c.break_even, 1.0);
      mark_tips << QString("%1 breaks even with Ring at about %2 visual tokens").arg(name).arg(*c.break_even, 0, 'f', 0);
    }
  }
  // The line speedup = 1.
  auto* one = new QLineSeries;
  one->setName("Ring (1×)");
  one->setObjectName("speedup:one");
  one->setPen(QPen(mechanism_color("ring"), 1.5, Qt::DashLine));
  if (xhi > 0) {
    one->append(xlo, 1);
    one->append(xhi, 1);
  }
  chart()->addSeries(one);
  one->attachAxis(x);
  one->attachAxis(y);
  chart()->addSeries(marks);
  marks->attachAxis(x);
  marks->attachAxis(y);
  attach_tooltips(marks, mark_tips);
  if (marks->count() == 0)
    for (QLegendMarker* mk : chart()->legend()->markers(marks)) mk->setVisible(false);
  if (xhi > 0) x->setRange(xlo, xhi);
  auto [a, b] = decade_range(ylo, yhi);
  y->setRange(a, b);
  // The break-even points in words, under the title.
  QStringList even;
  for (const SpeedupCurve& c : d.speedup.curves)
    if (c.break_even && c.mechanism.kind != MechanismKind::no_comm)
      even << QString("%1 at ≈%2 tokens").arg(qs(c.mechanism.name())).arg(QLocale(QLocale::English).toString(std::round(*c.break_even), 'f', 0));
  chart()->setTitle(chart()->title() + "<br><span style='font-weight:normal'>" +
                    (even.isEmpty() ? QString("no break-even in this range") : "break-even: " + even.join(", ")) + "</span>");
  if (!d.speedup.has_ring) chart()->setTitle("Speedup over Ring: add ring to the mechanisms");
}

// ---- memory ---------------------------------------------------------------------------

MemoryChart::MemoryChart(QWidget* parent) : ChartBase("Memory per GPU", parent) {
  setObjectName("memoryChart");
}

void MemoryChart::show_result(const Dashboard& d) {
  clear();
  const QString gpu = qs(d.scenario.cluster.gpu.name);
  chart()->setTitle(QString("Peak memory per GPU, one layer's working set (GiB), %1 GPUs").arg(d.scenario.ranks()));
  auto* fwd = new QBarSet("forward");
  auto* bwd = new QBarSet("backward (incl. saved activations)");
  fwd->setColor(QColor(0x4c, 0x9f, 0xd8));
  bwd->setColor(QColor(0x1f, 0x4e, 0x79));
  fwd->setObjectName("memory:fwd");
  bwd->setObjectName("memory:bwd");
  QStringList categories, fwd_tips, bwd_tips;
  double hi = d.capacity.value() / kGiB;
  for (std::size_t m = 0; m < d.scenario.mechanisms.size(); ++m) {
    categories << qs(d.scenario.mechanisms[m].name());
    for (auto [set, list, tips] : {std::tuple{fwd, &d.fwd, &fwd_tips}, std::tuple{bwd, &d.bwd, &bwd_tips}}) {
      const Estimate& e = (*list)[m];
      const double v = e.memory.total().value() / kGiB;
      *set << v;
      hi = std::max(hi, v);
      *tips << QString("%1 %2: %3 per GPU (inputs %4, outputs %5, buffers %6, saved %7)%8")
                   .arg(categories.back(), qs(std::string(to_string(e.pass))), gib_text(e.memory.total()),
                        gib_text(e.memory.inputs), gib_text(e.memory.outputs), gib_text(e.memory.buffers),
                        gib_text(e.memory.saved))
                   .arg(e.fits ? QString(" — fits") : QString(" — does not fit"));
    }
  }
  auto* series = new QBarSeries;
  series->append(fwd);
  series->append(bwd);
  chart()->addSeries(series);
  attach_bar_tooltips(fwd, fwd_tips);
  attach_bar_tooltips(bwd, bwd_tips);
  auto* x = new QBarCategoryAxis;
  x->append(categories);
  auto* y = new QValueAxis;
  y->setTitleText("GiB per GPU");
  y->setRange(0, hi * 1.1);
  y->applyNiceNumbers();
  chart()->addAxis(x, Qt::AlignBottom);
  chart()->addAxis(y, Qt::AlignLeft);
  series->attachAxis(x);
  series->attachAxis(y);
  // The capacity as a line across the categories (x = category index).
  auto* cap = new QLineSeries;
  cap->setName(QString("%1 capacity for attention: %2").arg(gpu, gib_text(d.capacity)));
  cap->setObjectName("memory:capacity");
  cap->setPen(QPen(QColor(0xd6, 0x27, 0x28), 2, Qt::DashLine));
  const double n = static_cast<double>(categories.size());
  cap->append(-0.5, d.capacity.value() / kGiB);
  cap->append(n - 0.5, d.capacity.value() / kGiB);
  chart()->addSeries(cap);
  cap->attachAxis(x);
  cap->attachAxis(y);
}

// ---- heatmap --------------------------------------------------------------------------

HeatmapChart::HeatmapChart(QWidget* parent) : ChartBase("Sweep: fastest mechanism that fits", parent) {
  setObjectName("heatmapChart");
  chart()->legend()->setAlignment(Qt::AlignRight);
  connect(chart(), &QChart::plotAreaChanged, this, [this] { resize_markers(); });
}

void HeatmapChart::resize_markers() {
  if (!result_) return;
  const QRectF area = chart()->plotArea();
  const double nx = static_cast<double>(result_->x.values.size()), ny = static_cast<double>(result_->y.values.size());
  if (nx <= 0 || ny <= 0) return;
  const double size = std::max(4.0, std::min(area.width() / nx, area.height() / ny) * 0.92);
  for (QAbstractSeries* s : chart()->series())
    if (auto* sc = qobject_cast<QScatterSeries*>(s)) sc->setMarkerSize(size);
}

void HeatmapChart::show_result(std::shared_ptr<const HeatmapResult> r) {
  result_ = std::move(r);
  clear();
  const HeatmapResult& h = *result_;
  chart()->setTitle(QString("Fastest mechanism that fits: %1 × %2").arg(qs(h.x.field), qs(h.y.field)));
  auto axis_for = [](const HeatmapAxis& a) {
    auto* ax = new QCategoryAxis;
    ax->setTitleText(QString::fromStdString(a.field));
    ax->setLabelsPosition(QCategoryAxis::AxisLabelsPositionOnValue);
    ax->setStartValue(-0.5);
    for (std::size_t i = 0; i < a.values.size(); ++i) ax->append(QString::fromStdString(a.values[i]), static_cast<double>(i));
    ax->setRange(-0.5, static_cast<double>(a.values.size()) - 0.5);
    ax->setGridLineVisible(false);
    return ax;
  };
  auto* x = axis_for(h.x);
  auto* y = axis_for(h.y);
  chart()->addAxis(x, Qt::AlignBottom);
  chart()->addAxis(y, Qt::AlignLeft);
  std::vector<QScatterSeries*> by_mech;
  std::vector<QStringList> tips(h.mechanisms.size() + 1);
  for (const std::string& m : h.mechanisms) {
    auto* s = new QScatterSeries;
    s->setName(qs(m));
    s->setObjectName("heatmap:" + qs(m));
    s->setMarkerShape(QScatterSeries::MarkerShapeRectangle);
    s->setColor(mechanism_color(qs(m)));
    s->setBorderColor(Qt::white);
    by_mech.push_back(s);
  }
  auto* none = new QScatterSeries;
  none->setName("none fits");
  none->setObjectName("heatmap:none");
  none->setMarkerShape(QScatterSeries::MarkerShapeRectangle);
  none->setColor(QColor(0xdd, 0xdd, 0xdd));
  none->setBorderColor(Qt::white);
  by_mech.push_back(none);
  for (std::size_t yi = 0; yi < h.y.values.size(); ++yi) {
    for (std::size_t xi = 0; xi < h.x.values.size(); ++xi) {
      const HeatmapCell& c = h.at(xi, yi);
      const std::size_t k = c.best >= 0 ? static_cast<std::size_t>(c.best) : h.mechanisms.size();
      by_mech[k]->append(static_cast<double>(xi), static_cast<double>(yi));
      QString tip = QString("%1 = %2, %3 = %4\n").arg(qs(h.x.field), qs(h.x.values[xi]), qs(h.y.field), qs(h.y.values[yi]));
      tip += c.best >= 0 ? QString("fastest: %1, %2 ms").arg(qs(h.mechanisms[k])).arg(c.best_time_s * kMs, 0, 'g', 4)
                         : qs(c.note);
      tips[k] << tip;
    }
  }
  for (std::size_t k = 0; k < by_mech.size(); ++k) {
    chart()->addSeries(by_mech[k]);
    by_mech[k]->attachAxis(x);
    by_mech[k]->attachAxis(y);
    // Hover over a square: the nearest point of that series (linear axes here).
    QScatterSeries* s = by_mech[k];
    QStringList t = tips[k];
    connect(s, &QXYSeries::hovered, s, [s, t](const QPointF& p, bool state) {
      if (!state) return QToolTip::hideText();
      const auto pts = s->points();
      for (int i = 0; i < pts.size() && i < t.size(); ++i)
        if (std::abs(pts[i].x() - p.x()) < 0.5 && std::abs(pts[i].y() - p.y()) < 0.5)
          return QToolTip::showText(QCursor::pos(), t[i]);
    });
    if (s->count() == 0)
      for (QLegendMarker* mk : chart()->legend()->markers(s)) mk->setVisible(false);
  }
  resize_markers();
}

PlanChart::PlanChart(QWidget* parent) : ChartBase("Plans: step time against GPU-hours", parent) {
  setObjectName("planChart");
}

void PlanChart::show_result(const sim::PlanResult& r) {
  clear();
  chart()->setTitle(QString("Training step time against GPU-hours per %1 step%2 — the frontier and the recommended plan")
                        .arg(r.iterations)
                        .arg(r.iterations == 1 ? "" : "s"));
  auto tip = [](const sim::Plan& p) {
    return QString("%1 GPUs (%2 nodes), sp %3 x dp %4\ncross %5, self %6\nsharding %7, checkpointing %8%9\n"
                   "step %10, %11 GPU-hours, peak %12 per GPU")
        .arg(p.gpus).arg(p.nodes).arg(p.sp).arg(p.dp)
        .arg(qs(p.cross_attention_name()), qs(p.self_attention.name()), qs(std::string(to_string(p.sharding))),
             qs(std::string(to_string(p.checkpointing))), p.recompute ? QString(", recompute") : QString())
        .arg(ms_text(p.time), QString::number(p.gpu_hours, 'g', 4), gib_text(p.peak_memory));
  };
  auto* x = new QValueAxis;
  x->setTitleText("GPU-hours");
  auto* y = new QValueAxis;
  y->setTitleText("step time (s)");
  chart()->addAxis(x, Qt::AlignBottom);
  chart()->addAxis(y, Qt::AlignLeft);
  double x_hi = 0, y_hi = 0;
  auto add = [&](QXYSeries* s, const std::vector<sim::Plan>& plans) {
    QStringList tips;
    for (const auto& p : plans) {
      s->append(p.gpu_hours, p.time.value());
      x_hi = std::max(x_hi, p.gpu_hours);
      y_hi = std::max(y_hi, p.time.value());
      tips << tip(p);
    }
    chart()->addSeries(s);
    s->attachAxis(x);
    s->attachAxis(y);
    attach_tooltips(s, tips);
  };
  auto* frontier = new QLineSeries;
  frontier->setName("frontier (no plan faster and cheaper)");
  frontier->setObjectName("plan:frontier");
  frontier->setPointsVisible(true);
  frontier->setPen(QPen(QColor(0x1f, 0x77, 0xb4), 2));
  add(frontier, r.frontier);
  auto* top = new QScatterSeries;
  top->setName("top plans");
  top->setObjectName("plan:top");
  top->setMarkerSize(8);
  top->setColor(QColor(0x7f, 0x7f, 0x7f));
  add(top, r.top);
  auto* best = new QScatterSeries;
  best->setName("recommended");
  best->setObjectName("plan:best");
  best->setMarkerShape(QScatterSeries::MarkerShapeRectangle);
  best->setMarkerSize(15);
  best->setColor(QColor(0xd6, 0x27, 0x28));
  add(best, r.best ? std::vector<sim::Plan>{*r.best} : std::vector<sim::Plan>{});
  x->setRange(0, x_hi > 0 ? x_hi * 1.1 : 1);
  y->setRange(0, y_hi > 0 ? y_hi * 1.1 : 1);
  x->applyNiceNumbers();
  y->applyNiceNumbers();
}

}  // namespace xattn::gui
