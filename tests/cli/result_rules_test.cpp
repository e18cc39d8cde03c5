// Result files that cannot pass by accident (CONTRACT.md, Clarifications v1.1), acceptable findings
// and the float64-conditioned edge cases, through the real binary: the dtype is never guessed, an id
// that names no case is bad input, a check that judged nothing fails, "unsupported" answers and ops
// absent from the handshake are skips online and offline, "gradients": false means forward-only.
#include "gradspec/cases/json_io.hpp"
#include "support/run_binary.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using gradspec::cases::json;
using gradspec::testing::run_gradspec;
namespace fs = std::filesystem;

namespace {

const std::string zoo = "/usr/bin/python3 tests/zoo/zoo_adapter.py";

std::string temp(const std::string& name) { return (fs::temp_directory_path() / ("gradspec_rules_" + name)).string(); }

void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string verdict_of(const json& summary, const std::string& id) {
  for (const auto& c : summary["cases"])
    if (c["id"] == id) return c["verdict"];
  return "absent";
}

// The correct results of the built-in float64 candidate on a suite file, as a result file.
json builtin_results(const std::string& suite) {
  const auto path = temp("builtin.json");
  auto r = run_gradspec("run --suite " + suite + " --builtin reference-f64 --quiet --results " + path);
  BOOST_REQUIRE_MESSAGE(r.code == 0, r.output);
  return gradspec::cases::read_json_file(path);
}

// Offline: the zoo adapter's answers to the request lines of `suite` in `dtype`.
std::string offline_responses(const std::string& suite, const std::string& dtype) {
  const auto requests = temp("requests.jsonl"), responses = temp("responses.jsonl");
  auto r = run_gradspec("run --suite " + suite + " --dtype " + dtype + " --emit-requests " + requests);
  BOOST_REQUIRE_MESSAGE(r.code == 0, r.output);
  const std::string command = std::string("cd ") + GRADSPEC_SOURCE_DIR + " && " + zoo + " --bug none < " + requests + " > " + responses;
  BOOST_REQUIRE(std::system(command.c_str()) == 0);
  return responses;
}

} // namespace

BOOST_AUTO_TEST_SUITE(result_rules_test)

BOOST_AUTO_TEST_CASE(the_dtype_is_never_guessed) {
  // Response lines of a float32 run, from an adapter whose handshake lists two dtypes: no dtype known.
  const auto responses = offline_responses("cases/standard/softmax.json", "float32");
  auto r = run_gradspec("check --cases cases/standard/softmax.json --results " + responses);
  BOOST_TEST(r.code == 2, r.output);
  BOOST_TEST(r.output.find(responses) != std::string::npos, r.output);
  BOOST_TEST(r.output.find("cannot tell the candidate's dtype") != std::string::npos, r.output);
  r = run_gradspec("check --quiet --cases cases/standard/softmax.json --dtype float32 --results " + responses);
  BOOST_TEST(r.code == 0, r.output);

  // A "dtype" on every answer line decides.
  std::string text = read(responses), tagged;
  std::size_t start = 0, line = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1, ++line) {
    std::string l = text.substr(start, nl - start);
    if (line > 0 && !l.empty()) l = l.substr(0, l.size() - 1) + ", \"dtype\": \"float32\"}";
    tagged += l + "\n";
  }
  const auto tagged_path = temp("tagged.jsonl");
  write(tagged_path, tagged);
  const auto summary = temp("summary.json");
  r = run_gradspec("check --quiet --cases cases/standard/softmax.json --results " + tagged_path + " --json " + summary);
  BOOST_TEST(r.code == 0, r.output);
  BOOST_TEST(gradspec::cases::read_json_file(summary)["implementation"]["dtype"] == "float32");

  // A result file without implementation.dtype: refused; with it: used.
  json doc = builtin_results("cases/standard/relu.json");
  BOOST_TEST(doc["implementation"]["dtype"] == "float64");
  const auto file = temp("results.json");
  write(file, gradspec::cases::to_text(doc));
  BOOST_TEST(run_gradspec("check --quiet --cases cases/standard/relu.json --results " + file).code == 0);
  doc["implementation"].erase("dtype");
  write(file, gradspec::cases::to_text(doc));
  r = run_gradspec("check --cases cases/standard/relu.json --results " + file);
  BOOST_TEST(r.code == 2, r.output);
}

BOOST_AUTO_TEST_CASE(an_id_that_names_no_case_is_bad_input) {
  json doc = builtin_results("cases/standard/relu.json");
  doc["results"][1]["id"] = "relu/no_such_case/0";
  const auto file = temp("misnamed.json");
  write(file, gradspec::cases::to_text(doc));
  auto r = run_gradspec("check --cases cases/standard/relu.json --results " + file);
  BOOST_TEST(r.code == 2, r.output);
  BOOST_TEST(r.output.find(file + ": /results/1/id") != std::string::npos, r.output);
  BOOST_TEST(r.output.find("relu/no_such_case/0") != std::string::npos, r.output);
}

BOOST_AUTO_TEST_CASE(a_check_that_judged_nothing_fails) {
  // Every id of this file is for relu; checked against the softmax cases, nothing is judged... and the
  // ids name no case. Results for no case at all (an empty list) judge nothing: exit 1, said so.
  json doc = builtin_results("cases/standard/relu.json");
  doc["results"] = json::array();
  const auto file = temp("empty.json");
  write(file, gradspec::cases::to_text(doc));
  auto r = run_gradspec("check --cases cases/standard/relu.json --results " + file);
  BOOST_TEST(r.code == 1, r.output);
  BOOST_TEST(r.output.find("no case was judged") != std::string::npos, r.output);
  // run: an adapter that lists none of the suite's ops judges nothing either.
  r = run_gradspec("run --suite cases/standard/positional_encoding.json --dtype float64 --adapter '" + zoo + " --bug none'");
  BOOST_TEST(r.code == 1, r.output);
  BOOST_TEST(r.output.find("no case was judged") != std::string::npos, r.output);
}

BOOST_AUTO_TEST_CASE(unsupported_answers_and_unlisted_ops_are_skips) {
  // Offline: an "unsupported" answer is a skip, like run's.
  json doc = builtin_results("cases/standard/relu.json");
  const std::string first = doc["results"][0]["id"];
  doc["results"][0] = {{"id", first}, {"error", "unsupported op"}};
  const auto file = temp("unsupported.json"), summary = temp("summary2.json");
  write(file, gradspec::cases::to_text(doc));
  auto r = run_gradspec("check --quiet --cases cases/standard/relu.json --results " + file + " --json " + summary);
  BOOST_TEST(r.code == 0, r.output);
  BOOST_TEST(verdict_of(gradspec::cases::read_json_file(summary), first) == "skipped");
  // Any other error is an error.
  doc["results"][0]["error"] = "out of memory";
  write(file, gradspec::cases::to_text(doc));
  BOOST_TEST(run_gradspec("check --quiet --cases cases/standard/relu.json --results " + file).code == 1);

  // Offline response lines: cases of ops the handshake does not list are skipped, even with answers.
  const auto responses = offline_responses("cases/standard/relu.json", "float64");
  std::string text = read(responses);
  const auto ops = text.find("\"ops\"");
  BOOST_REQUIRE(ops != std::string::npos);
  const auto close = text.find(']', ops);
  text.replace(ops, close - ops + 1, "\"ops\": [\"softmax\"]");
  write(responses, text);
  r = run_gradspec("check --cases cases/standard/relu.json --dtype float64 --results " + responses + " --json " + summary);
  BOOST_TEST(r.code == 1, r.output); // all skipped: nothing judged
  BOOST_TEST(gradspec::cases::read_json_file(summary)["summary"]["skipped"] > 0);
  BOOST_TEST(gradspec::cases::read_json_file(summary)["summary"]["pass"] == 0);
}

BOOST_AUTO_TEST_CASE(gradients_false_means_forward_only) {
  // Results with outputs only: gradients are missing, which fails...
  json doc = builtin_results("cases/standard/softmax.json");
  for (auto& result : doc["results"]) result.erase("gradients");
  const auto file = temp("forward.json");
  write(file, gradspec::cases::to_text(doc));
  BOOST_TEST(run_gradspec("check --quiet --cases cases/standard/softmax.json --results " + file).code == 1);
  // ... unless the implementation declares itself forward-only.
  doc["implementation"]["gradients"] = false;
  write(file, gradspec::cases::to_text(doc));
  auto r = run_gradspec("check --quiet --cases cases/standard/softmax.json --results " + file);
  BOOST_TEST(r.code == 0, r.output);
}

BOOST_AUTO_TEST_CASE(one_pass_variance_fails_in_float64) {
  // The zoo's one-pass variance E[x^2] - E[x]^2 in float64: exact on the small-integer inputs of the
  // other cases, wrong on rows 1e8 + k/1024.
  const auto summary = temp("one_pass.json");
  auto r = run_gradspec("run --quiet --suite cases/edge/layer_norm.json --dtype float64 --adapter '" + zoo +
                        " --bug one_pass_variance' --json " + summary);
  BOOST_TEST(r.code == 1, r.output);
  BOOST_TEST(verdict_of(gradspec::cases::read_json_file(summary), "layer_norm/float64_conditioned/0") == "fail");
  // The correct implementation passes the same cases.
  r = run_gradspec("run --quiet --suite cases/edge --dtype float64 --adapter '" + zoo + " --bug none' --json " + summary);
  BOOST_TEST(r.code == 0, r.output);
  const json s = gradspec::cases::read_json_file(summary);
  for (const char* id : {"layer_norm/float64_conditioned/0", "rms_norm/float64_conditioned/0", "softmax/float64_conditioned/0",
                         "log_softmax/float64_conditioned/0"})
    BOOST_TEST(verdict_of(s, id) == "pass", id);
  // Other dtypes skip them: their inputs are exact in float64 only.
  r = run_gradspec("run --quiet --suite cases/edge/layer_norm.json --dtype float32 --adapter '" + zoo + " --bug none' --json " + summary);
  BOOST_TEST(verdict_of(gradspec::cases::read_json_file(summary), "layer_norm/float64_conditioned/0") == "skipped");
}

BOOST_AUTO_TEST_CASE(acceptable_findings_are_named_and_strict_fails_them) {
  // A plain softmax (NaN for a fully masked row) against the fully masked rows: acceptable, named,
  // with the reason the case exists; exit 0. Finite wrong values next to the NaN still fail.
  json doc = builtin_results("cases/edge/attention.json");
  for (auto& result : doc["results"]) {
    if (result["id"] != "attention/fully_masked_row/4x4x4x4/0") continue;
    for (auto& [group, tensors] : result.items())
      if (group == "outputs" || group == "gradients")
        for (auto& [name, t] : tensors.items()) t["values"][4] = "nan";
  }
  const auto file = temp("plain_softmax.json"), summary = temp("summary3.json");
  write(file, gradspec::cases::to_text(doc));
  auto r = run_gradspec("check --cases cases/edge/attention.json --results " + file + " --json " + summary);
  BOOST_TEST(r.code == 0, r.output);
  BOOST_TEST(r.output.find("fully_masked_row/nan_from_plain_softmax") != std::string::npos, r.output);
  BOOST_TEST(r.output.find("why: fully_masked_row: Every key of some query row is masked") != std::string::npos, r.output);
  const json s = gradspec::cases::read_json_file(summary);
  BOOST_TEST(verdict_of(s, "attention/fully_masked_row/4x4x4x4/0") == "acceptable");
  BOOST_TEST(s["summary"]["acceptable"] == 1);
  // report takes the acceptable verdict and lists it, named.
  const auto report_dir = temp("report");
  fs::remove_all(report_dir);
  r = run_gradspec("report " + summary + " --out " + report_dir);
  BOOST_TEST(r.code == 0, r.output);
  BOOST_TEST(read(report_dir + "/report.md").find("`attention/fully_masked_row/4x4x4x4/0` (acceptable)") != std::string::npos);
  r = run_gradspec("check --strict --quiet --cases cases/edge/attention.json --results " + file);
  BOOST_TEST(r.code == 1, r.output);
  // A finite element off next to the NaN fails; Inf is never acceptable; nor is NaN in a case without
  // such a flag.
  for (auto& result : doc["results"])
    if (result["id"] == "attention/fully_masked_row/4x4x4x4/0") result["outputs"]["out"]["values"][0] = 0.125;
  write(file, gradspec::cases::to_text(doc));
  BOOST_TEST(run_gradspec("check --quiet --cases cases/edge/attention.json --results " + file).code == 1);
  doc = builtin_results("cases/edge/attention.json");
  for (auto& result : doc["results"])
    if (result["id"] == "attention/fully_masked_row/4x4x4x4/0") result["outputs"]["out"]["values"][4] = "inf";
  write(file, gradspec::cases::to_text(doc));
  BOOST_TEST(run_gradspec("check --quiet --cases cases/edge/attention.json --results " + file).code == 1);
  doc = builtin_results("cases/edge/attention.json");
  doc["results"][doc["results"].size() - 1]["outputs"]["out"]["values"][0] = "nan";
  write(file, gradspec::cases::to_text(doc));
  BOOST_TEST(run_gradspec("check --quiet --cases cases/edge/attention.json --results " + file).code == 1);
}

BOOST_AUTO_TEST_SUITE_END()
