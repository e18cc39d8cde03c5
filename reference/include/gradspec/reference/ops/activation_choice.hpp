// The hidden activation of feed_forward (and of the layers built on it): its param `activation`,
// "relu", "gelu", "gelu_tanh" or "silu", each the elementwise op of the same name (gelu_tanh is gelu
// with approximate "tanh"; spec: reference/spec/relu.md, gelu.md, silu.md).
#pragma once

#include "gradspec/reference/ops/gelu.hpp"
#include "gradspec/reference/ops/relu.hpp"
#include "gradspec/reference/ops/silu.hpp"

#include <stdexcept>
#include <string>

namespace gradspec::reference {

enum class activation { relu, gelu, gelu_tanh, silu };

// "relu", "gelu", "gelu_tanh", "silu" (as feed_forward's `activation` param); throws std::invalid_argument.
inline activation parse_activation(const std::string& name) {
  if (name == "relu") return activation::relu;
  if (name == "gelu") return activation::gelu;
  if (name == "gelu_tanh") return activation::gelu_tanh;
  if (name == "silu") return activation::silu;
  throw std::invalid_argument("unknown activation \"" + name + "\" (expected relu, gelu, gelu_tanh or silu)");
}

// y = act(x), any shape.
template <class T> tensor<T> activation_forward(activation act, const tensor<T>& x) {
  switch (act) {
  case activation::relu: return relu_forward(x);
  case activation::gelu: return gelu_forward(x, gelu_approximation::none);
  case activation::gelu_tanh: return gelu_forward(x, gelu_approximation::tanh);
  case activation::silu: return silu_forward(x);
  }
  throw std::invalid_argument("unknown activation");
}

// dx = act'(x) ⊙ dy.
template <class T> tensor<T> activation_backward(activation act, const tensor<T>& dy, const tensor<T>& x) {
  switch (act) {
  case activation::relu: return relu_backward(dy, x);
  case activation::gelu: return gelu_backward(dy, x, gelu_approximation::none);
  case activation::gelu_tanh: return gelu_backward(dy, x, gelu_approximation::tanh);
  case activation::silu: return silu_backward(dy, x);
  }
  throw std::invalid_argument("unknown activation");
}

} // namespace gradspec::reference
