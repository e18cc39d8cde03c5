// `gradspec gradcheck` of a candidate as a user meets it: the numpy bug zoo adapter (correct, and
// with a backward-only bug), the built-in candidates (reference-f64, reference-f32), float64 and float32, the closing
// line, exit codes and the --json summary. Single committed files keep it fast.
#include "gradspec/cases/json_io.hpp"
#include "support/scratch.hpp"
#include "support/run_binary.hpp"

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

using gradspec::testing::run_gradspec;

std::string zoo(const std::string& bug) { return "--adapter '/usr/bin/python3 tests/zoo/zoo_adapter.py --bug " + bug + "'"; }

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

struct scratch : gradspec::testing::scratch_dir {
  scratch() : scratch_dir("gradspec_gradcheck_cli_test") {}
};

} // namespace

BOOST_AUTO_TEST_SUITE(gradcheck_cli_test)

BOOST_AUTO_TEST_CASE(a_correct_candidate_has_no_failure_in_float64_and_float32) {
  for (const char* file : {"cases/standard/softmax.json", "cases/standard/layer_norm.json"})
    for (const char* dtype : {"float64", "float32"}) {
      auto r = run_gradspec(std::string("gradcheck --cases ") + file + " --dtype " + dtype + " " + zoo("none"));
      BOOST_TEST(r.code == 0, file << " " << dtype << ": " << r.output);
      BOOST_TEST(has(r.output, " passed, 0 failed, 0 inconclusive, 0 skipped\n"), r.output);
      BOOST_TEST(has(r.output, std::string("in ") + dtype), r.output);
    }
}

// Bugs 11 and 12 of the zoo live in the backward pass only: the candidate's gradients disagree
// with its own forward pass.
BOOST_AUTO_TEST_CASE(backward_only_bugs_fail) {
  auto r = run_gradspec("gradcheck --cases cases/standard/softmax.json " + zoo("softmax_backward_missing_term"));
  BOOST_TEST(r.code == 1, r.output);
  BOOST_TEST(has(r.output, "0 passed, 5 failed, 0 inconclusive, 0 skipped\n"), r.output);
  r = run_gradspec("gradcheck --cases cases/standard/embedding.json --dtype float32 " + zoo("embedding_grad_overwrite"));
  BOOST_TEST(r.code == 1, r.output);
  BOOST_TEST(has(r.output, "fail         embedding/default/3x5x4/0"), r.output);
}

// Ops the candidate does not list are skipped, not failed; relu at exactly 0 is inconclusive.
BOOST_AUTO_TEST_CASE(skipped_and_inconclusive_cases_do_not_fail_the_run) {
  auto r = run_gradspec("gradcheck --cases cases/standard/positional_encoding.json " + zoo("none"));
  BOOST_TEST(r.code == 0, r.output);
  BOOST_TEST(has(r.output, "0 passed, 0 failed, 0 inconclusive, 4 skipped\n"), r.output);
  BOOST_TEST(has(r.output, "op not supported by the candidate"), r.output);
  r = run_gradspec("gradcheck --cases cases/edge/relu.json " + zoo("none"));
  BOOST_TEST(r.code == 0, r.output);
  BOOST_TEST(has(r.output, "0 passed, 0 failed, 1 inconclusive, 0 skipped\n"), r.output);
  BOOST_TEST(has(r.output, "kink"), r.output);
}

// The slides' inputs (0.1, ...) are exact in no dtype: skipped, or checked at rounded inputs.
BOOST_AUTO_TEST_CASE(inexact_inputs_are_skipped_or_rounded) {
  auto r = run_gradspec("gradcheck --cases cases/examples/softmax.json " + zoo("none"));
  BOOST_TEST(r.code == 0, r.output);
  BOOST_TEST(has(r.output, "0 passed, 0 failed, 0 inconclusive, 1 skipped\n"), r.output);
  BOOST_TEST(has(r.output, "inputs not exact in float64"), r.output);
  r = run_gradspec("gradcheck --cases cases/examples/softmax.json --round-inputs --dtype float32 " + zoo("none"));
  BOOST_TEST(r.code == 0, r.output);
  BOOST_TEST(has(r.output, "1 passed, 0 failed, 0 inconclusive, 0 skipped\n"), r.output);
  BOOST_TEST(has(r.output, "(inputs rounded to float32)"), r.output);
}

BOOST_AUTO_TEST_CASE(json_summary_states_dtype_verdicts_and_counts_and_reruns_identically) {
  scratch s;
  const std::string args = "gradcheck --cases cases/standard/softmax.json " + zoo("softmax_backward_missing_term") + " --json ";
  BOOST_TEST(run_gradspec(args + s.path("a.json")).code == 1);
  BOOST_TEST(run_gradspec(args + s.path("b.json")).code == 1);
  BOOST_TEST(s.read("a.json") == s.read("b.json"));
  const auto doc = gradspec::cases::json::parse(s.read("a.json")); // plain numbers (parse_json_text keeps their text)
  BOOST_TEST(doc["format"] == "gradspec-gradcheck/1");
  BOOST_TEST(doc["dtype"] == "float64");
  BOOST_TEST(doc["summary"]["fail"] == 5);
  BOOST_TEST(doc["summary"]["pass"] == 0);
  BOOST_TEST(doc["summary"]["inconclusive"] == 0);
  BOOST_TEST(doc["summary"]["skipped"] == 0);
  BOOST_TEST(doc["summary"]["error"] == 0);
  BOOST_TEST(doc["cases"].size() == 5u);
  for (const auto& c : doc["cases"]) {
    BOOST_TEST(c["verdict"] == "fail");
    BOOST_TEST(c["worst_units"].get<double>() > 10);
    BOOST_TEST(c["estimate"].get<double>() > 0);
  }
}

BOOST_AUTO_TEST_CASE(builtin_candidates_in_their_dtype) {
  auto r = run_gradspec("gradcheck --cases cases/standard/layer_norm.json --builtin reference-f32");
  BOOST_TEST(r.code == 0, r.output);
  BOOST_TEST(has(r.output, "in float32"), r.output);
  BOOST_TEST(has(r.output, " passed, 0 failed, 0 inconclusive, 0 skipped\n"), r.output);
  r = run_gradspec("gradcheck --cases cases/standard/softmax.json --builtin reference-f64");
  BOOST_TEST(r.code == 0, r.output);
}

BOOST_AUTO_TEST_CASE(bad_usage_exits_2) {
  auto r = run_gradspec("gradcheck --cases cases/standard/softmax.json --builtin reference-f32 --dtype float64");
  BOOST_TEST(r.code == 2, r.output);
  BOOST_TEST(has(r.output, "--dtype"), r.output);
  r = run_gradspec("gradcheck --cases cases/standard/softmax.json --dtype bfloat16 " + zoo("none"));
  BOOST_TEST(r.code == 2, r.output);
  r = run_gradspec("gradcheck --cases cases/standard/softmax.json --min-digits 4 " + zoo("none"));
  BOOST_TEST(r.code == 2, r.output);
  r = run_gradspec("gradcheck --cases cases/standard/softmax.json --dtype float32");
  BOOST_TEST(r.code == 2, r.output);
}

BOOST_AUTO_TEST_SUITE_END()
