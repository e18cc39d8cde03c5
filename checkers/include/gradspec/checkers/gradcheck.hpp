// Finite-difference gradient checks of a candidate's own forward pass (any adapter or built-in) in
// float64 or float32. With L = sum over outputs o of <cot_o, o>, differences of L are compared with
// what the claimed gradients dL/dx predict. (The reference's own check at high precision is
// reference::finite_difference_check, reference/finite_difference_check.hpp.)
#pragma once

#include "gradspec/cases/case_file.hpp"
#include "gradspec/checkers/results.hpp"

#include <cstddef>
#include <functional>
#include <string>

namespace gradspec::checkers {

// ---- A candidate against its own forward pass ------------------------------------------------
//
// Directional differences: for a direction v (v_i = s_i·u_i over every real differentiable input
// element at once, s_i the element's step, u_i in ±[1/2, 1] from a hash of the case id; plus
// v = s_i·e_i for elements of small inputs) the candidate is asked for L at x ± t·v, each moved
// value rounded to the dtype, at t = 1, 1/2, 1/4. With a, b the displacements actually sent
// (x+ - x, x - x-), the claimed change is <g, a + b> and the mismatch per unit t is
//     e(t) = (L(x+) - L(x-) - <g, a + b>) / 2t,
// Richardson-extrapolated: E = (4·e(t/2) - e(t))/3 over the two smaller steps. The estimate of
// what a correct candidate may show is
//     A = noise + truncation + gradient rounding + floor
//   noise      = 4·eps·||cot ⊙ out, g ⊙ x||_2 per evaluation of L (rounding of the forward, and
//                inputs perturbed by one eps: conditioning; independent errors add in quadrature),
//                propagated through E
//   truncation = |E - E'|, E' the same extrapolation one step coarser
//   gradient   = 16·eps·sum κ_i·|g_i·v_i|, κ = max(1, max|x| / spread) of the element's row
//   floor      = sqrt(eps) / margin · ||g ⊙ v||_2
// A direction fails when |E| > margin·A; if t is too coarse (truncation dominates) the steps shrink
// by 4 (up to 4 times) first. A direction whose one-sided differences do not approach each other
// as t halves (a kink such as relu at 0, a jump) cannot fail: it is inconclusive. A NaN or Inf in
// the claimed gradient always fails when every output with a nonzero cotangent is finite (L is the
// sum over finite outputs; a forward with NaN/Inf outputs makes it inconclusive). Exactly-zero
// true gradients contribute nothing to either side, so they pass.
//
// Step of an element: s = c·cbrt(eps·κ), with c the spread (max - min) of its row (last axis), else
// of its tensor, else max|x| of the tensor, else 1, and κ = max(1, max|x| of the row / c); at least
// 16 ulps of the row's largest value (the differences really sent are what count). A row
// 1e8 + k/1024 gets a step far below its spread; a row [-640, 640] a step well below 1 in float64.

struct candidate_gradcheck_options {
  std::string dtype = "float64"; // "float64" or "float32": moved inputs are rounded to it, eps is its
  unsigned directions = 3;       // random directions over all differentiable inputs together
  std::size_t per_element = 16;  // inputs of at most this many elements are also moved one element at a time,
  std::size_t max_element_directions = 16; // at most this many elements per case (evenly spaced)
  double margin = 10;            // a direction fails when its mismatch exceeds margin × its estimate
  // A case whose inputs or cotangents are not exact in the dtype is skipped, or (round_inputs)
  // checked at its values rounded to the dtype: the check needs no golden value, only one point.
  bool round_inputs = false;
};

// Directions and the case are judged pass, fail, inconclusive; a case is also skipped (inputs not
// exact in the dtype, no differentiable input) or error (the candidate failed, a gradient is missing
// or has the wrong size).
struct candidate_gradcheck_result {
  std::string verdict = "pass";
  std::string reason;         // skipped / error / fail / inconclusive: why, in one line
  bool rounded_inputs = false; // checked at inputs rounded to the dtype (round_inputs)
  double worst_units = 0;     // largest |E| / A over the directions (inf for a NaN/Inf gradient)
  // At that direction, per unit length of v (for a single element: dL/dx_i): A, the extrapolated
  // finite difference and the claimed <g, v>.
  double worst_estimate = 0;
  double worst_fd = 0, worst_claimed = 0;
  std::string worst;          // that direction: which, step, the numbers
  std::size_t directions = 0, evaluations = 0; // directions judged; calls of the candidate
  std::size_t passed = 0, failed = 0, inconclusive = 0; // directions
};

using candidate_fn = std::function<candidate_result(const cases::test_case&)>;

// Checks a case against `ask` (the candidate; its `error` results and exceptions make the case
// `error`). Missing cotangents are generated as in `gen`. Throws bad_input for an unsupported dtype.
candidate_gradcheck_result candidate_gradcheck(const cases::test_case& c, const candidate_fn& ask,
                                               const candidate_gradcheck_options& options = {});

} // namespace gradspec::checkers
