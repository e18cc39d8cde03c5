// The JSON layer and the case model against hostile input: nesting depth, strings that look like the
// old raw-number marker, integers past int64, devices and links, golden tensors whose shapes do not
// match what the op produces, malformed headers. Every refusal is bad_input naming the place.
#include "gradspec/cases/case_file.hpp"
#include "support/scratch.hpp"
#include "gradspec/cases/json_io.hpp"
#include "gradspec/errors.hpp"
#include "gradspec/reference/registry.hpp"

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace gradspec::cases;
namespace fs = std::filesystem;

namespace {

// The message of the bad_input that `f` throws ("" if it throws none).
template <class F> std::string refusal(F f) {
  try {
    f();
  } catch (const gradspec::bad_input& e) {
    return e.what();
  }
  return "";
}

std::string nested(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// A golden relu case with two inputs values; `patch` edits it before parsing.
json golden_relu() {
  return parse_json_text(R"({"format": "gradspec-cases/1", "generator": {"name": "gradspec", "precision_bits": 257},
    "cases": [{"id": "relu/0", "op": "relu", "params": {}, "inputs": {"x": {"shape": [2], "values": ["0.5", "-1"]}},
      "cotangents": {"y": {"shape": [2], "values": ["1", "1"]}},
      "expected": {"outputs": {"y": {"shape": [2], "values": ["0.5", "0"]}},
                   "gradients": {"x": {"shape": [2], "values": ["1", "0"]}}}}]})",
                         "golden");
}

struct scratch : gradspec::testing::scratch_dir {
  scratch() : scratch_dir("gradspec_json_limits") {}
};

} // namespace

BOOST_AUTO_TEST_SUITE(json_limits_test)

BOOST_AUTO_TEST_CASE(nesting_is_bounded_and_named) {
  BOOST_TEST(refusal([] { parse_json_text(nested(max_json_depth), "f.json"); }).empty());
  const std::string deep = refusal([] { parse_json_text("{\"a\": " + nested(30000) + "}", "f.json"); });
  BOOST_TEST(deep.find("f.json: /a/0/0/0") == 0u, deep);
  BOOST_TEST(deep.find("nested deeper than 64") != std::string::npos, deep);
  const std::string just_over = refusal([] { parse_json_text(nested(max_json_depth + 1), "g.json"); });
  BOOST_TEST(just_over.find("g.json: ") == 0u, just_over);
  // Keys are escaped as JSON pointers in the path.
  const std::string key = refusal([] { parse_json_text(R"({"a/b": {"c~d": 1, "c~d": 2}})", "h.json"); });
  BOOST_TEST(key.find("h.json: /a~1b/c~0d: duplicate key") == 0u, key);
}

BOOST_AUTO_TEST_CASE(strings_never_become_numbers) {
  // U+0001 at the start of a string was the old raw-number marker: written unquoted, it corrupted files.
  const json doc = parse_json_text(R"({"comment": "\u00011.5", "n": 1.50, "s": "2.5"})", "t");
  BOOST_TEST(doc["comment"].is_string());
  BOOST_TEST(!is_raw_number(doc["comment"]));
  BOOST_TEST(is_raw_number(doc["n"]));
  const std::string text = to_text(doc);
  BOOST_TEST(text == "{\"comment\": \"\\u00011.5\", \"n\": 1.50, \"s\": \"2.5\"}\n");
  BOOST_TEST(parse_json_text(text, "again")["comment"] == doc["comment"]);
  // Invalid UTF-8 from a program's output is replaced, not thrown on.
  json bad;
  bad["reason"] = std::string("bad \xff byte");
  BOOST_TEST(to_text(bad) == "{\"reason\": \"bad \xef\xbf\xbd byte\"}\n");
}

BOOST_AUTO_TEST_CASE(unsigned_integers_keep_their_value) {
  const json doc = parse_json_text("[18446744073709551615, 9223372036854775807, -3]", "t");
  BOOST_TEST(real_text(doc[0], "/0") == "18446744073709551615"); // never -1
  BOOST_TEST(refusal([&] { integer_value(doc[0], "/0"); }).find("/0: integer 18446744073709551615 out of range") == 0u);
  BOOST_TEST(integer_value(doc[1], "/1") == INT64_MAX);
  BOOST_TEST(integer_value(doc[2], "/2") == -3);
  BOOST_TEST(refusal([&] { integer_in_range(doc[2], "/2", 0, 5); }) == "/2: must be in [0, 5], got -3");
}

BOOST_AUTO_TEST_CASE(devices_folders_and_links_are_refused) {
  BOOST_TEST(refusal([] { read_json_file("/dev/zero"); }).find("/dev/zero: not a regular file") == 0u);
  scratch s;
  BOOST_TEST(refusal([&] { read_json_file(s.dir.string()); }).find("is a folder") != std::string::npos);
  const fs::path real = s.dir / "real.json", link = s.dir / "link.json";
  write_file_atomically(real.string(), "{}\n");
  fs::create_symlink(real, link);
  const std::string over_link = refusal([&] { write_file_atomically(link.string(), "x"); });
  BOOST_TEST(over_link.find("is not a regular file") != std::string::npos, over_link);
  BOOST_TEST(fs::is_symlink(link));
  // A FIFO stands for a device (never /dev/null itself: without the fix it would be replaced).
  const fs::path fifo = s.dir / "fifo";
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  BOOST_TEST(refusal([&] { write_file_atomically(fifo.string(), "x"); }).find("not a regular file") != std::string::npos);
  BOOST_TEST(fs::is_fifo(fifo));
  // The same file under another name (a link) is still the input.
  BOOST_TEST(refusal([&] { refuse_overwriting_inputs(link.string(), "--out", {real.string()}); }).find("--out: ") == 0u);
  BOOST_TEST(refusal([&] { refuse_overwriting_inputs((s.dir / "new.json").string(), "--out", {real.string()}); }).empty());
}

BOOST_AUTO_TEST_CASE(golden_tensors_are_shape_checked_against_the_op) {
  BOOST_TEST(refusal([] { parse_case_file(golden_relu(), "g.json"); }).empty());
  auto refused = [](auto patch) {
    json doc = golden_relu();
    patch(doc["cases"][0]);
    return refusal([&] { parse_case_file(doc, "g.json"); });
  };
  // More expected values than the inputs imply (shape and count consistent with each other).
  std::string r = refused([](json& c) {
    c["expected"]["outputs"]["y"] = parse_json_text(R"({"shape": [3], "values": ["0.5", "0", "7"]})", "t");
  });
  BOOST_TEST(r.find("g.json: /cases/0/expected/outputs/y/shape: shape [3], but the op's output has shape [2]") == 0u, r);
  r = refused([](json& c) { c["expected"]["gradients"]["x"]["shape"] = json::array({1, 2}); });
  BOOST_TEST(r.find("g.json: /cases/0/expected/gradients/x/shape") == 0u, r);
  r = refused([](json& c) { c["cotangents"]["y"] = parse_json_text(R"({"shape": [3], "values": [1, 1, 1]})", "t"); });
  BOOST_TEST(r.find("g.json: /cases/0/cotangents/y/shape") == 0u, r);
  // No expected output tensors: nothing to judge is bad input, not a pass.
  BOOST_TEST(refused([](json& c) { c["expected"] = 5; }).find("g.json: /cases/0/expected: expected an object") == 0u);
  BOOST_TEST(refused([](json& c) { c["expected"] = json::object(); }).find("g.json: /cases/0/expected/outputs:") == 0u);
  BOOST_TEST(refused([](json& c) { c["expected"] = {{"outputs", json::array()}}; }).find("g.json: /cases/0/expected/outputs:") == 0u);
  BOOST_TEST(refused([](json& c) { c["expected"]["outputs"]["z"] = c["expected"]["outputs"]["y"]; })
                 .find("g.json: /cases/0/expected/outputs/z: not an output") == 0u);
  BOOST_TEST(refused([](json& c) { c["expected"]["gradients"]["w"] = c["expected"]["gradients"]["x"]; })
                 .find("g.json: /cases/0/expected/gradients/w: not a differentiable input") == 0u);
}

BOOST_AUTO_TEST_CASE(headers_are_checked) {
  auto refused = [](const char* key, const char* value) {
    json doc = golden_relu();
    doc[key] = parse_json_text(value, "t");
    return refusal([&] { parse_case_file(doc, "g.json"); });
  };
  BOOST_TEST(refused("notes", "5").find("g.json: /notes: expected an object") == 0u);
  BOOST_TEST(refused("notes", "[]").find("g.json: /notes:") == 0u);
  BOOST_TEST(refused("notes", R"({"causal": 5})").find("g.json: /notes/causal:") == 0u);
  BOOST_TEST(refused("notes", R"({"causal": {"kind": "edge_case"}})").find("g.json: /notes/causal: missing key \"description\"") == 0u);
  BOOST_TEST(refused("notes", R"({"causal": {"kind": "x", "description": "d"}})").empty());
  // 2^32 + 257 would wrap to 257 through an unsigned.
  BOOST_TEST(refused("generator", R"({"precision_bits": 4294967553})").find("g.json: /generator/precision_bits: must be in [24, 65536]") == 0u);
  BOOST_TEST(refused("generator", R"({"precision_bits": "257"})").find("g.json: /generator/precision_bits:") == 0u);
}

BOOST_AUTO_TEST_CASE(sizes_from_params_are_bounded_before_allocation) {
  using namespace gradspec::reference;
  auto refused_params = [](const std::string& op_name, std::map<std::string, param_value> given) {
    const op_info& op = *find_op(op_name);
    op_args<double> args;
    return refusal([&] {
      args.params = validate_params(op.params, given);
      evaluate(op, args, false);
    });
  };
  auto integer = [](std::int64_t v) { return param_value{param_value::kind::integer, false, v, std::to_string(v)}; };
  BOOST_TEST(refused_params("positional_encoding", {{"length", integer(100000)}, {"d_model", integer(100000)}})
                 .find("params/length: length · d_model = 10000000000 values") == 0u);
  BOOST_TEST(refused_params("positional_encoding", {{"length", integer(1 << 21)}, {"d_model", integer(1)}}).find("params/length: at most") == 0u);
  BOOST_TEST(refused_params("positional_encoding", {{"length", integer(4)}, {"d_model", integer(6)}}).empty());
  const std::string layers = refused_params("transformer", {{"layers", integer(1000000000)}, {"heads", integer(1)}});
  BOOST_TEST(layers.find("params/layers: at most 4096") == 0u, layers);
}

BOOST_AUTO_TEST_SUITE_END()
