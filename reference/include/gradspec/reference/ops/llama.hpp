// llama: a decoder-only language model of llama_blocks with its loss (LLaMA, Mistral, Qwen; Gemma
// with an adapter's mapping) (spec: reference/spec/llama.md).
// ids, labels [..., T] (int64, same shape; labels as given: the caller has shifted them); embed [V, C];
// blocks.{i}.<llama_block weights> for i < layers; norm.gamma [C]; lm_head [C, V] (absent when tied):
//   h_0    = embed[ids]                                   [..., T, C]
//   h_i+1  = llama_block_i(h_i)                           (positions offset + t in every block)
//   hidden = rms_norm(h_L, norm.gamma)                    [..., T, C]
//   logits = hidden·lm_head, or hidden·embedᵀ when tie_embeddings; c·tanh(logits/c) with logit_softcap c
//   loss   = cross_entropy(logits, labels)                [] (mean over every non-ignored position)
#pragma once

#include "gradspec/reference/ops/cross_entropy.hpp"
#include "gradspec/reference/ops/llama_block.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace gradspec::reference {

template <class T> struct llama_params {
  const tensor<T>& embed; // [V, C]
  std::vector<llama_block_params<T>> blocks;
  const tensor<T>& norm_gamma; // [C]
  const tensor<T>* lm_head;    // [C, V]; nullptr when the embeddings are tied (the projection is embedᵀ)
};

template <class T> struct llama_options {
  llama_block_options<T> block; // every block's options (eps also for the final norm)
  std::optional<T> logit_softcap;
  std::optional<std::int64_t> ignore_index;
};

template <class T> struct llama_cache {
  std::vector<tensor<T>> acts; // layers + 1 tensors [..., T, C]: acts[0] = embed[ids], acts[i+1] = block_i(acts[i])
  std::vector<llama_block_cache<T>> blocks;
  norm_cache<T> norm;
  tensor<T> hidden;     // [..., T, C] rms_norm(acts[layers]), the output projection's input
  tensor<T> projection; // [C, V] embedᵀ when tied, else empty (lm_head is used as given)
  tensor<T> capped;     // [..., T, V] tanh(raw/c) with logit_softcap c, else empty
  cross_entropy_cache<T> ce;
};

template <class T> struct llama_outputs {
  tensor<T> loss;   // []
  tensor<T> logits; // [..., T, V] (capped when logit_softcap is set)
};

template <class T> struct llama_grads {
  tensor<T> dembed; // [V, C]: the lookup's scatter-add, plus the projection's (dW)ᵀ when tied
  std::vector<llama_block_grads<T>> blocks;
  norm_grads<T> norm;
  tensor<T> dlm_head; // [C, V], empty when tied
};

// Ids and labels must be in range (labels may equal ignore_index): the op binding checks them.
template <class T>
llama_outputs<T> llama_forward(const int_tensor& ids, const int_tensor& labels, const llama_params<T>& p,
                               const llama_options<T>& opt, llama_cache<T>& cache);
// The gradient is the sum of both paths: dlogits = cot_logits + CEᵀ·dloss.
template <class T>
llama_grads<T> llama_backward(const tensor<T>& dloss, const tensor<T>& dlogits, const int_tensor& ids, const int_tensor& labels,
                              const llama_params<T>& p, const llama_options<T>& opt, const llama_cache<T>& cache);

#define GRADSPEC_LLAMA_EXTERN(T)                                                                               \
  extern template llama_outputs<T> llama_forward(const int_tensor&, const int_tensor&, const llama_params<T>&, \
                                                 const llama_options<T>&, llama_cache<T>&);                    \
  extern template llama_grads<T> llama_backward(const tensor<T>&, const tensor<T>&, const int_tensor&, const int_tensor&, \
                                                const llama_params<T>&, const llama_options<T>&, const llama_cache<T>&);
GRADSPEC_LLAMA_EXTERN(double)
GRADSPEC_LLAMA_EXTERN(float)
GRADSPEC_LLAMA_EXTERN(mp_real)
#undef GRADSPEC_LLAMA_EXTERN

} // namespace gradspec::reference
