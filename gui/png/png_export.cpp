// svg_to_png (png_export.hpp): QSvgRenderer paints the document into a QImage, which
// encodes itself as PNG into memory; the caller writes the bytes (whole or not at all).
#include "gui/png/png_export.hpp"

#include <memory>

#include <QBuffer>
#include <QByteArray>
#include <QCoreApplication>
#include <QGuiApplication>
#include <QImage>
#include <QPainter>
#include <QSvgRenderer>

namespace xattn::gui {

std::string svg_to_png(const std::string& svg, std::string& error, int width_px) {
  // Fonts and painting need a QGuiApplication; a command-line process has none, and may
  // run where there is no display.
  std::unique_ptr<QGuiApplication> app;
  if (QCoreApplication::instance() == nullptr) {
    static int argc = 3;
    static char arg0[] = "xattn", arg1[] = "-platform", arg2[] = "offscreen";
    static char* argv[] = {arg0, arg1, arg2, nullptr};
    app = std::make_unique<QGuiApplication>(argc, argv);
  }
  QSvgRenderer renderer(QByteArray::fromStdString(svg));
  if (!renderer.isValid()) {
    error = "the plot is not a valid SVG document";
    return {};
  }
  QSizeF size = renderer.defaultSize();
  if (size.width() <= 0 || size.height() <= 0) size = QSizeF(800, 500);
  const double scale = static_cast<double>(width_px) / size.width();
  QImage image(QSize(width_px, static_cast<int>(size.height() * scale + 0.5)), QImage::Format_ARGB32);
  image.fill(Qt::white);
  {
    QPainter painter(&image);
    painter.setRenderHint(QPainter::Antialiasing);
    renderer.render(&painter);
  }
  QByteArray bytes;
  QBuffer buffer(&bytes);
  buffer.open(QIODevice::WriteOnly);
  if (!image.save(&buffer, "PNG") || bytes.isEmpty()) {
    error = "Qt could not encode the plot as PNG";
    return {};
  }
  return std::string(bytes.constData(), static_cast<std::size_t>(bytes.size()));
}

}  // namespace xattn::gui
