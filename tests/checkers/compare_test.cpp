// The verdict policy on hand-made cases: what passes, what fails and how it is diagnosed.
#include "gradspec/checkers/compare.hpp"
#include "gradspec/checkers/summary.hpp"
#include "gradspec/errors.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>

using namespace gradspec;
using namespace gradspec::checkers;

namespace {

// A golden softmax case over 4 values whose expected output is `want`.
cases::test_case golden(const std::vector<std::string>& want, std::vector<std::string> flags = {},
                        std::vector<std::string> exact = {"bfloat16", "float16", "float32", "float64"}) {
  const std::string text = R"({"format": "gradspec-cases/1", "cases": [{"id": "c", "op": "softmax", "params": {},
    "inputs": {"x": {"shape": [4], "values": ["0", "0", "0", "0"]}}}]})";
  auto file = cases::parse_case_file(cases::parse_json_text(text, "t"), "t");
  auto c = file.cases[0];
  cases::json values = cases::json::array();
  for (const auto& w : want) values.push_back(w);
  c.expected = cases::json{{"outputs", {{"y", {{"shape", {4}}, {"values", values}}}}}, {"gradients", cases::json::object()}};
  c.flags = std::move(flags);
  c.exact_in = std::move(exact);
  return c;
}

candidate_result got(std::vector<double> y) {
  candidate_result r;
  r.id = "c";
  r.tensors["outputs.y"] = {{4}, std::move(y)};
  return r;
}

// Judges a candidate whose output is `y`.
case_finding judge_values(const cases::test_case& c, std::vector<double> y, const policy& p, const candidate_result* base = nullptr) {
  const candidate_result r = got(std::move(y));
  return judge(c, &r, p, base);
}

policy in(const std::string& dtype) {
  policy p;
  p.dtype = dtype;
  return p;
}

} // namespace

BOOST_AUTO_TEST_SUITE(compare_test)

BOOST_AUTO_TEST_CASE(float32_rounding_passes_and_a_real_error_fails) {
  auto c = golden({"0.25", "0.25", "0.25", "0.25"});
  const double eps32 = std::ldexp(1.0, -23);
  BOOST_TEST(judge_values(c, {0.25 + 3 * eps32 * 0.25, 0.25, 0.25, 0.25}, in("float32")).verdict == "pass");
  auto bad = judge_values(c, {0.25 + 1e-4, 0.25, 0.25, 0.25}, in("float32"));
  BOOST_TEST(bad.verdict == "fail");
  BOOST_TEST(bad.tensors[0].worst_index == std::vector<std::int64_t>{0});
  BOOST_TEST(bad.tensors[0].worst_want == "0.25");
  // The same 1e-4 is far beyond float64 too, and 3 float32 eps is beyond 16 float64 eps.
  BOOST_TEST(judge_values(c, {0.25 + 3 * eps32 * 0.25, 0.25, 0.25, 0.25}, in("float64")).verdict == "fail");
}

BOOST_AUTO_TEST_CASE(ulp_and_digit_metrics) {
  auto c = golden({"0.25", "0.25", "0.25", "0.25"});
  const double ulp = std::ldexp(1.0, -2 - 52); // float64 spacing in [0.25, 0.5)
  auto f = judge_values(c, {0.25 + 2 * ulp, 0.25, 0.25, 0.25}, in("float64"));
  BOOST_TEST(f.tensors[0].max_ulp == 2.0, boost::test_tools::tolerance(1e-9));
  BOOST_TEST(f.tensors[0].max_abs == 2 * ulp, boost::test_tools::tolerance(1e-9));
  // NIST log relative error, normwise: -log10(2 ulp / 0.25) ~ 15.65 digits
  BOOST_TEST(f.tensors[0].min_digits == -std::log10(2 * ulp / 0.25), boost::test_tools::tolerance(1e-9));
  // An element much smaller than its tensor is measured on the tensor's scale, not its own.
  auto small = judge_values(golden({"1", "1e-12", "0.5", "0.25"}), {1, 1e-12 + 2 * ulp, 0.5, 0.25}, in("float64"));
  BOOST_TEST(small.tensors[0].max_ulp <= 2.0);
  BOOST_TEST(f.tensors[0].rms_ulp == std::sqrt(4.0 / 4), boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(nan_where_finite_is_always_a_failure_and_named) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto plain = judge_values(golden({"0", "0", "0.5", "0.5"}), {nan, nan, 0.5, 0.5}, in("float32"));
  BOOST_TEST(plain.verdict == "fail");
  BOOST_TEST(plain.reason.find("NaN/Inf where the reference is finite (2 of 4") != std::string::npos, plain.reason);
  auto masked = judge_values(golden({"0", "0", "0.5", "0.5"}, {"fully_masked_row"}), {nan, nan, 0.5, 0.5}, in("float32"));
  BOOST_TEST(masked.reason.find("fully masked row") != std::string::npos, masked.reason);
  // NaN expected (cross-entropy over zero targets) and NaN given: agreement.
  BOOST_TEST(judge_values(golden({"nan", "0", "0", "0"}), {nan, 0, 0, 0}, in("float64")).verdict == "pass");
  BOOST_TEST(judge_values(golden({"nan", "0", "0", "0"}), {0, 0, 0, 0}, in("float64")).verdict == "fail");
}

BOOST_AUTO_TEST_CASE(baseline_error_widens_the_bound_for_ill_conditioned_problems) {
  auto c = golden({"1", "1", "1", "1"});
  candidate_result base = got({1 + 1e-3, 1, 1, 1}); // a correct float32 baseline off by 1e-3: ill-conditioned
  BOOST_TEST(judge_values(c, {1 + 3e-3, 1, 1, 1}, in("float32"), &base).verdict == "pass");
  auto f = judge_values(c, {1 + 1e-1, 1, 1, 1}, in("float32"), &base);
  BOOST_TEST(f.verdict == "fail");
  BOOST_TEST(f.reason.find("where the baseline has") != std::string::npos, f.reason);
}

BOOST_AUTO_TEST_CASE(fixed_and_per_op_tolerances_replace_the_rule) {
  auto c = golden({"0.25", "0.25", "0.25", "0.25"});
  policy p = in("float32");
  p.fixed = tolerance{0.0005, 0};
  BOOST_TEST(judge_values(c, {0.2504, 0.25, 0.25, 0.25}, p).verdict == "pass");
  BOOST_TEST(judge_values(c, {0.2506, 0.25, 0.25, 0.25}, p).verdict == "fail");
  policy q = in("float32");
  q.per_op["softmax"] = tolerance{0, 0.01};
  BOOST_TEST(judge_values(c, {0.252, 0.25, 0.25, 0.25}, q).verdict == "pass");
  BOOST_TEST(q.describe().contains("per_op"));
}

BOOST_AUTO_TEST_CASE(skips_errors_missing_and_misshapen_tensors) {
  auto c = golden({"0.25", "0.25", "0.25", "0.25"}, {}, {"float32", "float64"});
  BOOST_TEST(judge_values(c, {0.25, 0.25, 0.25, 0.25}, in("bfloat16")).verdict == "skipped");
  BOOST_TEST(judge(c, nullptr, in("float32")).verdict == "skipped");
  candidate_result e;
  e.id = "c";
  e.error = "unsupported op";
  BOOST_TEST(judge(c, &e, in("float32")).verdict == "skipped"); // an adapter's "unsupported" answer
  e.error = "Unsupported dtype for this op";
  BOOST_TEST(judge(c, &e, in("float32")).verdict == "skipped");
  e.error = "out of memory";
  BOOST_TEST(judge(c, &e, in("float32")).verdict == "error");
  candidate_result none;
  none.id = "c";
  BOOST_TEST(judge(c, &none, in("float32")).verdict == "fail");
  candidate_result wrong = got({0.25, 0.25, 0.25, 0.25});
  wrong.tensors["outputs.y"].shape = {2, 2};
  auto f = judge(c, &wrong, in("float32"));
  BOOST_TEST(f.verdict == "fail");
  BOOST_TEST(f.reason.find("shape [2, 2], expected [4]") != std::string::npos, f.reason);
  BOOST_CHECK_THROW(dtype_named("float8"), gradspec::bad_input);
}

BOOST_AUTO_TEST_CASE(summary_counts_and_exit_code) {
  auto c = golden({"0.25", "0.25", "0.25", "0.25"});
  std::vector<case_finding> findings = {judge_values(c, {0.25, 0.25, 0.25, 0.25}, in("float32")),
                                        judge(c, nullptr, in("float32"))};
  BOOST_TEST(exit_code(findings, in("float32")) == 0);
  policy strict = in("float32");
  strict.require_all = true;
  BOOST_TEST(exit_code(findings, strict) == 1);
  auto doc = summary_json({"x", "1", "float32"}, in("float32"), findings);
  BOOST_TEST(doc["format"] == "gradspec-check/1");
  BOOST_TEST(doc["summary"]["pass"] == 1);
  BOOST_TEST(doc["summary"]["skipped"] == 1);
  BOOST_TEST(doc["cases"][0]["tensors"][0]["name"] == "outputs.y");
}

BOOST_AUTO_TEST_CASE(perturbed_moves_data_not_masks) {
  // Inputs with the registry's role additive_mask are structure, not data: left as they are; every
  // other nonzero finite real input moves by one relative step.
  const std::string text = R"({"format": "gradspec-cases/1", "cases": [{"id": "a", "op": "attention", "params": {},
    "inputs": {"q": {"shape": [1, 2], "values": [1, 2]}, "k": {"shape": [2, 2], "values": [1, 0, 0, 1]},
               "v": {"shape": [2, 1], "values": [3, 4]}, "mask": {"shape": [1, 2], "values": [0.5, "-inf"]}}}]})";
  const auto c = cases::parse_case_file(cases::parse_json_text(text, "t"), "t").cases[0];
  const auto p = perturbed(c, 0.25);
  BOOST_TEST(p.inputs.at("mask").values == c.inputs.at("mask").values);
  for (const char* name : {"q", "v"})
    for (std::size_t i = 0; i < c.inputs.at(name).values.size(); ++i) {
      const double was = std::stod(c.inputs.at(name).values[i]), now = std::stod(p.inputs.at(name).values[i]);
      BOOST_TEST(std::abs(std::abs(now / was - 1) - 0.25) < 1e-12, name << "[" << i << "]");
    }
  BOOST_TEST(p.inputs.at("k").values[1] == c.inputs.at("k").values[1]); // zeros stay
}

// The histogram's bins, at and around their edges: 0 | (0, 1/2] | (1/2, 1] | (2^k, 2^(k+1)] | > 2^20 | NaN/Inf.
BOOST_AUTO_TEST_CASE(ulp_bins_at_their_edges) {
  using gradspec::checkers::ulp_bin;
  BOOST_TEST(ulp_bin(0.0) == 0u);
  BOOST_TEST(ulp_bin(1e-300) == 1u);
  BOOST_TEST(ulp_bin(0.5) == 1u);
  BOOST_TEST(ulp_bin(std::nextafter(0.5, 1.0)) == 2u);
  BOOST_TEST(ulp_bin(1.0) == 2u);
  BOOST_TEST(ulp_bin(std::nextafter(1.0, 2.0)) == 3u);
  BOOST_TEST(ulp_bin(2.0) == 3u);
  BOOST_TEST(ulp_bin(2.5) == 4u);
  BOOST_TEST(ulp_bin(4.0) == 4u);
  BOOST_TEST(ulp_bin(1000.0) == 12u); // (512, 1024]: k = 9
  BOOST_TEST(ulp_bin(std::ldexp(1.0, 20)) == 22u);
  BOOST_TEST(ulp_bin(std::nextafter(std::ldexp(1.0, 20), 1e300)) == 23u);
  BOOST_TEST(ulp_bin(1e300) == 23u);
  BOOST_TEST(ulp_bin(INFINITY) == 24u);
  BOOST_TEST(ulp_bin(NAN) == 24u);
  BOOST_TEST(gradspec::checkers::tensor_finding::ulp_bins == 25u);
}

BOOST_AUTO_TEST_SUITE_END()
