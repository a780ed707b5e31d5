// Table models behind the dashboard's tables, filled from immutable results. Cells hold
// display text; the numbers in base units sit under Qt::UserRole for tests and CSV.
#pragma once

#include <QStandardItemModel>

#include "gui/analysis.hpp"

namespace xattn::gui {

// GPUs | nodes | time (ms) per mechanism | fastest that fits. A cell's tooltip gives the
// breakdown, or why the mechanism cannot run or does not fit.
void fill_scaling_table(QStandardItemModel& model, const Dashboard& d);

// One row per mechanism and pass (fwd, bwd, the selected pass): the `xattn simulate`
// table's columns.
void fill_estimate_table(QStandardItemModel& model, const Dashboard& d);

// The training step at the scenario's own size, one row per cross-attention mechanism:
// step (s), compute, exposed, tokens/s, MFU, peak GiB, fits, sp × dp, micro-steps; the
// fastest that fits highlighted, an infeasible one with its reason.
void fill_step_table(QStandardItemModel& model, const Dashboard& d);

// A simulated step's phases on its critical rank (sim::PhaseRow): phase, compute, sp and dp
// stream busy time, exposed wait (s), share of the step (%), ops; then their sums. Empty
// for a layer-scope timeline.
void fill_phase_table(QStandardItemModel& model, const TimelineResult& r);

// One row per grid point: x value, y value, fastest mechanism, its time.
void fill_heatmap_table(QStandardItemModel& model, const HeatmapResult& r);

}  // namespace xattn::gui
