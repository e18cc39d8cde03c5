// relu: relu'(0) = 0 (the convention, checked directly: finite differences are meaningless at the
// kink), the limits at ±inf, and bad input.
#include "gradspec/reference/ops/relu.hpp"
#include "gradspec/errors.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <limits>

using namespace gradspec::reference;
using namespace gradspec::testing;

BOOST_AUTO_TEST_SUITE(relu_test)

BOOST_AUTO_TEST_CASE(derivative_at_zero_is_zero) {
  tensor<double> x({4}, {0.0, -0.0, -1.5, 2.0}), dy({4}, {1, 1, 1, 1});
  auto y = relu_forward(x);
  BOOST_TEST(y.data == (std::vector<double>{0, 0, 0, 2}), boost::test_tools::per_element());
  auto dx = relu_backward(dy, x);
  BOOST_TEST(dx.data == (std::vector<double>{0, 0, 0, 1}), boost::test_tools::per_element());

  precision_guard bits(256);
  tensor<mp_real> xm({1}, {mp_real(0)}), dym({1}, {mp_real(3)});
  BOOST_TEST(relu_backward(dym, xm)[0] == 0);
}

BOOST_AUTO_TEST_CASE(infinities_give_the_limits) {
  const double inf = std::numeric_limits<double>::infinity();
  tensor<double> infs({2}, {-inf, inf}), dy({2}, {1.0, 1.0});
  auto y = relu_forward(infs);
  auto dx = relu_backward(dy, infs);
  BOOST_TEST(y[0] == 0.0);
  BOOST_TEST(y[1] == inf);
  BOOST_TEST(dx[0] == 0.0);
  BOOST_TEST(dx[1] == 1.0);
}

BOOST_AUTO_TEST_CASE(rejects_bad_input) {
  op_args<double> args;
  args.params = params("relu");
  args.inputs["x"] = tensor<double>({2, 3});
  args.cotangents["y"] = tensor<double>({3});
  BOOST_CHECK_THROW(evaluate(*find_op("relu"), args, true), gradspec::bad_input);
}

BOOST_AUTO_TEST_SUITE_END()
