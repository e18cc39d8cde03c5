#include "gradspec/cases/exactness.hpp"

#include "gradspec/reference/short_decimal.hpp"

#include <mpfr.h>

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

// The text's value decided in integer arithmetic (reference/short_decimal.hpp), or empty.
std::optional<dyadic> integer_path(std::string_view s) {
  const auto d = reference::read_short_decimal(s);
  if (!d) return std::nullopt;
  dyadic out;
  out.zero = d->zero;
  out.is_dyadic = d->is_dyadic;
  if (d->is_dyadic && !d->zero) {
    out.bits = d->bits;
    out.e = d->two + d->bits; // value = q·2^two = 0.1b...b × 2^(two + bits)
  }
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
