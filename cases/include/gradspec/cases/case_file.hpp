// The golden case format (docs/case_files.md): reading case and spec files into a model
// that keeps every value's decimal text, and converting tensors to a working scalar type.
#pragma once

#include "gradspec/cases/json_io.hpp"
#include "gradspec/reference/registry.hpp"

#include <map>
#include <memory>
#include <string_view>
#include <optional>
#include <string>
#include <vector>

namespace gradspec::cases {

using reference::shape_t;

// A tensor as written in a file: real values as decimal text, or int64 values.
struct raw_tensor {
  shape_t shape;
  bool integer = false;
  std::vector<std::string> values; // real
  std::vector<std::int64_t> ints;  // integer
};

// One expected tensor parsed for judging: each value as a long double (NaN, ±Inf for "nan", "inf",
// "-inf") and its decimal text as written (views into the file's text, or into a raw_tensor).
struct expected_tensor {
  std::string group, name; // "outputs", "y"
  shape_t shape;
  std::vector<long double> want;
  std::vector<std::string_view> text;
};

struct test_case {
  std::size_t index = 0; // position in the file's "cases"
  std::string id, op, comment;
  std::vector<std::string> flags;
  std::map<std::string, reference::param_value> raw_params; // as written
  reference::param_map params;                                // validated, defaults filled in
  std::map<std::string, raw_tensor> inputs, cotangents;
  std::optional<json> expected; // as written, if present
  // The fast reader (fast_golden.hpp) leaves `expected` unparsed: its text in the mapped file, kept
  // alive by `source`; parse_lazy_expected checks it and fills expected_tensors.
  std::shared_ptr<const void> source;
  std::string_view expected_text;
  // Its `inputs` and `cotangents` objects too (check reads them case by case, so the memory they take
  // is one case's, not the file's): parse_lazy_expected reads them into `inputs` and `cotangents`.
  std::string_view inputs_text, cotangents_text;
  std::vector<expected_tensor> expected_tensors;
  bool has_expected() const { return expected.has_value() || !expected_text.empty(); }
  // case_args<double>, read once and shared (check reads a case's inputs for the shape check, the
  // baseline and the perturbed baseline): set by parse_lazy_expected; see double_args().
  std::shared_ptr<const reference::op_args<double>> double_args_cache;
  std::optional<int> certified_digits;
  std::optional<std::vector<std::string>> exact_in;
};

struct case_file {
  std::string path;
  json header; // everything but "cases", in file order (format, generator, notes, ...)
  std::vector<test_case> cases;
};

// MPFR working precisions a file may record (generator.precision_bits) or a user may ask for (--bits).
inline constexpr std::int64_t min_precision_bits = 24, max_precision_bits = 1 << 16;

// Reads and validates a case or spec file (format, header, required keys, known op, params, tensor
// shapes and values, unique ids; `expected`, where present, against the shapes the op produces).
// Every error is bad_input naming the file and the JSON path.
case_file read_case_file(const std::string& path);
// The same, and every case must carry `expected` (check, run: a spec file is refused).
case_file read_golden_file(const std::string& path);
case_file parse_case_file(const json& doc, const std::string& path);

raw_tensor parse_tensor(const json& value, const std::string& path);
// One case object (/cases/index), validated as in a file; `expected` checked against the op's shapes.
test_case parse_case(const json& value, std::size_t index);
// The header checks of a case file (generator, notes); bad_input with the JSON path.
void check_header(const json& header);
// `expected` of a case against what the op produces for its inputs: `given` lists (group, name,
// shape, integer) of every expected tensor. Throws bad_input naming the case's JSON path.
struct expected_shape {
  std::string group, name;
  shape_t shape;
  bool integer = false;
};
void check_expected_shapes(const test_case& t, const std::vector<expected_shape>& given);
json tensor_json(const raw_tensor& t);

// Values of a raw tensor in the working scalar (mp_real at the current precision, double or float),
// each read once from its decimal text and correctly rounded.
template <class T> reference::tensor<T> to_tensor(const raw_tensor& t);
reference::int_tensor to_int_tensor(const raw_tensor& t);

// op_args for a case: inputs and cotangents converted to T, validated params.
template <class T> reference::op_args<T> case_args(const test_case& c);
// case_args<double>(c): the case's cache when it has one (never filled here: thread-safe), else read now.
std::shared_ptr<const reference::op_args<double>> double_args(const test_case& c);

// "/cases/3" style prefix for errors inside case `index`.
std::string case_path(std::size_t index);

} // namespace gradspec::cases
