// Scaled dot-product attention (spec: reference/spec/attention.md).
// q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv] with the same leading axes; mask [Tq, Tk] additive
// (optional). scores = q·kᵀ·scale + mask, weights = softmax(scores) over keys, out = weights·v.
// causal: query i sees key j iff j <= i. A position is *masked* when the mask holds -inf there or
// causality hides it: its score is -inf whatever q·k is (masked_fill semantics, so NaN or 1e10 in a
// masked key or value changes nothing) and it contributes nothing to out or to any gradient.
// A fully masked row gives a zero output row and zero gradients.
#pragma once

#include "gradspec/reference/scalar.hpp"
#include "gradspec/reference/tensor.hpp"

namespace gradspec::reference {

template <class T> struct attention_cache {
  tensor<T> scores;  // [..., Tq, Tk], -inf where masked
  tensor<T> weights; // [..., Tq, Tk], 0 where masked
};

template <class T> struct attention_grads {
  tensor<T> dq, dk, dv;
};

template <class T>
tensor<T> attention_forward(const tensor<T>& q, const tensor<T>& k, const tensor<T>& v, const tensor<T>* mask, bool causal,
                            const T& scale, attention_cache<T>& cache);
template <class T>
attention_grads<T> attention_backward(const tensor<T>& dout, const tensor<T>& q, const tensor<T>& k, const tensor<T>& v,
                                      const T& scale, const attention_cache<T>& cache);

#define GRADSPEC_ATTENTION_EXTERN(T)                                                                            \
  extern template tensor<T> attention_forward(const tensor<T>&, const tensor<T>&, const tensor<T>&, const tensor<T>*, bool, \
                                              const T&, attention_cache<T>&);                                  \
  extern template attention_grads<T> attention_backward(const tensor<T>&, const tensor<T>&, const tensor<T>&, \
                                                        const tensor<T>&, const T&, const attention_cache<T>&);
GRADSPEC_ATTENTION_EXTERN(double)
GRADSPEC_ATTENTION_EXTERN(float)
GRADSPEC_ATTENTION_EXTERN(mp_real)
#undef GRADSPEC_ATTENTION_EXTERN

} // namespace gradspec::reference
