// gated_feed_forward: the gated (GLU-variant) feed-forward block of LLaMA, Mistral, Qwen (SwiGLU) and
// Gemma (GeGLU) (Shazeer 2020; spec: reference/spec/gated_feed_forward.md).
// x [..., C], w_gate [C, F], w_up [C, F], w_down [F, C], no biases:
//   gate   [..., F] = x·w_gate
//   up     [..., F] = x·w_up
//   hidden [..., F] = act(gate) ⊙ up
//   y      [..., C] = hidden·w_down
// act is silu (SwiGLU), gelu (erf form) or gelu_tanh (GeGLU with the tanh approximation).
#pragma once

#include "gradspec/reference/ops/activation_choice.hpp"
#include "gradspec/reference/registry.hpp"

namespace gradspec::reference {

template <class T> struct gated_feed_forward_params {
  const tensor<T>& w_gate; // [C, F] (LLaMA w1, Hugging Face gate_proj.weightᵀ)
  const tensor<T>& w_up;   // [C, F] (LLaMA w3, up_proj.weightᵀ)
  const tensor<T>& w_down; // [F, C] (LLaMA w2, down_proj.weightᵀ)
};

template <class T> struct gated_feed_forward_cache {
  tensor<T> gate;   // [..., F] = x·w_gate (pre-activation)
  tensor<T> up;     // [..., F] = x·w_up
  tensor<T> hidden; // [..., F] = act(gate) ⊙ up
};

template <class T> struct gated_feed_forward_grads {
  tensor<T> dx, dw_gate, dw_up, dw_down;
};

template <class T>
tensor<T> gated_feed_forward_forward(const tensor<T>& x, const gated_feed_forward_params<T>& p, activation act,
                                     gated_feed_forward_cache<T>& cache);
// dy [..., C]:
//   dhidden = dy·w_downᵀ,            dw_down = hiddenᵀ·dy
//   dup     = act(gate) ⊙ dhidden,   dgate = act'(gate) ⊙ up ⊙ dhidden
//   dx      = dgate·w_gateᵀ + dup·w_upᵀ,  dw_gate = xᵀ·dgate,  dw_up = xᵀ·dup
template <class T>
gated_feed_forward_grads<T> gated_feed_forward_backward(const tensor<T>& dy, const tensor<T>& x, const gated_feed_forward_params<T>& p,
                                                        activation act, const gated_feed_forward_cache<T>& cache);

#define GRADSPEC_GFF_EXTERN(T)                                                                                      \
  extern template tensor<T> gated_feed_forward_forward(const tensor<T>&, const gated_feed_forward_params<T>&, activation, \
                                                       gated_feed_forward_cache<T>&);                               \
  extern template gated_feed_forward_grads<T> gated_feed_forward_backward(                                          \
      const tensor<T>&, const tensor<T>&, const gated_feed_forward_params<T>&, activation, const gated_feed_forward_cache<T>&);
GRADSPEC_GFF_EXTERN(double)
GRADSPEC_GFF_EXTERN(float)
GRADSPEC_GFF_EXTERN(mp_real)
#undef GRADSPEC_GFF_EXTERN

} // namespace gradspec::reference
