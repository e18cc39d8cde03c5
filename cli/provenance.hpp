// Provenance of a check summary: which gradspec judged, against which golden files (SHA-1 of each
// file's bytes and its number of cases), and the candidate's handshake as it declared itself.
#pragma once

#include "gradspec/cases/case_file.hpp"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace gradspec::cli {

// SHA-1 of a file's bytes as 40 hex digits; bad_input naming the file when it cannot be read.
std::string file_sha1(const std::string& path);
// The same for a regular file within the input size limit (hashed where it is mapped); empty for
// anything else (a device, a pipe, a folder), which must not be read before it was checked.
std::optional<std::string> mapped_file_sha1(const std::string& path);

// {"gradspec": {"version"}, "suites": [{"file", "sha1", "cases"}], "candidate": {...}}; `candidate`
// is the handshake (name, version, dtypes, ops, gradients) or the result file's implementation.
// `sha1`: hashes already computed, by path (the others are computed here).
cases::json provenance_json(const std::vector<cases::case_file>& files, const cases::json& candidate,
                            const std::map<std::string, std::string>& sha1 = {});

} // namespace gradspec::cli
