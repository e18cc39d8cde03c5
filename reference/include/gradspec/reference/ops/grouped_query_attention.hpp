// Grouped-query attention (spec: reference/spec/grouped_query_attention.md): attention with fewer
// key/value heads than query heads. q [..., Hq, Tq, D], k [..., Hkv, Tk, D], v [..., Hkv, Tk, Dv]
// with the same leading axes, Hq a multiple of Hkv (Hkv = 1: multi-query); mask [Tq, Tk] additive
// (optional, shared by every head). Query head h reads key/value head h / (Hq / Hkv) (consecutive
// groups, as Hugging Face's repeat_kv); each head is `attention` with the same options (causal
// bottom-right, window, softcap, lse). out [..., Hq, Tq, Dv], lse [..., Hq, Tq].
#pragma once

#include "gradspec/reference/ops/attention.hpp"

namespace gradspec::reference {

// The cache is attention's, on the Hq query heads: scores and weights [..., Hq, Tq, Tk], lse [..., Hq, Tq].
template <class T>
tensor<T> grouped_query_attention_forward(const tensor<T>& q, const tensor<T>& k, const tensor<T>& v, const tensor<T>* mask,
                                          const attention_options<T>& opt, const T& scale, attention_cache<T>& cache);
// dout [..., Hq, Tq, Dv], dlse [..., Hq, Tq] or nullptr. dk, dv [..., Hkv, Tk, *] sum the gradients
// of the Hq / Hkv query heads of each group (in head order).
template <class T>
attention_grads<T> grouped_query_attention_backward(const tensor<T>& dout, const tensor<T>* dlse, const tensor<T>& q,
                                                    const tensor<T>& k, const tensor<T>& v, const attention_options<T>& opt,
                                                    const T& scale, const attention_cache<T>& cache);

#define GRADSPEC_GQA_EXTERN(T)                                                                                       \
  extern template tensor<T> grouped_query_attention_forward(const tensor<T>&, const tensor<T>&, const tensor<T>&,   \
                                                            const tensor<T>*, const attention_options<T>&, const T&, \
                                                            attention_cache<T>&);                                  \
  extern template attention_grads<T> grouped_query_attention_backward(                                              \
      const tensor<T>&, const tensor<T>*, const tensor<T>&, const tensor<T>&, const tensor<T>&,                     \
      const attention_options<T>&, const T&, const attention_cache<T>&);
GRADSPEC_GQA_EXTERN(double)
GRADSPEC_GQA_EXTERN(float)
GRADSPEC_GQA_EXTERN(mp_real)
#undef GRADSPEC_GQA_EXTERN

} // namespace gradspec::reference
