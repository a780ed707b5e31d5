// xattn-gui: the capacity-planning dashboard. `--scenario FILE` opens a scenario (the
// YAML `xattn simulate` reads); `--screenshot DIR` renders every view to DIR/*.png and
// exits (2 when the scenario does not load, 1 when a file cannot be written).
#include <QApplication>
#include <QCommandLineParser>
#include <QTextStream>

#include "gui/main_window.hpp"

int main(int argc, char** argv) {
  QApplication app(argc, argv);
  QApplication::setApplicationName("xattn-gui");
  QCommandLineParser cli;
  cli.setApplicationDescription("Distributed attention dashboard: LV-XAttn, Ring, all-to-all and relatives.");
  cli.addHelpOption();
  QCommandLineOption scenario("scenario", "Scenario YAML to open.", "FILE");
  QCommandLineOption screenshot("screenshot", "Render every view to DIR/*.png and exit.", "DIR");
  cli.addOption(scenario);
  cli.addOption(screenshot);
  cli.process(app);

  xattn::gui::MainWindow window;
  QTextStream err(stderr);
  if (cli.isSet(scenario) && !window.controller().load(cli.value(scenario))) {
    err << "xattn-gui: " << window.controller().error() << "\n";
    if (cli.isSet(screenshot)) return 2;
  }
  if (cli.isSet(screenshot)) {
    QString error;
    const QStringList files = window.screenshot_all(cli.value(screenshot), &error);
    if (files.isEmpty()) {
      err << "xattn-gui: " << error << "\n";
      return 1;
    }
    QTextStream out(stdout);
    for (const QString& f : files) out << f << "\n";
    return 0;
  }
  window.show();
  return QApplication::exec();
}
