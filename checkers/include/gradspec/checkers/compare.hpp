// Judging a candidate against golden cases: per-tensor metrics (Boost.Math style errors in units of
// the dtype's epsilon, NIST's log relative error) and the verdict policy.
//
// The policy (stated in every --json summary): a tensor passes when
//   max_i |got_i - want_i| <= max(ratio · max_i |base_i - want_i|,
//                                 ratio · max_i |base'_i - base_i|,
//                                 floor_eps · eps · max_i |want_i|)
// where base is a straightforward same-dtype baseline, base' the same baseline on the inputs
// perturbed by one eps of the dtype (the conditioning of the problem: what any backward-stable
// implementation may be off by, so a correct float32 LayerNorm of [80000, 80001, 80002, 80003]
// passes and a one-pass variance does not), and eps the dtype's machine epsilon. NaN or Inf where
// the reference is finite fails, except where the case's flag declares it an acceptable finding (see
// below). With --atol/--rtol (or a
// per-op override) the rule is instead |got_i - want_i| <= atol + rtol · |want_i| for every element.
#pragma once

#include "gradspec/cases/case_file.hpp"
#include "gradspec/checkers/results.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gradspec::checkers {

struct dtype_info {
  std::string name;
  int precision;  // significand bits, implicit bit included
  int emin;       // exponent of the smallest normal
  double epsilon; // 2^(1 - precision)
};
// Throws bad_input("--dtype") for an unknown name.
const dtype_info& dtype_named(const std::string& name);

struct tolerance {
  double atol = 0, rtol = 0;
};

struct policy {
  std::string dtype = "float64";
  double ratio = 4;       // allowed multiple of the baseline's error
  double floor_eps = 16;  // errors up to this many eps of the tensor's scale always pass
  std::optional<tolerance> fixed;             // --atol/--rtol: replaces the rule
  std::map<std::string, tolerance> per_op;    // --op-tolerance op=atol:rtol
  bool require_all = false;                   // skipped cases fail the run
  bool forward_only = false;                  // gradients are not compared
  bool strict = false;                        // acceptable findings fail (--strict)
  std::string baseline;                       // name of the same-dtype baseline, "" for none
  cases::json describe() const;
};

// Metrics: max_abs = max|got - want|; max_rel per element against max(|want|, eps·scale), scale =
// max|want| of the tensor; max_ulp and rms_ulp in units in the last place of the dtype at the
// tensor's scale, and min_digits = -log10(|got - want| / scale) at its worst element (NIST's log
// relative error, normwise, at most 40): small elements of a tensor carry no relative-accuracy
// promise from a correct implementation, so they are judged on the tensor's scale.
struct tensor_finding {
  std::string name; // outputs.y
  std::string verdict = "pass";
  double max_abs = 0, max_rel = 0, max_ulp = 0, rms_ulp = 0, min_digits = 40;
  double allowed_abs = 0;          // the bound the verdict used
  std::optional<double> baseline_max_abs;
  std::optional<double> sensitivity_max_abs; // max |base' - base|
  std::vector<std::int64_t> worst_index;
  double worst_got = 0;
  std::string worst_want;
  std::size_t nonfinite = 0;       // NaN/Inf where the reference is finite
  std::string acceptable;          // "flag/alternative" when the verdict is "acceptable"
  std::string diagnosis;           // one line, for a failing or acceptable tensor
  std::size_t elements = 0;        // values compared
  // Per-element errors in ulps (normwise, as max_ulp), counted in ulp_bins bins: [0] exactly 0,
  // [1] (0, 1/2], [2] (1/2, 1], [3 + k] (2^k, 2^(k+1)] for k = 0..19, [23] above 2^20, [24] NaN or
  // Inf (where the reference is finite, or a special value missed). Reports plot the distribution.
  static constexpr std::size_t ulp_bins = 25;
  std::vector<std::uint64_t> ulp_histogram;
};

// The ulp_histogram bin of one element's error in ulps (infinite or NaN: the last bin).
std::size_t ulp_bin(double ulps);

struct case_finding {
  std::string id, op;
  std::string verdict = "pass"; // pass, acceptable, fail, error, skipped
  std::string reason;           // for error and skipped, and the worst tensor's diagnosis
  std::string why;              // "flag: description" of the case's first described flag (the trap it sets)
  std::vector<tensor_finding> tensors;
  double worst_ratio = 0;       // max over tensors of max_abs / allowed_abs, for sorting
  std::int64_t largest_dim = 0; // the largest dimension of any input (a sweep's size N in reports)
};

// Acceptable findings (Wycheproof's "acceptable" result). A flag's note in the case file may list
// documented alternatives that correct, well-known libraries produce on inputs outside the maths:
//   "acceptable": [{"name": "nan_from_plain_softmax", "result": "nan" | "zero",
//                   "tensors": ["outputs", "gradients.logits", ...], "description": "..."}]
// "nan": NaN where the reference is finite; "zero": 0 where the reference is NaN. A tensor whose only
// departures from the rule are covered by an alternative of one of the case's flags gets the verdict
// "acceptable" (its finite elements still meet the rule; Inf is never acceptable); --strict fails it.
struct acceptable_alternative {
  std::string flag, name, result, description;
  std::vector<std::string> tensors;
  bool covers(const std::string& tensor_name) const; // "gradients.x" by "gradients" or "gradients.x"
};
// The alternatives declared by the notes (the file's "notes" object) for the case's flags; malformed
// entries are bad_input naming /notes/FLAG/acceptable/N.
std::vector<acceptable_alternative> acceptable_alternatives(const cases::test_case& c, const cases::json* notes);

// Compares one candidate result with one case's expected values. `baseline` (same dtype, a
// straightforward implementation) sharpens the bound where the problem is ill-conditioned. `notes`
// is the case file's "notes" (acceptable alternatives, and why the case exists). An adapter answer
// whose error starts with "unsupported" is a skip, not an error.
case_finding judge(const cases::test_case& c, const candidate_result* got, const policy& p,
                   const candidate_result* baseline = nullptr, const candidate_result* perturbed_baseline = nullptr,
                   const cases::json* notes = nullptr);

// True for an adapter's "unsupported ..." answer (CONTRACT.md: such cases are skipped).
bool is_unsupported(const std::string& error);

// The case with every real input (not an additive mask, the registry's tensor_role::additive_mask;
// not the cotangents) multiplied by (1 ± relative), signs from a hash of the case id and the value's
// position; what a candidate evaluates, without the expected values.
cases::test_case perturbed(const cases::test_case& c, double relative);
// The same perturbation on the case's real inputs already read as double (case_args<double>): the
// values perturbed() gives, without the text (a double's %.17g text reads back as that double).
void perturb_double_inputs(const cases::test_case& c, reference::tensors<double>& inputs, double relative);

// True when every input and cotangent of the case is exact in the dtype (its `exact_in`); always for
// "decimal" (results worked by hand from the decimal inputs as written).
bool exact_in(const cases::test_case& c, const std::string& dtype);

} // namespace gradspec::checkers
