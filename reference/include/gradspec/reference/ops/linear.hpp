// linear: y = x·w + b (spec: reference/spec/linear.md)
// x [..., I], w [I, O] (the slides' layout; PyTorch's nn.Linear.weight is its transpose), b [O].
#pragma once

#include "gradspec/reference/scalar.hpp"
#include "gradspec/reference/tensor.hpp"

namespace gradspec::reference {

// y [..., O]; b may be null (no bias).
template <class T> tensor<T> linear_forward(const tensor<T>& x, const tensor<T>& w, const tensor<T>* b);

template <class T> struct linear_grads {
  tensor<T> dx, dw, db; // dx like x, dw [I, O], db [O] (empty without bias)
};
// dx = dy·wᵀ, dw = xᵀ·dy over all rows, db = column sums of dy.
template <class T> linear_grads<T> linear_backward(const tensor<T>& dy, const tensor<T>& x, const tensor<T>& w, bool has_bias);

extern template tensor<double> linear_forward(const tensor<double>&, const tensor<double>&, const tensor<double>*);
extern template tensor<float> linear_forward(const tensor<float>&, const tensor<float>&, const tensor<float>*);
extern template tensor<mp_real> linear_forward(const tensor<mp_real>&, const tensor<mp_real>&, const tensor<mp_real>*);
extern template linear_grads<double> linear_backward(const tensor<double>&, const tensor<double>&, const tensor<double>&, bool);
extern template linear_grads<float> linear_backward(const tensor<float>&, const tensor<float>&, const tensor<float>&, bool);
extern template linear_grads<mp_real> linear_backward(const tensor<mp_real>&, const tensor<mp_real>&, const tensor<mp_real>&, bool);

} // namespace gradspec::reference
