// libFuzzer target: the case-file reader (spec and golden files) from text. Parses the JSON, reads the
// case model (parse_case_file, what read_case_file does after reading the file), converts every
// case's tensors to double (case_args), and judges every golden case against a candidate made of its
// own expected values (what `check` does with a golden file), so the golden `expected` tensors are
// read too. bad_input is the only acceptable failure; any other exception, a crash or a sanitizer
// report is a finding.
//
// Differential: the fast reader (read_golden_text_fast + parse_lazy_expected, check's path for large
// files) must never accept a file the validating reader refuses, and must read what it accepts to
// the same model (cases::readers_difference).
#include "fuzz_input.hpp"

#include "gradspec/cases/case_file.hpp"
#include "gradspec/cases/fast_golden.hpp"
#include "gradspec/checkers/compare.hpp"
#include "gradspec/errors.hpp"

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

using namespace gradspec;

namespace {

// The fast reader's model, or empty when it leaves the file to the validating reader.
std::optional<cases::case_file> fast_model(const std::string& text) {
  auto fast = cases::read_golden_text_fast(text, nullptr, "fuzz.json");
  if (!fast) return std::nullopt;
  for (auto& c : fast->cases)
    if (!cases::parse_lazy_expected(c)) return std::nullopt;
  return fast;
}

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "fuzz_case_file: the fast reader %s\n", what.c_str());
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = fuzz::text_of(data, size);
  const auto fast = fast_model(text);
  try {
    const cases::case_file golden = cases::parse_case_file(cases::parse_json_text(text, "fuzz.json"), "fuzz.json");
    if (fast) {
      for (const auto& c : golden.cases)
        if (!c.expected) finding("accepts a case without expected");
      if (const std::string d = cases::readers_difference(*fast, golden); !d.empty()) finding("reads another model: " + d);
    }
  } catch (const bad_input&) {
    if (fast) finding("accepts a file the validating reader refuses");
  }
  try {
    const cases::json doc = cases::parse_json_text(text, "fuzz.json");
    const cases::case_file file = cases::parse_case_file(doc, "fuzz.json");
    checkers::policy p;
    p.dtype = "decimal"; // every case is judged (exact in "decimal" by definition)
    for (const auto& c : file.cases) {
      (void)cases::case_args<double>(c);
      if (!c.expected || !c.expected->is_object()) continue;
      cases::json response = *c.expected;
      response["id"] = c.id;
      try {
        const checkers::candidate_result self = checkers::parse_response(response, "");
        (void)checkers::judge(c, &self, p, &self, &self);
      } catch (const bad_input&) {
      }
    }
  } catch (const bad_input&) {
  }
  return 0;
}
