// Finite-difference gradient checks of the reference at high precision. With L = sum over outputs o
// of <cot_o, o>, the central difference (L(x + h e_i) - L(x - h e_i)) / 2h, h = 2^-100, agrees with
// the analytic dL/dx_i to about 45 digits at 256 bits (truncation h^2 ~ 1e-60, rounding
// 2^-256 / h ~ 1e-47), so any dropped or wrong term in a backward pass shows up as a few digits.
#pragma once

#include "gradspec/reference/registry.hpp"

#include <cstdint>
#include <string>

namespace gradspec::testing {

using reference::mp_real;
using reference::op_args;

struct gradient_agreement {
  // Smallest number of agreeing significant digits over every element of every gradient, each
  // element measured against max(|analytic|, largest |analytic| of its tensor * 1e-20). Elements
  // where both the analytic value and the difference quotient are below the rounding noise of the
  // objective (|L|·2^(20-bits)/h) agree: they are zero in exact arithmetic.
  double min_digits = 1e9;
  std::string worst;       // where the minimum is, with both values
  std::size_t checked = 0; // elements compared
};

// Fills args.cotangents for every differentiable output with grid values (runs the forward pass to
// learn the output shapes).
void fill_cotangents(const std::string& op, op_args<mp_real>& args, std::uint64_t seed);

// Compares every gradient of every differentiable real input with central differences.
gradient_agreement check_gradients(const std::string& op, const op_args<mp_real>& args);

} // namespace gradspec::testing
