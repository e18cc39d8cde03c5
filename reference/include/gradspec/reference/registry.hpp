// The op registry: one row per op, read by the CLI (`gradspec ops`), the case generator and the
// checkers. Each row names the inputs, outputs, params and intermediates of the op and points at its
// evaluation in mp_real (the truth), in double and in float (the same code: the built-in candidates
// and the same-dtype baseline of the verdict rule).
#pragma once

#include "gradspec/reference/params.hpp"
#include "gradspec/reference/scalar.hpp"
#include "gradspec/reference/tensor.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace gradspec::reference {

// What generic code (the case generator's flags, the checkers, Python tools through `gradspec ops
// --json`) needs to know about a tensor beyond its name and shape, so that it never tests the name of
// an op or of a tensor.
enum class tensor_role {
  plain,
  // Added to softmax logits (attention scores); -inf hides an entry. Structure, not data: the
  // checkers do not perturb it. A row whose every visible entry is -inf (visible: not hidden by the
  // op's boolean param `causal` and integer param `window`, as attention defines them) is a fully
  // masked softmax row.
  additive_mask,
  // The logits of a softmax over the last axis (softmax's x, attention's scores): a row whose
  // entries are all -inf is a fully masked softmax row.
  softmax_logits,
};
// "plain", "additive_mask", "softmax_logits"
const char* role_name(tensor_role role);

struct input_spec {
  std::string name;
  std::string shape; // for people: "[..., I]"
  bool integer = false;
  bool optional = false;
  bool differentiable = true;
  tensor_role role = tensor_role::plain;
};

struct output_spec {
  std::string name;
  std::string shape;
  bool differentiable = true;
  bool optional = false; // produced for some params only (attention's lse, with return_lse)
};

// An intermediate the op reports (not part of the contract: diagnostics). Converts from its name.
struct intermediate_spec {
  intermediate_spec(const char* n, tensor_role r = tensor_role::plain) : name(n), role(r) {}
  std::string name;
  tensor_role role;
};

template <class T> struct op_args {
  tensors<T> inputs;      // real inputs by name
  int_tensors int_inputs; // integer inputs by name
  tensors<T> cotangents;  // by output name (only read for backward)
  param_map params;       // validated, defaults filled in
};

template <class T> struct op_result {
  tensors<T> outputs, gradients, intermediates;
};

// Runs the forward pass (and the backward pass for the given cotangents when `backward`).
// Shape errors are bad_input with a path relative to the case ("inputs/w", "cotangents/y").
template <class T> using evaluate_fn = op_result<T> (*)(const op_args<T>&, bool backward);

struct op_info {
  std::string name;
  std::string summary;
  std::vector<param_spec> params;
  // The inputs for these (validated) params; composite ops name theirs per layer.
  std::vector<input_spec> (*inputs)(const param_map&);
  std::vector<output_spec> outputs;
  std::vector<intermediate_spec> intermediates;
  evaluate_fn<double> evaluate_f64;
  evaluate_fn<mp_real> evaluate_mp;
  evaluate_fn<float> evaluate_f32;
};

const std::vector<op_info>& op_catalogue();
// nullptr when unknown.
const op_info* find_op(std::string_view name);

template <class T> evaluate_fn<T> evaluator(const op_info& op);
template <> inline evaluate_fn<double> evaluator<double>(const op_info& op) { return op.evaluate_f64; }
template <> inline evaluate_fn<mp_real> evaluator<mp_real>(const op_info& op) { return op.evaluate_mp; }
template <> inline evaluate_fn<float> evaluator<float>(const op_info& op) { return op.evaluate_f32; }

// Checks names and kinds of inputs against the op (missing, unknown, int vs real), then evaluates.
template <class T> op_result<T> evaluate(const op_info& op, const op_args<T>& args, bool backward);

} // namespace gradspec::reference
