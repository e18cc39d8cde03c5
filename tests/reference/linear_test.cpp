// linear: y = x·w + b. Known values by hand, and a mismatched weight.
#include "gradspec/reference/ops/linear.hpp"
#include "gradspec/errors.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

using namespace gradspec::reference;
using namespace gradspec::testing;

BOOST_AUTO_TEST_SUITE(linear_test)

BOOST_AUTO_TEST_CASE(known_values) {
  // [1 2] · [[1 2 3] [4 5 6]] + [0.5 0 -1] = [9.5 12 14]
  tensor<double> x({1, 2}, {1, 2}), w({2, 3}, {1, 2, 3, 4, 5, 6}), b({3}, {0.5, 0, -1});
  auto y = linear_forward(x, w, &b);
  BOOST_TEST(y.shape == (shape_t{1, 3}));
  BOOST_TEST(y.data == (std::vector<double>{9.5, 12, 14}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(rejects_mismatched_weight) {
  op_args<double> args;
  args.params = params("linear");
  args.inputs["x"] = tensor<double>({2, 3});
  args.inputs["w"] = tensor<double>({4, 2});
  args.inputs["b"] = tensor<double>({2});
  BOOST_CHECK_THROW(evaluate(*find_op("linear"), args, false), gradspec::bad_input);
}

BOOST_AUTO_TEST_SUITE_END()
