#include "support/tensor_checks.hpp"

#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>

namespace gradspec::testing {

tensor<mp_real> run(const std::string& op, const std::map<std::string, const tensor<mp_real>*>& inputs,
                    const std::map<std::string, std::string>& given, const std::string& output, const int_tensors& int_inputs) {
  reference::op_args<mp_real> a;
  a.params = params(op, given);
  for (const auto& [name, t] : inputs) a.inputs[name] = *t;
  a.int_inputs = int_inputs;
  return reference::evaluate(*reference::find_op(op), a, false).outputs.at(output);
}

void check_activation_tails(const std::function<tensor<double>(const tensor<double>&)>& forward,
                            const std::function<tensor<double>(const tensor<double>&, const tensor<double>&)>& backward) {
  tensor<double> big({2}, {-1000.0, 1000.0}), dy({2}, {1.0, 1.0});
  auto y = forward(big);
  auto dx = backward(dy, big);
  BOOST_TEST(std::isfinite(y[0]));
  BOOST_TEST(std::abs(y[0]) < 1e-300);
  BOOST_TEST(y[1] == 1000.0);
  BOOST_TEST(std::isfinite(dx[0]));
  BOOST_TEST(std::abs(dx[0]) < 1e-300);
  BOOST_TEST(dx[1] == 1.0);
  const double inf = std::numeric_limits<double>::infinity();
  tensor<double> infs({2}, {-inf, inf});
  auto yi = forward(infs);
  auto dxi = backward(dy, infs);
  BOOST_TEST(yi[0] == 0.0);
  BOOST_TEST(yi[1] == inf);
  BOOST_TEST(dxi[0] == 0.0);
  BOOST_TEST(dxi[1] == 1.0);
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
