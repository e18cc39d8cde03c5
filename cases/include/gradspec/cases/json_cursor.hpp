// A pull reader over JSON text in memory, for the fast paths that read large golden and result files
// without building a document (check of 10^7 values). It reads only the plain forms gradspec writes:
// ASCII strings without escapes, integers, numbers. Every method returns false on anything else
// (an escape, a non-ASCII byte, bad syntax), and the caller then leaves the file to the validating
// reader (json_io.hpp), which either accepts it or names the error. So the fast paths never accept
// a file the validating reader refuses, and never word an error themselves.
#pragma once

#include <cstdint>
#include <string_view>

namespace gradspec::cases {

class json_cursor {
public:
  json_cursor(const char* begin, const char* end) : p_(begin), end_(end) {}

  // Skips whitespace; the next character, or 0 at the end.
  char peek() {
    skip_ws();
    return p_ < end_ ? *p_ : 0;
  }
  // Consumes `c` (after whitespace).
  bool consume(char c) {
    skip_ws();
    if (p_ < end_ && *p_ == c) return ++p_, true;
    return false;
  }
  // A string of printable ASCII without escapes; its contents (the text between the quotes).
  bool plain_string(std::string_view& out);
  // A string's raw contents up to the next quote, unchecked: only for callers that then accept
  // nothing but characters a plain string may hold (a decimal text: an escape or a control
  // character fails their check, so an escaped quote never ends a string early unnoticed).
  bool raw_string(std::string_view& out);
  // A JSON number (RFC 8259 grammar); its text. `integer`: no fraction and no exponent.
  bool number(std::string_view& out, bool& integer);
  // A non-negative integer without sign, fraction or exponent, at most 18 digits.
  bool small_unsigned(std::int64_t& out);
  // Any JSON value, unchecked inside (brackets and strings balanced, at most max_depth deep): its
  // text, for the validating reader to parse.
  bool value_span(std::string_view& out, int max_depth);
  // `{"key":` or `,"key":` of an object: reads the separator the caller expects, then the key.
  bool key(std::string_view& out) { return plain_string(out) && consume(':'); }
  bool at_end() { return peek() == 0 && p_ == end_; }
  // An object: `{`, then "key": value pairs, calling member(key) to read each value (false from it
  // stops), then `}`.
  template <class F> bool members(F&& member) {
    if (!consume('{')) return false;
    if (consume('}')) return true;
    do {
      std::string_view k;
      if (!key(k) || !member(k)) return false;
    } while (consume(','));
    return consume('}');
  }
  const char* position() const { return p_; }

private:
  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\t' || *p_ == '\r')) ++p_;
  }
  const char* p_;
  const char* end_;
};

} // namespace gradspec::cases
