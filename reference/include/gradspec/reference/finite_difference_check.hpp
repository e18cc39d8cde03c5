// The reference's self-check by finite differences: its analytic gradients against central
// differences of its own forward pass at high precision. With L = sum over outputs o of <cot_o, o>
// (finite outputs only), the central difference (L(x + h e_i) - L(x - h e_i)) / 2h, h = 2^-100, agrees
// with the analytic dL/dx_i to about 45 digits at 256 bits (truncation h^2 ~ 1e-60, rounding
// 2^-256 / h ~ 1e-47), so any dropped or wrong term in a backward pass shows up as a few digits.
#pragma once

#include "gradspec/reference/registry.hpp"

#include <cstddef>
#include <string>

namespace gradspec::reference {

struct finite_difference_result {
  // Fewest agreeing significant digits over the checked elements, each measured against
  // max(|analytic|, largest |analytic| of its tensor · 1e-20); 1e9 when every element agrees exactly.
  double min_digits = 1e9;
  std::string worst;       // where, with both values
  std::size_t checked = 0; // elements compared
};

// The gradients of every real differentiable input of `args` (cotangents set for the outputs that
// count) against central differences at the current MPFR precision, h = 2^-100. Elements where the
// analytic value and the difference quotient are both below the objective's rounding noise
// (|L|·2^(20-bits)/h) agree: they are zero in exact arithmetic. At most `per_input` elements of each
// input (evenly spaced), all by default.
finite_difference_result finite_difference_check(const op_info& op, const op_args<mp_real>& args,
                                                 std::size_t per_input = static_cast<std::size_t>(-1));

} // namespace gradspec::reference
