// Shared pieces of the op bindings (the `X_evaluate` functions that adapt named tensors to
// `X_forward`/`X_backward`): looking up inputs and checking shapes with messages that name the path.
#pragma once

#include "gradspec/errors.hpp"
#include "gradspec/reference/registry.hpp"

#include <optional>
#include <string>

namespace gradspec::reference {

inline void require(bool condition, const std::string& path, const std::string& message) {
  if (!condition) throw bad_input(path, message);
}

template <class T> const tensor<T>& input(const op_args<T>& args, const std::string& name) {
  auto it = args.inputs.find(name);
  require(it != args.inputs.end(), "inputs", "missing input \"" + name + "\"");
  return it->second;
}

template <class T> const tensor<T>* optional_input(const op_args<T>& args, const std::string& name) {
  auto it = args.inputs.find(name);
  return it == args.inputs.end() ? nullptr : &it->second;
}

template <class T> const int_tensor& int_input(const op_args<T>& args, const std::string& name) {
  auto it = args.int_inputs.find(name);
  require(it != args.int_inputs.end(), "inputs", "missing integer input \"" + name + "\"");
  return it->second;
}

// The cotangent of output `name`, which must have the output's shape.
template <class T> const tensor<T>& cotangent(const op_args<T>& args, const std::string& name, const shape_t& shape) {
  auto it = args.cotangents.find(name);
  require(it != args.cotangents.end(), "cotangents", "missing cotangent \"" + name + "\"");
  require(it->second.shape == shape, "cotangents/" + name,
          "shape " + shape_to_string(it->second.shape) + " does not match output shape " + shape_to_string(shape));
  return it->second;
}

// Requires rank >= min_rank.
inline void require_rank(const shape_t& shape, std::size_t min_rank, const std::string& path, const std::string& what) {
  require(shape.size() >= min_rank, path,
          "expected " + what + " (rank >= " + std::to_string(min_rank) + "), got shape " + shape_to_string(shape));
}

inline void require_shape(const shape_t& shape, const shape_t& want, const std::string& path) {
  require(shape == want, path, "expected shape " + shape_to_string(want) + ", got " + shape_to_string(shape));
}

// The leading (batch) axes of a shape, dropping the last `k` axes.
inline shape_t leading_axes(const shape_t& shape, std::size_t k) {
  return shape_t(shape.begin(), shape.end() - static_cast<std::ptrdiff_t>(k));
}

inline shape_t with_last(shape_t shape, std::int64_t last) {
  shape.back() = last;
  return shape;
}

// The `layers` param of a whole model (transformer, llama): 1 .. max_layers, checked before its
// per-layer input list is built.
inline std::int64_t checked_layers(const param_map& prm) {
  const std::int64_t layers = prm.integer("layers");
  require(layers >= 1, "params/layers", "must be >= 1, got " + std::to_string(layers));
  require(layers <= max_layers, "params/layers", "at most " + std::to_string(max_layers) + ", got " + std::to_string(layers));
  return layers;
}

// Every id in [0, V) (or equal to `ignored`).
inline void require_ids(const int_tensor& ids, std::int64_t V, const std::string& path,
                        std::optional<std::int64_t> ignored = {}) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const std::int64_t id = ids.data[i];
    require((id >= 0 && id < V) || (ignored && id == *ignored), path,
            "value " + std::to_string(id) + " at flat index " + std::to_string(i) + " is outside [0, " + std::to_string(V) +
                ")" + (ignored ? " and is not ignore_index" : ""));
  }
}

} // namespace gradspec::reference
