// relu, gelu (erf and tanh forms) and silu: gradients against finite differences, relu'(0) = 0,
// known values from independent sources (tables of Φ, σ; mpmath at 120 digits), tails in double.
#include "gradspec/reference/ops/activations.hpp"
#include "gradspec/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <stdexcept>

using namespace gradspec::reference;
using namespace gradspec::testing;

namespace {

struct variant {
  std::string op;
  std::map<std::string, std::string> given;
};

const variant variants[] = {{"relu", {}}, {"gelu", {}}, {"gelu", {{"approximate", "none"}}},
                            {"gelu", {{"approximate", "tanh"}}}, {"silu", {}}};

// Significant digits to which `got` agrees with `want`.
double digits(const mp_real& got, const mp_real& want) {
  if (got == want) return 1e9;
  return -to_double(log10(abs(got - want) / abs(want)));
}

} // namespace

BOOST_AUTO_TEST_SUITE(activations_test)

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  precision_guard bits(256);
  for (const auto& v : variants)
    for (shape_t xs : {shape_t{}, shape_t{9}, shape_t{2, 5}, shape_t{2, 2, 5}}) {
      op_args<mp_real> args;
      args.params = params(v.op, v.given);
      args.inputs["x"] = grid_tensor<mp_real>(xs, 31, 5.0); // never exactly 0 (relu's kink)
      fill_cotangents(v.op, args, 32);
      auto agreement = check_gradients(v.op, args);
      const std::string what = v.op + (v.given.empty() ? "" : " " + v.given.begin()->second) + " " + shape_to_string(xs);
      BOOST_TEST(agreement.checked == numel(xs));
      BOOST_TEST_MESSAGE(what << ": " << agreement.min_digits << " digits");
      BOOST_TEST(agreement.min_digits >= 30, what << ": " << agreement.worst);
    }
}

BOOST_AUTO_TEST_CASE(relu_derivative_at_zero_is_zero) {
  // Finite differences are meaningless at the kink; the convention is checked directly.
  tensor<double> x({4}, {0.0, -0.0, -1.5, 2.0}), dy({4}, {1, 1, 1, 1});
  auto y = activation_forward(activation::relu, x);
  BOOST_TEST(y.data == (std::vector<double>{0, 0, 0, 2}), boost::test_tools::per_element());
  auto dx = activation_backward(activation::relu, dy, x);
  BOOST_TEST(dx.data == (std::vector<double>{0, 0, 0, 1}), boost::test_tools::per_element());

  precision_guard bits(256);
  tensor<mp_real> xm({1}, {mp_real(0)}), dym({1}, {mp_real(3)});
  BOOST_TEST(activation_backward(activation::relu, dym, xm)[0] == 0);
}

BOOST_AUTO_TEST_CASE(gelu_and_silu_at_zero) {
  precision_guard bits(256);
  tensor<mp_real> x({1}, {mp_real(0)}), dy({1}, {mp_real(1)});
  for (auto act : {activation::gelu, activation::gelu_tanh, activation::silu}) {
    BOOST_TEST(activation_forward(act, x)[0] == 0);
    // Φ(0) = σ(0) = 1/2
    BOOST_TEST(activation_backward(act, dy, x)[0] == parse_scalar<mp_real>("0.5"));
  }
}

BOOST_AUTO_TEST_CASE(known_values) {
  precision_guard bits(256);
  tensor<mp_real> one({1}, {mp_real(1)});
  // gelu(1) = Φ(1) (normal table; mpmath ncdf(1) to 45 digits)
  const auto phi1 = parse_scalar<mp_real>("0.841344746068542948585232545632037922477912967");
  BOOST_TEST(digits(activation_forward(activation::gelu, one)[0], phi1) > 44);
  // gelu_tanh(1) = 0.5(1 + tanh(√(2/π)·1.044715)) (mpmath, 120 digits working precision)
  const auto gt1 = parse_scalar<mp_real>("0.84119199060827670478199577704518386082576147");
  BOOST_TEST(digits(activation_forward(activation::gelu_tanh, one)[0], gt1) > 43);
  // silu(1) = σ(1) = 1/(1 + e^-1)
  const auto s1 = parse_scalar<mp_real>("0.7310585786300048792511592418218362743651");
  BOOST_TEST(digits(activation_forward(activation::silu, one)[0], s1) > 39);
  // gelu'(1) = Φ(1) + φ(1), φ(1) = e^(-1/2)/√(2π)
  tensor<mp_real> dy({1}, {mp_real(1)});
  const mp_real want_d = phi1 + exp(mp_real(-0.5)) / sqrt(2 * acos(mp_real(-1)));
  BOOST_TEST(digits(activation_backward(activation::gelu, dy, one)[0], want_d) > 44);
}

BOOST_AUTO_TEST_CASE(gelu_forms_differ_by_less_than_5e_4) {
  // On [-6, 6] the largest gap is about 4.73e-4 (near |x| = 2.7); the two forms are not the same.
  auto x = grid_tensor<double>({12 * 64}, 1, 6.0);
  auto a = activation_forward(activation::gelu, x), b = activation_forward(activation::gelu_tanh, x);
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  BOOST_TEST(worst < 5e-4);
  BOOST_TEST(worst > 1e-4);
}

BOOST_AUTO_TEST_CASE(tails_in_double) {
  // gelu(-10) = -10·Φ(-10); 1 + erf(-10/√2) cancels to 0 in double, erfc(10/√2) does not.
  tensor<double> x({1}, {-10.0}), dy({1}, {1.0});
  BOOST_TEST(std::abs(activation_forward(activation::gelu, x)[0] / -7.619853024160526066e-23 - 1) < 1e-13);
  // gelu_tanh(-10) = -10·σ(2u), u = √(2/π)(-10 - 44.715) (mpmath at 120 digits)
  BOOST_TEST(std::abs(activation_forward(activation::gelu_tanh, x)[0] / -1.204092348209805994e-37 - 1) < 1e-12);
  // silu(-1000) = -1000/(1 + e^1000): e^1000 overflows, the result is a finite -0, as is its slope.
  tensor<double> big({2}, {-1000.0, 1000.0}), dy2({2}, {1.0, 1.0});
  for (auto act : {activation::silu, activation::gelu, activation::gelu_tanh}) {
    auto y = activation_forward(act, big);
    auto dx = activation_backward(act, dy2, big);
    BOOST_TEST(std::isfinite(y[0]));
    BOOST_TEST(std::abs(y[0]) < 1e-300);
    BOOST_TEST(y[1] == 1000.0);
    BOOST_TEST(std::isfinite(dx[0]));
    BOOST_TEST(std::abs(dx[0]) < 1e-300);
    BOOST_TEST(dx[1] == 1.0);
  }
  // Infinities give the limits, not inf·0 = NaN.
  const double inf = std::numeric_limits<double>::infinity();
  tensor<double> infs({2}, {-inf, inf});
  for (auto act : {activation::relu, activation::silu, activation::gelu, activation::gelu_tanh}) {
    auto y = activation_forward(act, infs);
    auto dx = activation_backward(act, dy2, infs);
    BOOST_TEST(y[0] == 0.0);
    BOOST_TEST(y[1] == inf);
    BOOST_TEST(dx[0] == 0.0);
    BOOST_TEST(dx[1] == 1.0);
  }
}

BOOST_AUTO_TEST_CASE(silu_far_negative_in_mp_real) {
  precision_guard bits(256);
  tensor<mp_real> x({1}, {mp_real(-1000)});
  const mp_real want = -1000 / (1 + exp(mp_real(1000))); // about -5.08e-432: representable in MPFR
  auto y = activation_forward(activation::silu, x);
  BOOST_TEST(is_finite(y[0]));
  BOOST_TEST(digits(y[0], want) > 70);
}

BOOST_AUTO_TEST_CASE(rejects_bad_names) {
  BOOST_CHECK_THROW(parse_activation("tanh"), std::invalid_argument);
  BOOST_TEST((parse_activation("gelu_tanh") == activation::gelu_tanh));
  BOOST_CHECK_THROW(params("gelu", {{"approximate", "erf"}}), gradspec::bad_input);
  op_args<double> args;
  args.params = params("relu");
  args.inputs["x"] = tensor<double>({2, 3});
  args.cotangents["y"] = tensor<double>({3});
  BOOST_CHECK_THROW(evaluate(*find_op("relu"), args, true), gradspec::bad_input);
}

BOOST_AUTO_TEST_SUITE_END()
