// gelu (erf and tanh forms): gelu(0) = 0 with slope Φ(0) = 1/2, known values from independent sources (tables of Φ; mpmath at 120 digits), the two forms differ,
// tails in double, and bad params.
#include "gradspec/reference/ops/gelu.hpp"
#include "gradspec/errors.hpp"
#include "support/tensor_checks.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>

using namespace gradspec::reference;
using namespace gradspec::testing;

namespace {

// Significant digits to which `got` agrees with `want`.
double digits(const mp_real& got, const mp_real& want) {
  if (got == want) return 1e9;
  return -to_double(log10(abs(got - want) / abs(want)));
}

constexpr gelu_approximation both_forms[] = {gelu_approximation::none, gelu_approximation::tanh};

} // namespace

BOOST_AUTO_TEST_SUITE(gelu_test)

BOOST_AUTO_TEST_CASE(at_zero) {
  precision_guard bits(256);
  tensor<mp_real> x({1}, {mp_real(0)}), dy({1}, {mp_real(1)});
  for (auto form : both_forms) {
    BOOST_TEST(gelu_forward(x, form)[0] == 0);
    BOOST_TEST(gelu_backward(dy, x, form)[0] == parse_scalar<mp_real>("0.5")); // Φ(0) = 1/2
  }
}

BOOST_AUTO_TEST_CASE(known_values) {
  precision_guard bits(256);
  tensor<mp_real> one({1}, {mp_real(1)});
  // gelu(1) = Φ(1) (normal table; mpmath ncdf(1) to 45 digits)
  const auto phi1 = parse_scalar<mp_real>("0.841344746068542948585232545632037922477912967");
  BOOST_TEST(digits(gelu_forward(one, gelu_approximation::none)[0], phi1) > 44);
  // gelu_tanh(1) = 0.5(1 + tanh(√(2/π)·1.044715)) (mpmath, 120 digits working precision)
  const auto gt1 = parse_scalar<mp_real>("0.84119199060827670478199577704518386082576147");
  BOOST_TEST(digits(gelu_forward(one, gelu_approximation::tanh)[0], gt1) > 43);
  // gelu'(1) = Φ(1) + φ(1), φ(1) = e^(-1/2)/√(2π)
  tensor<mp_real> dy({1}, {mp_real(1)});
  const mp_real want_d = phi1 + exp(mp_real(-0.5)) / sqrt(2 * acos(mp_real(-1)));
  BOOST_TEST(digits(gelu_backward(dy, one, gelu_approximation::none)[0], want_d) > 44);
}

BOOST_AUTO_TEST_CASE(forms_differ_by_less_than_5e_4) {
  // On [-6, 6] the largest gap is about 4.73e-4 (near |x| = 2.7); the two forms are not the same.
  auto x = grid_tensor<double>({12 * 64}, 1, 6.0);
  auto a = gelu_forward(x, gelu_approximation::none), b = gelu_forward(x, gelu_approximation::tanh);
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(a[i] - b[i]));
  BOOST_TEST(worst < 5e-4);
  BOOST_TEST(worst > 1e-4);
}

BOOST_AUTO_TEST_CASE(tails_in_double) {
  // gelu(-10) = -10·Φ(-10); 1 + erf(-10/√2) cancels to 0 in double, erfc(10/√2) does not.
  tensor<double> x({1}, {-10.0});
  BOOST_TEST(std::abs(gelu_forward(x, gelu_approximation::none)[0] / -7.619853024160526066e-23 - 1) < 1e-13);
  // gelu_tanh(-10) = -10·σ(2u), u = √(2/π)(-10 - 44.715) (mpmath at 120 digits)
  BOOST_TEST(std::abs(gelu_forward(x, gelu_approximation::tanh)[0] / -1.204092348209805994e-37 - 1) < 1e-12);
  // At ±1000 both forms give a finite -0 (and slope) below and x (and slope 1) above; infinities give
  // the limits, not inf·0 = NaN.
  for (auto form : both_forms)
    check_activation_tails([form](const tensor<double>& t) { return gelu_forward(t, form); },
                           [form](const tensor<double>& dy, const tensor<double>& t) { return gelu_backward(dy, t, form); });
}

BOOST_AUTO_TEST_CASE(rejects_bad_params) { BOOST_CHECK_THROW(params("gelu", {{"approximate", "erf"}}), gradspec::bad_input); }

BOOST_AUTO_TEST_SUITE_END()
