// log_softmax: log_softmax = log(softmax) and its gradient is the softmax VJP of dy / softmax, large
// logits stay finite (a gap of 1e4), and fully -inf rows (with finite differences through the dead row).
#include "gradspec/reference/ops/log_softmax.hpp"
#include "gradspec/reference/ops/softmax.hpp"
#include "gradspec/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>

using namespace gradspec::reference;
using namespace gradspec::testing;

namespace {

op_args<mp_real> log_softmax_args(tensor<mp_real> x, std::uint64_t seed) {
  op_args<mp_real> args;
  args.params = params("log_softmax");
  args.inputs["x"] = std::move(x);
  fill_cotangents("log_softmax", args, seed);
  return args;
}

} // namespace

BOOST_AUTO_TEST_SUITE(log_softmax_test)

BOOST_AUTO_TEST_CASE(large_logits_do_not_overflow) {
  tensor<double> x({2}, {1000, 0});
  auto ly = log_softmax_forward(x);
  BOOST_TEST(ly[0] == 0.0);
  BOOST_TEST(ly[1] == -1000.0);
  // A gap of 1e4: log_softmax stays finite (-1e4), where log(softmax) would be log(0) = -inf.
  auto lz = log_softmax_forward(tensor<double>({2}, {0, 10000}));
  BOOST_TEST(lz[0] == -10000.0);

  precision_guard bits(256);
  tensor<mp_real> xm({2}, {mp_real(1000), mp_real(0)});
  // log_softmax(x)_1 = -1000 - log(1 + e^-1000)
  auto lm = log_softmax_forward(xm);
  const mp_real want_log = -1000 - log1p(exp(mp_real(-1000)));
  BOOST_TEST(to_double(abs(lm[1] - want_log)) < 1e-70);
}

BOOST_AUTO_TEST_CASE(fully_negative_infinite_row) {
  const double inf = std::numeric_limits<double>::infinity();
  tensor<double> x({2, 3}, {-inf, -inf, -inf, 0.5, -inf, -1});
  tensor<double> dy({2, 3}, {1, -2, 0.5, 0.25, 3, -1});
  auto ly = log_softmax_forward(x);
  for (int j = 0; j < 3; ++j) BOOST_TEST((std::isinf(ly[j]) && ly[j] < 0));
  auto ldx = log_softmax_backward(dy, ly);
  for (int j = 0; j < 3; ++j) BOOST_TEST(ldx[j] == 0.0);
  for (int j = 3; j < 6; ++j) BOOST_TEST(std::isfinite(ldx[j]));
  // A -inf entry in a live row: ∂y_j/∂x_j = 1 - p_j = 1, so dx_j = dy_j (PyTorch's value too).
  BOOST_TEST(ldx[4] == dy[4]);

  // Through the registry in mp_real, with finite differences on a live row and the dead row
  // (perturbing -inf leaves it -inf, so the dead row's difference quotient is 0 as well).
  precision_guard bits(256);
  tensor<mp_real> xm({2, 3}, {-infinity<mp_real>(), -infinity<mp_real>(), -infinity<mp_real>(), mp_real(0.5),
                              mp_real(0.25), mp_real(-1)});
  auto args = log_softmax_args(xm, 3);
  auto r = evaluate(*find_op("log_softmax"), args, true);
  for (int j = 0; j < 3; ++j) BOOST_TEST(r.gradients["x"][j] == 0);
  auto agreement = check_gradients("log_softmax", args);
  BOOST_TEST(agreement.min_digits >= 30, agreement.worst);
}

BOOST_AUTO_TEST_CASE(is_log_of_softmax) {
  precision_guard bits(256);
  auto x = grid_tensor<mp_real>({3, 8}, 7, 6.0);
  auto y = softmax_forward(x), ly = log_softmax_forward(x);
  for (std::size_t i = 0; i < x.size(); ++i) BOOST_TEST(to_double(abs(log(y[i]) - ly[i])) < 1e-70);
  // and its gradient is dy - softmax·sum(dy), i.e. the softmax VJP applied to dy / softmax.
  auto dy = grid_tensor<mp_real>({3, 8}, 8);
  auto ldx = log_softmax_backward(dy, ly);
  auto dy_over_y = dy;
  for (std::size_t i = 0; i < dy.size(); ++i) dy_over_y[i] /= y[i];
  auto sdx = softmax_backward(dy_over_y, y);
  for (std::size_t i = 0; i < x.size(); ++i) BOOST_TEST(to_double(abs(ldx[i] - sdx[i])) < 1e-65);
}

BOOST_AUTO_TEST_CASE(rejects_bad_input) {
  op_args<double> args;
  args.params = params("log_softmax");
  args.inputs["x"] = tensor<double>(shape_t{}, {1.0}); // a scalar has no axis to normalise
  BOOST_CHECK_THROW(evaluate(*find_op("log_softmax"), args, false), gradspec::bad_input);
  args.inputs["x"] = tensor<double>({2, 3});
  args.cotangents["y"] = tensor<double>({3, 2});
  BOOST_CHECK_THROW(evaluate(*find_op("log_softmax"), args, true), gradspec::bad_input);
}

BOOST_AUTO_TEST_CASE(x_is_softmax_logits) {
  BOOST_TEST((find_op("log_softmax")->inputs(params("log_softmax")).at(0).role == tensor_role::softmax_logits));
}

BOOST_AUTO_TEST_SUITE_END()
