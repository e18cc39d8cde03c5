// Reading large golden files fast (check of 10^7 values): the file is mapped, not read into a
// string; its cases are read with a pull cursor (json_cursor.hpp) straight into the case model,
// without a JSON document; each case's `expected` stays unparsed until it is judged
// (parse_lazy_expected), so only one case's expected values are in memory at a time.
//
// The fast path reads the plain forms gradspec writes and nothing else. On anything it does not
// know (escapes, unusual layout, a value or shape the validating reader would refuse) it gives up
// (an empty optional, or false), and the caller reads the file with read_golden_file, which accepts
// it or names the error. Tests compare the two readers' models on every committed suite.
#pragma once

#include "gradspec/cases/case_file.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gradspec::cases {

// A regular file mapped read-only (no copy); empty for anything else (a pipe, a device, a file
// larger than max_input_bytes(), an empty file), which the caller reads the ordinary way.
class mapped_file {
public:
  static std::shared_ptr<const mapped_file> open(const std::string& path);
  ~mapped_file();
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  std::string_view text() const { return {data_, size_}; }

private:
  mapped_file(const char* data, std::size_t size) : data_(data), size_(size) {}
  const char* data_;
  std::size_t size_;
};

// A golden file whose every case carries `expected` (left unparsed: see parse_lazy_expected), or
// empty when the fast path does not apply.
std::optional<case_file> read_golden_file_fast(const std::string& path);
// The same from text in memory (`source` keeps it alive: the cases point into it); `path` names it.
std::optional<case_file> read_golden_text_fast(std::string_view text, std::shared_ptr<const void> source, const std::string& path);

// Parses and checks a case's unparsed `expected` (as read_case_file would) into expected_tensors;
// false when the fast path does not apply (the caller re-reads the file with read_golden_file).
bool parse_lazy_expected(test_case& c);

// The expected tensors of a case read by read_case_file (from its document), in judging order
// (outputs, gradients, intermediates; each group in file order); `storage` holds the texts.
std::vector<expected_tensor> expected_from_document(const test_case& c, std::vector<raw_tensor>& storage);

// "" when the fast reader's model (after parse_lazy_expected on every case) equals the validating
// reader's; else where they first differ. For the tests and the differential fuzzer.
std::string readers_difference(const case_file& fast, const case_file& slow);

// The value of a real's decimal text as the checkers compare it ("nan", "inf", "-inf", "+inf", or
// a decimal number correctly rounded to long double).
long double decimal_value(std::string_view text);


} // namespace gradspec::cases
