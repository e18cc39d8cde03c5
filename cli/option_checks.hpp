// Checks of option values that CLI11's validators let through (NaN passes every range check, a
// negative number wraps into an unsigned option): each failure is bad_input naming the option.
#pragma once

#include "gradspec/errors.hpp"
#include "gradspec/reference/registry.hpp"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

namespace gradspec::cli {

// A finite number >= 0 (--atol, --rtol).
inline double checked_tolerance(double v, const std::string& option) {
  if (!(std::isfinite(v) && v >= 0)) throw bad_input(option, "must be a finite number >= 0, got " + std::to_string(v));
  return v;
}
inline void check_tolerance(const std::optional<double>& v, const std::string& option) {
  if (v) checked_tolerance(*v, option);
}

// Decimal text of a finite number >= 0, whole: "1e-6", not "", "nan", "-1" or "1x".
inline double tolerance_text(const std::string& text, const std::string& option, const std::string& what) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !(std::isfinite(v) && v >= 0))
    throw bad_input(option, what + " must be a finite number >= 0, got \"" + text + "\"");
  return v;
}

// OP=ATOL:RTOL with a known op and tolerances as above (--op-tolerance).
inline void check_op_tolerance(const std::string& spec) {
  const auto eq = spec.find('='), colon = spec.find(':', eq == std::string::npos ? 0 : eq);
  if (eq == std::string::npos || colon == std::string::npos)
    throw bad_input("--op-tolerance", "expected OP=ATOL:RTOL, got \"" + spec + "\"");
  const std::string op = spec.substr(0, eq);
  if (!reference::find_op(op)) throw bad_input("--op-tolerance", "unknown op \"" + op + "\" in \"" + spec + "\" (see `gradspec ops`)");
  tolerance_text(spec.substr(eq + 1, colon - eq - 1), "--op-tolerance", "ATOL in \"" + spec + "\"");
  tolerance_text(spec.substr(colon + 1), "--op-tolerance", "RTOL in \"" + spec + "\"");
}

// A whole unsigned 64-bit decimal (--seed): no sign, no wrap-around.
inline std::uint64_t unsigned_option(const std::string& text, const std::string& option) {
  bool digits = !text.empty() && text.size() <= 20;
  for (char ch : text) digits = digits && ch >= '0' && ch <= '9';
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = digits ? std::strtoull(text.c_str(), &end, 10) : 0;
  if (!digits || errno == ERANGE) throw bad_input(option, "expected an integer in [0, 2^64), got \"" + text + "\"");
  return static_cast<std::uint64_t>(v);
}

} // namespace gradspec::cli
