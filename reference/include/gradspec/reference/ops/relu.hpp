// relu: y = max(x, 0), elementwise, any shape (spec: reference/spec/relu.md). Convention: relu'(0) = 0.
#pragma once

#include "gradspec/reference/scalar.hpp"
#include "gradspec/reference/tensor.hpp"

namespace gradspec::reference {

// y = max(x, 0), any shape.
template <class T> tensor<T> relu_forward(const tensor<T>& x);
// dx = relu'(x) ⊙ dy, relu'(x) = 1 if x > 0 else 0.
template <class T> tensor<T> relu_backward(const tensor<T>& dy, const tensor<T>& x);

extern template tensor<double> relu_forward(const tensor<double>&);
extern template tensor<float> relu_forward(const tensor<float>&);
extern template tensor<mp_real> relu_forward(const tensor<mp_real>&);
extern template tensor<double> relu_backward(const tensor<double>&, const tensor<double>&);
extern template tensor<float> relu_backward(const tensor<float>&, const tensor<float>&);
extern template tensor<mp_real> relu_backward(const tensor<mp_real>&, const tensor<mp_real>&);

} // namespace gradspec::reference
