// Exports (see export.hpp).
#include "gui/export.hpp"

#include <QSaveFile>
#include <QPainter>
#include <QPixmap>
#include <QTextStream>

#ifdef XATTN_HAVE_QT_SVG
#include <QSvgGenerator>
#endif

namespace xattn::gui {
namespace {

QString csv_field(QString s) {
  if (s.contains(',') || s.contains('"') || s.contains('\n')) s = '"' + s.replace("\"", "\"\"") + '"';
  return s;
}

}  // namespace

QString export_widget(QWidget& widget, const QString& path) {
  return path.endsWith(".svg", Qt::CaseInsensitive) ? export_svg(widget, path) : export_png(widget, path);
}

QString export_png(QWidget& widget, const QString& path) {
  const QPixmap pixmap = widget.grab();
  if (pixmap.isNull()) return "nothing to draw";
  // QSaveFile writes beside the target and renames on commit(): a failed export leaves
  // the old file, or nothing, never half an image.
  QSaveFile f(path);
  if (!f.open(QIODevice::WriteOnly) || !pixmap.save(&f, "PNG") || !f.commit()) return "cannot write " + path;
  return {};
}

QString export_svg(QWidget& widget, const QString& path) {
#ifdef XATTN_HAVE_QT_SVG
  QSaveFile f(path);
  if (!f.open(QIODevice::WriteOnly)) return "cannot write " + path;
  QSvgGenerator svg;
  svg.setOutputDevice(&f);
  svg.setSize(widget.size());
  svg.setViewBox(QRect(QPoint(0, 0), widget.size()));
  svg.setTitle(widget.objectName());
  svg.setDescription("xattn-gui export");
  QPainter painter;
  if (!painter.begin(&svg)) return "cannot write " + path;
  widget.render(&painter);
  painter.end();
  return f.commit() ? QString() : "cannot write " + path;
#else
  (void)widget;
  return "SVG export needs Qt SVG (qt6-svg-dev); cannot write " + path;
#endif
}

QString to_csv(const QAbstractItemModel& model) {
  QString out;
  QStringList row;
  for (int c = 0; c < model.columnCount(); ++c) row << csv_field(model.headerData(c, Qt::Horizontal).toString());
  out += row.join(',') + '\n';
  for (int r = 0; r < model.rowCount(); ++r) {
    row.clear();
    for (int c = 0; c < model.columnCount(); ++c) row << csv_field(model.index(r, c).data().toString());
    out += row.join(',') + '\n';
  }
  return out;
}

QString export_csv(const QAbstractItemModel& model, const QString& path) {
  QSaveFile f(path);
  if (!f.open(QIODevice::WriteOnly | QIODevice::Text)) return "cannot write " + path;
  QTextStream(&f) << to_csv(model);
  return f.commit() ? QString() : "cannot write " + path;
}

}  // namespace xattn::gui
