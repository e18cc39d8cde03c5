// The adapter protocol end to end: a crashing, hanging and babbling adapter fails only those cases
// with the reason, is restarted, and the run goes on; offline requests and responses round-trip.
#include "gradspec/cases/json_io.hpp"
#include "support/run_binary.hpp"

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>

using gradspec::testing::run_gradspec;
namespace fs = std::filesystem;

namespace {
gradspec::cases::json summary(const std::string& path) { return gradspec::cases::read_json_file(path); }
std::string verdict_of(const gradspec::cases::json& s, const std::string& id, std::string* reason = nullptr) {
  for (const auto& c : s["cases"])
    if (c["id"] == id) {
      if (reason) *reason = c.value("reason", "");
      return c["verdict"];
    }
  return "absent";
}
} // namespace

BOOST_AUTO_TEST_SUITE(adapter_protocol_test)

BOOST_AUTO_TEST_CASE(crash_hang_and_garbage_fail_only_their_cases) {
  const auto out = (fs::temp_directory_path() / "gradspec_protocol.json").string();
  auto r = run_gradspec("run --suite cases/standard/relu.json --adapter '/usr/bin/python3 tests/cli/fake_adapter.py' "
                        "--dtype float64 --timeout 2 --quiet --json " + out);
  BOOST_TEST(r.code == 1, r.output);
  auto s = summary(out);
  std::string reason;
  BOOST_TEST(verdict_of(s, "relu/default/1x4/0") == "pass");
  BOOST_TEST(verdict_of(s, "relu/default/1x4/1", &reason) == "error");
  BOOST_TEST(reason.find("exited with status 3") != std::string::npos, reason);
  BOOST_TEST(verdict_of(s, "relu/default/2x3x8/0", &reason) == "error");
  BOOST_TEST(reason.find("timed out") != std::string::npos, reason);
  r = run_gradspec("run --suite cases/edge/relu.json --adapter '/usr/bin/python3 tests/cli/fake_adapter.py' --dtype float64 --quiet --json " + out);
  BOOST_TEST(verdict_of(summary(out), "relu/relu_at_zero/0", &reason) == "error");
  BOOST_TEST(reason.find("unparseable") != std::string::npos, reason);
  // Ops the adapter does not list are skipped, and fail the run only with --require-all... or when
  // nothing at all was judged, as here (CONTRACT v1.1).
  r = run_gradspec("run --suite cases/standard/silu.json --adapter '/usr/bin/python3 tests/cli/fake_adapter.py' --dtype float64");
  BOOST_TEST(r.code == 1, r.output);
  BOOST_TEST(r.output.find("no case was judged") != std::string::npos, r.output);
  BOOST_TEST(run_gradspec("run --suite cases/standard/silu.json --adapter '/usr/bin/python3 tests/cli/fake_adapter.py' --dtype float64 --quiet --require-all").code == 1);
}

BOOST_AUTO_TEST_CASE(offline_requests_and_responses_round_trip) {
  const auto dir = fs::temp_directory_path() / "gradspec_offline";
  fs::create_directories(dir);
  const std::string requests = (dir / "requests.jsonl").string(), responses = (dir / "responses.jsonl").string();
  BOOST_TEST(run_gradspec("run --suite cases/standard/layer_norm.json --dtype float32 --emit-requests " + requests + " --quiet").code == 0);
  const std::string adapter = "/usr/bin/python3 adapters/pytorch/gradspec_torch_adapter.py < " + requests + " > " + responses;
  BOOST_TEST(std::system(("cd " + std::string(GRADSPEC_SOURCE_DIR) + " && " + adapter).c_str()) == 0);
  auto r = run_gradspec("check --cases cases/standard/layer_norm.json --results " + responses + " --dtype float32");
  BOOST_TEST(r.code == 0, r.output);
  BOOST_TEST(r.output.find(" 0 failed") != std::string::npos, r.output);
  fs::remove_all(dir);
}

// The built-ins are their own dtype's baseline, so this asserts completeness (every tensor present,
// right shapes, no NaN where the reference is finite); their accuracy against the golden values is
// asserted in checkers/builtin_test. The former names armadillo-f64/f32 are aliases of the same two.
BOOST_AUTO_TEST_CASE(builtin_candidates_pass_the_committed_suites) {
  for (const char* b : {"reference-f64", "reference-f32"})
    for (const char* s : {"cases/standard", "cases/edge"}) {
      auto r = run_gradspec(std::string("run --builtin ") + b + " --suite " + s + " --quiet");
      BOOST_TEST(r.code == 0, b << " on " << s << ": " << r.output);
    }
}

BOOST_AUTO_TEST_CASE(gradcheck_of_the_reference_and_of_candidates) {
  auto r = run_gradspec("gradcheck --cases cases/examples");
  BOOST_TEST(r.code == 0, r.output);
  BOOST_TEST(r.output.find("5 passed, 0 failed") != std::string::npos, r.output);
  r = run_gradspec("gradcheck --cases cases/standard/layer_norm.json --adapter '/usr/bin/python3 adapters/pytorch/gradspec_torch_adapter.py'");
  BOOST_TEST(r.code == 0, r.output);
  // A backward pass that drops a term disagrees with its own forward.
  r = run_gradspec("gradcheck --cases cases/standard/softmax.json --adapter '/usr/bin/python3 tests/zoo/zoo_adapter.py --bug softmax_backward_missing_term'");
  BOOST_TEST(r.code == 1, r.output);
  BOOST_TEST(r.output.find("0 passed, 5 failed") != std::string::npos, r.output);
  BOOST_TEST(run_gradspec("gradcheck --cases cases/standard/linear.json --builtin reference-f64").code == 0);
  r = run_gradspec("run --builtin armadillo-f32 --suite cases/standard/linear.json"); // the former name, an alias
  BOOST_TEST(r.code == 0, r.output);
  BOOST_TEST(r.output.find("reference-f32") != std::string::npos, r.output);
}

BOOST_AUTO_TEST_SUITE_END()
