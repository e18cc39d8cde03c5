// Small comparisons and op calls shared by the reference tests.
#pragma once

#include "gradspec/reference/registry.hpp"

#include <functional>
#include <map>
#include <string>

namespace gradspec::testing {

using reference::int_tensors;
using reference::mp_real;
using reference::tensor;

// One op's output `output` from named inputs (forward only), params given as text.
tensor<mp_real> run(const std::string& op, const std::map<std::string, const tensor<mp_real>*>& inputs,
                    const std::map<std::string, std::string>& given, const std::string& output = "y",
                    const int_tensors& int_inputs = {});

// The saturating activations' conventions in double (gelu, silu): at x = -1000 a finite value and
// slope below 1e-300 in magnitude, at 1000 exactly 1000 and slope 1; at -inf and +inf the limits 0 and
// inf with slopes 0 and 1, not inf·0 = NaN.
void check_activation_tails(const std::function<tensor<double>(const tensor<double>&)>& forward,
                            const std::function<tensor<double>(const tensor<double>&, const tensor<double>&)>& backward);

// a + b elementwise.
tensor<mp_real> sum(tensor<mp_real> a, const tensor<mp_real>& b);

// max |a - b|, and max |a - b| / |b| (absolute where b is 0); shapes must match.
double max_abs_diff(const tensor<mp_real>& a, const tensor<mp_real>& b);
double max_rel_diff(const tensor<mp_real>& a, const tensor<mp_real>& b);

// Equal element by element (NaN equals NaN), same shape.
template <class T> bool same(const tensor<T>& a, const tensor<T>& b) {
  if (a.shape != b.shape) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!(a.data[i] == b.data[i]) && !(reference::is_nan(a.data[i]) && reference::is_nan(b.data[i]))) return false;
  return true;
}

// A tensor of `shape` with every element v.
template <class T> tensor<T> filled(reference::shape_t shape, const T& v) {
  tensor<T> t(std::move(shape));
  for (auto& e : t.data) e = v;
  return t;
}
template <class T> bool all_finite(const tensor<T>& t) {
  for (const auto& x : t.data)
    if (!reference::is_finite(x)) return false;
  return true;
}

} // namespace gradspec::testing
