// exact_in: which dtypes hold a decimal value exactly. Expected answers derived by hand from the
// formats' parameters (significand bits 8/11/24/53, normal exponent ranges).
#include "gradspec/cases/exactness.hpp"

#include <boost/test/unit_test.hpp>

using gradspec::cases::exactly_representable;

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

BOOST_AUTO_TEST_SUITE_END()
