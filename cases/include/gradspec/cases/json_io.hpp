// JSON in and out. Reading keeps every JSON number's original text, so decimal values are read
// exactly as written (never through a double): a non-integer number is held as a string that starts
// with raw_number_mark. Writing is deterministic, puts arrays of scalars on one line, and goes
// through a temporary file renamed into place, so no half-written file is ever left behind.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace gradspec::cases {

using json = nlohmann::ordered_json;

inline constexpr char raw_number_mark = '\x01';

// Parses `path`; throws bad_input (path "", message "file: line L, column C: ...") on bad JSON or a
// file that cannot be read. The thrower names the file; callers add nothing.
json read_json_file(const std::string& path);
json parse_json_text(const std::string& text, const std::string& origin);

// The text of a real value: a JSON number (as written) or a decimal string ("0.5", "inf", "-inf",
// "nan"); throws bad_input(path) otherwise.
std::string real_text(const json& value, const std::string& path);
// A JSON integer; throws bad_input(path) otherwise.
std::int64_t integer_value(const json& value, const std::string& path);
bool is_raw_number(const json& value);

// Serializes with two-space indentation; arrays whose elements are all scalars stay on one line.
std::string to_text(const json& value);

// Writes `text` to `path` atomically (temporary file in the same folder, then rename). While the
// temporary exists, SIGINT/SIGTERM/SIGHUP remove it before the process dies, so an interrupted run
// leaves neither a partial file nor a temporary behind.
void write_file_atomically(const std::string& path, const std::string& text);

} // namespace gradspec::cases
