// gradspec report SUMMARY... --out DIR [--notes FILE] [--title TEXT]: an accuracy report for
// publishing (index.html, report.md, gnuplot plots as SVG and PNG) from the --json summaries of
// check and run.
#include "verbs.hpp"

#include "gradspec/reports/report.hpp"

#include <iostream>
#include <memory>

namespace gradspec::cli {

verb report_verb() {
  return {"report", "accuracy report (index.html, report.md, SVG/PNG plots) from check/run --json summaries", [](CLI::App& app) {
            auto o = std::make_shared<reports::report_options>();
            app.add_option("summaries", o->summaries, "gradspec-check/1 files (the --json of check or run), one column each")->required();
            app.add_option("--out", o->out, "folder for index.html, report.md and the plots")->required();
            app.add_option("--notes", o->notes, "explanations of findings (gradspec-report-notes/1, docs/reports.md)");
            app.add_option("--title", o->title, "the page's title")->capture_default_str();
            return std::function<int()>([o] {
              const auto files = reports::write_report(*o);
              std::cerr << "gradspec: wrote " << o->out << "/index.html, report.md and " << (files.size() - 2) << " plot files\n";
              return 0;
            });
          }};
}

} // namespace gradspec::cli
