// Options shared by check and run: dtype, tolerances, --json, output.
#pragma once

#include "gradspec/cases/json_io.hpp"
#include "gradspec/checkers/builtin.hpp"
#include "gradspec/checkers/summary.hpp"
#include "gradspec/errors.hpp"
#include "option_checks.hpp"

#include <CLI/CLI.hpp>

#include <future>

#include <cstdlib>
#include <iostream>

namespace gradspec::cli {

struct check_options {
  std::string dtype, json_path, baseline = "auto";
  std::optional<double> atol, rtol;
  std::vector<std::string> op_tolerances;
  bool require_all = false, quiet = false, verbose = false, forward_only = false, strict = false;

  void add(CLI::App& app) {
    app.add_option("--dtype", dtype, "the candidate's dtype: float64, float32, bfloat16, float16 (default: the result file's "
                                     "implementation.dtype, the answers' \"dtype\", or the handshake's only dtype; never guessed)");
    app.add_option("--atol", atol, "fixed absolute tolerance: |got - want| <= atol + rtol * |want| replaces the verdict "
                                    "rule (default: none, the verdict rule; with --rtol alone atol is 0)");
    app.add_option("--rtol", rtol, "fixed relative tolerance, as --atol (default: none; with --atol alone rtol is 0)");
    app.add_option("--op-tolerance", op_tolerances, "per-op override OP=ATOL:RTOL (repeatable; default: none)");
    app.add_flag("--require-all", require_all, "skipped cases fail the run");
    app.add_flag("--forward-only", forward_only, "compare outputs (and intermediates) only, not gradients (implied by a "
                                                 "handshake or implementation with \"gradients\": false)");
    app.add_flag("--strict", strict, "acceptable findings (documented alternatives on inputs outside the maths) fail");
    app.add_option("--baseline", baseline, defaulted("same-dtype baseline of the verdict rule: auto (reference-f64 for "
                                                     "float64, reference-f32 otherwise), none, or a built-in name",
                                                     baseline));
    app.add_option("--json", json_path, "write the machine-readable summary (gradspec-check/1) here (default: none)");
    app.add_flag("--quiet", quiet, "no table on stdout");
    app.add_flag("--verbose", verbose, "list passing cases too");
  }

  // `known_dtype`: the dtype the candidate declared (result file, answers, handshake), "" if none;
  // --dtype wins. Without either the dtype is never guessed: bad_input naming `where`.
  checkers::policy make_policy(const std::string& known_dtype, const std::string& where = "--dtype") const {
    checkers::policy p;
    p.dtype = !dtype.empty() ? dtype : known_dtype;
    if (p.dtype.empty())
      throw bad_input(where, "cannot tell the candidate's dtype: give --dtype (float64, float32, bfloat16, float16), or "
                             "declare it (result file: implementation.dtype; response lines: \"dtype\" on each answer or "
                             "a handshake listing one dtype)");
    checkers::dtype_named(p.dtype);
    p.strict = strict;
    check_tolerance(atol, "--atol"); // hardening: NaN, negative or infinite tolerances are bad usage
    check_tolerance(rtol, "--rtol");
    if (atol || rtol) p.fixed = checkers::tolerance{atol.value_or(0), rtol.value_or(0)};
    for (const auto& spec : op_tolerances) {
      check_op_tolerance(spec); // hardening: a known op, finite tolerances >= 0
      const auto eq = spec.find('='), colon = spec.find(':');
      if (eq == std::string::npos || colon == std::string::npos || colon < eq)
        throw bad_input("--op-tolerance", "expected OP=ATOL:RTOL, got \"" + spec + "\"");
      char* end = nullptr;
      const std::string a = spec.substr(eq + 1, colon - eq - 1), r = spec.substr(colon + 1);
      const double av = std::strtod(a.c_str(), &end);
      if (end != a.c_str() + a.size()) throw bad_input("--op-tolerance", "bad ATOL in \"" + spec + "\"");
      const double rv = std::strtod(r.c_str(), &end);
      if (end != r.c_str() + r.size()) throw bad_input("--op-tolerance", "bad RTOL in \"" + spec + "\"");
      p.per_op[spec.substr(0, eq)] = {av, rv};
    }
    p.require_all = require_all;
    p.forward_only = forward_only;
    if (!p.fixed && baseline != "none" && p.dtype != "decimal") {
      const checkers::builtin_candidate* b = baseline == "auto" ? checkers::baseline_for(p.dtype) : checkers::find_builtin(baseline);
      if (!b) throw bad_input("--baseline", "unknown baseline \"" + baseline + "\"");
      p.baseline = b->name;
    }
    return p;
  }

  // Judges one case, running the baseline on it first when the policy names one. `notes`: the case
  // file's "notes" (acceptable alternatives, why the case exists).
  static checkers::case_finding judge(const cases::test_case& c, const checkers::candidate_result* got, const checkers::policy& p,
                                      const cases::json* notes) {
    if (p.baseline.empty() || !got || got->error || !checkers::exact_in(c, p.dtype))
      return checkers::judge(c, got, p, nullptr, nullptr, notes);
    const auto* b = checkers::find_builtin(p.baseline);
    // The two baseline runs are independent: the perturbed one on the second core.
    auto moved_run = std::async(std::launch::async, [&] { return b->evaluate_perturbed(c, checkers::dtype_named(p.dtype).epsilon); });
    const checkers::candidate_result base = b->evaluate(c);
    const checkers::candidate_result moved = moved_run.get();
    return checkers::judge(c, got, p, &base, &moved, notes);
  }

  static const cases::json* notes_of(const cases::case_file& f) {
    return f.header.contains("notes") && f.header["notes"].is_object() ? &f.header["notes"] : nullptr;
  }

  void report(const checkers::implementation_info& impl, const checkers::policy& p, const std::vector<checkers::case_finding>& findings,
              const cases::json& provenance) const {
    if (!quiet) checkers::print_summary(std::cout, impl, p, findings, verbose);
    if (!json_path.empty())
      cases::write_file_atomically(json_path, cases::to_text(checkers::summary_json(impl, p, findings, &provenance)));
  }
};

} // namespace gradspec::cli
