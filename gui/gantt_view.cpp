// Gantt view of a simulated Timeline (see gantt_view.hpp).
#include "gui/gantt_view.hpp"

#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>
#include <QWheelEvent>

#include <algorithm>
#include <cmath>
#include <map>

#include "model/schedule/structure.hpp"
#include "sim/iteration_sim.hpp"

namespace xattn::gui {
namespace {

constexpr int kLeft = 110, kTop = 34, kBottom = 52, kRight = 16;

// A training step's ops by phase (Op::part, model/step_part.hpp): one colour per part of
// the `breakdown_s` contract; the recomputed forward lighter, the backward darker than
// the forward.
QColor part_color(StepPart part) {
  switch (part) {
    case StepPart::vision: return QColor(0x8c, 0x56, 0x4b);
    case StepPart::projector: return QColor(0xc4, 0x9c, 0x94);
    case StepPart::self_attention: return QColor(0x1f, 0x77, 0xb4);
    case StepPart::cross_attention: return QColor(0xd6, 0x27, 0x28);
    case StepPart::mlp: return QColor(0x2c, 0xa0, 0x2c);
    case StepPart::other_gemm: return QColor(0xbc, 0xbd, 0x22);
    case StepPart::lm_head: return QColor(0x17, 0xbe, 0xcf);
    case StepPart::sharding: return QColor(0x94, 0x67, 0xbd);
    case StepPart::optimizer: return QColor(0x7f, 0x7f, 0x7f);
    case StepPart::none: break;
  }
  return QColor(0xbb, 0xbb, 0xbb);
}

QColor op_color(const Op& op) {
  if (op.part != StepPart::none) {
    const QColor c = part_color(op.part);
    if (op.direction == StepDirection::recompute) return c.lighter(135);
    if (op.direction == StepDirection::backward) return c.darker(125);
    return c;
  }
  switch (op.kind()) {
    case OpKind::compute: {
      const ComputeOp* c = op.compute();
      if (c->kind == ComputeKind::attention_forward || c->kind == ComputeKind::attention_backward)
        return QColor(0x1f, 0x77, 0xb4);
      return QColor(0x9e, 0xc9, 0xe8);  // merges, rescales and other elementwise ops
    }
    case OpKind::send: return QColor(0xff, 0x7f, 0x0e);
    case OpKind::recv: return QColor(0x2c, 0xa0, 0x2c);
    case OpKind::collective: return QColor(0x94, 0x67, 0xbd);
  }
  return Qt::gray;
}

QString op_details(const Schedule& s, const Timeline& t, OpId id) {
  const Op& op = s.op(id);
  const OpTimes& times = t.at(id);
  QString kind = QString::fromUtf8(to_string(op.kind()).data());
  QString amount;
  if (const ComputeOp* c = op.compute()) {
    kind += " " + QString::fromUtf8(to_string(c->kind).data());
    amount = QString("%1 GFLOP").arg(c->flops.value() * 1e-9, 0, 'g', 4);
  } else if (const TransferOp* tr = op.transfer()) {
    amount = QString("%1 MB %2 rank %3").arg(tr->size().value() * 1e-6, 0, 'g', 4)
                 .arg(op.kind() == OpKind::send ? "to" : "from").arg(tr->peer);
  } else if (const CollectiveOp* co = op.collective()) {
    kind += " " + QString::fromUtf8(to_string(co->kind).data());
    amount = QString("%1 MB sent, group of %2").arg(co->bytes_sent().value() * 1e-6, 0, 'g', 4).arg(co->group.size());
  }
  const std::string phase = op.phase();
  return QString("op %1 on %2: %3\n%4%5\n%6\nstart %7 µs, end %8 µs (%9 µs)")
      .arg(QString::fromStdString(id.str()), QString::fromStdString(op.stream.name()), kind,
           phase.empty() ? QString() : QString::fromStdString(phase) + "\n", QString::fromStdString(op.describe()),
           amount)
      .arg(times.start.microseconds(), 0, 'f', 2)
      .arg(times.end.microseconds(), 0, 'f', 2)
      .arg((times.end - times.start).microseconds(), 0, 'f', 2);
}

}  // namespace

GanttView::GanttView(QWidget* parent) : QWidget(parent) {
  setObjectName("ganttView");
  setMouseTracking(true);
  setMinimumSize(420, 240);
  setAutoFillBackground(true);
  QPalette p = palette();
  p.setColor(QPalette::Window, Qt::white);
  setPalette(p);
}

void GanttView::show_result(std::shared_ptr<const TimelineResult> r) {
  result_ = std::move(r);
  end_us_ = 1;
  if (result_ && result_->result.estimate.feasible)
    end_us_ = std::max(1e-3, result_->result.timeline.makespan.microseconds());
  first_rank_ = std::clamp(first_rank_, 0, std::max(0, result_ ? result_->result.schedule.ranks() - 1 : 0));
  rebuild();
  reset_zoom();
}

void GanttView::show_ranks(int first) {
  const int ranks = result_ ? result_->result.schedule.ranks() : 0;
  first_rank_ = std::clamp(first, 0, std::max(0, ranks - 1));
  rebuild();
  update();
}

int GanttView::last_rank() const {
  if (!result_ || !result_->result.estimate.feasible) return -1;
  return std::min(first_rank_ + kMaxRanks, result_->result.schedule.ranks()) - 1;
}

void GanttView::rebuild() {
  rows_.clear();
  bars_.clear();
  if (!result_ || !result_->result.estimate.feasible) return;
  const Schedule& s = result_->result.schedule;
  const Timeline& t = result_->result.timeline;
  for (int rank = first_rank_; rank <= last_rank(); ++rank) {
    const Program& p = s.programs[static_cast<std::size_t>(rank)];
    // Rows of this rank: compute first, then comm0, comm1, ...
    std::map<std::pair<int, int>, int> row_of;
    for (const Op& op : p.ops) row_of[{static_cast<int>(op.stream.kind), op.stream.index}] = 0;
    for (auto& [key, row] : row_of) {
      row = static_cast<int>(rows_.size());
      rows_.push_back(Row{p.rank, Stream{static_cast<StreamKind>(key.first), static_cast<std::int16_t>(key.second)}});
    }
    for (std::size_t i = 0; i < p.ops.size(); ++i) {
      const OpId id{p.rank, static_cast<int>(i)};
      const OpTimes& times = t.at(id);
      Bar b;
      b.row = row_of[{static_cast<int>(p.ops[i].stream.kind), p.ops[i].stream.index}];
      b.op = id;
      b.start_us = times.start.microseconds();
      b.end_us = times.end.microseconds();
      bars_.push_back(b);
    }
  }
}

void GanttView::reset_zoom() {
  view_start_us_ = 0;
  view_end_us_ = end_us_ * 1.02;
  update();
}

QRectF GanttView::plot_rect() const {
  return QRectF(kLeft, kTop, std::max(10, width() - kLeft - kRight), std::max(10, height() - kTop - kBottom));
}

double GanttView::x_of(double us) const {
  const QRectF r = plot_rect();
  return r.left() + (us - view_start_us_) / (view_end_us_ - view_start_us_) * r.width();
}

double GanttView::us_of(double x) const {
  const QRectF r = plot_rect();
  return view_start_us_ + (x - r.left()) / r.width() * (view_end_us_ - view_start_us_);
}

const GanttView::Bar* GanttView::bar_at(QPointF p) const {
  if (rows_.empty() || !plot_rect().contains(p)) return nullptr;
  const QRectF r = plot_rect();
  const int row = static_cast<int>((p.y() - r.top()) / (r.height() / static_cast<double>(rows_.size())));
  const double us = us_of(p.x());
  const double slack = (view_end_us_ - view_start_us_) / r.width() * 2;  // 2 px for tiny ops
  for (const Bar& b : bars_)
    if (b.row == row && us >= b.start_us - slack && us <= b.end_us + slack) return &b;
  return nullptr;
}

void GanttView::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing, false);
  QFont title = font();
  title.setBold(true);
  title.setPointSizeF(title.pointSizeF() * 1.15);
  if (!result_) {
    p.drawText(rect(), Qt::AlignCenter, "Press \"Simulate\" to run the event simulator on this scenario.");
    return;
  }
  const auto& est = result_->result.estimate;
  p.setFont(title);
  if (result_->step)
    p.drawText(QRectF(0, 4, width(), kTop - 8), Qt::AlignHCenter | Qt::AlignVCenter,
               QString("Simulated training step: %1 cross-attention, %2, %3 ranks — %4 ms (ranks %5–%6 shown)")
                   .arg(QString::fromStdString(result_->mechanism), QString::fromUtf8(to_string(result_->pass).data()))
                   .arg(result_->result.schedule.ranks())
                   .arg(est.feasible ? result_->result.timeline.makespan.microseconds() * 1e-3 : 0.0, 0, 'f', 2)
                   .arg(first_rank_)
                   .arg(last_rank()));
  else
  p.drawText(QRectF(0, 4, width(), kTop - 8), Qt::AlignHCenter | Qt::AlignVCenter,
             QString("Simulated schedule: %1, %2, %3 ranks — %4 µs%5")
                 .arg(QString::fromStdString(result_->mechanism), QString::fromUtf8(to_string(result_->pass).data()))
                 .arg(result_->result.schedule.ranks())
                 .arg(est.feasible ? result_->result.timeline.makespan.microseconds() : 0.0, 0, 'f', 1)
                 .arg(est.feasible && result_->result.schedule.ranks() > kMaxRanks
                          ? QString(" (ranks %1–%2 shown)").arg(first_rank_).arg(last_rank())
                          : QString()));
  p.setFont(font());
  if (!est.feasible) {
    p.drawText(rect(), Qt::AlignCenter, "infeasible: " + QString::fromStdString(est.reason));
    return;
  }
  const QRectF r = plot_rect();
  const double row_h = r.height() / static_cast<double>(rows_.size());
  // Row labels and stripes.
  QFont small = font();
  if (row_h < 14) small.setPointSizeF(std::max(5.0, row_h * 0.6));
  p.setFont(small);
  for (std::size_t i = 0; i < rows_.size(); ++i) {
    const QRectF band(r.left(), r.top() + static_cast<double>(i) * row_h, r.width(), row_h);
    if (rows_[i].rank % 2 == 0) p.fillRect(band, QColor(0xf4, 0xf4, 0xf4));
    if (row_h >= 7 || i % static_cast<std::size_t>(std::ceil(7 / row_h)) == 0)
      p.drawText(QRectF(4, band.top(), kLeft - 8, row_h), Qt::AlignRight | Qt::AlignVCenter,
                 QString("rank %1 %2")
                     .arg(rows_[i].rank)
                     .arg(QString::fromStdString(result_->step ? sim::step_stream_name(stream_slot(rows_[i].stream))
                                                               : rows_[i].stream.name())));
  }
  // Bars.
  p.save();
  p.setClipRect(r);
  const Schedule& s = result_->result.schedule;
  for (const Bar& b : bars_) {
    if (b.end_us < view_start_us_ || b.start_us > view_end_us_) continue;
    const double x0 = x_of(b.start_us), x1 = std::max(x_of(b.end_us), x0 + 1);
    const QRectF box(x0, r.top() + b.row * row_h + row_h * 0.15, x1 - x0, row_h * 0.7);
    p.fillRect(box, op_color(s.op(b.op)));
  }
  p.restore();
  // Time axis.
  p.setFont(font());
  p.setPen(Qt::black);
  p.drawLine(r.bottomLeft(), r.bottomRight());
  const double span = view_end_us_ - view_start_us_;
  const double step = std::pow(10.0, std::floor(std::log10(span / 5)));
  const double nice = span / step > 25 ? step * 5 : span / step > 10 ? step * 2 : step;
  for (double t = std::ceil(view_start_us_ / nice) * nice; t <= view_end_us_; t += nice) {
    const double x = x_of(t);
    p.drawLine(QPointF(x, r.bottom()), QPointF(x, r.bottom() + 4));
    // A step runs for seconds: its axis is in ms.
    p.drawText(QRectF(x - 50, r.bottom() + 5, 100, 16), Qt::AlignHCenter,
               QString::number(result_->step ? t * 1e-3 : t, 'g', 6));
  }
  p.drawText(QRectF(r.left(), r.bottom() + 20, r.width(), 16), Qt::AlignHCenter,
             result_->step ? "time (ms) — bwd darker, recompute lighter; mouse wheel zooms, right-click resets"
                           : "time (µs) — mouse wheel zooms, right-click resets");
  // Legend: by op kind for one layer, by phase for a step.
  std::vector<std::pair<QString, QColor>> legend;
  if (result_->step) {
    for (int k = 1; k < step_part_count; ++k) {
      const auto part = static_cast<StepPart>(k);
      legend.emplace_back(QString::fromUtf8(to_string(part).data()), part_color(part));
    }
  } else {
    legend = {{"attention", QColor(0x1f, 0x77, 0xb4)},
              {"merge / elementwise", QColor(0x9e, 0xc9, 0xe8)},
              {"send", QColor(0xff, 0x7f, 0x0e)},
              {"recv", QColor(0x2c, 0xa0, 0x2c)},
              {"collective", QColor(0x94, 0x67, 0xbd)}};
  }
  double lx = r.left();
  const double ly = height() - 16;
  for (const auto& [name, color] : legend) {
    p.fillRect(QRectF(lx, ly, 12, 10), color);
    p.drawText(QPointF(lx + 16, ly + 10), name);
    lx += 16 + p.fontMetrics().horizontalAdvance(name) + 18;
  }
}

void GanttView::wheelEvent(QWheelEvent* e) {
  if (!result_ || bars_.empty()) return;
  const double at = us_of(e->position().x());
  const double factor = e->angleDelta().y() > 0 ? 0.8 : 1.25;
  view_start_us_ = std::max(0.0, at - (at - view_start_us_) * factor);
  view_end_us_ = std::min(end_us_ * 1.02, at + (view_end_us_ - at) * factor);
  if (view_end_us_ - view_start_us_ < 1e-3) view_end_us_ = view_start_us_ + 1e-3;
  update();
  e->accept();
}

void GanttView::mousePressEvent(QMouseEvent* e) {
  if (e->button() == Qt::RightButton) reset_zoom();
}

void GanttView::mouseMoveEvent(QMouseEvent* e) {
  const Bar* b = bar_at(e->position());
  if (b && result_) QToolTip::showText(e->globalPosition().toPoint(), op_details(result_->result.schedule, result_->result.timeline, b->op), this);
  else QToolTip::hideText();
}

void GanttView::resizeEvent(QResizeEvent*) { update(); }

}  // namespace xattn::gui
