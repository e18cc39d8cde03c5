#include "notes.hpp"

#include "summary_model.hpp"

#include "gradspec/cases/json_io.hpp"
#include "gradspec/errors.hpp"

#include <set>

namespace gradspec::reports {

using cases::json;

bool note::matches(const std::string& impl, const std::string& dt, const std::string& id) const {
  if (impl != implementation || (!dtype.empty() && dt != dtype)) return false;
  if (!case_pattern.empty() && case_pattern.back() == '*')
    return id.compare(0, case_pattern.size() - 1, case_pattern, 0, case_pattern.size() - 1) == 0;
  return id == case_pattern;
}

namespace {

std::vector<note> parse_notes(const json& doc) {
  if (!doc.is_object()) throw bad_input("", "expected a JSON object at the top");
  if (!doc.contains("format") || doc["format"] != "gradspec-report-notes/1")
    throw bad_input("/format", "expected \"gradspec-report-notes/1\"");
  if (!doc.contains("notes")) throw bad_input("", "missing key \"notes\"");
  const json& list = doc["notes"];
  if (!list.is_array()) throw bad_input("/notes", "expected an array");
  static const std::set<std::string> kinds = {"inaccuracy", "convention", "outside_maths", "adapter", "gradspec"};
  std::vector<note> out;
  for (std::size_t k = 0; k < list.size(); ++k) {
    const std::string path = "/notes/" + std::to_string(k);
    const json& n = list[k];
    if (!n.is_object()) throw bad_input(path, "expected an object");
    for (auto it = n.begin(); it != n.end(); ++it)
      if (it.key() != "implementation" && it.key() != "dtype" && it.key() != "case" && it.key() != "kind" && it.key() != "text")
        throw bad_input(path + "/" + it.key(), "unknown key (implementation, dtype, case, kind, text)");
    auto text = [&](const char* key, bool required) {
      if (!n.contains(key)) {
        if (required) throw bad_input(path, std::string("missing key \"") + key + "\"");
        return std::string();
      }
      std::string v = plain(cases::string_value(n[key], path + "/" + key));
      if (v.empty()) throw bad_input(path + "/" + key, "empty");
      return v;
    };
    note e;
    e.implementation = text("implementation", true);
    e.dtype = text("dtype", false);
    e.case_pattern = text("case", true);
    e.kind = text("kind", true);
    if (!kinds.count(e.kind)) throw bad_input(path + "/kind", "expected inaccuracy, convention, outside_maths, adapter or gradspec");
    e.text = text("text", true);
    out.push_back(std::move(e));
  }
  return out;
}

} // namespace

std::vector<note> load_notes(const std::string& path) {
  const json doc = cases::read_json_file(path);
  try {
    return parse_notes(doc);
  } catch (const bad_input& e) {
    throw e.in_file(path);
  }
}

const note* find_note(const std::vector<note>& notes, const std::string& impl, const std::string& dtype, const std::string& id) {
  for (const auto& n : notes)
    if (n.matches(impl, dtype, id)) return &n;
  return nullptr;
}

} // namespace gradspec::reports
