// gradspec check --cases PATH --results FILE [--dtype D]: compares a candidate's results (a result
// file, or adapter response lines) with golden cases.
#include "verbs.hpp"

#include "check_options.hpp"
#include "gradspec/checkers/summary.hpp"

#include <iostream>
#include <memory>

namespace gradspec::cli {

namespace {

struct options {
  std::string cases_path, results;
  check_options check;
};

int run_check(const options& o) {
  // hardening: --json must not overwrite an input file
  auto inputs = case_files_under(o.cases_path);
  inputs.push_back(o.results);
  cases::refuse_overwriting_inputs(o.check.json_path, "--json", inputs);
  const auto results = checkers::read_results(o.results);
  checkers::policy p = o.check.make_policy(results.implementation.dtype);
  std::vector<checkers::case_finding> findings;
  for (const auto& file : case_files_under(o.cases_path)) {
    const auto cf = cases::read_golden_file(file); // hardening: a spec file is bad input
    for (const auto& c : cf.cases) {
      auto it = results.results.find(c.id);
      try {
        findings.push_back(check_options::judge(c, it == results.results.end() ? nullptr : &it->second, p));
      } catch (const bad_input& e) {
        throw e.in_file(file);
      }
    }
  }
  checkers::implementation_info impl = results.implementation;
  o.check.report(impl, p, findings);
  return checkers::exit_code(findings, p);
}

} // namespace

verb check_verb() {
  return {"check", "compare a result file (or adapter responses) with golden cases", [](CLI::App& app) {
            auto o = std::make_shared<options>();
            app.add_option("--cases", o->cases_path, "golden case file or folder")->required();
            app.add_option("--results", o->results, "result file, or adapter response lines")->required();
            o->check.add(app);
            return std::function<int()>([o] { return run_check(*o); });
          }};
}

} // namespace gradspec::cli
