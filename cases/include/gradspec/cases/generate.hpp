// Filling in `expected` (what `gradspec gen` does to every case): the reference runs at two working
// precisions, and each value is written with the significant digits the two agree on (at most 40).
#pragma once

#include "gradspec/cases/case_file.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace gradspec::cases {

inline constexpr const char* generator_version = "0.1.0";

struct generation_options {
  unsigned bits = 256;    // working precision of the evaluation that is written
  unsigned check_bits = 0; // the second evaluation; 0 means bits + 64
  int max_digits = 40;     // never print more significant digits than this
  // false: `expected` without the `intermediates` group (large cases: attention's scores and weights
  // can outweigh everything else). The file records it as generator.intermediates = false, so verify
  // re-derives the same way and merge sees shards generated differently.
  bool intermediates = true;
  // true: every tensor's "values" is one preformatted raw_text (json_io.hpp) instead of one JSON value
  // per element; the written file is byte for byte the same, in a fraction of the memory and time.
  // gen and suites write so; verify compares element by element and leaves it false.
  bool text_values = false;
  std::function<void()> on_case_done; // progress
};

// The case completed: absent cotangents generated from the id, `expected`, `certified_digits` and
// `exact_in` filled in, in the contract's key order. Throws bad_input (path under /cases/N) for input
// the op rejects, and std::runtime_error when the two precisions do not agree on even one digit.
// Takes the case by value: move it in when it is not needed afterwards (its input texts are large).
json generate_case(test_case c, const generation_options& options);

// The whole file: header (format, generator, notes, other keys as given) and generated cases.
json generate_file(case_file file, const generation_options& options);

// Adds the generated cotangent of every differentiable output the case lacks (output shapes from a
// forward pass in double).
void complete_cotangents(test_case& c);

// Deterministic cotangent for output `name` of a case: values k/64, k in [-64, 64] \ {0}, exact in
// every dtype, from a hash of the id and the name; a scalar output gets 1.
raw_tensor generated_cotangent(const std::string& case_id, const std::string& name, const shape_t& shape);

// Re-derives every case of a golden file at the precision it records and compares `expected`,
// `certified_digits` and `exact_in` with what is written. Returns one line per disagreement
// ("/cases/3/expected/outputs/y/values/5: file has 0.25, re-derived 0.2500001"), empty when it verifies.
std::vector<std::string> verify_file(const case_file& file);

// 64-bit FNV-1a, the seed of everything generated from a name.
std::uint64_t fnv1a(const std::string& text);
std::uint64_t splitmix64(std::uint64_t& state);

} // namespace gradspec::cases
