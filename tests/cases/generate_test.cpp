// gen --from: expected values, certified digits, generated cotangents, exact_in, determinism.
#include "gradspec/cases/generate.hpp"
#include "gradspec/errors.hpp"

#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <set>

using namespace gradspec::cases;

namespace {
case_file spec(const std::string& inputs, const std::string& extra = "") {
  const std::string text = R"({"format": "gradspec-cases/1", "cases": [{"id": "lin/0", "op": "linear", "params": {},
     "inputs": )" + inputs + "}" + extra + "]}";
  return parse_case_file(parse_json_text(text, "spec.json"), "spec.json");
}
const std::string grid_inputs = R"({"x": {"shape": [1, 2], "values": [0.5, -0.25]},
     "w": {"shape": [2, 2], "values": [1, 2, 3, 4]}, "b": {"shape": [2], "values": [0.125, 0]}})";
} // namespace

BOOST_AUTO_TEST_SUITE(generate_test)

BOOST_AUTO_TEST_CASE(expected_values_and_digits) {
  json out = generate_file(spec(grid_inputs), {});
  const json& c = out["cases"][0];
  // y = [0.5·1 - 0.25·3 + 0.125, 0.5·2 - 0.25·4 + 0] = [-0.125, 0]
  BOOST_TEST(c["expected"]["outputs"]["y"]["values"] == json::parse(R"(["-0.125", "0"])"));
  BOOST_TEST(c["certified_digits"] == 40);
  BOOST_TEST(c["exact_in"] == json::parse(R"(["bfloat16", "float16", "float32", "float64"])"));
  BOOST_TEST(out["generator"]["precision_bits"].get<int>() >= 256);
  // db = dy, dx = dy·wᵀ with the generated cotangent
  const auto& dy = c["cotangents"]["y"]["values"];
  BOOST_TEST(c["expected"]["gradients"]["b"]["values"] == dy);
}

BOOST_AUTO_TEST_CASE(decimal_inputs_are_read_exactly) {
  // 0.1·0.2 + 0.3 = 0.32 exactly in decimal; through doubles it would print 0.32000000000000000666...
  json out = generate_file(spec(R"({"x": {"shape": [1], "values": ["0.1"]}, "w": {"shape": [1, 1], "values": ["0.2"]},
                                   "b": {"shape": [1], "values": ["0.3"]}})"), {});
  const json& c = out["cases"][0];
  BOOST_TEST(c["expected"]["outputs"]["y"]["values"][0] == "0.32");
  BOOST_TEST(c["exact_in"].empty());
}

BOOST_AUTO_TEST_CASE(generated_cotangents_are_deterministic_grid_values) {
  auto a = generated_cotangent("case/1", "y", {3, 4}), b = generated_cotangent("case/1", "y", {3, 4});
  BOOST_TEST(a.values == b.values);
  BOOST_TEST(a.values != generated_cotangent("case/2", "y", {3, 4}).values);
  std::set<std::string> seen(a.values.begin(), a.values.end());
  BOOST_TEST(seen.size() > 3u);
  for (const auto& v : a.values) {
    const double d = std::stod(v) * 64;
    BOOST_TEST(d == std::round(d));
    BOOST_TEST(std::abs(d) >= 1);
    BOOST_TEST(std::abs(d) <= 64);
  }
  BOOST_TEST(generated_cotangent("c", "loss", {}).values == std::vector<std::string>{"1"});
}

BOOST_AUTO_TEST_CASE(same_input_same_bytes) {
  BOOST_TEST(to_text(generate_file(spec(grid_inputs), {})) == to_text(generate_file(spec(grid_inputs), {})));
}

// gen writes each values array as one preformatted text (text_values) and streams the file out:
// the bytes must be those of the element-by-element document, special values, a value needing
// escapes in a string (kept as written) and integer tensors included.
BOOST_AUTO_TEST_CASE(text_values_write_the_same_bytes) {
  const std::string text = R"({"format": "gradspec-cases/1", "cases": [
    {"id": "lin/0", "op": "linear", "params": {}, "inputs": {"x": {"shape": [1, 2], "values": [0.5, "-0.25"]},
     "w": {"shape": [2, 2], "values": ["0.1", 2, 3, "1e-3"]}, "b": {"shape": [2], "values": [0.125, 0]}}},
    {"id": "sm/0", "op": "softmax", "params": {}, "inputs": {"x": {"shape": [2, 3], "values": ["-inf", "-inf", "-inf", 0, "1e300", "-2.5"]}}},
    {"id": "emb/0", "op": "embedding", "params": {}, "inputs": {"ids": {"shape": [2], "dtype": "int64", "values": [1, 0]},
     "table": {"shape": [2, 2], "values": [0.5, 1, 2, 4]}}}]})";
  const case_file f = parse_case_file(parse_json_text(text, "spec.json"), "spec.json");
  generation_options fast;
  fast.text_values = true;
  const json plain = generate_file(f, {}), compact = generate_file(f, fast);
  BOOST_TEST(is_raw_text(compact["cases"][0]["expected"]["outputs"]["y"]["values"])); // the fast path ran
  BOOST_TEST(to_text(compact) == to_text(plain));
  const std::string path = "generate_test_stream.json";
  write_json_atomically(path, compact);
  std::ifstream in(path, std::ios::binary);
  const std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  BOOST_TEST(written == to_text(plain));
  std::remove(path.c_str());
}

// Above 1 MiB a values text goes straight to the file, not through the writer's buffer: the bytes
// must still be the element-by-element document's, with what the buffer held before it first.
BOOST_AUTO_TEST_CASE(large_values_texts_stream_the_same_bytes) {
  std::string values;
  for (int i = 0; i < 30000; ++i) values += (i ? ", \"" : "\"") + std::to_string(((i * 37) % 97 - 48) * 0.0625) + "\"";
  const std::string text = R"({"format": "gradspec-cases/1", "cases": [{"id": "sm/big", "op": "softmax", "params": {}, "inputs": {"x": {"shape": [100, 300], "values": [)" +
                           values + "]}}}]}";
  const case_file f = parse_case_file(parse_json_text(text, "spec.json"), "spec.json");
  generation_options fast;
  fast.text_values = true;
  const json plain = generate_file(f, {}), compact = generate_file(f, fast);
  const json& y = compact["cases"][0]["expected"]["outputs"]["y"]["values"];
  BOOST_TEST_REQUIRE(is_raw_text(y));
  BOOST_TEST(y.get_binary().size() > (1u << 20)); // the streaming branch runs
  const std::string path = "generate_test_stream_large.json";
  write_json_atomically(path, compact);
  std::ifstream in(path, std::ios::binary);
  const std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  BOOST_TEST((written == to_text(plain)));
  std::remove(path.c_str());
}

BOOST_AUTO_TEST_CASE(given_cotangents_are_kept) {
  auto f = spec(grid_inputs, "");
  f.cases[0].cotangents["y"] = raw_tensor{{1, 2}, false, {"1", "0"}, {}};
  json c = generate_case(f.cases[0], {});
  BOOST_TEST(c["cotangents"]["y"]["values"] == json::parse(R"(["1", "0"])"));
  BOOST_TEST(c["expected"]["gradients"]["x"]["values"] == json::parse(R"(["1", "3"])")); // dx = dy·wᵀ = first column of w
}

BOOST_AUTO_TEST_CASE(shape_errors_name_the_case) {
  try {
    generate_file(spec(R"({"x": {"shape": [1, 3], "values": [1, 2, 3]}, "w": {"shape": [2, 2], "values": [1, 2, 3, 4]},
                          "b": {"shape": [2], "values": [0, 0]}})"), {});
    BOOST_FAIL("no error");
  } catch (const gradspec::bad_input& e) {
    BOOST_TEST(std::string(e.what()).rfind("spec.json: /cases/0/inputs/w: ", 0) == 0, e.what());
  }
}

BOOST_AUTO_TEST_CASE(fully_masked_row_flag_follows_the_registry_roles) {
  // The flag comes from tensor roles (reference/registry.hpp), never from op or tensor names: a row
  // of all -inf in softmax logits (softmax's x; attention's scores intermediate), or an additive
  // mask hiding every visible key of a row (visible: j <= i under causal).
  auto flagged = [](const std::string& op, const std::string& params, const std::string& inputs) {
    const std::string text = R"({"format": "gradspec-cases/1", "cases": [{"id": "c/0", "op": ")" + op + R"(", "params": )" +
                             params + R"(, "inputs": )" + inputs + "}]}";
    const json c = generate_file(parse_case_file(parse_json_text(text, "spec.json"), "spec.json"), {})["cases"][0];
    return c.contains("flags") && c["flags"] == json::parse(R"(["fully_masked_row"])");
  };
  BOOST_TEST(flagged("softmax", "{}", R"({"x": {"shape": [2, 2], "values": ["-inf", "-inf", 0, 1]}})"));
  BOOST_TEST(!flagged("softmax", "{}", R"({"x": {"shape": [2, 2], "values": ["-inf", 0, 0, 1]}})"));
  BOOST_TEST(flagged("log_softmax", "{}", R"({"x": {"shape": [2], "values": ["-inf", "-inf"]}})"));
  BOOST_TEST(!flagged("relu", "{}", R"({"x": {"shape": [2], "values": ["-inf", "-inf"]}})")); // plain
  const std::string qkv = R"("q": {"shape": [2, 1], "values": [1, 0.5]}, "k": {"shape": [2, 1], "values": [1, 2]},
                              "v": {"shape": [2, 1], "values": [3, 4]})";
  const std::string mask = R"("mask": {"shape": [2, 2], "values": ["-inf", 0, 0, 0]})";
  BOOST_TEST(flagged("attention", R"({"causal": true})", "{" + qkv + ", " + mask + "}")); // query 0 sees only key 0
  BOOST_TEST(!flagged("attention", R"({"causal": false})", "{" + qkv + ", " + mask + "}"));
  BOOST_TEST(flagged("multi_head_attention", R"({"heads": 1, "causal": true})",
                     R"({"x": {"shape": [2, 1], "values": [1, 0.5]}, )" + mask +
                         R"(, "w_q": {"shape": [1, 1], "values": [1]}, "b_q": {"shape": [1], "values": [0]},
                            "w_k": {"shape": [1, 1], "values": [1]}, "b_k": {"shape": [1], "values": [0]},
                            "w_v": {"shape": [1, 1], "values": [1]}, "b_v": {"shape": [1], "values": [0]},
                            "w_o": {"shape": [1, 1], "values": [1]}, "b_o": {"shape": [1], "values": [0]}})"));
  // No mask, but a query of -inf makes its whole row of scores -inf: seen in the scores intermediate.
  BOOST_TEST(flagged("attention", "{}", R"({"q": {"shape": [2, 1], "values": ["-inf", 0.5]}, "k": {"shape": [2, 1], "values": [1, 2]},
                                           "v": {"shape": [2, 1], "values": [3, 4]}})"));
}

BOOST_AUTO_TEST_SUITE_END()
