#include "gradspec/cases/json_cursor.hpp"

#include <cctype>
#include <cstring>

namespace gradspec::cases {

namespace {
bool digit(char c) { return c >= '0' && c <= '9'; }
} // namespace

bool json_cursor::plain_string(std::string_view& out) {
  if (!consume('"')) return false;
  const char* start = p_;
  while (p_ < end_) {
    const auto c = static_cast<unsigned char>(*p_);
    if (c == '"') {
      out = std::string_view(start, static_cast<std::size_t>(p_ - start));
      ++p_;
      return true;
    }
    if (c < 0x20 || c >= 0x80 || c == '\\') return false; // escapes, control and non-ASCII: the validating reader
    ++p_;
  }
  return false;
}

bool json_cursor::raw_string(std::string_view& out) {
  if (!consume('"')) return false;
  const void* q = std::memchr(p_, '"', static_cast<std::size_t>(end_ - p_));
  if (!q) return false;
  const char* quote = static_cast<const char*>(q);
  out = std::string_view(p_, static_cast<std::size_t>(quote - p_));
  p_ = quote + 1;
  return true;
}

bool json_cursor::number(std::string_view& out, bool& integer) {
  skip_ws();
  const char* start = p_;
  integer = true;
  if (p_ < end_ && *p_ == '-') ++p_;
  if (p_ == end_ || !digit(*p_)) return false;
  if (*p_ == '0') ++p_;
  else
    while (p_ < end_ && digit(*p_)) ++p_;
  if (p_ < end_ && *p_ == '.') {
    integer = false;
    ++p_;
    if (p_ == end_ || !digit(*p_)) return false;
    while (p_ < end_ && digit(*p_)) ++p_;
  }
  if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
    integer = false;
    ++p_;
    if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
    if (p_ == end_ || !digit(*p_)) return false;
    while (p_ < end_ && digit(*p_)) ++p_;
  }
  // A number ends at a delimiter; "1x" or "01" is not a number.
  if (p_ < end_ && (digit(*p_) || *p_ == '.' || *p_ == 'e' || *p_ == 'E' || *p_ == '-' || *p_ == '+' ||
                    (*p_ >= 'a' && *p_ <= 'z') || (*p_ >= 'A' && *p_ <= 'Z')))
    return false;
  out = std::string_view(start, static_cast<std::size_t>(p_ - start));
  return true;
}

bool json_cursor::small_unsigned(std::int64_t& out) {
  std::string_view text;
  bool integer = false;
  if (!number(text, integer) || !integer || text[0] == '-' || text.size() > 18) return false;
  out = 0;
  for (char c : text) out = out * 10 + (c - '0');
  return true;
}

bool json_cursor::value_span(std::string_view& out, int max_depth) {
  skip_ws();
  const char* start = p_;
  // A value starts as JSON values do (nlohmann would skip a byte order mark at the start of the span,
  // which is an error inside a document).
  if (p_ == end_ || !std::strchr("{[\"-0123456789tfn", *p_) || *p_ == 0) return false;
  int depth = 0;
  do {
    if (p_ == end_) return false;
    const char c = *p_;
    if (c == '"') {
      // To the closing quote: memchr to the next quote, then back over backslashes before it (an
      // odd number escapes it).
      ++p_;
      for (;;) {
        const void* q = p_ < end_ ? std::memchr(p_, '"', static_cast<std::size_t>(end_ - p_)) : nullptr;
        if (!q) return false;
        const char* quote = static_cast<const char*>(q);
        std::size_t backslashes = 0;
        for (const char* b = quote; b > p_ && b[-1] == '\\'; --b) ++backslashes;
        p_ = quote + 1;
        if (backslashes % 2 == 0) break;
      }
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) return false;
      ++p_;
    } else if (c == '}' || c == ']') {
      if (--depth < 0) return false;
      ++p_;
    } else {
      ++p_;
      // A scalar at the top: up to the next delimiter.
      if (depth == 0) {
        while (p_ < end_ && (std::isalnum(static_cast<unsigned char>(*p_)) || *p_ == '+' || *p_ == '-' || *p_ == '.')) ++p_;
        break;
      }
    }
  } while (depth > 0);
  out = std::string_view(start, static_cast<std::size_t>(p_ - start));
  // nlohmann ends its input at a NUL byte: a span holding one would be read shorter than the
  // document says (the validating reader refuses NUL outside strings, and inside them).
  return std::memchr(out.data(), 0, out.size()) == nullptr;
}

} // namespace gradspec::cases
