#include "gradspec/cases/exactness.hpp"

#include <mpfr.h>

#include <stdexcept>

namespace gradspec::cases {

namespace {

struct binary_format {
  const char* name;
  long precision; // significand bits, implicit bit included
  long emin;      // exponent of the smallest normal number, 2^emin
  long emax;      // exponent of the largest finite binade, 2^emax
};

constexpr binary_format formats[] = {
    {"bfloat16", 8, -126, 127}, {"float16", 11, -14, 15}, {"float32", 24, -126, 127}, {"float64", 53, -1022, 1023}};

const binary_format& format_named(const std::string& name) {
  for (const auto& f : formats)
    if (name == f.name) return f;
  throw std::invalid_argument("unknown dtype \"" + name + "\"");
}

} // namespace

const std::vector<std::string>& dtype_names() {
  static const std::vector<std::string> names = {"bfloat16", "float16", "float32", "float64"};
  return names;
}

bool exactly_representable(const std::string& text, const std::string& dtype) {
  const binary_format& f = format_named(dtype);
  if (text == "nan" || text == "inf" || text == "-inf" || text == "+inf") return true;
  // A dyadic value with a short enough significand is exact at this precision; anything else (0.1)
  // is inexact at every precision and so in every dtype.
  mpfr_t x;
  mpfr_init2(x, 4096);
  char* end = nullptr;
  const int ternary = mpfr_strtofr(x, text.c_str(), &end, 10, MPFR_RNDN);
  bool exact = ternary == 0 && end == text.c_str() + text.size();
  if (exact && !mpfr_zero_p(x)) {
    // |x| = 0.1b...b × 2^e: needs min_prec bits; its lowest set bit is worth 2^(e - min_prec).
    const long e = mpfr_get_exp(x);
    const long bits = static_cast<long>(mpfr_min_prec(x));
    exact = bits <= f.precision                          // significand fits
            && e - bits >= f.emin - f.precision + 1      // not below the subnormal quantum
            && e <= f.emax + 1;                          // not above the largest finite value
  }
  mpfr_clear(x);
  return exact;
}

} // namespace gradspec::cases
