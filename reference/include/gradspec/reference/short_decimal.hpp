// Short decimal texts read exactly in integer arithmetic: [+-]digits[.digits][(e|E)[+-]digits] with
// at most 19 significant digits, value M·10^E = M·5^E·2^E, which is dyadic (a binary fraction) when
// E >= 0 or 5^-E divides M. Every input gen writes is such a text; the exactness of inputs in each
// dtype (cases/exactness.cpp) and parse_scalar<mp_real> (scalar.cpp) both read them this way, and
// anything else (more digits, "inf", other syntaxes) through MPFR.
#pragma once

#include <optional>
#include <string_view>

namespace gradspec::reference {

struct short_decimal {
  bool negative = false;
  bool zero = false;      // the value is ±0
  bool is_dyadic = false; // false: not a binary fraction (q, two, bits unset)
  unsigned __int128 q = 0; // odd when the value is a nonzero dyadic: |value| = q·2^two
  long two = 0;
  long bits = 0; // bits of q: |value| = 0.1b...b × 2^(two + bits)
};

// Empty for a text this path does not decide (not of the form above, too many digits, or an exponent
// too large for 128 bits): read it with MPFR.
std::optional<short_decimal> read_short_decimal(std::string_view text);

} // namespace gradspec::reference
