// The golden case format (docs/case_files.md): reading case and spec files into a model
// that keeps every value's decimal text, and converting tensors to a working scalar type.
#pragma once

#include "gradspec/cases/json_io.hpp"
#include "gradspec/reference/registry.hpp"

#include <map>
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

struct test_case {
  std::size_t index = 0; // position in the file's "cases"
  std::string id, op, comment;
  std::vector<std::string> flags;
  std::map<std::string, reference::param_value> raw_params; // as written
  reference::param_map params;                                // validated, defaults filled in
  std::map<std::string, raw_tensor> inputs, cotangents;
  std::optional<json> expected; // as written, if present
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
json tensor_json(const raw_tensor& t);

// Values of a raw tensor in the working scalar (mp_real at the current precision, double or float),
// each read once from its decimal text and correctly rounded.
template <class T> reference::tensor<T> to_tensor(const raw_tensor& t);
reference::int_tensor to_int_tensor(const raw_tensor& t);

// op_args for a case: inputs and cotangents converted to T, validated params.
template <class T> reference::op_args<T> case_args(const test_case& c);

// "/cases/3" style prefix for errors inside case `index`.
std::string case_path(std::size_t index);

} // namespace gradspec::cases
