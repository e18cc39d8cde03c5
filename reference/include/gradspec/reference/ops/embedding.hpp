// Token embedding and sinusoidal positional encoding (spec: reference/spec/embedding.md,
// positional_encoding.md).
// embedding: ids [...] int64 in [0, V), table [V, C] -> y [..., C] = table[ids] · s, s = 1 or sqrt(C).
// positional_encoding: pe [T, C], PE(pos, 2i) = sin(pos / base^(2i/C)), PE(pos, 2i+1) =
// cos(pos / base^(2i/C)), pos = offset + row (0-based, Vaswani et al.); odd C ends with a sin column.
#pragma once

#include "gradspec/reference/scalar.hpp"
#include "gradspec/reference/tensor.hpp"

#include <cstdint>

namespace gradspec::reference {

template <class T> tensor<T> embedding_forward(const int_tensor& ids, const tensor<T>& table, const T& scale);
// dtable [V, C]: rows of dy·s added up per id (repeated ids accumulate).
template <class T> tensor<T> embedding_backward(const tensor<T>& dy, const int_tensor& ids, const shape_t& table_shape, const T& scale);

template <class T> tensor<T> positional_encoding(std::int64_t length, std::int64_t d_model, const T& base, std::int64_t offset);

#define GRADSPEC_EMBEDDING_EXTERN(T)                                                                         \
  extern template tensor<T> embedding_forward(const int_tensor&, const tensor<T>&, const T&);                \
  extern template tensor<T> embedding_backward(const tensor<T>&, const int_tensor&, const shape_t&, const T&); \
  extern template tensor<T> positional_encoding(std::int64_t, std::int64_t, const T&, std::int64_t);
GRADSPEC_EMBEDDING_EXTERN(double)
GRADSPEC_EMBEDDING_EXTERN(float)
GRADSPEC_EMBEDDING_EXTERN(mp_real)
#undef GRADSPEC_EMBEDDING_EXTERN

} // namespace gradspec::reference
