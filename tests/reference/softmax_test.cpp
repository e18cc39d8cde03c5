// softmax and log_softmax: closed-form identities (rows sum to 1, shift invariance, log_softmax =
// log(softmax)), overflow-free large logits, fully -inf rows, and gradients against finite differences.
#include "gradspec/reference/ops/softmax.hpp"
#include "gradspec/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>

using namespace gradspec::reference;
using namespace gradspec::testing;

namespace {

op_args<mp_real> softmax_args(const std::string& op, tensor<mp_real> x, std::uint64_t seed) {
  op_args<mp_real> args;
  args.params = params(op);
  args.inputs["x"] = std::move(x);
  fill_cotangents(op, args, seed);
  return args;
}

} // namespace

BOOST_AUTO_TEST_SUITE(softmax_test)

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  precision_guard bits(256);
  for (const std::string op : {"softmax", "log_softmax"})
    for (shape_t xs : {shape_t{5}, shape_t{2, 5}, shape_t{2, 3, 5}}) {
      auto args = softmax_args(op, grid_tensor<mp_real>(xs, 11, 4.0), 12);
      auto agreement = check_gradients(op, args);
      BOOST_TEST(agreement.checked == numel(xs));
      BOOST_TEST_MESSAGE(op << " " << shape_to_string(xs) << ": " << agreement.min_digits << " digits");
      BOOST_TEST(agreement.min_digits >= 30, op << " " << shape_to_string(xs) << ": " << agreement.worst);
    }
}

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
  auto ly = log_softmax_forward(x);
  BOOST_TEST(ly[0] == 0.0);
  BOOST_TEST(ly[1] == -1000.0);
  // A gap of 1e4: log_softmax stays finite (-1e4), where log(softmax) would be log(0) = -inf.
  auto lz = log_softmax_forward(tensor<double>({2}, {0, 10000}));
  BOOST_TEST(lz[0] == -10000.0);

  precision_guard bits(256);
  tensor<mp_real> xm({2}, {mp_real(1000), mp_real(0)});
  auto ym = softmax_forward(xm);
  const mp_real want1 = 1 / (1 + exp(mp_real(1000)));
  BOOST_TEST(to_double(abs(ym[1] - want1) / want1) < 1e-70);
  BOOST_TEST(to_double(abs(ym[0] - (1 - want1))) < 1e-70);
  // log_softmax(x)_1 = -1000 - log(1 + e^-1000)
  auto lm = log_softmax_forward(xm);
  const mp_real want_log = -1000 - log1p(exp(mp_real(-1000)));
  BOOST_TEST(to_double(abs(lm[1] - want_log)) < 1e-70);
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
  for (const std::string op : {"softmax", "log_softmax"}) {
    tensor<mp_real> xm({2, 3}, {-infinity<mp_real>(), -infinity<mp_real>(), -infinity<mp_real>(), mp_real(0.5),
                                mp_real(0.25), mp_real(-1)});
    auto args = softmax_args(op, xm, 3);
    auto r = evaluate(*find_op(op), args, true);
    for (int j = 0; j < 3; ++j) BOOST_TEST(r.gradients["x"][j] == 0);
    auto agreement = check_gradients(op, args);
    BOOST_TEST(agreement.min_digits >= 30, op << ": " << agreement.worst);
  }
}

BOOST_AUTO_TEST_CASE(log_softmax_is_log_of_softmax) {
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
  for (const std::string op : {"softmax", "log_softmax"}) {
    op_args<double> args;
    args.params = params(op);
    args.inputs["x"] = tensor<double>(shape_t{}, {1.0}); // a scalar has no axis to normalise
    BOOST_CHECK_THROW(evaluate(*find_op(op), args, false), gradspec::bad_input);
    args.inputs["x"] = tensor<double>({2, 3});
    args.cotangents["y"] = tensor<double>({3, 2});
    BOOST_CHECK_THROW(evaluate(*find_op(op), args, true), gradspec::bad_input);
  }
}

BOOST_AUTO_TEST_SUITE_END()
