// JSON in and out, hardened for untrusted files.
//
// Reading keeps every non-integer JSON number's original text, so decimal values are read exactly
// as written (never through a double). Such a "raw number" is held as a JSON *binary* value with
// subtype raw_number_subtype: a type the JSON text grammar can never produce, so no user string can
// ever be mistaken for a number (an earlier version marked raw numbers with a leading U+0001 in a
// string, and a user string starting with U+0001 was then written unquoted). Unsigned integers above
// INT64_MAX are raw numbers too, so they keep their value instead of wrapping.
//
// Limits on input: a file larger than max_input_bytes() is refused, and so is anything that is not a
// regular file or a pipe (a device such as /dev/zero, a folder); values nest at most max_json_depth
// deep (deeper nesting would exhaust the stack of every recursive consumer). Errors are bad_input
// naming the file and the line/column or JSON path.
//
// Writing is deterministic, puts arrays of scalars on one line, escapes every string (invalid UTF-8
// is replaced by U+FFFD rather than throwing), and goes through a temporary file renamed into place,
// so no half-written file is ever left behind.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace gradspec::cases {

using json = nlohmann::ordered_json;

// The binary subtype that marks a raw number ('n').
inline constexpr std::uint8_t raw_number_subtype = 0x6e;
// The binary subtype that marks raw text ('t'): JSON text the writer prints verbatim (a large
// tensor's values array, formatted once instead of held as one JSON value per element). Written
// only, never produced by reading.
inline constexpr std::uint8_t raw_text_subtype = 0x74;
// Objects and arrays nest at most this deep.
inline constexpr std::size_t max_json_depth = 64;
// A tensor in a golden or result file holds at most this many values, and no dimension is larger:
// every reader (validating or fast) refuses a larger shape before allocating anything.
inline constexpr std::uint64_t max_file_tensor_values = std::uint64_t(1) << 31;

// The largest input file read: 4 GiB, or the environment variable GRADSPEC_MAX_INPUT_BYTES.
std::uint64_t max_input_bytes();

// The whole text of an input file (regular file or pipe, at most max_input_bytes()); throws
// bad_input (path "", message "file: ...") otherwise.
std::string read_text_file(const std::string& path);

// Parses `path`; throws bad_input (path "", message "file: line L, column C: ..." or
// "file: /json/path: ...") on bad JSON or a file that cannot be read. The thrower names the file;
// callers add nothing.
json read_json_file(const std::string& path);
json parse_json_text(const std::string& text, const std::string& origin);

// A raw number holding `text` (which must be JSON number text: the writer prints it verbatim).
json raw_number(const std::string& text);
bool is_raw_number(const json& value);
// Raw text holding `text`, which must be valid JSON text (the writer prints it verbatim). Built in
// JSON's binary container and moved in, never copied: it is a large tensor's values text.
using raw_text_bytes = json::binary_t::container_type;
json raw_text(raw_text_bytes&& text);
bool is_raw_text(const json& value);
// The text of a raw number ("" for anything else).
std::string raw_number_text(const json& value);
// A user-facing rendering of any value: raw numbers as their text, long values shortened.
std::string display(const json& value);

// The text of a real value: a JSON number (as written) or a decimal string ("0.5", "inf", "-inf",
// "nan"); throws bad_input(path) otherwise.
std::string real_text(const json& value, const std::string& path);
// True for the decimal strings real_text accepts: "inf", "-inf", "+inf", "nan", or a decimal number
// [+-](digits[.digits] | .digits)[(e|E)[+-]digits] (what strtod reads whole from these characters).
// The one test of that, for the validating and the fast readers alike.
bool is_decimal_text(std::string_view text);
// A JSON integer; throws bad_input(path) otherwise.
std::int64_t integer_value(const json& value, const std::string& path);
// A JSON integer in [lo, hi]; throws bad_input(path) otherwise.
std::int64_t integer_in_range(const json& value, const std::string& path, std::int64_t lo, std::int64_t hi);
// A JSON string (not a number); throws bad_input(path) otherwise.
std::string string_value(const json& value, const std::string& path);
// obj[key]; bad_input at `path` when obj is not an object or lacks the key.
const json& member(const json& obj, const std::string& key, const std::string& path);

// Serializes with two-space indentation; arrays whose elements are all scalars stay on one line.
std::string to_text(const json& value);

// Writes `text` to `path` atomically (temporary file in the same folder, then rename). Refuses
// (bad_input) a target that exists and is not a regular file (a symbolic link, a device, a folder)
// and a folder that does not exist. While the temporary exists, SIGINT/SIGTERM/SIGHUP remove it
// before the process dies, so an interrupted run leaves neither a partial file nor a temporary behind.
void write_file_atomically(const std::string& path, const std::string& text);
// The same, the text produced by `writer` into the temporary file (an exception from it removes the
// temporary and propagates).
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& writer);
// to_text(value) written atomically, serialized straight into the file (never held whole in memory).
void write_json_atomically(const std::string& path, const json& value);

// Refuses (bad_input naming `option`) an output path that is one of the input files (the same file
// on disk, through any name or link): writing it would overwrite an input.
void refuse_overwriting_inputs(const std::string& output, const std::string& option, const std::vector<std::string>& inputs);

} // namespace gradspec::cases
