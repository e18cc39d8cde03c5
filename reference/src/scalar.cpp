#include "gradspec/reference/scalar.hpp"
#include "gradspec/reference/tensor.hpp"

#include <boost/multiprecision/detail/digits.hpp>

#include <fast_float/fast_float.h>

#include <cerrno>
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

template <> mp_real parse_scalar<mp_real>(std::string_view text) {
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
  char buf[512];
  mpfr_snprintf(buf, sizeof buf, "%.*RNg", digits, x.backend().data());
  return buf;
}

std::string format_scalar(double x, int digits) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  if (x == 0) return "0";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, x);
  return buf;
}

std::string shape_to_string(const shape_t& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

} // namespace gradspec::reference
