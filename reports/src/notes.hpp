// Explanations of findings (`report --notes FILE`): what a published report says about each fail,
// error and acceptable finding after someone investigated it.
//   {"format": "gradspec-report-notes/1",
//    "notes": [{"implementation": "onnxruntime", "dtype": "float32", "case": "layer_norm/*",
//               "kind": "inaccuracy", "text": "..."}]}
// implementation: the summary's implementation.name; dtype: optional (any when absent); case: a
// case id, or a prefix ending in '*'; kind: inaccuracy (of the library), convention (a difference
// where libraries legitimately differ), outside_maths (an input outside the maths), adapter (a
// limitation of the adapter), gradspec (a fault of gradspec itself). The first matching note wins.
#pragma once

#include <string>
#include <vector>

namespace gradspec::reports {

struct note {
  std::string implementation, dtype, case_pattern, kind, text;
  bool matches(const std::string& impl, const std::string& dt, const std::string& id) const;
};

// Reads and checks a notes file; bad_input names the file and the JSON path.
std::vector<note> load_notes(const std::string& path);

// The first note matching, or nullptr.
const note* find_note(const std::vector<note>& notes, const std::string& impl, const std::string& dtype, const std::string& id);

} // namespace gradspec::reports
