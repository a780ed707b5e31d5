// The simulated schedule as a Gantt chart: one row per rank and stream, compute and
// transfers in different colours, the wheel zooms the time axis around the cursor, and
// hovering an op shows its id, kind, label, times, bytes or FLOPs. Drawn with QPainter
// from the simulator's Timeline and the Schedule it ran (sim/timeline.hpp). At most
// kMaxRanks ranks are drawn at once (a 1024-GPU run is 11 million ops on 3000 rows, which
// no screen shows); show_ranks() moves the window.
#pragma once

#include <QWidget>

#include <memory>
#include <vector>

#include "gui/analysis.hpp"

namespace xattn::gui {

class GanttView : public QWidget {
  Q_OBJECT
 public:
  explicit GanttView(QWidget* parent = nullptr);
  static constexpr int kMaxRanks = kGanttRanks;
  void show_result(std::shared_ptr<const TimelineResult> r);
  [[nodiscard]] const TimelineResult* result() const { return result_.get(); }
  void reset_zoom();
  // Draws ranks first .. first + kMaxRanks - 1 (clamped to the run's ranks); keeps the zoom.
  void show_ranks(int first);
  [[nodiscard]] int first_rank() const { return first_rank_; }
  [[nodiscard]] int last_rank() const;  // the last rank drawn (-1: none)
  [[nodiscard]] std::size_t bar_count() const { return bars_.size(); }

 protected:
  void paintEvent(QPaintEvent*) override;
  void wheelEvent(QWheelEvent*) override;
  void mouseMoveEvent(QMouseEvent*) override;
  void mousePressEvent(QMouseEvent*) override;
  void resizeEvent(QResizeEvent*) override;

 private:
  struct Bar {
    int row = 0;
    OpId op;
    double start_us = 0, end_us = 0;
  };
  struct Row {
    int rank = 0;
    Stream stream;
  };
  [[nodiscard]] QRectF plot_rect() const;
  [[nodiscard]] double x_of(double us) const;
  [[nodiscard]] double us_of(double x) const;
  [[nodiscard]] const Bar* bar_at(QPointF p) const;
  void rebuild();  // rows_ and bars_ of the ranks in the window

  std::shared_ptr<const TimelineResult> result_;
  std::vector<Row> rows_;
  std::vector<Bar> bars_;
  int first_rank_ = 0;
  double end_us_ = 1;
  double view_start_us_ = 0, view_end_us_ = 1;  // the zoomed window
  double drag_from_x_ = -1;
};

}  // namespace xattn::gui
