// Exports: any widget (a chart, the Gantt view) as PNG or SVG, any table model as CSV.
// Each returns an empty string on success, or what went wrong.
#pragma once

#include <QAbstractItemModel>
#include <QString>
#include <QWidget>

namespace xattn::gui {

// By the file's suffix: .svg writes SVG (when Qt SVG is available), anything else PNG.
[[nodiscard]] QString export_widget(QWidget& widget, const QString& path);
[[nodiscard]] QString export_png(QWidget& widget, const QString& path);
[[nodiscard]] QString export_svg(QWidget& widget, const QString& path);
// RFC 4180 CSV: a header row, then one row per model row; fields with commas, quotes or
// newlines are quoted.
[[nodiscard]] QString export_csv(const QAbstractItemModel& model, const QString& path);
[[nodiscard]] QString to_csv(const QAbstractItemModel& model);

}  // namespace xattn::gui
