// The reference scalar: Boost.Multiprecision over MPFR with the precision chosen at run time.
// Op code is templated on the scalar T so that it runs in mp_real (the truth) and in double and
// float (the built-in candidates and the same-dtype baseline: plain IEEE arithmetic in T). Expression templates are off: hot loops call MPFR in place instead
// (see kernels.hpp), and the rest reads better without them.
#pragma once

#include <boost/multiprecision/mpfr.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <string_view>

namespace gradspec::reference {

using mp_real = boost::multiprecision::number<boost::multiprecision::mpfr_float_backend<0>,
                                              boost::multiprecision::et_off>;

// Sets the working precision of every mp_real created from now on, to at least `bits` bits, and
// returns the effective number of bits (Boost sets precision in decimal digits, so 256 -> 257).
// The default is process-wide (not per thread): set it before any parallel region.
unsigned set_precision_bits(unsigned bits);
// The effective precision in bits of newly created mp_real values.
unsigned precision_bits();

// Decimal text ("0.5", "-1e-5", "inf", "-inf", "nan") to a scalar, read exactly for mp_real (at the
// working precision, correctly rounded) and correctly rounded for double and float (once, from the
// decimal text: never through double). Throws std::invalid_argument on malformed text.
template <class T> T parse_scalar(std::string_view text);
template <> double parse_scalar<double>(std::string_view text);
template <> float parse_scalar<float>(std::string_view text);
template <> mp_real parse_scalar<mp_real>(std::string_view text);

// `digits` significant decimal digits, shortest form (%g style, trailing zeros dropped).
std::string format_scalar(const mp_real& x, int digits);
std::string format_scalar(double x, int digits);

template <class T> inline T infinity() { return std::numeric_limits<T>::infinity(); }
template <class T> inline T quiet_nan() { return std::numeric_limits<T>::quiet_NaN(); }

inline bool is_nan(float x) { return std::isnan(x); }
inline bool is_inf(float x) { return std::isinf(x); }
inline bool is_finite(float x) { return std::isfinite(x); }
inline bool is_nan(double x) { return std::isnan(x); }
inline bool is_inf(double x) { return std::isinf(x); }
inline bool is_finite(double x) { return std::isfinite(x); }
inline bool is_nan(const mp_real& x) { return mpfr_nan_p(x.backend().data()) != 0; }
inline bool is_inf(const mp_real& x) { return mpfr_inf_p(x.backend().data()) != 0; }
inline bool is_finite(const mp_real& x) { return mpfr_number_p(x.backend().data()) != 0; }

// The scalar as double (for tests and diagnostics; rounds).
inline double to_double(float x) { return x; }
inline double to_double(double x) { return x; }
inline double to_double(const mp_real& x) { return mpfr_get_d(x.backend().data(), MPFR_RNDN); }

} // namespace gradspec::reference
