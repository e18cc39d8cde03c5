// silu: silu(0) = 0 with slope σ(0) = 1/2, silu(1) = σ(1) against an independent value, tails in
// double (e^1000 overflows: a finite -0, as is its slope), the limits at ±inf, and -1000 in mp_real.
#include "gradspec/reference/ops/silu.hpp"
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

} // namespace

BOOST_AUTO_TEST_SUITE(silu_test)

BOOST_AUTO_TEST_CASE(at_zero) {
  precision_guard bits(256);
  tensor<mp_real> x({1}, {mp_real(0)}), dy({1}, {mp_real(1)});
  BOOST_TEST(silu_forward(x)[0] == 0);
  BOOST_TEST(silu_backward(dy, x)[0] == parse_scalar<mp_real>("0.5")); // σ(0) = 1/2
}

BOOST_AUTO_TEST_CASE(known_values) {
  precision_guard bits(256);
  tensor<mp_real> one({1}, {mp_real(1)});
  // silu(1) = σ(1) = 1/(1 + e^-1)
  const auto s1 = parse_scalar<mp_real>("0.7310585786300048792511592418218362743651");
  BOOST_TEST(digits(silu_forward(one)[0], s1) > 39);
}

BOOST_AUTO_TEST_CASE(tails_in_double) {
  // silu(-1000) = -1000/(1 + e^1000): e^1000 overflows, the result is a finite -0, as is its slope;
  // infinities give the limits, not inf·0 = NaN.
  check_activation_tails([](const tensor<double>& t) { return silu_forward(t); },
                         [](const tensor<double>& dy, const tensor<double>& t) { return silu_backward(dy, t); });
}

BOOST_AUTO_TEST_CASE(far_negative_in_mp_real) {
  precision_guard bits(256);
  tensor<mp_real> x({1}, {mp_real(-1000)});
  const mp_real want = -1000 / (1 + exp(mp_real(1000))); // about -5.08e-432: representable in MPFR
  auto y = silu_forward(x);
  BOOST_TEST(is_finite(y[0]));
  BOOST_TEST(digits(y[0], want) > 70);
}

BOOST_AUTO_TEST_SUITE_END()
