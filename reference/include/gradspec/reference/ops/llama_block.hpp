// llama_block: one pre-norm decoder-only block of LLaMA, Mistral and Qwen (Gemma with an adapter's
// mapping), without a KV cache (spec: reference/spec/llama_block.md).
// x [..., T, C]; attn_norm.gamma [C]; attn.w_q [C, Hq·D], attn.w_k, attn.w_v [C, Hkv·D],
// attn.w_o [Hq·D, C]; ffn_norm.gamma [C]; ffn.w_gate, ffn.w_up [C, F], ffn.w_down [F, C]:
//   a = rms_norm(x, attn_norm.gamma)                       [..., T, C]
//   q = rope(a·w_q as [..., Hq, T, D]), k = rope(a·w_k as [..., Hkv, T, D]), v = a·w_v as [..., Hkv, T, D]
//       (head h: columns [h·D, (h+1)·D); rows at positions offset + t; the whole head rotates)
//   o = grouped_query_attention(q, k, v, causal, window, softcap, scale 1/sqrt(D)) as [..., T, Hq·D]
//   h = x + o·w_o                                          [..., T, C]
//   y = h + gated_feed_forward(rms_norm(h, ffn_norm.gamma), ffn.*)
// Both RMSNorms use eps and gamma_offset 0.
#pragma once

#include "gradspec/reference/ops/gated_feed_forward.hpp"
#include "gradspec/reference/ops/grouped_query_attention.hpp"
#include "gradspec/reference/ops/normalisation.hpp"
#include "gradspec/reference/ops/rope.hpp"
#include "gradspec/reference/registry.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gradspec::reference {

template <class T> struct llama_block_params {
  const tensor<T>& attn_norm_gamma; // [C]
  const tensor<T>& w_q;             // [C, Hq·D] (Hugging Face q_proj.weightᵀ, Meta's wq.weightᵀ)
  const tensor<T>& w_k;             // [C, Hkv·D]
  const tensor<T>& w_v;             // [C, Hkv·D]
  const tensor<T>& w_o;             // [Hq·D, C]
  const tensor<T>& ffn_norm_gamma;  // [C]
  gated_feed_forward_params<T> ffn; // w_gate, w_up [C, F], w_down [F, C]
};

template <class T> struct llama_block_options {
  std::int64_t heads = 1;    // Hq
  std::int64_t kv_heads = 1; // Hkv, divides Hq
  std::int64_t head_dim = 2; // D, even (the whole head rotates)
  rope_angle_t<T> rope_base{};
  rope_style style = rope_style::half;
  T eps{};
  std::optional<std::int64_t> window; // >= 1
  std::optional<T> softcap;           // > 0
  activation act = activation::silu;
  std::int64_t offset = 0; // position of row 0 of the T axis
};

template <class T> struct llama_block_cache {
  norm_cache<T> attn_norm, ffn_norm; // rstd [..., T]
  tensor<T> a;                       // [..., T, C] attn_norm(x), the projections' input
  rope_angles<T> angles;             // T positions from offset, D/2 pairs
  tensor<T> q, k, v;                 // [..., Hq, T, D] and [..., Hkv, T, D]: q and k rotated
  attention_cache<T> attn;           // on the Hq heads
  tensor<T> o;                       // [..., T, Hq·D] attention output, heads side by side (w_o's input)
  tensor<T> h;                       // [..., T, C] x + o·w_o
  tensor<T> b;                       // [..., T, C] ffn_norm(h), the feed-forward's input
  gated_feed_forward_cache<T> ffn;
};

template <class T> struct llama_block_grads {
  tensor<T> dx;                      // [..., T, C]
  norm_grads<T> attn_norm, ffn_norm; // dgamma [C] (dx there is internal)
  tensor<T> dw_q, dw_k, dw_v, dw_o;
  gated_feed_forward_grads<T> ffn; // dw_gate, dw_up, dw_down (dx there is internal)
};

// y [..., T, C]. Shapes and options must be consistent (the op binding checks them).
template <class T>
tensor<T> llama_block_forward(const tensor<T>& x, const llama_block_params<T>& p, const llama_block_options<T>& opt,
                              llama_block_cache<T>& cache);
// Gradients of x and of every weight for the cotangent dy [..., T, C].
template <class T>
llama_block_grads<T> llama_block_backward(const tensor<T>& dy, const tensor<T>& x, const llama_block_params<T>& p,
                                          const llama_block_options<T>& opt, const llama_block_cache<T>& cache);

// The weight inputs of one block named with `prefix` ("" for the op, "blocks.0." in llama):
// prefix + attn_norm.gamma ... ffn.w_down, in catalogue order (not x).
std::vector<input_spec> llama_block_weight_inputs(const std::string& prefix);
// The llama_block params (heads ... offset) as llama_block and llama declare them.
std::vector<param_spec> llama_block_param_specs();
// The options for width C, checked (bad_input at "params/NAME": heads, kv_heads, head_dim, rope_base,
// eps, window, softcap, offset for T rows).
template <class T> llama_block_options<T> llama_block_options_from(const param_map& prm, std::int64_t C, std::int64_t T_len);
// Those inputs of a case, shape-checked against width C and the options' heads (bad_input names
// "inputs/<prefix>attn.w_q" etc.); F is read from ffn.w_gate.
template <class T>
llama_block_params<T> llama_block_params_from(const op_args<T>& args, const std::string& prefix, std::int64_t C,
                                              const llama_block_options<T>& opt);
// Stores the weight gradients as result gradients prefix + "attn_norm.gamma" ... (not dx).
template <class T> void store_gradients(op_result<T>& result, const std::string& prefix, llama_block_grads<T>&& g);

#define GRADSPEC_LLAMA_BLOCK_EXTERN(T)                                                                         \
  extern template tensor<T> llama_block_forward(const tensor<T>&, const llama_block_params<T>&,              \
                                                const llama_block_options<T>&, llama_block_cache<T>&);       \
  extern template llama_block_grads<T> llama_block_backward(const tensor<T>&, const tensor<T>&,              \
                                                            const llama_block_params<T>&,                    \
                                                            const llama_block_options<T>&, const llama_block_cache<T>&); \
  extern template llama_block_options<T> llama_block_options_from(const param_map&, std::int64_t, std::int64_t); \
  extern template llama_block_params<T> llama_block_params_from(const op_args<T>&, const std::string&, std::int64_t, \
                                                                const llama_block_options<T>&);              \
  extern template void store_gradients(op_result<T>&, const std::string&, llama_block_grads<T>&&);
GRADSPEC_LLAMA_BLOCK_EXTERN(double)
GRADSPEC_LLAMA_BLOCK_EXTERN(float)
GRADSPEC_LLAMA_BLOCK_EXTERN(mp_real)
#undef GRADSPEC_LLAMA_BLOCK_EXTERN

} // namespace gradspec::reference
