// gradspec report SUMMARY... --out DIR: an accuracy report (Markdown table, gnuplot SVG) from the
// --json summaries of check and run.
#include "verbs.hpp"

#include "gradspec/reports/report.hpp"

#include <iostream>
#include <memory>

namespace gradspec::cli {

verb report_verb() {
  return {"report", "accuracy report (tables and plots) from check/run --json summaries", [](CLI::App& app) {
            auto summaries = std::make_shared<std::vector<std::string>>();
            auto out = std::make_shared<std::string>();
            app.add_option("summaries", *summaries, "gradspec-check/1 files (the --json of check or run)")->required();
            app.add_option("--out", *out, "folder for report.md and digits.svg")->required();
            return std::function<int()>([summaries, out] {
              reports::write_report(*summaries, *out);
              std::cerr << "gradspec: wrote " << *out << "/report.md and " << *out << "/digits.svg\n";
              return 0;
            });
          }};
}

} // namespace gradspec::cli
