// gradspec gradcheck --cases PATH [--adapter CMD | --builtin NAME]: finite-difference gradient
// checks, of the reference at --bits (default), or of a candidate's own forward pass in float64 or
// float32 (directional differences with an error estimate; checkers/gradcheck.hpp). The reference's
// check is reference/finite_difference_check.hpp.
#include "verbs.hpp"

#include "gradspec/cases/generate.hpp"
#include "gradspec/checkers/adapter.hpp"
#include "gradspec/checkers/builtin.hpp"
#include "gradspec/checkers/gradcheck.hpp"
#include "gradspec/errors.hpp"
#include "gradspec/reference/finite_difference_check.hpp"

#include <fmt/format.h>

#include <cmath>
#include <iostream>
#include <memory>

namespace gradspec::cli {

namespace {

constexpr double default_min_digits = 30;

struct options {
  std::string cases_path, adapter, builtin, json_path, dtype;
  std::size_t samples = 8;
  std::optional<double> min_digits; // default_min_digits
  double timeout = 60;
  checkers::candidate_gradcheck_options candidate;
  precision_option precision;
};

// JSON has no Inf: a NaN/Inf gradient's disagreement is written as null.
cases::json finite_or_null(double v) { return std::isfinite(v) ? cases::json(v) : cases::json(nullptr); }

int run_reference(const options& o) {
  const double threshold = o.min_digits.value_or(default_min_digits);
  const unsigned saved = reference::precision_bits();
  reference::set_precision_bits(o.precision.bits);
  int passed = 0, failed = 0;
  cases::json findings = cases::json::array();
  const std::string who = fmt::format("the reference at {} bits", o.precision.bits);
  std::cout << "gradspec gradcheck: " << who << ", at least " << threshold << " digits\n";
  for (const auto& f : read_case_files(o.cases_path, false)) {
    const std::string& file = f.path;
    for (auto c : f.cases) {
      reference::finite_difference_result r;
      try {
        cases::complete_cotangents(c);
        r = reference::finite_difference_check(*reference::find_op(c.op), cases::case_args<reference::mp_real>(c), o.samples);
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
  std::cout << passed << " passed, " << failed << " failed\n";
  if (!o.json_path.empty())
    cases::write_file_atomically(
        o.json_path, cases::to_text({{"format", "gradspec-gradcheck/1"}, {"implementation", who}, {"min_digits", threshold},
                                     {"cases", findings},
                                     {"summary", {{"pass", passed}, {"fail", failed}, {"inconclusive", 0}, {"skipped", 0}, {"error", 0}}}}));
  return failed ? 1 : 0;
}

int run_candidate(options o) {
  if (o.min_digits) throw bad_input("--min-digits", "applies to the reference only; a candidate is judged against an error estimate (--margin)");
  std::function<checkers::candidate_result(const cases::test_case&)> ask;
  std::unique_ptr<checkers::adapter_process> adapter;
  std::set<std::string> ops;
  std::string who;
  if (!o.builtin.empty()) {
    const auto* b = checkers::find_builtin(o.builtin);
    if (!b) throw bad_input("--builtin", "unknown built-in \"" + o.builtin + "\" (reference-f64, reference-f32; armadillo-f64, armadillo-f32 are their former names)");
    if (o.dtype.empty()) o.dtype = b->dtype;
    if (o.dtype != b->dtype) throw bad_input("--dtype", b->name + " computes in " + b->dtype + ", not " + o.dtype);
    ask = b->evaluate;
    ops = b->ops;
    who = b->name + " (" + b->version + ")";
  } else {
    adapter = std::make_unique<checkers::adapter_process>(o.adapter, o.timeout, "");
    const auto h = adapter->start();
    if (o.dtype.empty()) o.dtype = h.dtypes.count("float64") ? "float64" : "float32";
    if (!h.dtypes.count(o.dtype))
      throw bad_input("--dtype", h.implementation.name + " does not compute in " + o.dtype + " (gradcheck needs float64 or float32)");
    ops = h.ops;
    who = h.implementation.name + " " + h.implementation.version;
    const std::string dtype = o.dtype;
    ask = [&adapter, dtype](const cases::test_case& c) {
      try {
        adapter->start();
      } catch (const std::exception& e) {
        checkers::candidate_result r;
        r.id = c.id;
        r.error = e.what();
        return r;
      }
      return adapter->ask(c.id, checkers::request_line(c, dtype));
    };
  }
  if (o.dtype != "float64" && o.dtype != "float32")
    throw bad_input("--dtype", "gradcheck differentiates in float64 or float32, not " + o.dtype);
  o.candidate.dtype = o.dtype;

  std::map<std::string, int> counts{{"pass", 0}, {"fail", 0}, {"inconclusive", 0}, {"skipped", 0}, {"error", 0}};
  cases::json findings = cases::json::array();
  std::cout << fmt::format("gradspec gradcheck: {} in {}, {} random directions and up to {} single elements of inputs of at "
                           "most {} per case; fail above {} x the estimate\n",
                           who, o.dtype, o.candidate.directions, o.candidate.max_element_directions, o.candidate.per_element,
                           o.candidate.margin);
  for (const auto& f : read_case_files(o.cases_path, false)) {
    const std::string& file = f.path;
    for (const auto& c : f.cases) {
      checkers::candidate_gradcheck_result r;
      if (!ops.count(c.op)) {
        r.verdict = "skipped";
        r.reason = "op not supported by the candidate";
      } else {
        try {
          r = checkers::candidate_gradcheck(c, ask, o.candidate);
        } catch (const bad_input& e) {
          throw e.under(cases::case_path(c.index)).in_file(file);
        }
      }
      counts[r.verdict]++;
      const bool judged = r.verdict == "pass" || r.verdict == "fail" || r.verdict == "inconclusive";
      std::cout << fmt::format("{:<12} {:<52} {}{}\n", r.verdict, c.id,
                               judged ? fmt::format("{:>3} directions {:>9.3g} x estimate{}", r.directions, r.worst_units,
                                                    r.reason.empty() ? "" : "  " + r.reason)
                                      : r.reason,
                               r.rounded_inputs ? "  (inputs rounded to " + o.dtype + ")" : "");
      cases::json f = {{"id", c.id}, {"op", c.op}, {"verdict", r.verdict}};
      if (!r.reason.empty()) f["reason"] = r.reason;
      if (r.rounded_inputs) f["rounded_inputs"] = true;
      if (judged) {
        f["directions"] = r.directions;
        f["directions_passed"] = r.passed;
        f["directions_failed"] = r.failed;
        f["directions_inconclusive"] = r.inconclusive;
        f["evaluations"] = r.evaluations;
        f["worst_units"] = finite_or_null(r.worst_units);
        f["estimate"] = r.worst_estimate;
        f["finite_difference"] = r.worst_fd;
        f["claimed"] = finite_or_null(r.worst_claimed);
        f["worst"] = r.worst;
      }
      findings.push_back(f);
    }
  }
  if (adapter) adapter->stop();
  std::cout << fmt::format("{} passed, {} failed, {} inconclusive, {} skipped{}\n", counts["pass"], counts["fail"],
                           counts["inconclusive"], counts["skipped"],
                           counts["error"] ? fmt::format(", {} errors", counts["error"]) : std::string());
  if (!o.json_path.empty())
    cases::write_file_atomically(
        o.json_path,
        cases::to_text({{"format", "gradspec-gradcheck/1"},
                        {"implementation", who},
                        {"dtype", o.dtype},
                        {"method", {{"directions", o.candidate.directions}, {"per_element", o.candidate.per_element},
                                    {"max_element_directions", o.candidate.max_element_directions},
                                    {"margin", o.candidate.margin}, {"round_inputs", o.candidate.round_inputs}}},
                        {"cases", findings},
                        {"summary", {{"pass", counts["pass"]}, {"fail", counts["fail"]}, {"inconclusive", counts["inconclusive"]},
                                     {"skipped", counts["skipped"]}, {"error", counts["error"]}}}}));
  return counts["fail"] || counts["error"] ? 1 : 0;
}

int run(const options& o) {
  if (!o.adapter.empty() && !o.builtin.empty()) throw bad_input("--adapter", "give --adapter or --builtin, not both");
  if (o.adapter.empty() && o.builtin.empty()) {
    if (!o.dtype.empty()) throw bad_input("--dtype", "applies to a candidate (--adapter or --builtin)");
    return run_reference(o);
  }
  return run_candidate(o);
}

} // namespace

verb gradcheck_verb() {
  return {"gradcheck", "finite-difference gradient check of the reference, or of a candidate's own forward", [](CLI::App& app) {
            auto o = std::make_shared<options>();
            app.add_option("--cases", o->cases_path, "case or spec file, or a folder (its case and spec files, subfolders included; other JSON files are skipped)")->required();
            app.add_option("--adapter", o->adapter, "check this adapter's gradients against its own forward");
            app.add_option("--builtin", o->builtin, "check a built-in candidate: reference-f64, reference-f32 (the reference in float64, float32; armadillo-f64, armadillo-f32: former names)");
            app.add_option("--dtype", o->dtype, "candidate: float64 or float32 (default float64 when the candidate has it, else float32)");
            app.add_option("--directions", o->candidate.directions, defaulted("candidate: random directions per case", o->candidate.directions))
                ->check(CLI::Range(0u, 1000u));
            app.add_option("--per-element", o->candidate.per_element,
                           defaulted("candidate: inputs of at most this many elements are also moved one element at a time (0: never)",
                                     o->candidate.per_element))
                ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 20));
            app.add_option("--element-directions", o->candidate.max_element_directions,
                           defaulted("candidate: at most this many single elements per case", o->candidate.max_element_directions))
                ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 20));
            app.add_flag("--round-inputs", o->candidate.round_inputs,
                         "candidate: check cases whose inputs are not exact in the dtype at the inputs rounded to it "
                         "(default: skip them)");
            app.add_option("--margin", o->candidate.margin, defaulted("candidate: fail above this multiple of the error estimate", o->candidate.margin))
                ->check(CLI::Range(1.0, 1e6));
            app.add_option("--samples", o->samples, defaulted("reference: elements checked per input (evenly spaced)", o->samples))->check(CLI::Range(1, 1 << 30));
            app.add_option("--min-digits", o->min_digits, defaulted("reference: correct significant digits required", default_min_digits));
            app.add_option("--timeout", o->timeout, defaulted("seconds per adapter request (and for the handshake)", o->timeout))->check(timeout_seconds());
            app.add_option("--json", o->json_path, "write a machine-readable summary (gradspec-gradcheck/1) here (default: none)");
            o->precision.add(app);
            return std::function<int()>([o] { return run(*o); });
          }};
}

} // namespace gradspec::cli
