// What a candidate produced: a result file ("gradspec-results/1") or adapter response lines (the
// handshake line first, then one {"id", "outputs", "gradients"} or {"id", "error"} per line).
#pragma once

#include "gradspec/cases/json_io.hpp"
#include "gradspec/reference/tensor.hpp"

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace gradspec::checkers {

using reference::shape_t;

struct candidate_tensor {
  shape_t shape;
  std::vector<double> values; // float64 holds every float32, float16 and bfloat16 value exactly
};

struct candidate_result {
  std::string id;
  std::string dtype; // the answer's optional "dtype"
  std::optional<std::string> error; // the candidate's own error message (or a crash, a timeout)
  std::map<std::string, candidate_tensor> tensors; // "outputs.y", "gradients.x", "intermediates.weights"
  // read_results_fast leaves the tensors unread: the answer's text (in the mapped file), read by
  // parse_lazy_result when its case is judged, so check holds one case's values at a time.
  std::string_view unparsed;
};

struct implementation_info {
  std::string name = "unknown", version, dtype;
};

struct result_set {
  implementation_info implementation;
  std::map<std::string, candidate_result> results; // by id
  std::map<std::string, std::string> where;        // id -> "file: /results/3" or "file: line 4", for errors
  // Response lines only: the handshake's dtypes and ops, and the "dtype" fields of the answers.
  std::set<std::string> handshake_dtypes, line_dtypes;
  std::optional<std::set<std::string>> ops; // cases of other ops are skipped
  bool gradients = true;                    // false: a forward-only implementation ("gradients": false)
  std::shared_ptr<const void> source;       // keeps the text of unparsed answers alive (a mapped file)
};

// Reads a result file or a JSON-lines response stream (detected from the first character: a
// result file is one JSON object with "format"; response lines start with the handshake). Errors
// are bad_input naming the file and the JSON path (or line).
result_set read_results(const std::string& path);

// The same for a large result file, read fast (a mapped file and a pull cursor, values parsed with
// fast_float): empty when the fast path does not apply (response lines, escapes, unusual forms,
// anything read_results would refuse), and the caller then calls read_results.
// Each answer's tensors are left unread (candidate_result::unparsed): parse_lazy_result reads them.
std::optional<result_set> read_results_fast(const std::string& path);
// The same from text in memory, which must outlive the result set (its answers point into it).
std::optional<result_set> read_results_text_fast(std::string_view text, const std::string& path);
// Reads an answer's unparsed tensors (again, if they were let go after judging); false when the
// fast path does not apply to them (the caller then reads the file with read_results, which
// accepts it or names the error). True at once for an answer read whole.
bool parse_lazy_result(candidate_result& r);
// parse_lazy_result for every answer (tests, the differential fuzzer).
bool parse_lazy_results(result_set& set);

// implementation (name, version, dtype, gradients) of a result file's top-level object.
void read_result_header(result_set& set, const cases::json& doc);

// One response object (a line of the adapter protocol or an entry of "results").
candidate_result parse_response(const cases::json& response, const std::string& path);

} // namespace gradspec::checkers
