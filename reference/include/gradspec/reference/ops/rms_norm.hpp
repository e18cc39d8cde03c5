// rms_norm over the last axis (spec: reference/spec/rms_norm.md). x [..., C], gamma [C]:
// y = x · rstd · gamma, rstd = 1/sqrt(mean(x²) + eps).
#pragma once

#include "gradspec/reference/ops/normalisation.hpp"
#include "gradspec/reference/registry.hpp"

namespace gradspec::reference {

template <class T> tensor<T> rms_norm_forward(const tensor<T>& x, const tensor<T>& gamma, const T& eps, norm_cache<T>& cache);
template <class T>
norm_grads<T> rms_norm_backward(const tensor<T>& dy, const tensor<T>& x, const tensor<T>& gamma, const norm_cache<T>& cache);

#define GRADSPEC_RMS_NORM_EXTERN(T)                                                                               \
  extern template tensor<T> rms_norm_forward(const tensor<T>&, const tensor<T>&, const T&, norm_cache<T>&);      \
  extern template norm_grads<T> rms_norm_backward(const tensor<T>&, const tensor<T>&, const tensor<T>&, const norm_cache<T>&);
GRADSPEC_RMS_NORM_EXTERN(double)
GRADSPEC_RMS_NORM_EXTERN(float)
GRADSPEC_RMS_NORM_EXTERN(mp_real)
#undef GRADSPEC_RMS_NORM_EXTERN

} // namespace gradspec::reference
