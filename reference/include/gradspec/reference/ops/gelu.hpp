// gelu, elementwise, any shape: the erf form or the tanh approximation (spec: reference/spec/gelu.md).
// approximate "none": y = x·Φ(x) = 0.5·x·(1 + erf(x/√2));
// approximate "tanh": y = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
#pragma once

#include "gradspec/reference/scalar.hpp"
#include "gradspec/reference/tensor.hpp"

namespace gradspec::reference {

// The param `approximate`: "none" (erf form) or "tanh".
enum class gelu_approximation { none, tanh };

// y = gelu(x), any shape.
template <class T> tensor<T> gelu_forward(const tensor<T>& x, gelu_approximation approximate);
// dx = gelu'(x) ⊙ dy.
template <class T> tensor<T> gelu_backward(const tensor<T>& dy, const tensor<T>& x, gelu_approximation approximate);

extern template tensor<double> gelu_forward(const tensor<double>&, gelu_approximation);
extern template tensor<float> gelu_forward(const tensor<float>&, gelu_approximation);
extern template tensor<mp_real> gelu_forward(const tensor<mp_real>&, gelu_approximation);
extern template tensor<double> gelu_backward(const tensor<double>&, const tensor<double>&, gelu_approximation);
extern template tensor<float> gelu_backward(const tensor<float>&, const tensor<float>&, gelu_approximation);
extern template tensor<mp_real> gelu_backward(const tensor<mp_real>&, const tensor<mp_real>&, gelu_approximation);

} // namespace gradspec::reference
