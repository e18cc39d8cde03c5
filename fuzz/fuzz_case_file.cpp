// libFuzzer target: the case-file reader (spec and golden files) from text. Parses the JSON, reads the
// case model (parse_case_file, what read_case_file does after reading the file), converts every
// case's tensors to double (case_args), and judges every golden case against a candidate made of its
// own expected values (what `check` does with a golden file), so the golden `expected` tensors are
// read too. bad_input is the only acceptable failure; any other exception, a crash or a sanitizer
// report is a finding.
#include "fuzz_input.hpp"

#include "gradspec/cases/case_file.hpp"
#include "gradspec/checkers/compare.hpp"
#include "gradspec/errors.hpp"

using namespace gradspec;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const cases::json doc = cases::parse_json_text(fuzz::text_of(data, size), "fuzz.json");
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
