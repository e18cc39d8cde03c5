// encoder_layer: one Transformer encoder block, self-attention then feed-forward, each wrapped in a
// residual connection and a LayerNorm (spec: reference/spec/encoder_layer.md).
// x [..., T, C]; attn.{w_q,b_q,w_k,b_k,w_v,b_v,w_o,b_o} (multi_head_attention), ln1.{gamma,beta},
// ffn.{w1 [C,F], b1 [F], w2 [F,C], b2 [C]}, ln2.{gamma,beta}; mask [T, T] (optional, additive).
//   Post-LN (norm_first = false): h = LN1(x + SA(x));     y = LN2(h + FFN(h))
//   Pre-LN  (norm_first = true):  h = x + SA(LN1(x));     y = h + FFN(LN2(h))
// Built from the primitives' forward/backward pairs only (llm.c style): the forward keeps every
// sublayer's cache and the residual sums; the backward runs the primitives' backwards in reverse and
// adds the residual branch's gradient with add_into.
#pragma once

#include "gradspec/reference/ops/activation_choice.hpp"
#include "gradspec/reference/ops/feed_forward.hpp"
#include "gradspec/reference/ops/layer_norm.hpp"
#include "gradspec/reference/ops/multi_head_attention.hpp"
#include "gradspec/reference/registry.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace gradspec::reference {

// The options shared by encoder_layer and decoder_layer (the op params heads, norm_first, eps,
// activation).
template <class T> struct layer_options {
  std::int64_t heads = 1;
  bool norm_first = false;
  T eps;
  activation act = activation::relu;
};

template <class T> struct encoder_layer_params {
  mha_params<T> attn;
  layer_norm_params<T> ln1;
  feed_forward_params<T> ffn;
  layer_norm_params<T> ln2;
};

template <class T> struct encoder_layer_cache {
  // Post-LN: sum1 = x + SA(x), h = LN1(sum1), sum2 = h + FFN(h), y = LN2(sum2).
  // Pre-LN:  norm1 = LN1(x), h = x + SA(norm1), norm2 = LN2(h), y = h + FFN(norm2).
  tensor<T> sum1;  // [..., T, C] post-LN only: LN1's input
  tensor<T> norm1; // [..., T, C] pre-LN only: the attention's input
  tensor<T> h;     // [..., T, C] the attention block's output, the FFN block's input
  tensor<T> sum2;  // [..., T, C] post-LN only: LN2's input
  tensor<T> norm2; // [..., T, C] pre-LN only: the FFN's input
  mha_cache<T> attn;
  norm_cache<T> ln1, ln2; // mean, rstd [..., T]
  feed_forward_cache<T> ffn;
};

template <class T> struct encoder_layer_grads {
  tensor<T> dx; // [..., T, C]
  mha_grads<T> attn;
  norm_grads<T> ln1, ln2;
  feed_forward_grads<T> ffn;
};

// y [..., T, C]. mask may be null; causal as multi_head_attention's.
template <class T>
tensor<T> encoder_layer_forward(const tensor<T>& x, const encoder_layer_params<T>& p, const tensor<T>* mask, bool causal,
                                const layer_options<T>& opt, encoder_layer_cache<T>& cache);
// Gradients of x and of every weight for the cotangent dy [..., T, C].
template <class T>
encoder_layer_grads<T> encoder_layer_backward(const tensor<T>& dy, const tensor<T>& x, const encoder_layer_params<T>& p,
                                              const layer_options<T>& opt, const encoder_layer_cache<T>& cache);

// The weight inputs of one encoder layer named with `prefix` ("" for the op, "enc.0." in transformer):
// prefix + attn.w_q ... ln2.beta, in catalogue order (not x, not mask).
std::vector<input_spec> encoder_layer_weight_inputs(const std::string& prefix);
// Those inputs of a case, shape-checked against width C (bad_input names "inputs/<prefix>attn.w_q" etc.).
template <class T> encoder_layer_params<T> encoder_layer_params_from(const op_args<T>& args, const std::string& prefix, std::int64_t C);
// Stores the weight gradients as result gradients prefix + "attn.w_q" ... (not dx).
template <class T> void store_gradients(op_result<T>& result, const std::string& prefix, encoder_layer_grads<T>&& g);
// heads >= 1 and divides C, else bad_input at "params/heads".
void require_heads(std::int64_t heads, std::int64_t C);

#define GRADSPEC_ENCODER_EXTERN(T)                                                                              \
  extern template tensor<T> encoder_layer_forward(const tensor<T>&, const encoder_layer_params<T>&, const tensor<T>*, bool, \
                                                  const layer_options<T>&, encoder_layer_cache<T>&);            \
  extern template encoder_layer_grads<T> encoder_layer_backward(const tensor<T>&, const tensor<T>&,             \
                                                                const encoder_layer_params<T>&, const layer_options<T>&, \
                                                                const encoder_layer_cache<T>&);                 \
  extern template encoder_layer_params<T> encoder_layer_params_from(const op_args<T>&, const std::string&, std::int64_t); \
  extern template void store_gradients(op_result<T>&, const std::string&, encoder_layer_grads<T>&&);
GRADSPEC_ENCODER_EXTERN(double)
GRADSPEC_ENCODER_EXTERN(float)
GRADSPEC_ENCODER_EXTERN(mp_real)
#undef GRADSPEC_ENCODER_EXTERN

} // namespace gradspec::reference
