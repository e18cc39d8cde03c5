// Scaled dot-product attention (spec: reference/spec/attention.md).
// q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv] with the same leading axes; mask [Tq, Tk] additive
// (optional). Per batch element:
//   s = q·kᵀ·scale; s = c·tanh(s/c) when softcap = c; s = s + mask, -inf where hidden
//   weights = softmax(s) over keys, out = weights·v, lse_i = log sum_j exp(s_ij)
// causal (T_q <= T_k, aligned bottom-right as with a KV cache): query row i sits at position
// p = T_k - T_q + i and sees key j iff j <= p; window W (needs causal) further hides j <= p - W.
// A position is *masked* when the mask holds -inf there or causality/the window hides it: its score is
// -inf whatever q·k is (masked_fill semantics, so NaN or 1e10 in a masked key or value changes
// nothing) and it contributes nothing to out, lse or any gradient. A fully masked row gives a zero
// output row, lse = -inf and zero gradients.
#pragma once

#include "gradspec/reference/params.hpp"
#include "gradspec/reference/registry.hpp"
#include "gradspec/reference/scalar.hpp"
#include "gradspec/reference/tensor.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace gradspec::reference {

template <class T> struct attention_options {
  bool causal = false;                // bottom-right aligned: row i at p = Tk - Tq + i sees key j iff j <= p
  std::optional<std::int64_t> window; // needs causal: p - W < j <= p (W keys, itself included)
  std::optional<T> softcap;           // s = c·tanh(s/c) after the scale, before mask and causal
  bool return_lse = false;            // read by the bindings only: lse is always in the cache
};

// Whether query row i (of Tq) sees key j (of Tk) by causality and window (the additive mask aside).
template <class T> bool attention_visible(const attention_options<T>& opt, std::size_t Tq, std::size_t Tk, std::size_t i, std::size_t j) {
  if (!opt.causal) return true;
  const std::int64_t p = static_cast<std::int64_t>(Tk) - static_cast<std::int64_t>(Tq) + static_cast<std::int64_t>(i);
  const std::int64_t jj = static_cast<std::int64_t>(j);
  return jj <= p && (!opt.window || jj > p - *opt.window);
}

template <class T> struct attention_cache {
  tensor<T> scores;    // [..., Tq, Tk] final (scaled, capped, masked) scores, -inf where masked
  tensor<T> weights;   // [..., Tq, Tk], 0 where masked
  tensor<T> lse;       // [..., Tq], -inf for a fully masked row
  tensor<T> cap_slope; // [..., Tq, Tk] d(c·tanh(u/c))/du = 1/cosh²(u/c) when softcap, else empty
};

template <class T> struct attention_grads {
  tensor<T> dq, dk, dv;
};

template <class T>
tensor<T> attention_forward(const tensor<T>& q, const tensor<T>& k, const tensor<T>& v, const tensor<T>* mask,
                            const attention_options<T>& opt, const T& scale, attention_cache<T>& cache);
// dlse [..., Tq] (the cotangent of lse) or nullptr.
template <class T>
attention_grads<T> attention_backward(const tensor<T>& dout, const tensor<T>* dlse, const tensor<T>& q, const tensor<T>& k,
                                      const tensor<T>& v, const attention_options<T>& opt, const T& scale,
                                      const attention_cache<T>& cache);

// The attention params shared by attention and grouped_query_attention: causal, scale, window,
// softcap, return_lse (their specs, and reading them for Tq queries and Tk keys; bad values are
// bad_input at "params/NAME": window < 1 or without causal, causal with Tq > Tk, softcap <= 0).
std::vector<param_spec> attention_param_specs();
template <class T> attention_options<T> attention_options_from(const param_map& prm, std::int64_t Tq, std::int64_t Tk);
// scale, or 1/sqrt(D) when null.
template <class T> T attention_scale_from(const param_map& prm, std::int64_t D);

// The binding's result of an attention-like op (attention, grouped_query_attention), given its
// forward and backward: out, and lse with return_lse (whose cotangent the backward then reads), the
// gradients of q, k and v, and the intermediates scores and weights.
template <class T>
using attention_forward_fn = tensor<T> (*)(const tensor<T>&, const tensor<T>&, const tensor<T>&, const tensor<T>*,
                                           const attention_options<T>&, const T&, attention_cache<T>&);
template <class T>
using attention_backward_fn = attention_grads<T> (*)(const tensor<T>&, const tensor<T>*, const tensor<T>&, const tensor<T>&,
                                                     const tensor<T>&, const attention_options<T>&, const T&,
                                                     const attention_cache<T>&);
template <class T>
op_result<T> attention_result(const op_args<T>& args, bool backward, const tensor<T>* mask, const attention_options<T>& opt,
                              const T& scale, attention_forward_fn<T> forward, attention_backward_fn<T> backward_fn);

#define GRADSPEC_ATTENTION_EXTERN(T)                                                                            \
  extern template tensor<T> attention_forward(const tensor<T>&, const tensor<T>&, const tensor<T>&, const tensor<T>*, \
                                              const attention_options<T>&, const T&, attention_cache<T>&);     \
  extern template attention_grads<T> attention_backward(const tensor<T>&, const tensor<T>*, const tensor<T>&,  \
                                                        const tensor<T>&, const tensor<T>&, const attention_options<T>&, \
                                                        const T&, const attention_cache<T>&);        \
  extern template attention_options<T> attention_options_from(const param_map&, std::int64_t, std::int64_t);   \
  extern template T attention_scale_from(const param_map&, std::int64_t);                                        \
  extern template op_result<T> attention_result(const op_args<T>&, bool, const tensor<T>*, const attention_options<T>&,   \
                                                const T&, attention_forward_fn<T>, attention_backward_fn<T>);
GRADSPEC_ATTENTION_EXTERN(double)
GRADSPEC_ATTENTION_EXTERN(float)
GRADSPEC_ATTENTION_EXTERN(mp_real)
#undef GRADSPEC_ATTENTION_EXTERN

} // namespace gradspec::reference
