// feed_forward: y = act(x·w1 + b1)·w2 + b2 (spec: reference/spec/feed_forward.md).
// x [..., C], w1 [C, F], b1 [F], w2 [F, C], b2 [C].
#pragma once

#include "gradspec/reference/ops/activation_choice.hpp"
#include "gradspec/reference/registry.hpp"

#include <string>

namespace gradspec::reference {

template <class T> struct feed_forward_params {
  const tensor<T>& w1;
  const tensor<T>& b1;
  const tensor<T>& w2;
  const tensor<T>& b2;
};

template <class T> struct feed_forward_cache {
  tensor<T> pre_activation; // [..., F] = x·w1 + b1
  tensor<T> hidden;         // [..., F] = act(pre_activation)
};

template <class T> struct feed_forward_grads {
  tensor<T> dx, dw1, db1, dw2, db2;
};

template <class T>
tensor<T> feed_forward_forward(const tensor<T>& x, const feed_forward_params<T>& p, activation act, feed_forward_cache<T>& cache);
template <class T>
feed_forward_grads<T> feed_forward_backward(const tensor<T>& dy, const tensor<T>& x, const feed_forward_params<T>& p,
                                            activation act, const feed_forward_cache<T>& cache);

// The inputs `prefix`w1, b1, w2, b2 of a case (prefix "" for feed_forward, "ffn." in layers), shape-checked
// against model width C; bad_input names "inputs/<prefix>w1" etc.
template <class T> feed_forward_params<T> feed_forward_params_from(const op_args<T>& args, const std::string& prefix, std::int64_t C);
// Stores the weight gradients as result gradients `prefix`w1 ... (not dx).
template <class T> void store_gradients(op_result<T>& result, const std::string& prefix, feed_forward_grads<T>&& g);

#define GRADSPEC_FFN_EXTERN(T)                                                                                      \
  extern template tensor<T> feed_forward_forward(const tensor<T>&, const feed_forward_params<T>&, activation, feed_forward_cache<T>&); \
  extern template feed_forward_grads<T> feed_forward_backward(const tensor<T>&, const tensor<T>&, const feed_forward_params<T>&, \
                                                              activation, const feed_forward_cache<T>&);          \
  extern template feed_forward_params<T> feed_forward_params_from(const op_args<T>&, const std::string&, std::int64_t); \
  extern template void store_gradients(op_result<T>&, const std::string&, feed_forward_grads<T>&&);
GRADSPEC_FFN_EXTERN(double)
GRADSPEC_FFN_EXTERN(float)
GRADSPEC_FFN_EXTERN(mp_real)
#undef GRADSPEC_FFN_EXTERN

} // namespace gradspec::reference
