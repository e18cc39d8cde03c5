#include "gradspec/reference/short_decimal.hpp"

#include <bit>
#include <cstdint>

namespace gradspec::reference {

std::optional<short_decimal> read_short_decimal(std::string_view s) {
  short_decimal out;
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) out.negative = s[i++] == '-';
  char digits[24];
  int n = 0;         // significant digits kept (leading zeros skipped)
  long exponent = 0; // decimal exponent of the last kept digit
  bool any = false, point = false;
  for (; i < s.size(); ++i) {
    const char ch = s[i];
    if (ch == '.' && !point) {
      point = true;
      continue;
    }
    if (ch < '0' || ch > '9') break;
    any = true;
    if (point) --exponent;
    if (n == 0 && ch == '0') continue;
    if (n == 24) return std::nullopt; // too long for this path
    digits[n++] = ch;
  }
  if (!any) return std::nullopt;
  // digits[0..n) · 10^(exponent), the exponent counted so far for the digits after the point.
  if (i < s.size()) {
    if (s[i] != 'e' && s[i] != 'E') return std::nullopt;
    ++i;
    bool negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
    if (i == s.size()) return std::nullopt;
    long e = 0;
    for (; i < s.size(); ++i) {
      if (s[i] < '0' || s[i] > '9' || e > 100000) return std::nullopt;
      e = e * 10 + (s[i] - '0');
    }
    exponent += negative ? -e : e;
  }
  if (n == 0) {
    out.zero = out.is_dyadic = true;
    return out;
  }
  while (n > 0 && digits[n - 1] == '0') --n, ++exponent; // trailing zeros into the exponent
  if (n > 19) return std::nullopt;
  std::uint64_t m = 0;
  for (int k = 0; k < n; ++k) m = m * 10 + static_cast<unsigned>(digits[k] - '0');
  // m·10^exponent with m nonzero and not a multiple of 10.
  unsigned __int128 q = m;
  long two = exponent; // q·2^two
  if (exponent >= 0) {
    if (exponent > 27) return std::nullopt; // 5^28 · m may overflow 128 bits: MPFR decides
    for (long k = 0; k < exponent; ++k) q *= 5;
  } else {
    // 5^(-exponent) must divide m; m < 10^19 < 5^28, so beyond 27 fives it cannot.
    if (-exponent > 27) return out; // not dyadic
    for (long k = 0; k < -exponent; ++k) {
      if (q % 5 != 0) return out; // not dyadic
      q /= 5;
    }
  }
  // q·2^two with q nonzero: strip q's trailing zero bits into the exponent.
  const auto lo = static_cast<std::uint64_t>(q), hi = static_cast<std::uint64_t>(q >> 64);
  const int tz = lo != 0 ? std::countr_zero(lo) : 64 + std::countr_zero(hi);
  q >>= tz;
  two += tz;
  const auto qlo = static_cast<std::uint64_t>(q), qhi = static_cast<std::uint64_t>(q >> 64);
  out.is_dyadic = true;
  out.q = q;
  out.two = two;
  out.bits = qhi != 0 ? 128 - std::countl_zero(qhi) : 64 - std::countl_zero(qlo);
  return out;
}

} // namespace gradspec::reference
