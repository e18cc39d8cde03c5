// format_scalar: the same text as MPFR's own formatter ("%.*RNg", C's %g rules) for any value and
// digit count; it is built from mpfr_get_str's digits instead, and every golden value goes through it.
#include "gradspec/reference/scalar.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <gmp.h>
#include <mpfr.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using gradspec::reference::format_scalar;
using gradspec::reference::mp_real;

namespace {
std::string mpfr_text(const mp_real& x, int digits) {
  char buf[1024];
  mpfr_snprintf(buf, sizeof buf, "%.*RNg", digits, x.backend().data());
  return buf;
}
} // namespace

BOOST_AUTO_TEST_SUITE(scalar_test)

BOOST_AUTO_TEST_CASE(format_scalar_writes_what_mpfr_printf_writes) {
  gmp_randstate_t state;
  gmp_randinit_default(state);
  gmp_randseed_ui(state, 12345);
  int mismatches = 0;
  for (int i = 0; i < 200000; ++i) {
    mp_real x;
    mpfr_set_prec(x.backend().data(), 64 + gmp_urandomm_ui(state, 200));
    mpfr_urandomb(x.backend().data(), state);
    // decimal exponents from about -40 to 40, so both notations and their boundaries are hit
    mpfr_mul_2si(x.backend().data(), x.backend().data(), static_cast<long>(gmp_urandomm_ui(state, 271)) - 135, MPFR_RNDN);
    if (i & 1) mpfr_neg(x.backend().data(), x.backend().data(), MPFR_RNDN);
    const int digits = 1 + static_cast<int>(gmp_urandomm_ui(state, 45));
    if (mpfr_zero_p(x.backend().data())) continue;
    if (format_scalar(x, digits) != mpfr_text(x, digits) && ++mismatches < 10)
      BOOST_TEST(format_scalar(x, digits) == mpfr_text(x, digits), "digits " << digits);
  }
  BOOST_TEST(mismatches == 0);
  gmp_randclear(state);
}

BOOST_AUTO_TEST_CASE(format_scalar_at_the_notation_boundaries) {
  // Rounding that carries into a new decade (9.99.. -> 10), the -4 and `digits` exponent limits,
  // integers with trailing zeros, exact powers of ten, and values with few significant digits.
  for (const char* text : {"9.9999999999999999999999", "0.000099999999999999999", "0.0001", "0.00001", "99999.5", "123456",
                           "1e+30", "1e-30", "100", "0.5", "-0.000123456789", "12345.678", "999999999999999999999999999999.5",
                           "1.5e300", "-7.25e-300", "0.1"})
    for (int digits : {1, 2, 3, 5, 6, 7, 17, 30, 31, 32})
      BOOST_TEST(format_scalar(mp_real(text), digits) == mpfr_text(mp_real(text), digits), text << " at " << digits);
  BOOST_TEST(format_scalar(mp_real(0.5), 30) == "0.5");       // by hand
  BOOST_TEST(format_scalar(mp_real(-1e-5), 3) == "-1e-05");
  BOOST_TEST(format_scalar(mp_real(123456), 3) == "1.23e+05");
  BOOST_TEST(format_scalar(mp_real(99.96), 3) == "100");
}

BOOST_AUTO_TEST_CASE(format_scalar_of_a_double_writes_what_printf_writes) {
  // format_scalar(double) goes through std::to_chars; printf's %.*g is the oracle. Random bit
  // patterns (every exponent, subnormals included), grid values k/2^j, and the rounding boundaries.
  std::uint64_t state = 42;
  const auto next = [&] { state += 0x9E3779B97F4A7C15ull; std::uint64_t z = state; z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
                          z = (z ^ (z >> 27)) * 0x94D049BB133111EBull; return z ^ (z >> 31); };
  int mismatches = 0;
  for (int i = 0; i < 300000; ++i) {
    double x;
    if (i % 2) {
      const std::uint64_t bits = next();
      std::memcpy(&x, &bits, sizeof x);
      if (!std::isfinite(x) || x == 0) continue;
    } else {
      x = std::ldexp(static_cast<double>(static_cast<std::int64_t>(next() % 20001) - 10000), -static_cast<int>(next() % 30));
      if (x == 0) continue;
    }
    const int digits = i % 3 ? 17 : 1 + static_cast<int>(next() % 25);
    char want[64];
    std::snprintf(want, sizeof want, "%.*g", digits, x);
    if (gradspec::reference::format_scalar(x, digits) != want && ++mismatches < 10)
      BOOST_TEST(gradspec::reference::format_scalar(x, digits) == want, "digits " << digits);
  }
  BOOST_TEST(mismatches == 0);
  for (double x : {9.9999999999999995e-05, 0.0001, 1e-5, 99999.5, 1e16, 1e17, 123456789012345678.0, 0.5, 5e-324, 1.7976931348623157e308})
    for (int digits : {1, 2, 6, 16, 17}) {
      char want[64];
      std::snprintf(want, sizeof want, "%.*g", digits, x);
      BOOST_TEST(gradspec::reference::format_scalar(x, digits) == want, x << " at " << digits);
    }
}

BOOST_AUTO_TEST_CASE(parse_scalar_reads_what_mpfr_strtofr_reads) {
  // Short exact decimals take an integer path; everything must equal mpfr_strtofr at the working
  // precision, bit for bit and sign of zero included: grid values k/2^j written out in full, in
  // exponent form, with leading/trailing zeros, and decimals that are not binary fractions.
  gmp_randstate_t state;
  gmp_randinit_default(state);
  gmp_randseed_ui(state, 777);
  std::vector<std::string> texts = {"0", "-0", "0.0", "-0e5", "1", "-1", "0.5", "0.015625", "-0.00390625", "1e3", "1E-3",
                                    "12.5e-1", "007.50", "18446744073709551615", "18446744073709551616", "1e19", "1e20",
                                    "0.1", "-3.3", "1.0000000000000000000001", "5e-27", "7.450580596923828125e-9",
                                    "1.4901161193847656e-08", "123456789012345678.9", "+1", "1.", ".5", "1e", "1e+", "-", "-.5", "+.25e-3", "1.e5",
                                    ".e5", ".", "-0.0e-7", "3e27", "3e28", "0.5e-30", "1e-30"};
  for (int i = 0; i < 20000; ++i) {
    // k / 2^j as an exact decimal: k·5^j / 10^j
    mpz_t k;
    mpz_init(k);
    mpz_urandomb(k, state, 1 + gmp_urandomm_ui(state, 40));
    const unsigned long j = gmp_urandomm_ui(state, 30);
    mpz_t p;
    mpz_init(p);
    mpz_ui_pow_ui(p, 5, j);
    mpz_mul(k, k, p);
    std::string digits = mpz_get_str(nullptr, 10, k); // leaks a little: a test
    while (digits.size() <= j) digits.insert(digits.begin(), '0');
    std::string text = digits.substr(0, digits.size() - j) + (j ? "." + digits.substr(digits.size() - j) : "");
    if (i % 3 == 1) text += "e" + std::to_string(static_cast<long>(gmp_urandomm_ui(state, 9)) - 4);
    if (i % 2) text.insert(text.begin(), '-');
    texts.push_back(text);
    mpz_clears(k, p, nullptr);
  }
  for (unsigned bits : {24u, 53u, 128u, 192u}) {
    gradspec::testing::precision_guard guard(bits);
    int mismatches = 0;
    for (const auto& text : texts) {
      mp_real want;
      char* end = nullptr;
      mpfr_strtofr(want.backend().data(), text.c_str(), &end, 10, MPFR_RNDN);
      const bool valid = !text.empty() && end == text.c_str() + text.size();
      try {
        const mp_real got = gradspec::reference::parse_scalar<mp_real>(text);
        const bool same = valid && mpfr_equal_p(got.backend().data(), want.backend().data()) &&
                          mpfr_signbit(got.backend().data()) == mpfr_signbit(want.backend().data()) &&
                          mpfr_get_prec(got.backend().data()) == mpfr_get_prec(want.backend().data());
        if (!same && ++mismatches < 10) BOOST_TEST(same, text << " at " << bits << " bits");
      } catch (const std::invalid_argument&) {
        if (valid && ++mismatches < 10) BOOST_TEST(!valid, text << " refused");
      }
    }
    BOOST_TEST(mismatches == 0, bits << " bits");
  }
  gmp_randclear(state);
}

BOOST_AUTO_TEST_SUITE_END()
