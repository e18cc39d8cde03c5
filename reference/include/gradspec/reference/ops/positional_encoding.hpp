// Sinusoidal positional encoding (spec: reference/spec/positional_encoding.md).
// pe [T, C], PE(pos, 2i) = sin(pos / base^(2i/C)), PE(pos, 2i+1) = cos(pos / base^(2i/C)),
// pos = offset + row (0-based, Vaswani et al.); odd C ends with a sin column. No inputs, so no
// backward.
#pragma once

#include "gradspec/reference/scalar.hpp"
#include "gradspec/reference/tensor.hpp"

#include <cstdint>

namespace gradspec::reference {

template <class T> tensor<T> positional_encoding_forward(std::int64_t length, std::int64_t d_model, const T& base, std::int64_t offset);

extern template tensor<double> positional_encoding_forward(std::int64_t, std::int64_t, const double&, std::int64_t);
extern template tensor<float> positional_encoding_forward(std::int64_t, std::int64_t, const float&, std::int64_t);
extern template tensor<mp_real> positional_encoding_forward(std::int64_t, std::int64_t, const mp_real&, std::int64_t);

} // namespace gradspec::reference
