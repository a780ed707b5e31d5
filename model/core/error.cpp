#include "model/core/error.hpp"

#include <fmt/format.h>

namespace xattn {

std::string Origin::str() const {
  if (line <= 0) return source;
  if (column <= 0) return fmt::format("{}:{}", source, line);
  return fmt::format("{}:{}:{}", source, line, column);
}

std::string Problem::str() const {
  std::string where = origin.str();
  std::string out;
  if (!where.empty()) out += where + ": ";
  if (!field.empty()) out += field + ": ";
  return out + message;
}

namespace {
std::string join(const std::vector<Problem>& problems) {
  std::string text;
  for (const auto& p : problems) {
    if (!text.empty()) text += '\n';
    text += p.str();
  }
  return text;
}
}  // namespace

InputError::InputError(std::vector<Problem> problems)
    : std::runtime_error(join(problems)), problems_(std::move(problems)) {}

InputError::InputError(Origin origin, std::string field, std::string message)
    : InputError(std::vector<Problem>{Problem{std::move(origin), std::move(field), std::move(message)}}) {}

EnvironmentError::EnvironmentError(std::string subject, const std::string& message)
    : std::runtime_error(subject.empty() ? message : subject + ": " + message), subject_(std::move(subject)) {}

}  // namespace xattn
