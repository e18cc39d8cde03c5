// Multi-head attention, self (memory absent) or cross (spec: reference/spec/multi_head_attention.md).
// x [..., Tq, C], memory [..., Tk, C]; w_q, w_k, w_v, w_o [C, C]; b_q, b_k, b_v, b_o [C]; mask [Tq, Tk].
// q = x·w_q + b_q, k = m·w_k + b_k, v = m·w_v + b_v (m = memory, or x); head h uses columns
// [h·C/H, (h+1)·C/H) with scale 1/sqrt(C/H); heads are concatenated in order; y = concat·w_o + b_o.
#pragma once

#include "gradspec/reference/ops/attention.hpp"
#include "gradspec/reference/registry.hpp"

#include <cstdint>
#include <string>

namespace gradspec::reference {

template <class T> struct mha_params {
  const tensor<T>& w_q;
  const tensor<T>& b_q;
  const tensor<T>& w_k;
  const tensor<T>& b_k;
  const tensor<T>& w_v;
  const tensor<T>& b_v;
  const tensor<T>& w_o;
  const tensor<T>& b_o;
};

template <class T> struct mha_cache {
  tensor<T> q, k, v;  // projections [..., Tq, C], [..., Tk, C], [..., Tk, C]
  tensor<T> scores;   // [..., H, Tq, Tk], -inf where masked
  tensor<T> weights;  // [..., H, Tq, Tk]
  tensor<T> concat;   // [..., Tq, C], heads side by side, before w_o
};

template <class T> struct mha_grads {
  tensor<T> dx;
  tensor<T> dmemory; // empty for self-attention (folded into dx)
  tensor<T> dw_q, db_q, dw_k, db_k, dw_v, db_v, dw_o, db_o;
};

template <class T>
tensor<T> multi_head_attention_forward(const tensor<T>& x, const tensor<T>* memory, const mha_params<T>& p,
                                       const tensor<T>* mask, std::int64_t heads, bool causal, mha_cache<T>& cache);
template <class T>
mha_grads<T> multi_head_attention_backward(const tensor<T>& dy, const tensor<T>& x, const tensor<T>* memory,
                                           const mha_params<T>& p, std::int64_t heads, const mha_cache<T>& cache);

// The inputs `prefix`w_q ... `prefix`b_o of a case, shape-checked against width C (bad_input names
// "inputs/<prefix>w_q" etc.).
template <class T> mha_params<T> mha_params_from(const op_args<T>& args, const std::string& prefix, std::int64_t C);
// Stores the weight gradients as result gradients `prefix`w_q ... (not dx or dmemory).
template <class T> void store_gradients(op_result<T>& result, const std::string& prefix, mha_grads<T>&& g);

#define GRADSPEC_MHA_EXTERN(T)                                                                                  \
  extern template tensor<T> multi_head_attention_forward(const tensor<T>&, const tensor<T>*, const mha_params<T>&, \
                                                         const tensor<T>*, std::int64_t, bool, mha_cache<T>&);  \
  extern template mha_grads<T> multi_head_attention_backward(const tensor<T>&, const tensor<T>&, const tensor<T>*, \
                                                             const mha_params<T>&, std::int64_t, const mha_cache<T>&); \
  extern template mha_params<T> mha_params_from(const op_args<T>&, const std::string&, std::int64_t);          \
  extern template void store_gradients(op_result<T>&, const std::string&, mha_grads<T>&&);
GRADSPEC_MHA_EXTERN(double)
GRADSPEC_MHA_EXTERN(float)
GRADSPEC_MHA_EXTERN(mp_real)
#undef GRADSPEC_MHA_EXTERN

} // namespace gradspec::reference
