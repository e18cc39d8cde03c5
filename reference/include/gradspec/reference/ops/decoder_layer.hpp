// decoder_layer: one Transformer decoder block, causal self-attention, cross-attention over the
// encoder's memory, then feed-forward, each wrapped in a residual connection and a LayerNorm, as
// PyTorch's nn.TransformerDecoderLayer (spec: reference/spec/decoder_layer.md).
// x [..., T, C], memory [..., S, C] (same leading axes); self_attn.{w_q,b_q,w_k,b_k,w_v,b_v,w_o,b_o},
// ln1.{gamma,beta}, cross_attn.{...}, ln2.{...}, ffn.{w1 [C,F], b1 [F], w2 [F,C], b2 [C]}, ln3.{...}.
//   Post-LN: h1 = LN1(x + SA(x));  h2 = LN2(h1 + CA(h1, m));  y = LN3(h2 + FFN(h2))
//   Pre-LN:  h1 = x + SA(LN1(x));  h2 = h1 + CA(LN2(h1), m);  y = h2 + FFN(LN3(h2))
// SA is causal; CA has no mask; memory is used as given (not normalized here).
#pragma once

#include "gradspec/reference/ops/encoder_layer.hpp"

namespace gradspec::reference {

template <class T> struct decoder_layer_params {
  mha_params<T> self_attn;
  layer_norm_params<T> ln1;
  mha_params<T> cross_attn;
  layer_norm_params<T> ln2;
  feed_forward_params<T> ffn;
  layer_norm_params<T> ln3;
};

template <class T> struct decoder_layer_cache {
  // Post-LN: sum1 = x + SA(x), h1 = LN1(sum1), sum2 = h1 + CA(h1, m), h2 = LN2(sum2),
  //          sum3 = h2 + FFN(h2), y = LN3(sum3).
  // Pre-LN:  norm1 = LN1(x), h1 = x + SA(norm1), norm2 = LN2(h1), h2 = h1 + CA(norm2, m),
  //          norm3 = LN3(h2), y = h2 + FFN(norm3).
  tensor<T> sum1, sum2, sum3;    // [..., T, C] post-LN only: the LayerNorms' inputs
  tensor<T> norm1, norm2, norm3; // [..., T, C] pre-LN only: the sublayers' inputs
  tensor<T> h1, h2;              // [..., T, C] the outputs of the self- and cross-attention blocks
  mha_cache<T> self_attn, cross_attn;
  norm_cache<T> ln1, ln2, ln3; // mean, rstd [..., T]
  feed_forward_cache<T> ffn;
};

template <class T> struct decoder_layer_grads {
  tensor<T> dx;      // [..., T, C]
  tensor<T> dmemory; // [..., S, C]
  mha_grads<T> self_attn, cross_attn;
  norm_grads<T> ln1, ln2, ln3;
  feed_forward_grads<T> ffn;
};

// y [..., T, C].
template <class T>
tensor<T> decoder_layer_forward(const tensor<T>& x, const tensor<T>& memory, const decoder_layer_params<T>& p,
                                const layer_options<T>& opt, decoder_layer_cache<T>& cache);
// Gradients of x, memory and every weight for the cotangent dy [..., T, C].
template <class T>
decoder_layer_grads<T> decoder_layer_backward(const tensor<T>& dy, const tensor<T>& x, const tensor<T>& memory,
                                              const decoder_layer_params<T>& p, const layer_options<T>& opt,
                                              const decoder_layer_cache<T>& cache);

// The weight inputs of one decoder layer named with `prefix` ("" for the op, "dec.0." in transformer):
// prefix + self_attn.w_q ... ln3.beta, in catalogue order (not x, not memory).
std::vector<input_spec> decoder_layer_weight_inputs(const std::string& prefix);
// Those inputs of a case, shape-checked against width C.
template <class T> decoder_layer_params<T> decoder_layer_params_from(const op_args<T>& args, const std::string& prefix, std::int64_t C);
// Stores the weight gradients as result gradients prefix + "self_attn.w_q" ... (not dx, not dmemory).
template <class T> void store_gradients(op_result<T>& result, const std::string& prefix, decoder_layer_grads<T>&& g);

#define GRADSPEC_DECODER_EXTERN(T)                                                                              \
  extern template tensor<T> decoder_layer_forward(const tensor<T>&, const tensor<T>&, const decoder_layer_params<T>&, \
                                                  const layer_options<T>&, decoder_layer_cache<T>&);            \
  extern template decoder_layer_grads<T> decoder_layer_backward(const tensor<T>&, const tensor<T>&, const tensor<T>&, \
                                                                const decoder_layer_params<T>&, const layer_options<T>&, \
                                                                const decoder_layer_cache<T>&);                 \
  extern template decoder_layer_params<T> decoder_layer_params_from(const op_args<T>&, const std::string&, std::int64_t); \
  extern template void store_gradients(op_result<T>&, const std::string&, decoder_layer_grads<T>&&);
GRADSPEC_DECODER_EXTERN(double)
GRADSPEC_DECODER_EXTERN(float)
GRADSPEC_DECODER_EXTERN(mp_real)
#undef GRADSPEC_DECODER_EXTERN

} // namespace gradspec::reference
