// Finite-difference gradient checks: of the reference at high precision, and of a candidate's own
// forward pass (any adapter or built-in) in float64. With L = sum over outputs o of <cot_o, o>, the
// central difference (L(x + h e_i) - L(x - h e_i)) / 2h is compared with the claimed dL/dx_i.
#pragma once

#include "gradspec/cases/case_file.hpp"
#include "gradspec/checkers/results.hpp"

#include <cstddef>
#include <functional>
#include <string>

namespace gradspec::checkers {

struct gradcheck_result {
  // Fewest agreeing significant digits over the checked elements, each measured against
  // max(|claimed|, largest |claimed| of its tensor · 1e-20); 1e9 when every element agrees exactly.
  double min_digits = 1e9;
  std::string worst;       // where, with both values
  std::size_t checked = 0; // elements compared
};

// The reference's gradients against central differences at the current MPFR precision, h = 2^-100
// (about 45 digits at 256 bits). Elements where the analytic value and the difference quotient are
// both below the objective's rounding noise (|L|·2^(20-bits)/h) agree: they are zero in exact
// arithmetic. At most `per_input` elements of each input (evenly spaced), all by default.
gradcheck_result reference_gradcheck(const reference::op_info& op, const reference::op_args<reference::mp_real>& args,
                                     std::size_t per_input = static_cast<std::size_t>(-1));

// A candidate's gradients against central differences of its own outputs, in float64 with
// h = 1e-6·max(1, |x|): the case's inputs are moved one element at a time (text), the candidate is
// asked for the moved cases, and L is formed in long double. Needs the case's cotangents.
gradcheck_result candidate_gradcheck(const cases::test_case& c, const std::function<candidate_result(const cases::test_case&)>& ask,
                                     std::size_t per_input);

} // namespace gradspec::checkers
