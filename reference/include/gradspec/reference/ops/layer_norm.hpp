// layer_norm over the last axis (spec: reference/spec/layer_norm.md). x [..., C], gamma [C], beta [C].
// Biased variance (divide by C), eps inside the root: y = (x - mean) · rstd · gamma + beta,
// rstd = 1/sqrt(var + eps).
#pragma once

#include "gradspec/reference/ops/normalisation.hpp"
#include "gradspec/reference/registry.hpp"

#include <string>

namespace gradspec::reference {

template <class T>
tensor<T> layer_norm_forward(const tensor<T>& x, const tensor<T>& gamma, const tensor<T>& beta, const T& eps, norm_cache<T>& cache);
template <class T>
norm_grads<T> layer_norm_backward(const tensor<T>& dy, const tensor<T>& x, const tensor<T>& gamma, const norm_cache<T>& cache);

template <class T> struct layer_norm_params {
  const tensor<T>& gamma;
  const tensor<T>& beta;
};
// The inputs `prefix`gamma and `prefix`beta of a case, shape-checked against width C (bad_input names
// "inputs/<prefix>gamma").
template <class T> layer_norm_params<T> layer_norm_params_from(const op_args<T>& args, const std::string& prefix, std::int64_t C);

#define GRADSPEC_LAYER_NORM_EXTERN(T)                                                                             \
  extern template tensor<T> layer_norm_forward(const tensor<T>&, const tensor<T>&, const tensor<T>&, const T&, norm_cache<T>&); \
  extern template norm_grads<T> layer_norm_backward(const tensor<T>&, const tensor<T>&, const tensor<T>&, const norm_cache<T>&); \
  extern template layer_norm_params<T> layer_norm_params_from(const op_args<T>&, const std::string&, std::int64_t);
GRADSPEC_LAYER_NORM_EXTERN(double)
GRADSPEC_LAYER_NORM_EXTERN(float)
GRADSPEC_LAYER_NORM_EXTERN(mp_real)
#undef GRADSPEC_LAYER_NORM_EXTERN

} // namespace gradspec::reference
