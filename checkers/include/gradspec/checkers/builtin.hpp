// Built-in candidates: the reference (reference/, every op of the catalogue, forward and backward)
// instantiated in the candidate's own dtype, plain IEEE arithmetic in double or float.
// "reference-f64" (float64) and "reference-f32" (float32) are candidates a user can run in process
// (`gradspec run --builtin reference-f32 --suite ...`) and the same-dtype baselines that the verdict
// policy measures error ratios against. Their former names "armadillo-f64" and "armadillo-f32" are
// kept as aliases for one release.
#pragma once

#include "gradspec/cases/case_file.hpp"
#include "gradspec/checkers/results.hpp"

#include <functional>
#include <set>
#include <string>
#include <vector>

namespace gradspec::checkers {

struct builtin_candidate {
  std::string name;  // "reference-f64"
  std::string alias; // "armadillo-f64": the former name, accepted by find_builtin
  std::string dtype; // "float64"
  std::set<std::string> ops;
  // Outputs ("outputs.NAME"), gradients of every real input ("gradients.INPUT", when the case has
  // cotangents) and some intermediates, values as double; never throws: a case it cannot evaluate
  // (bad input, unknown op) comes back with `error` set.
  std::function<candidate_result(const cases::test_case&)> evaluate;
  // evaluate(perturbed(c, relative)) (compare.hpp), the verdict rule's perturbed baseline.
  std::function<candidate_result(const cases::test_case&, double relative)> evaluate_perturbed;
  std::string version; // "gradspec 0.1.0"
};

// reference-f64 (float64), reference-f32 (float32).
const std::vector<builtin_candidate>& builtin_candidates();
// By name or alias; nullptr when unknown.
const builtin_candidate* find_builtin(const std::string& name);
// The same-dtype baseline of the verdict policy: reference-f64 for float64; reference-f32 for
// float32, bfloat16 and float16 (their inputs are exact in float32; the result is not rounded
// further). nullptr for an unknown dtype.
const builtin_candidate* baseline_for(const std::string& dtype);

} // namespace gradspec::checkers
