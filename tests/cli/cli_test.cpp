// The gradspec command line as a user meets it: exit codes, messages naming file and JSON path,
// no output file on bad input, byte-identical reruns. Runs the real binary.
#include "gradspec/cases/json_io.hpp"
#include "support/scratch.hpp"
#include "support/run_binary.hpp"

#include <boost/test/unit_test.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>
#include <sys/wait.h>

namespace fs = std::filesystem;

namespace {

using gradspec::testing::run_result;

run_result run(const std::string& args) { return gradspec::testing::run_gradspec(args); }

struct scratch : gradspec::testing::scratch_dir {
  scratch() : scratch_dir("gradspec_cli_test") {}
};

const char* good_spec = R"({"format": "gradspec-cases/1", "cases": [{"id": "lin/0", "op": "linear", "params": {},
  "inputs": {"x": {"shape": [2, 2], "values": [0.5, -0.25, 1, 2]}, "w": {"shape": [2, 1], "values": [1, 2]},
             "b": {"shape": [1], "values": [0.125]}}}]})";

} // namespace

BOOST_AUTO_TEST_SUITE(cli_test)

BOOST_AUTO_TEST_CASE(ops_lists_the_contract_catalogue) {
  auto r = run("ops --json");
  BOOST_TEST(r.code == 0);
  auto doc = gradspec::cases::parse_json_text(r.output, "ops --json");
  std::vector<std::string> names;
  for (const auto& op : doc["ops"]) names.push_back(op["name"].get<std::string>());
  // Every op of the op list, in its order, and nothing else.
  const std::vector<std::string> op_list = {
#define GRADSPEC_OP(name) #name,
#include "gradspec/reference/ops/op_list.hpp"
#undef GRADSPEC_OP
  };
  BOOST_TEST(!op_list.empty());
  BOOST_TEST(names == op_list, boost::test_tools::per_element());
  BOOST_TEST(run("ops").code == 0);
}

BOOST_AUTO_TEST_CASE(gen_writes_and_reruns_byte_identically) {
  scratch s;
  const auto spec = s.write("spec.json", good_spec);
  BOOST_TEST(run("gen --from " + spec + " --out " + s.path("a.json") + " --quiet").code == 0);
  BOOST_TEST(run("gen --from " + spec + " --out " + s.path("b.json") + " --quiet").code == 0);
  BOOST_TEST(s.read("a.json") == s.read("b.json"));
  BOOST_TEST(s.read("a.json").find("\"certified_digits\": 40") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_spec_exits_2_names_the_place_and_writes_nothing) {
  scratch s;
  std::string text = good_spec;
  text.replace(text.find("[1, 2]"), 6, "[1, \"two\"]");
  const auto spec = s.write("bad.json", text);
  auto r = run("gen --from " + spec + " --out " + s.path("out.json"));
  BOOST_TEST(r.code == 2);
  BOOST_TEST(r.output.find(spec + ": /cases/0/inputs/w/values/1:") != std::string::npos, r.output);
  BOOST_TEST(!fs::exists(s.path("out.json")));
  BOOST_TEST(std::distance(fs::directory_iterator(s.dir), fs::directory_iterator()) == 1); // no temporaries

  auto missing = run("gen --from " + s.path("nope.json") + " --out " + s.path("out.json"));
  BOOST_TEST(missing.code == 2);
  BOOST_TEST(missing.output.find("nope.json") != std::string::npos);
  auto broken = run("gen --from " + s.write("broken.json", "{\"format\": ") + " --out " + s.path("out.json"));
  BOOST_TEST(broken.code == 2);
  BOOST_TEST(broken.output.find("broken.json") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_2) {
  BOOST_TEST(run("").code == 2);
  BOOST_TEST(run("frobnicate").code == 2);
  BOOST_TEST(run("gen --bits 3 --from x --out y").code == 2);
  BOOST_TEST(run("--help").code == 0);
}

BOOST_AUTO_TEST_CASE(report_writes_a_table_and_a_plot) {
  scratch s;
  const std::string summary = s.path("summary.json");
  auto r = run("run --suite " + std::string(GRADSPEC_SOURCE_DIR) + "/cases/standard/softmax.json --builtin reference-f64 --quiet --json " + summary);
  BOOST_TEST(r.code == 0, r.output);
  BOOST_TEST(run("report " + summary + " --out " + s.path("report")).code == 0);
  const std::string md = s.read("report/report.md");
  BOOST_TEST(md.find("| softmax | reference-f64 gradspec ") != std::string::npos, md);
  BOOST_TEST(md.find(" | 5 pass | ") != std::string::npos, md);
  BOOST_TEST(s.read("report/digits-float64-standard.svg").find("<svg") != std::string::npos);
  auto bad = run("report " + s.write("bad.json", "{\"format\": \"other\"}") + " --out " + s.path("r2"));
  BOOST_TEST(bad.code == 2);
  BOOST_TEST(bad.output.find("bad.json: /format") != std::string::npos, bad.output);
}

BOOST_AUTO_TEST_SUITE_END()
