// What layer_norm and rms_norm share (spec: reference/spec/layer_norm.md, rms_norm.md): the cache of
// the forward pass, the gradients, storing the weight gradients under a prefix, and the checks of x
// and eps in their bindings.
#pragma once

#include "gradspec/reference/ops/common.hpp"
#include "gradspec/reference/registry.hpp"

#include <cstdint>
#include <string>

namespace gradspec::reference {

template <class T> struct norm_cache {
  tensor<T> mean; // [...] (layer_norm only)
  tensor<T> rstd; // [...]
};

template <class T> struct norm_grads {
  tensor<T> dx, dgamma, dbeta; // dbeta empty for rms_norm
};

// Stores dgamma, dbeta as result gradients `prefix`gamma, `prefix`beta (not dx).
template <class T> void store_gradients(op_result<T>& result, const std::string& prefix, norm_grads<T>&& g) {
  result.gradients[prefix + "gamma"] = std::move(g.dgamma);
  if (!g.dbeta.shape.empty()) result.gradients[prefix + "beta"] = std::move(g.dbeta); // rms_norm has none
}

// x [..., C] with C >= 1, and eps >= 0 (eps = 0 is allowed: a constant row then gives NaN, as it
// must). Returns C.
template <class T> std::int64_t norm_width(const tensor<T>& x) {
  require_rank(x.shape, 1, "inputs/x", "[..., C]");
  const std::int64_t C = x.shape.back();
  require(C >= 1, "inputs/x", "the normalised axis C (last axis) must be >= 1, got shape " + shape_to_string(x.shape));
  return C;
}

template <class T> T norm_eps(const param_map& params) {
  T eps = params.real<T>("eps");
  require(!(eps < 0), "params/eps", "must be >= 0, got " + params.at("eps").text);
  return eps;
}

} // namespace gradspec::reference
