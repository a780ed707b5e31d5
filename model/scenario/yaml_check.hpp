// What every YAML reader of xattn checks of a document before it reads a value
// (docs/limits.md, "Files"): a key given twice in one mapping is an error, not "the last
// one wins" (YAML 1.2, §3.2.1.1: the keys of a mapping are unique; yaml-cpp keeps both and
// hands back whichever the reader asks first), and a document whose aliases (*name)
// expand it far beyond its own size is refused before anything walks it.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "model/core/error.hpp"

namespace YAML {
class Node;
}

namespace xattn {

// Adds a problem for every key that repeats an earlier key of the same mapping, at any
// depth: at the repeat's line and column, naming the dotted path and the first's line.
// `text_size`: the document's length in bytes, the budget of nodes a walk may visit.
void check_yaml_document(const YAML::Node& root, const std::string& source, std::size_t text_size,
                         std::vector<Problem>& problems);

}  // namespace xattn
