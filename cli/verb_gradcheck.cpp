// gradspec gradcheck --cases PATH [--adapter CMD | --builtin NAME]: finite-difference gradient
// checks, of the reference at --bits (default), or of a candidate's own forward pass in float64.
#include "verbs.hpp"

#include "gradspec/cases/generate.hpp"
#include "gradspec/checkers/adapter.hpp"
#include "gradspec/checkers/builtin.hpp"
#include "gradspec/checkers/gradcheck.hpp"
#include "gradspec/errors.hpp"

#include <fmt/format.h>

#include <iostream>
#include <memory>

namespace gradspec::cli {

namespace {

struct options {
  std::string cases_path, adapter, builtin, json_path;
  std::size_t samples = 8;
  std::optional<double> min_digits;
  double timeout = 60;
  precision_option precision;
};

int run(const options& o) {
  if (!o.adapter.empty() && !o.builtin.empty()) throw bad_input("--adapter", "give --adapter or --builtin, not both");
  const bool reference_mode = o.adapter.empty() && o.builtin.empty();
  const double threshold = o.min_digits.value_or(reference_mode ? 30 : 4);
  std::function<checkers::candidate_result(const cases::test_case&)> ask;
  std::unique_ptr<checkers::adapter_process> adapter;
  std::string who = fmt::format("the reference at {} bits", o.precision.bits);
  if (!o.builtin.empty()) {
    const auto* b = checkers::find_builtin(o.builtin);
    if (!b) throw bad_input("--builtin", "unknown built-in \"" + o.builtin + "\" (armadillo-f64, armadillo-f32)");
    if (b->dtype != "float64") throw bad_input("--builtin", "gradcheck differentiates in float64: use armadillo-f64");
    ask = b->evaluate;
    who = b->name;
  } else if (!o.adapter.empty()) {
    adapter = std::make_unique<checkers::adapter_process>(o.adapter, o.timeout, "");
    const auto h = adapter->start();
    if (!h.dtypes.count("float64")) throw bad_input("--adapter", "gradcheck needs an adapter that computes in float64");
    who = h.implementation.name + " " + h.implementation.version + " (float64)";
    ask = [&adapter](const cases::test_case& c) {
      try {
        adapter->start();
      } catch (const std::exception& e) {
        checkers::candidate_result r;
        r.id = c.id;
        r.error = e.what();
        return r;
      }
      return adapter->ask(c.id, checkers::request_line(c, "float64"), checkers::reply_limit(c));
    };
  }
  const unsigned saved = reference::precision_bits();
  reference::set_precision_bits(o.precision.bits);
  int passed = 0, failed = 0;
  cases::json findings = cases::json::array();
  std::cout << "gradspec gradcheck: " << who << ", at least " << threshold << " digits\n";
  for (const auto& file : case_files_under(o.cases_path)) {
    for (auto c : cases::read_case_file(file).cases) {
      checkers::gradcheck_result r;
      try {
        cases::complete_cotangents(c);
        if (reference_mode) r = checkers::reference_gradcheck(*reference::find_op(c.op), cases::case_args<reference::mp_real>(c), o.samples);
        else r = checkers::candidate_gradcheck(c, ask, o.samples);
      } catch (const bad_input& e) {
        throw e.under(cases::case_path(c.index)).in_file(file);
      } catch (const std::exception& e) {
        r = {0, e.what(), 0};
      }
      const bool ok = r.min_digits >= threshold;
      (ok ? passed : failed)++;
      std::cout << fmt::format("{:<5} {:<52} {:>6} elements {:>6.1f} digits  {}\n", ok ? "pass" : "fail", c.id, r.checked,
                               std::min(r.min_digits, 99.0), ok ? "" : r.worst);
      findings.push_back({{"id", c.id}, {"op", c.op}, {"verdict", ok ? "pass" : "fail"}, {"checked", r.checked},
                          {"min_digits", std::min(r.min_digits, 99.0)}, {"worst", r.worst}});
    }
  }
  reference::set_precision_bits(saved);
  if (adapter) adapter->stop();
  std::cout << passed << " passed, " << failed << " failed\n";
  if (!o.json_path.empty())
    cases::write_file_atomically(o.json_path, cases::to_text({{"format", "gradspec-gradcheck/1"}, {"implementation", who},
                                                              {"min_digits", threshold}, {"cases", findings},
                                                              {"summary", {{"pass", passed}, {"fail", failed}}}}));
  return failed ? 1 : 0;
}

} // namespace

verb gradcheck_verb() {
  return {"gradcheck", "finite-difference gradient check of the reference, or of a candidate's own forward", [](CLI::App& app) {
            auto o = std::make_shared<options>();
            app.add_option("--cases", o->cases_path, "case or spec file, or a folder of them")->required();
            app.add_option("--adapter", o->adapter, "check this adapter's gradients against its own forward (float64)");
            app.add_option("--builtin", o->builtin, "check a built-in candidate (armadillo-f64)");
            app.add_option("--samples", o->samples, "elements checked per input (evenly spaced)")->check(CLI::Range(1, 1 << 30));
            app.add_option("--min-digits", o->min_digits, "agreement required (default 30 for the reference, 4 for a candidate in float64)");
            app.add_option("--timeout", o->timeout, "seconds per adapter request")->check(timeout_seconds());
            app.add_option("--json", o->json_path, "write a machine-readable summary here");
            o->precision.add(app);
            return std::function<int()>([o] { return run(*o); });
          }};
}

} // namespace gradspec::cli
