// softmax over the last axis (spec: reference/spec/softmax.md). x [..., N]. Max-subtracted. A row
// whose entries are all -inf gives an all-zero softmax row and zero gradients ("safe softmax").
#pragma once

#include "gradspec/reference/scalar.hpp"
#include "gradspec/reference/tensor.hpp"

namespace gradspec::reference {

template <class T> tensor<T> softmax_forward(const tensor<T>& x);
// dx = y ⊙ (dy - <dy, y>) per row.
template <class T> tensor<T> softmax_backward(const tensor<T>& dy, const tensor<T>& y);

extern template tensor<double> softmax_forward(const tensor<double>&);
extern template tensor<float> softmax_forward(const tensor<float>&);
extern template tensor<mp_real> softmax_forward(const tensor<mp_real>&);
extern template tensor<double> softmax_backward(const tensor<double>&, const tensor<double>&);
extern template tensor<float> softmax_backward(const tensor<float>&, const tensor<float>&);
extern template tensor<mp_real> softmax_backward(const tensor<mp_real>&, const tensor<mp_real>&);

} // namespace gradspec::reference
