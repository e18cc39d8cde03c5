// relu, gelu (erf form and tanh approximation) and silu, elementwise (spec: reference/spec/relu.md,
// gelu.md, silu.md). Conventions: relu'(0) = 0; gelu "none" = x·Φ(x) = 0.5·x·(1 + erf(x/√2)); gelu
// "tanh" = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))); silu = x·σ(x).
#pragma once

#include "gradspec/reference/scalar.hpp"
#include "gradspec/reference/tensor.hpp"

#include <string>

namespace gradspec::reference {

enum class activation { relu, gelu, gelu_tanh, silu };

// "relu", "gelu", "gelu_tanh", "silu" (as feed_forward's `activation` param); throws std::invalid_argument.
activation parse_activation(const std::string& name);

// y = act(x), any shape.
template <class T> tensor<T> activation_forward(activation act, const tensor<T>& x);
// dx = act'(x) ⊙ dy.
template <class T> tensor<T> activation_backward(activation act, const tensor<T>& dy, const tensor<T>& x);

extern template tensor<double> activation_forward(activation, const tensor<double>&);
extern template tensor<float> activation_forward(activation, const tensor<float>&);
extern template tensor<mp_real> activation_forward(activation, const tensor<mp_real>&);
extern template tensor<double> activation_backward(activation, const tensor<double>&, const tensor<double>&);
extern template tensor<float> activation_backward(activation, const tensor<float>&, const tensor<float>&);
extern template tensor<mp_real> activation_backward(activation, const tensor<mp_real>&, const tensor<mp_real>&);

} // namespace gradspec::reference
