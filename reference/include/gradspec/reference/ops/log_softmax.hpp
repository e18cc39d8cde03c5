// log_softmax over the last axis (spec: reference/spec/log_softmax.md). x [..., N]. Max-subtracted,
// computed directly (never as log(softmax(x))). A row whose entries are all -inf gives -inf there,
// with zero gradients.
#pragma once

#include "gradspec/reference/scalar.hpp"
#include "gradspec/reference/tensor.hpp"

namespace gradspec::reference {

template <class T> tensor<T> log_softmax_forward(const tensor<T>& x);
// dx = dy - softmax(x) · sum(dy) per row; y is the log_softmax output.
template <class T> tensor<T> log_softmax_backward(const tensor<T>& dy, const tensor<T>& y);

extern template tensor<double> log_softmax_forward(const tensor<double>&);
extern template tensor<float> log_softmax_forward(const tensor<float>&);
extern template tensor<mp_real> log_softmax_forward(const tensor<mp_real>&);
extern template tensor<double> log_softmax_backward(const tensor<double>&, const tensor<double>&);
extern template tensor<float> log_softmax_backward(const tensor<float>&, const tensor<float>&);
extern template tensor<mp_real> log_softmax_backward(const tensor<mp_real>&, const tensor<mp_real>&);

} // namespace gradspec::reference
