// silu (swish): y = x·σ(x), elementwise, any shape (spec: reference/spec/silu.md).
#pragma once

#include "gradspec/reference/scalar.hpp"
#include "gradspec/reference/tensor.hpp"

namespace gradspec::reference {

// y = x·σ(x), any shape.
template <class T> tensor<T> silu_forward(const tensor<T>& x);
// dx = silu'(x) ⊙ dy, silu'(x) = σ(x) + x·σ(x)σ(-x).
template <class T> tensor<T> silu_backward(const tensor<T>& dy, const tensor<T>& x);

extern template tensor<double> silu_forward(const tensor<double>&);
extern template tensor<float> silu_forward(const tensor<float>&);
extern template tensor<mp_real> silu_forward(const tensor<mp_real>&);
extern template tensor<double> silu_backward(const tensor<double>&, const tensor<double>&);
extern template tensor<float> silu_backward(const tensor<float>&, const tensor<float>&);
extern template tensor<mp_real> silu_backward(const tensor<mp_real>&, const tensor<mp_real>&);

} // namespace gradspec::reference
