// gradspec verify PATH...: re-derives golden files (a file or every *.json in a folder) and confirms
// their values, certified digits and exact_in. Exit 1 on any disagreement.
#include "verbs.hpp"

#include "gradspec/cases/case_file.hpp"
#include "gradspec/cases/generate.hpp"
#include "gradspec/errors.hpp"

#include <filesystem>
#include <iostream>
#include <memory>

namespace gradspec::cli {

std::vector<std::string> case_files_under(const std::string& path) {
  namespace fs = std::filesystem;
  std::vector<std::string> files;
  if (fs::is_directory(path)) {
    for (const auto& entry : fs::directory_iterator(path))
      if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path().string());
    std::sort(files.begin(), files.end());
    if (files.empty()) throw bad_input("", path + ": no .json case files in this folder");
  } else {
    if (!fs::exists(path)) throw bad_input("", path + ": no such file or folder");
    files.push_back(path);
  }
  return files;
}

verb verify_verb() {
  return {"verify", "re-derive golden files and confirm their values and certified digits", [](CLI::App& app) {
            auto paths = std::make_shared<std::vector<std::string>>();
            auto quiet = std::make_shared<bool>(false);
            app.add_option("paths", *paths, "golden case files or folders")->required();
            app.add_flag("--quiet", *quiet, "print only disagreements");
            return std::function<int()>([paths, quiet] {
              int failed = 0, files = 0, cases_seen = 0;
              for (const auto& p : *paths)
                for (const auto& file : case_files_under(p)) {
                  const auto parsed = cases::read_golden_file(file);
                  const auto problems = cases::verify_file(parsed);
                  ++files;
                  cases_seen += static_cast<int>(parsed.cases.size());
                  for (const auto& line : problems) std::cout << file << ": " << line << "\n";
                  if (!problems.empty()) ++failed;
                  else if (!*quiet) std::cout << file << ": " << parsed.cases.size() << " case(s) verify\n";
                }
              std::cout << (files - failed) << " passed, " << failed << " failed (" << cases_seen << " cases re-derived)\n";
              return failed ? 1 : 0;
            });
          }};
}

} // namespace gradspec::cli
