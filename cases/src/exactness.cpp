#include "gradspec/cases/exactness.hpp"

#include <mpfr.h>

#include <bit>
#include <cstdint>
#include <optional>
#include <stdexcept>

namespace gradspec::cases {

namespace {

struct binary_format {
  const char* name;
  long precision; // significand bits, implicit bit included
  long emin;      // exponent of the smallest normal number, 2^emin
  long emax;      // exponent of the largest finite binade, 2^emax
};

// In the order of dtype_names().
constexpr binary_format formats[] = {
    {"bfloat16", 8, -126, 127}, {"float16", 11, -14, 15}, {"float32", 24, -126, 127}, {"float64", 53, -1022, 1023}};

const binary_format& format_named(const std::string& name) {
  for (const auto& f : formats)
    if (name == f.name) return f;
  throw std::invalid_argument("unknown dtype \"" + name + "\"");
}

// A nonzero dyadic value 0.1b...b × 2^e whose significand needs `bits` bits (MPFR's exponent and
// mpfr_min_prec): its lowest set bit is worth 2^(e - bits).
bool fits(const binary_format& f, long e, long bits) {
  return bits <= f.precision                     // significand fits
         && e - bits >= f.emin - f.precision + 1 // not below the subnormal quantum
         && e <= f.emax + 1;                     // not above the largest finite value
}

struct dyadic {
  bool zero = false, is_dyadic = false;
  long e = 0, bits = 0;
};

// Plain decimal text [+-]digits[.digits][(e|E)[+-]digits] with at most 19 significant digits,
// decided exactly in integer arithmetic: value = M·10^E = M·5^E·2^E is dyadic when E >= 0 or 5^-E
// divides M. Empty for anything else (more digits, hexadecimal, MPFR's other syntaxes), which goes
// through MPFR.
std::optional<dyadic> integer_path(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  char digits[24];
  int n = 0;              // significant digits kept (leading zeros skipped)
  long exponent = 0;      // decimal exponent of the last kept digit
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
  dyadic out;
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
  const long bits = qhi != 0 ? 128 - std::countl_zero(qhi) : 64 - std::countl_zero(qlo);
  out.is_dyadic = true;
  out.bits = bits;
  out.e = two + bits; // value = q·2^two = 0.1b...b × 2^(two + bits)
  return out;
}

dyadic mpfr_path(const std::string& text) {
  dyadic out;
  mpfr_t x;
  mpfr_init2(x, 4096);
  char* end = nullptr;
  const int ternary = mpfr_strtofr(x, text.c_str(), &end, 10, MPFR_RNDN);
  out.is_dyadic = ternary == 0 && end == text.c_str() + text.size();
  if (out.is_dyadic && mpfr_zero_p(x)) out.zero = true;
  else if (out.is_dyadic) {
    out.e = mpfr_get_exp(x);
    out.bits = static_cast<long>(mpfr_min_prec(x));
  }
  mpfr_clear(x);
  return out;
}

bool is_special(std::string_view text) { return text == "nan" || text == "inf" || text == "-inf" || text == "+inf"; }

dyadic classify(std::string_view text) {
  if (auto d = integer_path(text)) return *d;
  return mpfr_path(std::string(text));
}

} // namespace

const std::vector<std::string>& dtype_names() {
  static const std::vector<std::string> names = {"bfloat16", "float16", "float32", "float64"};
  return names;
}

bool exactly_representable(const std::string& text, const std::string& dtype) {
  const binary_format& f = format_named(dtype);
  if (is_special(text)) return true;
  const dyadic d = classify(text);
  return d.is_dyadic && (d.zero || fits(f, d.e, d.bits));
}

unsigned exact_dtype_mask(std::string_view text) {
  if (is_special(text)) return all_dtypes_mask;
  const dyadic d = classify(text);
  if (!d.is_dyadic) return 0;
  if (d.zero) return all_dtypes_mask;
  unsigned mask = 0;
  for (unsigned k = 0; k < 4; ++k)
    if (fits(formats[k], d.e, d.bits)) mask |= 1u << k;
  return mask;
}

} // namespace gradspec::cases
