// What the suites are written with: suite_builder collects cases per op (each op's standard and edge
// lines in cases/generators/X.cpp, the cross-op suites in cases/src/suites.cpp), flag_notes_builder
// collects the notes of flags, and a few helpers write tensors by hand.
#pragma once

#include "gradspec/cases/generators.hpp"
#include "gradspec/cases/suites.hpp"

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

namespace gradspec::cases {

// Collects cases per op, in the order they are added; one suite_file per op, in the order of each
// op's first case.
class suite_builder {
public:
  using kv = std::map<std::string, std::string>;
  // Random cases from the op's generator, one per seed.
  void random(const std::string& op, const kv& shape, const kv& params, std::initializer_list<std::uint64_t> seeds,
              const std::string& comment, const std::string& variant = "", std::vector<std::string> flags = {});
  // A case written out by hand.
  void exact(const std::string& id, const std::string& op, const kv& params, std::map<std::string, raw_tensor> inputs,
             const std::string& comment, std::vector<std::string> flags);
  // The last case added, to adjust (add a mask, plant a NaN).
  test_case& last() { return files_[last_file_].cases.back(); }
  // The files, each with the notes of the flags its cases use and its cases numbered.
  std::vector<suite_file> finish();

private:
  std::vector<suite_file> files_;
  std::size_t last_file_ = 0;
  void push(test_case c);
};

// Notes of flags (Wycheproof's `notes`): flag -> {"kind", "description"[, "acceptable"]}.
class flag_notes_builder {
public:
  explicit flag_notes_builder(json& notes) : notes_(notes) {}
  // The note of `flag`; a flag has one note, so a second add of the same flag is a logic_error.
  void add(const std::string& flag, const std::string& kind, const std::string& description);
  // An acceptable finding (Wycheproof's "acceptable"): a documented alternative that correct,
  // well-known libraries produce on inputs outside the maths (0/0, all -inf rows, NaN inputs).
  // `result` is "nan" (NaN where the reference is finite) or "zero" (0 where the reference is NaN);
  // `tensors` lists the tensor names or groups ("outputs", "gradients.logits") it may appear in.
  // Finite elements are still judged by the ordinary rule. Call after add(flag).
  void acceptable(const std::string& flag, const std::string& name, const std::string& result,
                  const std::vector<std::string>& tensors, const std::string& description);

private:
  json& notes_;
};

// Real values written as text, as they go into the file.
raw_tensor real(shape_t shape, std::vector<std::string> values);
raw_tensor ints(shape_t shape, std::vector<std::int64_t> values);
// Doubles as text with 17 significant digits, trailing zeros dropped (exact for every double).
std::vector<std::string> text_values(std::initializer_list<double> values);

// An additive mask [tq, tk] with -inf on some entries (never a whole row) and small finite biases.
raw_tensor partial_mask(std::int64_t tq, std::int64_t tk, std::uint64_t seed);

// centre + k/2^bits with |k| <= range·2^bits, written exactly (no rounding to 17 digits: 1e8 + k/1024
// needs 18): values exact in float64 only, for the float64-conditioned edge cases.
raw_tensor offset_grid(value_source& v, const shape_t& shape, double centre, double range, int bits);

} // namespace gradspec::cases
