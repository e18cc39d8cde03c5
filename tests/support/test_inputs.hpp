// Deterministic test inputs on the bfloat16 ∩ float16 grid, and small helpers to build op_args.
#pragma once

#include "gradspec/reference/registry.hpp"

#include <cstdint>
#include <string>

namespace gradspec::testing {

using reference::mp_real;
using reference::shape_t;
using reference::tensor;

// Values k/64 with k uniform in [-lo*64, hi*64] (never exactly 0 unless allow_zero), from `seed`.
// Every such value is exact in bfloat16, float16, float32 and float64.
template <class T> tensor<T> grid_tensor(shape_t shape, std::uint64_t seed, double range = 1.0, bool allow_zero = false);

reference::param_map params(const std::string& op, const std::map<std::string, std::string>& given = {});

// Sets the working precision for the test (RAII: restores the previous one).
struct precision_guard {
  explicit precision_guard(unsigned bits);
  ~precision_guard();
  unsigned saved;
};

} // namespace gradspec::testing
