// Token embedding (spec: reference/spec/embedding.md).
// ids [...] int64 in [0, V), table [V, C] -> y [..., C] = table[ids] · s, s = 1 or sqrt(C).
#pragma once

#include "gradspec/reference/scalar.hpp"
#include "gradspec/reference/tensor.hpp"

namespace gradspec::reference {

template <class T> tensor<T> embedding_forward(const int_tensor& ids, const tensor<T>& table, const T& scale);
// dtable [V, C]: rows of dy·s added up per id (repeated ids accumulate).
template <class T> tensor<T> embedding_backward(const tensor<T>& dy, const int_tensor& ids, const shape_t& table_shape, const T& scale);

#define GRADSPEC_EMBEDDING_EXTERN(T)                                                                         \
  extern template tensor<T> embedding_forward(const int_tensor&, const tensor<T>&, const T&);                \
  extern template tensor<T> embedding_backward(const tensor<T>&, const int_tensor&, const shape_t&, const T&);
GRADSPEC_EMBEDDING_EXTERN(double)
GRADSPEC_EMBEDDING_EXTERN(float)
GRADSPEC_EMBEDDING_EXTERN(mp_real)
#undef GRADSPEC_EMBEDDING_EXTERN

} // namespace gradspec::reference
