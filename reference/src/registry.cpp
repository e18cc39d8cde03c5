#include "gradspec/reference/registry.hpp"

#include "gradspec/errors.hpp"

#include <algorithm>

namespace gradspec::reference {

#define GRADSPEC_OP(name) op_info name##_op();
#include "gradspec/reference/ops/op_list.hpp"
#undef GRADSPEC_OP

const char* role_name(tensor_role role) {
  switch (role) {
  case tensor_role::plain: return "plain";
  case tensor_role::additive_mask: return "additive_mask";
  case tensor_role::softmax_logits: return "softmax_logits";
  }
  return "plain";
}

const std::vector<op_info>& op_catalogue() {
  static const std::vector<op_info> catalogue = {
#define GRADSPEC_OP(name) name##_op(),
#include "gradspec/reference/ops/op_list.hpp"
#undef GRADSPEC_OP
  };
  return catalogue;
}

const op_info* find_op(std::string_view name) {
  const auto& ops = op_catalogue();
  auto it = std::find_if(ops.begin(), ops.end(), [&](const op_info& op) { return op.name == name; });
  return it == ops.end() ? nullptr : &*it;
}

template <class T> op_result<T> evaluate(const op_info& op, const op_args<T>& args, bool backward) {
  const auto specs = op.inputs(args.params);
  for (const auto& spec : specs) {
    const bool real = args.inputs.count(spec.name) > 0, integer = args.int_inputs.count(spec.name) > 0;
    if (!real && !integer) {
      if (!spec.optional) throw bad_input("inputs", "missing input \"" + spec.name + "\" " + spec.shape);
      continue;
    }
    if (spec.integer && real)
      throw bad_input("inputs/" + spec.name, "must be an integer tensor (\"dtype\": \"int64\")");
    if (!spec.integer && integer) throw bad_input("inputs/" + spec.name, "must be a real tensor, not int64");
  }
  auto known = [&](const std::string& name) {
    return std::any_of(specs.begin(), specs.end(), [&](const input_spec& s) { return s.name == name; });
  };
  for (const auto& [name, t] : args.inputs)
    if (!known(name)) throw bad_input("inputs/" + name, "unknown input for op \"" + op.name + "\"");
  for (const auto& [name, t] : args.int_inputs)
    if (!known(name)) throw bad_input("inputs/" + name, "unknown input for op \"" + op.name + "\"");
  if (backward)
    for (const auto& [name, t] : args.cotangents)
      if (std::none_of(op.outputs.begin(), op.outputs.end(), [&, &name = name](const output_spec& o) { return o.name == name && o.differentiable; }))
        throw bad_input("cotangents/" + name, "not a differentiable output of op \"" + op.name + "\"");
  return evaluator<T>(op)(args, backward);
}

template op_result<double> evaluate(const op_info&, const op_args<double>&, bool);
template op_result<mp_real> evaluate(const op_info&, const op_args<mp_real>&, bool);
template op_result<float> evaluate(const op_info&, const op_args<float>&, bool);

} // namespace gradspec::reference
