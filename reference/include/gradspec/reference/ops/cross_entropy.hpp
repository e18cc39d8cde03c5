// Cross-entropy with PyTorch's semantics (spec: reference/spec/cross_entropy.md).
// logits [..., V] (the contract's [N, V], leading axes flattened), targets [...] int64.
// Per row: loss_n = (1-ε)·(-log p[t_n]) + ε/V · Σ_c (-log p[c]); ignored rows (t_n == ignore_index)
// contribute 0 to both terms. mean divides by the number of non-ignored rows (0/0 = NaN when all are
// ignored, as PyTorch; the gradient is then 0), sum adds, none returns loss_n per row.
#pragma once

#include "gradspec/reference/scalar.hpp"
#include "gradspec/reference/tensor.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace gradspec::reference {

enum class reduction { mean, sum, none };
// "mean", "sum", "none"; throws std::invalid_argument.
reduction parse_reduction(const std::string& name);

template <class T> struct cross_entropy_cache {
  tensor<T> log_probs;     // [..., V] = log_softmax(logits)
  std::size_t counted = 0; // rows whose target is not ignored
};

// loss [] (mean, sum) or [...] (none). Targets must be in [0, V) or equal ignore_index (checked by the
// caller: the op binding reports bad_input).
template <class T>
tensor<T> cross_entropy_forward(const tensor<T>& logits, const int_tensor& targets, reduction red,
                                std::optional<std::int64_t> ignore_index, const T& label_smoothing,
                                cross_entropy_cache<T>& cache);
// dlogits [..., V] = g_n · (p - (1-ε)·onehot(t_n) - ε/V) for counted rows, 0 for ignored rows.
template <class T>
tensor<T> cross_entropy_backward(const tensor<T>& dloss, const int_tensor& targets, reduction red,
                                 std::optional<std::int64_t> ignore_index, const T& label_smoothing,
                                 const cross_entropy_cache<T>& cache);

#define GRADSPEC_CE_EXTERN(T)                                                                                    \
  extern template tensor<T> cross_entropy_forward(const tensor<T>&, const int_tensor&, reduction,               \
                                                  std::optional<std::int64_t>, const T&, cross_entropy_cache<T>&); \
  extern template tensor<T> cross_entropy_backward(const tensor<T>&, const int_tensor&, reduction,              \
                                                   std::optional<std::int64_t>, const T&, const cross_entropy_cache<T>&);
GRADSPEC_CE_EXTERN(double)
GRADSPEC_CE_EXTERN(float)
GRADSPEC_CE_EXTERN(mp_real)
#undef GRADSPEC_CE_EXTERN

} // namespace gradspec::reference
