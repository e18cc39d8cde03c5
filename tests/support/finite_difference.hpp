// Finite-difference gradient checks of the reference at high precision, by op name: a thin layer over
// reference::finite_difference_check (reference/finite_difference_check.hpp: central differences,
// h = 2^-100, about 45 digits at 256 bits).
#pragma once

#include "gradspec/reference/finite_difference_check.hpp"
#include "gradspec/reference/registry.hpp"

#include <cstdint>
#include <string>

namespace gradspec::testing {

using reference::mp_real;
using reference::op_args;

// Smallest number of agreeing significant digits over every element of every gradient (min_digits),
// where (worst) and how many elements were compared (checked).
using gradient_agreement = reference::finite_difference_result;

// Fills args.cotangents for every differentiable output with grid values (runs the forward pass to
// learn the output shapes).
void fill_cotangents(const std::string& op, op_args<mp_real>& args, std::uint64_t seed);

// Compares every gradient of every differentiable real input with central differences.
gradient_agreement check_gradients(const std::string& op, const op_args<mp_real>& args);

} // namespace gradspec::testing
