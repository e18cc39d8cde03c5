// exact_in: which dtypes hold a decimal value exactly. Expected answers derived by hand from the
// formats' parameters (significand bits 8/11/24/53, normal exponent ranges).
#include "gradspec/cases/exactness.hpp"

#include <boost/test/unit_test.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>

using gradspec::cases::exact_dtype_mask;
using gradspec::cases::exactly_representable;

namespace {

// The exact decimal expansion of a double (printf prints every digit it is asked for, and a double's
// expansion is finite), in fixed or scientific form.
std::string exact_text(double x, bool scientific) {
  char buf[1200];
  std::snprintf(buf, sizeof buf, scientific ? "%.1100e" : "%.1100f", x);
  std::string s = buf;
  if (scientific) {
    const auto e = s.find('e');
    std::string mant = s.substr(0, e), exp = s.substr(e);
    while (mant.back() == '0') mant.pop_back();
    if (mant.back() == '.') mant.pop_back();
    return mant + exp;
  }
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

// Which of bfloat16, float16, float32, float64 hold x, from the hardware's own conversions: float32
// by a round trip; bfloat16 is float32 with the low 16 bits zero (same exponent range); float16 by
// a round trip through _Float16.
unsigned oracle_mask(double x) {
  unsigned m = 8;
  const float f = static_cast<float>(x);
  if (static_cast<double>(f) == x) {
    m |= 4;
    if ((std::bit_cast<std::uint32_t>(f) & 0xffffu) == 0) m |= 1;
    const _Float16 h = static_cast<_Float16>(f);
    if (static_cast<float>(h) == f) m |= 2;
  }
  return m;
}

} // namespace

BOOST_AUTO_TEST_SUITE(exactness_test)

BOOST_AUTO_TEST_CASE(grid_values_are_exact_everywhere) {
  for (const char* v : {"0", "0.5", "-0.25", "0.015625", "1", "-64", "255", "inf", "-inf", "nan"})
    for (const char* d : {"bfloat16", "float16", "float32", "float64"}) BOOST_TEST(exactly_representable(v, d), v << " in " << d);
}

BOOST_AUTO_TEST_CASE(decimal_fractions_are_exact_nowhere) {
  for (const char* d : {"bfloat16", "float16", "float32", "float64"}) {
    BOOST_TEST(!exactly_representable("0.1", d));
    BOOST_TEST(!exactly_representable("1e-5", d));
  }
}

BOOST_AUTO_TEST_CASE(significand_width) {
  // 257 = 2^8 + 1 needs 9 bits: not bfloat16 (8), yes float16 (11).
  BOOST_TEST(!exactly_representable("257", "bfloat16"));
  BOOST_TEST(exactly_representable("257", "float16"));
  // 1e10 = 2^10 · 5^10, 5^10 = 9765625 needs 24 bits: float32 and float64 only.
  BOOST_TEST(!exactly_representable("1e10", "float16"));
  BOOST_TEST(exactly_representable("1e10", "float32"));
  // 2049 needs 12 bits: not float16.
  BOOST_TEST(!exactly_representable("2049", "float16"));
  BOOST_TEST(exactly_representable("16777216", "float32"));  // 2^24
  BOOST_TEST(!exactly_representable("16777217", "float32")); // 2^24 + 1
}

BOOST_AUTO_TEST_CASE(exponent_range) {
  BOOST_TEST(exactly_representable("65504", "float16"));  // float16 max
  BOOST_TEST(!exactly_representable("65536", "float16")); // 2^16 overflows float16
  BOOST_TEST(exactly_representable("65536", "bfloat16"));
  // 2^-24 is float16's smallest subnormal; 2^-25 is below it but fine in bfloat16 (normal down to 2^-126).
  BOOST_TEST(exactly_representable("5.9604644775390625e-8", "float16"));
  BOOST_TEST(!exactly_representable("2.98023223876953125e-8", "float16"));
  BOOST_TEST(exactly_representable("2.98023223876953125e-8", "bfloat16"));
  // 1.5·2^-24 needs a bit below float16's subnormal quantum.
  BOOST_TEST(!exactly_representable("8.94069671630859375e-8", "float16"));
}

// The integer fast path (up to 19 significant digits) and MPFR (longer expansions) against the
// hardware's conversions, on values drawn near each format's limits: short and long significands,
// subnormals of every format, overflow of the narrow ones.
BOOST_AUTO_TEST_CASE(mask_agrees_with_hardware_conversions) {
  std::mt19937_64 rng(20261201);
  int checked = 0, mismatches = 0;
  for (int k = 0; k < 4000; ++k) {
    const int bits = 1 + static_cast<int>(rng() % 60);          // significand width drawn
    const int exponent = -1080 + static_cast<int>(rng() % 2110); // up to float64 overflow
    std::uint64_t sig = (rng() >> (64 - std::min(bits, 53))) | 1;
    const double x = std::ldexp(static_cast<double>(sig), (k % 3 == 0 ? -40 + static_cast<int>(rng() % 60) : exponent));
    if (!std::isfinite(x) || x == 0) continue;
    for (bool sci : {false, true}) {
      const std::string t = (rng() % 2 ? "-" : "") + exact_text(x, sci);
      ++checked;
      const unsigned want = oracle_mask(x);
      if (exact_dtype_mask(t) != want) {
        ++mismatches;
        BOOST_TEST(exact_dtype_mask(t) == want, t << ": mask " << exact_dtype_mask(t) << ", hardware " << want);
      }
      // Every dtype separately, through the one-dtype call.
      const char* names[] = {"bfloat16", "float16", "float32", "float64"};
      for (unsigned d = 0; d < 4; ++d) BOOST_TEST(exactly_representable(t, names[d]) == bool(want & (1u << d)), t << " in " << names[d]);
      // A 1 appended to the last decimal place makes the value non-dyadic: exact nowhere.
      if (!sci) {
        const std::string off = t.find('.') == std::string::npos ? t + ".1" : t + "1";
        BOOST_TEST(exact_dtype_mask(off) == 0u, off);
      }
    }
  }
  BOOST_TEST(checked > 7000);
  BOOST_TEST(mismatches == 0);
}

BOOST_AUTO_TEST_CASE(mask_of_short_forms) {
  BOOST_TEST(exact_dtype_mask("0.5") == 15u);
  BOOST_TEST(exact_dtype_mask("0.50000000000000000000000000000") == 15u); // trailing zeros are not digits
  BOOST_TEST(exact_dtype_mask("-0") == 15u);
  BOOST_TEST(exact_dtype_mask("nan") == 15u);
  BOOST_TEST(exact_dtype_mask("1e10") == 12u);      // float32, float64
  BOOST_TEST(exact_dtype_mask("257") == 14u);       // not bfloat16
  BOOST_TEST(exact_dtype_mask("0.1") == 0u);
  BOOST_TEST(exact_dtype_mask("1e-400") == 0u);     // below every subnormal
  BOOST_TEST(exact_dtype_mask("1e400") == 0u);      // above float64
  BOOST_TEST(exact_dtype_mask("6.103515625e-05") == 15u); // 2^-14
  BOOST_TEST(exact_dtype_mask("0x1p3") == 0u);      // not decimal text
}

BOOST_AUTO_TEST_SUITE_END()
