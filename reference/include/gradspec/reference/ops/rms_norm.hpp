// rms_norm over the last axis (spec: reference/spec/rms_norm.md). x [..., C], gamma [C]:
// y = x · rstd · (gamma_offset + gamma), rstd = 1/sqrt(mean(x²) + eps). gamma_offset is 0 (LLaMA)
// or 1 (Gemma, which stores the scale minus one).
#pragma once

#include "gradspec/reference/ops/normalisation.hpp"
#include "gradspec/reference/registry.hpp"

namespace gradspec::reference {

template <class T>
tensor<T> rms_norm_forward(const tensor<T>& x, const tensor<T>& gamma, const T& eps, norm_cache<T>& cache, const T& gamma_offset = T(0));
template <class T>
norm_grads<T> rms_norm_backward(const tensor<T>& dy, const tensor<T>& x, const tensor<T>& gamma, const norm_cache<T>& cache,
                                const T& gamma_offset = T(0));

#define GRADSPEC_RMS_NORM_EXTERN(T)                                                                               \
  extern template tensor<T> rms_norm_forward(const tensor<T>&, const tensor<T>&, const T&, norm_cache<T>&, const T&); \
  extern template norm_grads<T> rms_norm_backward(const tensor<T>&, const tensor<T>&, const tensor<T>&, const norm_cache<T>&, \
                                                  const T&);
GRADSPEC_RMS_NORM_EXTERN(double)
GRADSPEC_RMS_NORM_EXTERN(float)
GRADSPEC_RMS_NORM_EXTERN(mp_real)
#undef GRADSPEC_RMS_NORM_EXTERN

} // namespace gradspec::reference
