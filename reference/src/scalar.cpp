#include "gradspec/reference/scalar.hpp"
#include "gradspec/reference/tensor.hpp"
#include "gradspec/reference/short_decimal.hpp"

#include <boost/multiprecision/detail/digits.hpp>

#include <fast_float/fast_float.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cmath>
#include <system_error>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace gradspec::reference {

unsigned set_precision_bits(unsigned bits) {
  if (bits < 24 || bits > 1u << 20) throw std::invalid_argument("precision must be 24 to 1048576 bits");
  // Smallest decimal precision whose binary precision is at least `bits`.
  unsigned d10 = boost::multiprecision::detail::digits2_2_10(bits);
  while (boost::multiprecision::detail::digits10_2_2(d10) < bits) ++d10;
  mp_real::default_precision(d10);
  return precision_bits();
}

unsigned precision_bits() {
  return static_cast<unsigned>(boost::multiprecision::detail::digits10_2_2(mp_real::default_precision()));
}

namespace {
// Accepts what strtod accepts for decimal numbers plus inf/nan spellings; rejects hex and trailing junk.
std::string checked_text(std::string_view text) {
  std::string s(text);
  if (s.empty()) throw std::invalid_argument("empty number");
  for (char ch : s)
    if (ch == 'x' || ch == 'X' || ch == ' ' || ch == '\t' || ch == '\n')
      throw std::invalid_argument("not a decimal number: \"" + s + "\"");
  return s;
}
} // namespace

// fast_float (correctly rounded, as strtod and strtof) for the plain finite decimals that make up
// nearly every value; anything else (a sign '+', "inf", a range error) takes the checked path below.
template <class T> bool fast_parse(std::string_view text, T& out) {
  if (text.empty() || text[0] == '+') return false;
  const auto r = fast_float::from_chars(text.data(), text.data() + text.size(), out);
  return r.ec == std::errc() && r.ptr == text.data() + text.size() && std::isfinite(out);
}

template <> double parse_scalar<double>(std::string_view text) {
  if (double v; fast_parse(text, v)) return v;
  std::string s = checked_text(text);
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) throw std::invalid_argument("not a decimal number: \"" + s + "\"");
  return v; // overflow gives +-inf and underflow the correctly rounded subnormal, as IEEE wants
}

template <> float parse_scalar<float>(std::string_view text) {
  if (float v; fast_parse(text, v)) return v;
  std::string s = checked_text(text);
  char* end = nullptr;
  errno = 0;
  float v = std::strtof(s.c_str(), &end); // correctly rounded from the decimal text (no double rounding)
  if (end != s.c_str() + s.size()) throw std::invalid_argument("not a decimal number: \"" + s + "\"");
  return v;
}

namespace {
// Short exact decimals (every input gen writes: they are exact in some dtype) without MPFR's parser:
// the value ±q·2^two read in integer arithmetic (short_decimal.hpp), rounded once to v's precision as
// mpfr_strtofr would (both round the same exact value); false for any other text.
bool exact_short_decimal(std::string_view text, mp_real& v) {
  const auto d = read_short_decimal(text);
  if (!d || !d->is_dyadic) return false;
  mpfr_ptr out = v.backend().data();
  if (d->zero) {
    mpfr_set_zero(out, d->negative ? -1 : 1);
    return true;
  }
  const mp_limb_t limbs[2] = {static_cast<mp_limb_t>(d->q), static_cast<mp_limb_t>(d->q >> 64)};
  mpz_t q;
  mpz_roinit_n(q, limbs, limbs[1] != 0 ? 2 : 1);
  mpfr_set_z_2exp(out, q, d->two, MPFR_RNDN);
  if (d->negative) mpfr_neg(out, out, MPFR_RNDN);
  return true;
}
} // namespace

template <> mp_real parse_scalar<mp_real>(std::string_view text) {
  if (mp_real v; exact_short_decimal(text, v)) return v;
  std::string s = checked_text(text);
  mp_real v;
  char* end = nullptr;
  mpfr_strtofr(v.backend().data(), s.c_str(), &end, 10, MPFR_RNDN);
  if (end != s.c_str() + s.size()) throw std::invalid_argument("not a decimal number: \"" + s + "\"");
  return v;
}

std::string format_scalar(const mp_real& x, int digits) {
  if (is_nan(x)) return "nan";
  if (is_inf(x)) return x > 0 ? "inf" : "-inf";
  if (x == 0) return "0";
  // What mpfr_snprintf's "%.*RNg" writes (C's %g: fixed notation when -4 <= X < digits for the
  // decimal exponent X of the rounded value, otherwise d.ddde±XX; trailing zeros dropped), built
  // from mpfr_get_str's correctly rounded digits: a third of the time, and gen formats every value.
  if (digits < 1) digits = 1;
  if (digits > 400) {
    char buf[512];
    mpfr_snprintf(buf, sizeof buf, "%.*RNg", digits, x.backend().data());
    return buf;
  }
  char d[512];
  mpfr_exp_t e10 = 0;
  mpfr_get_str(d, &e10, 10, static_cast<std::size_t>(digits), x.backend().data(), MPFR_RNDN);
  const bool negative = d[0] == '-';
  std::string_view m(d + negative, static_cast<std::size_t>(digits)); // 0.m × 10^e10
  while (m.size() > 1 && m.back() == '0') m.remove_suffix(1);
  const long exponent = static_cast<long>(e10) - 1;                   // m[0].m[1..] × 10^exponent
  std::string out;
  out.reserve(static_cast<std::size_t>(digits) + 12);
  if (negative) out += '-';
  if (exponent >= -4 && exponent < digits) {
    if (exponent < 0) {
      out += "0.";
      out.append(static_cast<std::size_t>(-exponent - 1), '0');
      out += m;
    } else {
      const std::size_t whole = static_cast<std::size_t>(exponent) + 1;
      if (m.size() <= whole) {
        out += m;
        out.append(whole - m.size(), '0');
      } else {
        out += m.substr(0, whole);
        out += '.';
        out += m.substr(whole);
      }
    }
  } else {
    out += m[0];
    if (m.size() > 1) {
      out += '.';
      out += m.substr(1);
    }
    out += exponent < 0 ? "e-" : "e+";
    const long magnitude = exponent < 0 ? -exponent : exponent;
    if (magnitude < 10) out += '0';
    out += std::to_string(magnitude);
  }
  return out;
}

std::string format_scalar(double x, int digits) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  if (x == 0) return "0";
  // std::to_chars with a precision writes what printf's %.*g writes (the standard says so), a
  // fraction of the time: gen formats every generated input this way.
  char buf[64];
  if (digits >= 1 && digits <= 40) {
    const auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::general, digits);
    if (r.ec == std::errc()) return std::string(buf, r.ptr);
  }
  std::snprintf(buf, sizeof buf, "%.*g", digits, x);
  return buf;
}

std::string shape_to_string(const shape_t& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

} // namespace gradspec::reference
