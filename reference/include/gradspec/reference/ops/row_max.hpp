// What softmax and log_softmax share: the NaN-propagating row maximum they subtract, and the test for
// -inf (spec: reference/spec/softmax.md, log_softmax.md).
#pragma once

#include "gradspec/reference/scalar.hpp"

#include <cstddef>

namespace gradspec::reference {

template <class T> bool is_neg_inf(const T& v) { return is_inf(v) && v < 0; }

// The row maximum, NaN-propagating: a NaN anywhere in the row makes the result NaN (so the whole row
// of the output is NaN, as in PyTorch). -inf when every entry is -inf.
template <class T> T row_max(const T* x, std::size_t n) {
  T m = -infinity<T>();
  for (std::size_t j = 0; j < n; ++j) {
    if (is_nan(x[j])) return x[j];
    if (x[j] > m) m = x[j];
  }
  return m;
}

} // namespace gradspec::reference
