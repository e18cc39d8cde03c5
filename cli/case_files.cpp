// The golden files a verb reads: the file it is given, or every *.json under a folder (sorted,
// subfolders included), where JSON files that are not case files are skipped, saying so.
#include "verbs.hpp"

#include "gradspec/cases/fast_golden.hpp"
#include "gradspec/cases/json_io.hpp"
#include "gradspec/errors.hpp"

#include <algorithm>
#include <filesystem>
#include <iostream>

namespace gradspec::cli {

namespace {

// Why a JSON document found in a folder is not a case file, or "" when it claims to be one.
std::string not_a_case_file(const cases::json& doc) {
  if (!doc.is_object()) return "not a gradspec-cases/1 file (not a JSON object)";
  auto it = doc.find("format");
  if (it == doc.end()) return "not a gradspec-cases/1 file (no \"format\")";
  if (!it->is_string() || cases::is_raw_number(*it)) return "not a gradspec-cases/1 file (format " + cases::display(*it) + ")";
  const std::string format = it->get<std::string>();
  if (format != "gradspec-cases/1") return "not a gradspec-cases/1 file (format \"" + format + "\")";
  return "";
}

// The *.json files under a folder, subfolders included (links to folders are not followed), sorted.
std::vector<std::string> json_files_under(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<std::string> files;
  fs::recursive_directory_iterator it(path, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code ignored; // a dangling link is no file
    if (it->path().extension() == ".json" && it->is_regular_file(ignored)) files.push_back(it->path().string());
  }
  if (ec) throw bad_input("", path + ": cannot list the folder (" + ec.message() + ")");
  std::sort(files.begin(), files.end());
  return files;
}

} // namespace

std::vector<cases::case_file> read_case_files(const std::string& path, bool golden, bool fast) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) {
    if (!std::filesystem::exists(path, ec)) throw bad_input("", path + ": no such file or folder");
    std::vector<cases::case_file> one; // not {file}: an initializer list would copy the cases
    if (golden && fast)
      if (auto file = cases::read_golden_file_fast(path)) {
        one.push_back(std::move(*file));
        return one;
      }
    return {golden ? cases::read_golden_file(path) : cases::read_case_file(path)};
  }
  std::vector<cases::case_file> files;
  std::size_t skipped = 0;
  for (const auto& file : json_files_under(path)) {
    if (golden && fast)
      if (auto read = cases::read_golden_file_fast(file)) {
        files.push_back(std::move(*read));
        continue;
      }
    const cases::json doc = cases::read_json_file(file); // unreadable JSON is bad input: it may be a broken case file
    if (const std::string why = not_a_case_file(doc); !why.empty()) {
      std::cerr << "gradspec: skipped " << file << ": " << why << "\n";
      ++skipped;
      continue;
    }
    cases::case_file parsed = cases::parse_case_file(doc, file);
    if (golden) {
      const auto with_expected = std::count_if(parsed.cases.begin(), parsed.cases.end(), [](const auto& c) { return c.expected.has_value(); });
      if (with_expected == 0 && !parsed.cases.empty()) {
        std::cerr << "gradspec: skipped " << file << ": a spec file, not a golden file (no \"expected\"; gradspec gen --from fills it in)\n";
        ++skipped;
        continue;
      }
      if (with_expected != static_cast<std::ptrdiff_t>(parsed.cases.size())) parsed = cases::read_golden_file(file); // throws, naming the case
    }
    files.push_back(std::move(parsed));
  }
  if (files.empty())
    throw bad_input("", path + ": no " + std::string(golden ? "golden " : "") + "case files (gradspec-cases/1) in this folder" +
                            (skipped ? " (" + std::to_string(skipped) + " JSON file(s) skipped)" : std::string()));
  return files;
}

std::vector<std::string> paths_of(const std::vector<cases::case_file>& files) {
  std::vector<std::string> paths;
  for (const auto& f : files) paths.push_back(f.path);
  return paths;
}

} // namespace gradspec::cli
