// The inputs panel: preset pickers, one editor per scenario field (named by its dotted
// path, as `--set` names it), the video length (minutes × frames per second →
// workload.frames), mechanism checkboxes and the pass. Every edit goes to the Controller,
// which applies it through the field registry; the editors show the resolved values
// (Field::get), so a preset's figures appear as soon as it is picked. Errors appear
// inline, under the fields.
#pragma once

#include <QCheckBox>
#include <QComboBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMap>
#include <QWidget>

#include "gui/controller.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn::gui {

class InputsPanel : public QWidget {
  Q_OBJECT
 public:
  explicit InputsPanel(Controller& controller, QWidget* parent = nullptr);

  // The editor of a field (objectName = the field's dotted path), for tests.
  [[nodiscard]] QLineEdit* editor(const QString& path) const { return edits_.value(path); }
  [[nodiscard]] QLabel* errorLabel() const { return error_; }

 private:
  void refresh(bool force);  // editors from the resolved scenario; force: also focused ones
  void add_edit(QFormLayout* form, const QString& label, const QString& path);
  void apply_video();
  void apply_mechanisms();

  Controller& controller_;
  QComboBox* model_ = nullptr;
  QComboBox* cluster_ = nullptr;
  QComboBox* gpu_ = nullptr;
  QComboBox* dtype_ = nullptr;
  QComboBox* intra_kind_ = nullptr;
  QComboBox* pass_ = nullptr;
  QLineEdit* minutes_ = nullptr;
  QLineEdit* fps_ = nullptr;
  QLabel* visual_tokens_ = nullptr;
  QLabel* error_ = nullptr;
  QMap<QString, QLineEdit*> edits_;
  QList<QCheckBox*> mechanisms_;
  bool refreshing_ = false;
};

}  // namespace xattn::gui
