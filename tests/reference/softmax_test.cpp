// softmax: closed-form identities (rows sum to 1, shift invariance), known values, overflow-free
// large logits, and fully -inf rows (with finite differences through the dead row).
#include "gradspec/reference/ops/softmax.hpp"
#include "gradspec/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>

using namespace gradspec::reference;
using namespace gradspec::testing;

namespace {

op_args<mp_real> softmax_args(tensor<mp_real> x, std::uint64_t seed) {
  op_args<mp_real> args;
  args.params = params("softmax");
  args.inputs["x"] = std::move(x);
  fill_cotangents("softmax", args, seed);
  return args;
}

} // namespace

BOOST_AUTO_TEST_SUITE(softmax_test)

BOOST_AUTO_TEST_CASE(rows_sum_to_one) {
  precision_guard bits(256);
  auto y = softmax_forward(grid_tensor<mp_real>({3, 4, 7}, 5, 8.0));
  for (std::size_t r = 0; r < y.rows(); ++r) {
    mp_real sum = 0;
    for (std::size_t j = 0; j < y.cols(); ++j) {
      BOOST_TEST(y.row(r)[j] > 0);
      sum += y.row(r)[j];
    }
    BOOST_TEST(to_double(abs(sum - 1)) < 1e-70);
  }
}

BOOST_AUTO_TEST_CASE(invariant_to_adding_a_constant) {
  // On the k/64 grid, x + 3 and (x + 3) - max(x + 3) are exact in double, so the result is
  // bit-identical; in mp_real it agrees to the working precision.
  auto x = grid_tensor<double>({4, 6}, 21, 2.0);
  auto shifted = x;
  for (auto& v : shifted.data) v += 3;
  BOOST_TEST(softmax_forward(x).data == softmax_forward(shifted).data, boost::test_tools::per_element());

  precision_guard bits(256);
  auto xm = grid_tensor<mp_real>({4, 6}, 21, 2.0);
  auto sm = xm;
  for (auto& v : sm.data) v += parse_scalar<mp_real>("1234.5678");
  auto a = softmax_forward(xm), b = softmax_forward(sm);
  for (std::size_t i = 0; i < a.size(); ++i) BOOST_TEST(to_double(abs(a[i] - b[i])) < 1e-70);
}

BOOST_AUTO_TEST_CASE(large_logits_do_not_overflow) {
  // softmax([1000, 0]) = [1/(1 + e^-1000), 1/(1 + e^1000)]; e^-1000 ~ 5e-435 underflows in double.
  tensor<double> x({2}, {1000, 0});
  auto y = softmax_forward(x);
  BOOST_TEST(y[0] == 1.0);
  BOOST_TEST(y[1] == 0.0);

  precision_guard bits(256);
  tensor<mp_real> xm({2}, {mp_real(1000), mp_real(0)});
  auto ym = softmax_forward(xm);
  const mp_real want1 = 1 / (1 + exp(mp_real(1000)));
  BOOST_TEST(to_double(abs(ym[1] - want1) / want1) < 1e-70);
  BOOST_TEST(to_double(abs(ym[0] - (1 - want1))) < 1e-70);
}

BOOST_AUTO_TEST_CASE(fully_negative_infinite_row) {
  const double inf = std::numeric_limits<double>::infinity();
  tensor<double> x({2, 3}, {-inf, -inf, -inf, 0.5, -inf, -1});
  tensor<double> dy({2, 3}, {1, -2, 0.5, 0.25, 3, -1});
  auto y = softmax_forward(x);
  for (int j = 0; j < 3; ++j) BOOST_TEST(y[j] == 0.0);
  BOOST_TEST(y[4] == 0.0); // a -inf entry in a live row
  BOOST_TEST(std::abs(y[3] + y[5] - 1) < 1e-15);
  auto dx = softmax_backward(dy, y);
  for (int j = 0; j < 3; ++j) BOOST_TEST(dx[j] == 0.0);
  BOOST_TEST(dx[4] == 0.0);

  // Through the registry in mp_real, with finite differences on a live row and the dead row
  // (perturbing -inf leaves it -inf, so the dead row's difference quotient is 0 as well).
  precision_guard bits(256);
  tensor<mp_real> xm({2, 3}, {-infinity<mp_real>(), -infinity<mp_real>(), -infinity<mp_real>(), mp_real(0.5),
                              mp_real(0.25), mp_real(-1)});
  auto args = softmax_args(xm, 3);
  auto r = evaluate(*find_op("softmax"), args, true);
  for (int j = 0; j < 3; ++j) BOOST_TEST(r.gradients["x"][j] == 0);
  auto agreement = check_gradients("softmax", args);
  BOOST_TEST(agreement.min_digits >= 30, agreement.worst);
}

BOOST_AUTO_TEST_CASE(known_values) {
  // softmax([0, ln 3]) = [1/4, 3/4]; softmax of equal entries is uniform.
  precision_guard bits(256);
  tensor<mp_real> x({2, 2}, {mp_real(0), log(mp_real(3)), mp_real(7), mp_real(7)});
  auto y = softmax_forward(x);
  BOOST_TEST(to_double(abs(y[0] - parse_scalar<mp_real>("0.25"))) < 1e-70);
  BOOST_TEST(to_double(abs(y[1] - parse_scalar<mp_real>("0.75"))) < 1e-70);
  BOOST_TEST(y[2] == parse_scalar<mp_real>("0.5"));
  BOOST_TEST(y[3] == parse_scalar<mp_real>("0.5"));
}

BOOST_AUTO_TEST_CASE(rejects_bad_input) {
  op_args<double> args;
  args.params = params("softmax");
  args.inputs["x"] = tensor<double>(shape_t{}, {1.0}); // a scalar has no axis to normalise
  BOOST_CHECK_THROW(evaluate(*find_op("softmax"), args, false), gradspec::bad_input);
  args.inputs["x"] = tensor<double>({2, 3});
  args.cotangents["y"] = tensor<double>({3, 2});
  BOOST_CHECK_THROW(evaluate(*find_op("softmax"), args, true), gradspec::bad_input);
}

BOOST_AUTO_TEST_CASE(x_is_softmax_logits) {
  // The registry's fact the case generator reads for fully_masked_row (no op names in generic code).
  BOOST_TEST((find_op("softmax")->inputs(params("softmax")).at(0).role == tensor_role::softmax_logits));
}

BOOST_AUTO_TEST_SUITE_END()
