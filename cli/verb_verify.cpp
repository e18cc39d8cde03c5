// gradspec verify PATH...: re-derives golden files (a file, or the golden files under a folder) and
// confirms their values, certified digits and exact_in, case by case. Exit 1 on any disagreement.
#include "verbs.hpp"

#include "gradspec/cases/case_file.hpp"
#include "gradspec/cases/generate.hpp"
#include "gradspec/errors.hpp"

#include <iostream>
#include <memory>

namespace gradspec::cli {

namespace {

std::string count(std::size_t n, const std::string& noun) { return std::to_string(n) + " " + noun + (n == 1 ? "" : "s"); }

} // namespace

verb verify_verb() {
  return {"verify", "re-derive golden files and confirm their values and certified digits", [](CLI::App& app) {
            auto paths = std::make_shared<std::vector<std::string>>();
            auto quiet = std::make_shared<bool>(false);
            app.add_option("paths", *paths, "golden case files, or folders (their golden files, subfolders included; other JSON files are skipped)")->required();
            app.add_flag("--quiet", *quiet, "print only disagreements");
            return std::function<int()>([paths, quiet] {
              // Counted in cases: a case drifts when any of its values, certified digits or exact_in
              // disagrees with its re-derivation.
              std::size_t files = 0, cases_seen = 0, drifted = 0, files_drifted = 0;
              for (const auto& p : *paths)
                for (const auto& parsed : read_case_files(p, true)) {
                  ++files;
                  std::size_t drifted_here = 0;
                  if (parsed.cases.empty()) (void)cases::verify_file(parsed); // the header alone
                  for (const auto& c : parsed.cases) {
                    const cases::case_file one{parsed.path, parsed.header, {c}}; // each case alone: its problems are its own
                    const auto problems = cases::verify_file(one);
                    for (const auto& line : problems) std::cout << parsed.path << ": " << line << "\n";
                    if (!problems.empty()) ++drifted_here;
                  }
                  cases_seen += parsed.cases.size();
                  drifted += drifted_here;
                  if (drifted_here) ++files_drifted;
                  if (drifted_here || !*quiet)
                    std::cout << parsed.path << ": " << parsed.cases.size() - drifted_here << " of " << parsed.cases.size()
                              << (parsed.cases.size() == 1 ? " case verifies\n" : " cases verify\n");
                }
              std::cout << "verified " << count(cases_seen, "case") << " in " << count(files, "file") << ", " << drifted << " drifted";
              if (drifted) std::cout << " (in " << count(files_drifted, "file") << ")";
              std::cout << "\n";
              return drifted ? 1 : 0;
            });
          }};
}

} // namespace gradspec::cli
