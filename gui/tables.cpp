// Table models (see tables.hpp).
#include "gui/tables.hpp"

#include <QBrush>
#include <QColor>

namespace xattn::gui {
namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

QStandardItem* number_item(double shown, int precision, double base_value) {
  auto* it = new QStandardItem(QString::number(shown, 'f', precision));
  it->setData(base_value, Qt::UserRole);
  it->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
  return it;
}

QStandardItem* text_item(const QString& s) { return new QStandardItem(s); }

const QColor kBest(0xd4, 0xf1, 0xd4), kUnfit(0xfb, 0xd5, 0xd5), kInfeasible(0xe8, 0xe8, 0xe8);

}  // namespace

void fill_step_table(QStandardItemModel& model, const Dashboard& d) {
  model.clear();
  model.setHorizontalHeaderLabels({"cross-attention", "step (s)", "compute (s)", "exposed (s)", "tokens/s", "MFU (%)",
                                   "peak (GiB)", "fits", "sp × dp", "micro-steps"});
  for (std::size_t m = 0; m < d.step.size(); ++m) {
    const IterationEstimate& e = d.step[m];
    QList<QStandardItem*> items{text_item(qs(e.cross_attention_name()))};
    if (!e.feasible) {
      auto* it = text_item("infeasible");
      it->setToolTip(qs(e.reason));
      items << it;
      for (QStandardItem* c : items) c->setBackground(kInfeasible);
      model.appendRow(items);
      continue;
    }
    items << number_item(e.time.value(), 4, e.time.value()) << number_item(e.compute.value(), 4, e.compute.value())
          << number_item(e.exposed_comm.value(), 4, e.exposed_comm.value())
          << number_item(e.tokens_per_s, 0, e.tokens_per_s) << number_item(e.mfu * 100, 1, e.mfu)
          << number_item(e.peak_memory.value() / 1073741824.0, 2, e.peak_memory.value())
          << text_item(e.fits ? "yes" : "no")
          << text_item(QString("%1 × %2").arg(e.layout.sp).arg(e.layout.dp))
          << number_item(static_cast<double>(e.layout.micro_steps), 0, static_cast<double>(e.layout.micro_steps));
    const QColor bg = !e.fits ? kUnfit : static_cast<int>(m) == d.step_best ? kBest : QColor();
    if (bg.isValid())
      for (QStandardItem* c : items) c->setBackground(bg);
    model.appendRow(items);
  }
}

void fill_phase_table(QStandardItemModel& model, const TimelineResult& r) {
  model.clear();
  model.setHorizontalHeaderLabels({"phase (critical rank)", "compute (s)", "sp busy (s)", "dp busy (s)", "exposed (s)",
                                   "share (%)", "ops"});
  if (!r.step || !r.step_eval || !r.step_eval->event) return;
  const double time = r.step_eval->estimate.time.value();
  double c = 0, sp = 0, dp = 0, x = 0, ops = 0;
  auto add = [&](const QString& name, double cv, double spv, double dpv, double xv, double n, bool bold) {
    QList<QStandardItem*> items{text_item(name), number_item(cv, 4, cv), number_item(spv, 4, spv),
                                number_item(dpv, 4, dpv), number_item(xv, 4, xv),
                                number_item(time > 0 ? 100.0 * (cv + xv) / time : 0.0, 1, time > 0 ? (cv + xv) / time : 0.0),
                                number_item(n, 0, n)};
    if (bold)
      for (QStandardItem* it : items) {
        QFont f = it->font();
        f.setBold(true);
        it->setFont(f);
      }
    model.appendRow(items);
  };
  for (const sim::PhaseRow& p : r.step_eval->event->phases) {
    add(qs(p.phase), p.compute_s, p.sp_s, p.dp_s, p.exposed_s, static_cast<double>(p.ops), false);
    c += p.compute_s, sp += p.sp_s, dp += p.dp_s, x += p.exposed_s, ops += static_cast<double>(p.ops);
  }
  add("all phases", c, sp, dp, x, ops, true);
}

void fill_scaling_table(QStandardItemModel& model, const Dashboard& d) {
  model.clear();
  QStringList headers{"GPUs", "nodes"};
  for (const Mechanism& m : d.scenario.mechanisms) headers << qs(m.name()) + " (ms)";
  headers << "fastest that fits";
  model.setHorizontalHeaderLabels(headers);
  for (const ScalingRow& row : d.scaling.rows) {
    QList<QStandardItem*> items{number_item(row.gpus, 0, row.gpus), number_item(row.nodes, 0, row.nodes)};
    for (std::size_t m = 0; m < d.scenario.mechanisms.size(); ++m) {
      if (!row.error.empty() || m >= row.estimates.size()) {
        auto* it = text_item("—");
        it->setToolTip(qs(row.error));
        it->setBackground(kInfeasible);
        items << it;
        continue;
      }
      const Estimate& e = row.estimates[m];
      if (!e.feasible) {
        auto* it = text_item("infeasible");
        it->setToolTip(qs(e.reason));
        it->setBackground(kInfeasible);
        items << it;
        continue;
      }
      auto* it = number_item(e.time.value() * 1e3, 3, e.time.value());
      QString tip = QString("compute %1 ms + exposed comm %2 ms\nmemory %3 GiB per GPU")
                        .arg(e.compute.value() * 1e3, 0, 'f', 3)
                        .arg(e.exposed_comm.value() * 1e3, 0, 'f', 3)
                        .arg(e.memory.total().value() / 1073741824.0, 0, 'f', 2);
      if (!e.fits) {
        it->setText(it->text() + "  ✗ mem");
        it->setBackground(kUnfit);
        tip += " — does not fit";
      } else if (static_cast<int>(m) == row.best) {
        it->setBackground(kBest);
        QFont f = it->font();
        f.setBold(true);
        it->setFont(f);
      }
      it->setToolTip(tip);
      items << it;
    }
    items << text_item(row.best >= 0 ? qs(row.estimates[static_cast<std::size_t>(row.best)].mechanism.name())
                                     : QString(row.error.empty() ? "none fits" : "—"));
    model.appendRow(items);
  }
}

void fill_estimate_table(QStandardItemModel& model, const Dashboard& d) {
  model.clear();
  model.setHorizontalHeaderLabels({"mechanism", "pass", "time (ms)", "compute (ms)", "exposed comm (ms)",
                                   "peak mem (GiB)", "fits", "note"});
  auto add = [&](const std::vector<Estimate>& list) {
    for (const Estimate& e : list) {
      QList<QStandardItem*> items{text_item(qs(e.mechanism.name())), text_item(qs(std::string(to_string(e.pass))))};
      if (e.feasible) {
        items << number_item(e.time.value() * 1e3, 3, e.time.value())
              << number_item(e.compute.value() * 1e3, 3, e.compute.value())
              << number_item(e.exposed_comm.value() * 1e3, 3, e.exposed_comm.value())
              << number_item(e.memory.total().value() / 1073741824.0, 2, e.memory.total().value())
              << text_item(e.fits ? "yes" : "no") << text_item("");
      } else {
        items << text_item("") << text_item("") << text_item("") << text_item("") << text_item("")
              << text_item("infeasible: " + qs(e.reason));
      }
      model.appendRow(items);
    }
  };
  add(d.fwd);
  add(d.bwd);
  if (d.pass == Pass::fwd_bwd) add(d.selected);
}

void fill_heatmap_table(QStandardItemModel& model, const HeatmapResult& r) {
  model.clear();
  model.setHorizontalHeaderLabels({qs(r.x.field), qs(r.y.field), "fastest that fits", "time (ms)", "note"});
  for (std::size_t yi = 0; yi < r.y.values.size(); ++yi)
    for (std::size_t xi = 0; xi < r.x.values.size(); ++xi) {
      const HeatmapCell& c = r.at(xi, yi);
      QList<QStandardItem*> items{text_item(qs(r.x.values[xi])), text_item(qs(r.y.values[yi]))};
      if (c.best >= 0)
        items << text_item(qs(r.mechanisms[static_cast<std::size_t>(c.best)]))
              << number_item(c.best_time_s * 1e3, 3, c.best_time_s) << text_item("");
      else
        items << text_item("none") << text_item("") << text_item(qs(c.note).replace('\n', "; "));
      model.appendRow(items);
    }
}

}  // namespace xattn::gui
