#include "support/finite_difference.hpp"

#include "support/test_inputs.hpp"

#include <stdexcept>

namespace gradspec::testing {

using reference::op_result;

namespace {

const reference::op_info& op_named(const std::string& op) {
  const auto* info = reference::find_op(op);
  if (!info) throw std::invalid_argument("unknown op " + op);
  return *info;
}

} // namespace

void fill_cotangents(const std::string& op, op_args<mp_real>& args, std::uint64_t seed) {
  const auto& info = op_named(op);
  op_result<mp_real> r = reference::evaluate(info, args, false);
  args.cotangents.clear();
  for (const auto& out : info.outputs)
    if (out.differentiable && r.outputs.count(out.name))
      args.cotangents[out.name] = grid_tensor<mp_real>(r.outputs.at(out.name).shape, seed++);
}

gradient_agreement check_gradients(const std::string& op, const op_args<mp_real>& args) {
  return reference::finite_difference_check(op_named(op), args);
}

} // namespace gradspec::testing
