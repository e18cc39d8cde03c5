// Case generators: for each op (cases/generators/X.cpp), its shape keys (the dimension names
// `gen --op --shape k=v` takes), a function that fills a case's inputs with deterministic values for
// given sizes, params and seed, its cases in the standard and edge suites and the notes of its own
// flags. Suites (standard, edge, examples, sweep) are lists of such cases, one file per op.
#pragma once

#include "gradspec/cases/case_file.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace gradspec::cases {

// Largest size a generated tensor may have (values, all inputs together); beyond is bad input.
inline constexpr std::int64_t max_generated_values = reference::max_case_values;
inline constexpr std::int64_t max_dimension = reference::max_dimension;

struct shape_key {
  std::string name;
  std::int64_t default_value;
  std::string doc;
};

// Sizes of one case: leading batch axes and the op's named dimensions.
struct case_shape {
  std::vector<std::int64_t> batch;
  std::map<std::string, std::int64_t> dims;
  std::int64_t operator[](const std::string& key) const { return dims.at(key); }
  // batch axes followed by the named dims: shape({"seq", "d_model"}) = [...batch, T, C]
  shape_t with_batch(std::initializer_list<std::string> keys) const;
  shape_t plain(std::initializer_list<std::string> keys) const;
  // "2x4x8": batch axes then the given dims, for case ids
  std::string label(std::initializer_list<std::string> keys) const;
};

// Deterministic values from a seed: splitmix64 over the case id, so the same id gives the same
// values on every machine.
class value_source {
public:
  explicit value_source(std::uint64_t seed) : state_(seed) {}
  // The stream of `seed` after its first `skip` draws: one stream split between several callers.
  value_source(std::uint64_t seed, std::uint64_t skip);
  std::uint64_t next();
  // Values k/2^denominator_bits·scale with k uniform in [-range·2^bits, range·2^bits] (nonzero unless
  // allow_zero). With range 1 and 6 bits: k/64 in [-1, 1], exact in bfloat16, float16 and up.
  raw_tensor grid(const shape_t& shape, double range = 1.0, int denominator_bits = 6, bool allow_zero = false);
  // The same around a centre: centre + grid (gamma near 1).
  raw_tensor around(const shape_t& shape, double centre, double range, int denominator_bits = 6);
  raw_tensor integers(const shape_t& shape, std::int64_t lo, std::int64_t hi); // int64 in [lo, hi]
  raw_tensor constant(const shape_t& shape, const std::string& value);

private:
  std::uint64_t state_;
  std::int64_t generated_ = 0;
  // Counts the values of `shape` against max_generated_values before anything is allocated.
  std::size_t consume(const shape_t& shape);
};

class suite_builder;
class flag_notes_builder;

struct op_generator {
  std::string op;
  std::vector<shape_key> keys;
  // The id stem describing the sizes ("1x4x8"), from the keys that matter.
  std::function<std::string(const case_shape&)> label;
  // Fills c.inputs (c.params already validated) for these sizes.
  std::function<void(test_case&, const case_shape&, value_source&)> fill;
  // Params that follow from the sizes when not given (positional_encoding's length, heads, layers).
  std::function<std::map<std::string, std::string>(const case_shape&)> implied_params = nullptr;
  // Its cases in the standard, edge and sweep suites (suites.hpp), in the order they appear in its file.
  std::function<void(suite_builder&)> standard = nullptr, edge = nullptr, sweep = nullptr;
  // The notes of the flags only its cases use (flags of several ops: cases/src/shared_flag_notes.cpp).
  std::function<void(flag_notes_builder&)> notes = nullptr;
};

const std::vector<op_generator>& op_generators();
const op_generator* find_generator(const std::string& op);

// One random case of `op`: shape keys "k=v" (batch as "2x3" or 0), params "k=v", seed. Unknown ops
// or keys, bad sizes (negative, zero where not allowed, above the documented limits) are bad_input.
test_case make_case(const std::string& op, const std::map<std::string, std::string>& shape,
                    const std::map<std::string, reference::param_value>& params, std::uint64_t seed,
                    const std::string& variant = "");

// Parses "k=v,k=v".
std::map<std::string, std::string> parse_key_values(const std::string& text, const std::string& what);

} // namespace gradspec::cases
