// layer_norm and rms_norm over the last axis (spec: reference/spec/layer_norm.md, rms_norm.md).
// x [..., C], gamma [C], beta [C]. LayerNorm: biased variance (divide by C), eps inside the root:
// y = (x - mean) · rstd · gamma + beta, rstd = 1/sqrt(var + eps). RMSNorm: y = x · rstd · gamma,
// rstd = 1/sqrt(mean(x²) + eps).
#pragma once

#include "gradspec/reference/registry.hpp"

#include <string>

namespace gradspec::reference {

template <class T> struct norm_cache {
  tensor<T> mean; // [...] (layer_norm only)
  tensor<T> rstd; // [...]
};

template <class T> struct norm_grads {
  tensor<T> dx, dgamma, dbeta; // dbeta empty for rms_norm
};

template <class T>
tensor<T> layer_norm_forward(const tensor<T>& x, const tensor<T>& gamma, const tensor<T>& beta, const T& eps, norm_cache<T>& cache);
template <class T>
norm_grads<T> layer_norm_backward(const tensor<T>& dy, const tensor<T>& x, const tensor<T>& gamma, const norm_cache<T>& cache);

template <class T> tensor<T> rms_norm_forward(const tensor<T>& x, const tensor<T>& gamma, const T& eps, norm_cache<T>& cache);
template <class T>
norm_grads<T> rms_norm_backward(const tensor<T>& dy, const tensor<T>& x, const tensor<T>& gamma, const norm_cache<T>& cache);

template <class T> struct layer_norm_params {
  const tensor<T>& gamma;
  const tensor<T>& beta;
};
// The inputs `prefix`gamma and `prefix`beta of a case, shape-checked against width C (bad_input names
// "inputs/<prefix>gamma").
template <class T> layer_norm_params<T> layer_norm_params_from(const op_args<T>& args, const std::string& prefix, std::int64_t C);
// Stores dgamma, dbeta as result gradients `prefix`gamma, `prefix`beta (not dx).
template <class T> void store_gradients(op_result<T>& result, const std::string& prefix, norm_grads<T>&& g);

#define GRADSPEC_NORM_EXTERN(T)                                                                                   \
  extern template tensor<T> layer_norm_forward(const tensor<T>&, const tensor<T>&, const tensor<T>&, const T&, norm_cache<T>&); \
  extern template norm_grads<T> layer_norm_backward(const tensor<T>&, const tensor<T>&, const tensor<T>&, const norm_cache<T>&); \
  extern template tensor<T> rms_norm_forward(const tensor<T>&, const tensor<T>&, const T&, norm_cache<T>&);      \
  extern template norm_grads<T> rms_norm_backward(const tensor<T>&, const tensor<T>&, const tensor<T>&, const norm_cache<T>&); \
  extern template layer_norm_params<T> layer_norm_params_from(const op_args<T>&, const std::string&, std::int64_t); \
  extern template void store_gradients(op_result<T>&, const std::string&, norm_grads<T>&&);
GRADSPEC_NORM_EXTERN(double)
GRADSPEC_NORM_EXTERN(float)
GRADSPEC_NORM_EXTERN(mp_real)
#undef GRADSPEC_NORM_EXTERN

} // namespace gradspec::reference
