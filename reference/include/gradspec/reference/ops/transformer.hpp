// transformer: the encoder-decoder model of Vaswani et al. (nn.Transformer with embeddings, positional
// encoding, output projection and loss around it) (spec: reference/spec/transformer.md).
// src_ids [..., S], tgt_ids [..., T], labels [..., T] (int64, same leading axes); src_embed [Vs, C],
// tgt_embed [Vt, C]; enc.{i}.<encoder_layer weights>, dec.{i}.<decoder_layer weights> for
// i < layers; enc_norm.{gamma,beta}, dec_norm.{gamma,beta} [C]; out.w [C, Vt], out.b [Vt].
//   src    = src_embed[src_ids]·s + PE[S]     [..., S, C]   (s = sqrt(C) or 1)
//   memory = enc_norm(enc_{L-1}(... enc_0(src)))              [..., S, C]
//   tgt    = tgt_embed[tgt_ids]·s + PE[T]     [..., T, C]
//   dec    = dec_norm(dec_{L-1}(... dec_0(tgt, memory), memory))   [..., T, C]
//   logits = dec·out.w + out.b                [..., T, Vt]
//   loss   = cross_entropy(logits, labels)    []  (mean over non-ignored labels)
#pragma once

#include "gradspec/reference/ops/cross_entropy.hpp"
#include "gradspec/reference/ops/decoder_layer.hpp"
#include "gradspec/reference/ops/encoder_layer.hpp"
#include "gradspec/reference/ops/linear.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gradspec::reference {

template <class T> struct transformer_params {
  const tensor<T>& src_embed; // [Vs, C]
  const tensor<T>& tgt_embed; // [Vt, C]
  std::vector<encoder_layer_params<T>> enc;
  std::vector<decoder_layer_params<T>> dec;
  layer_norm_params<T> enc_norm, dec_norm;
  const tensor<T>& out_w; // [C, Vt]
  const tensor<T>& out_b; // [Vt]
};

template <class T> struct transformer_options {
  layer_options<T> layer;   // heads, norm_first, eps, activation of every layer (eps also for the final norms)
  T embed_scale;            // s: 1 or sqrt(C)
  T label_smoothing;        // ε
  std::optional<std::int64_t> ignore_index;
};

template <class T> struct transformer_cache {
  std::vector<tensor<T>> enc_acts; // layers + 1 tensors [..., S, C]: enc_acts[0] = src, enc_acts[i+1] = enc_i(enc_acts[i])
  std::vector<tensor<T>> dec_acts; // layers + 1 tensors [..., T, C]: dec_acts[0] = tgt, dec_acts[i+1] = dec_i(dec_acts[i], memory)
  std::vector<encoder_layer_cache<T>> enc;
  std::vector<decoder_layer_cache<T>> dec;
  tensor<T> memory; // [..., S, C] enc_norm(enc_acts[layers]), what every cross-attention reads
  tensor<T> dec_out; // [..., T, C] dec_norm(dec_acts[layers]), the output projection's input
  norm_cache<T> enc_norm, dec_norm;
  cross_entropy_cache<T> ce;
};

template <class T> struct transformer_outputs {
  tensor<T> loss;   // []
  tensor<T> logits; // [..., T, Vt]
};

template <class T> struct transformer_grads {
  tensor<T> dsrc_embed, dtgt_embed; // [Vs, C], [Vt, C]
  std::vector<encoder_layer_grads<T>> enc;
  std::vector<decoder_layer_grads<T>> dec;
  norm_grads<T> enc_norm, dec_norm;
  linear_grads<T> out; // dw [C, Vt], db [Vt]
};

// Ids and labels must be in range (labels may equal ignore_index): the op binding checks them.
template <class T>
transformer_outputs<T> transformer_forward(const int_tensor& src_ids, const int_tensor& tgt_ids, const int_tensor& labels,
                                           const transformer_params<T>& p, const transformer_options<T>& opt,
                                           transformer_cache<T>& cache);
// The gradient is the sum of both paths: dlogits = cot_logits + CEᵀ·dloss.
template <class T>
transformer_grads<T> transformer_backward(const tensor<T>& dloss, const tensor<T>& dlogits, const int_tensor& src_ids,
                                          const int_tensor& tgt_ids, const int_tensor& labels, const transformer_params<T>& p,
                                          const transformer_options<T>& opt, const transformer_cache<T>& cache);

#define GRADSPEC_TRANSFORMER_EXTERN(T)                                                                         \
  extern template transformer_outputs<T> transformer_forward(const int_tensor&, const int_tensor&, const int_tensor&, \
                                                             const transformer_params<T>&, const transformer_options<T>&, \
                                                             transformer_cache<T>&);                           \
  extern template transformer_grads<T> transformer_backward(const tensor<T>&, const tensor<T>&, const int_tensor&, \
                                                            const int_tensor&, const int_tensor&,              \
                                                            const transformer_params<T>&, const transformer_options<T>&, \
                                                            const transformer_cache<T>&);
GRADSPEC_TRANSFORMER_EXTERN(double)
GRADSPEC_TRANSFORMER_EXTERN(float)
GRADSPEC_TRANSFORMER_EXTERN(mp_real)
#undef GRADSPEC_TRANSFORMER_EXTERN

} // namespace gradspec::reference
