#include "support/tensor_checks.hpp"

#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

namespace gradspec::testing {

tensor<mp_real> run(const std::string& op, const std::map<std::string, const tensor<mp_real>*>& inputs,
                    const std::map<std::string, std::string>& given, const std::string& output, const int_tensors& int_inputs) {
  reference::op_args<mp_real> a;
  a.params = params(op, given);
  for (const auto& [name, t] : inputs) a.inputs[name] = *t;
  a.int_inputs = int_inputs;
  return reference::evaluate(*reference::find_op(op), a, false).outputs.at(output);
}

tensor<mp_real> sum(tensor<mp_real> a, const tensor<mp_real>& b) {
  reference::add_into(a, b);
  return a;
}

double max_abs_diff(const tensor<mp_real>& a, const tensor<mp_real>& b) {
  BOOST_REQUIRE(a.shape == b.shape);
  mp_real m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, mp_real(abs(a.data[i] - b.data[i])));
  return reference::to_double(m);
}

double max_rel_diff(const tensor<mp_real>& a, const tensor<mp_real>& b) {
  BOOST_REQUIRE(a.shape == b.shape);
  mp_real m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    mp_real d = abs(a.data[i] - b.data[i]);
    if (b.data[i] != 0) d /= abs(b.data[i]);
    m = std::max(m, d);
  }
  return reference::to_double(m);
}

} // namespace gradspec::testing
