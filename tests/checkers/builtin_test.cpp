// The built-in candidates (the reference instantiated in float64 and float32): hand-derived values
// (linear, softmax, layer_norm, cross_entropy, attention masking), error handling, the former names
// as aliases, and agreement with golden cases from the reference at 257 bits (every op, float64 to
// 1e-12 and float32 to 1e-5 of each tensor's scale).
#include "gradspec/checkers/builtin.hpp"
#include "gradspec/checkers/compare.hpp"
#include "gradspec/cases/case_file.hpp"
#include "gradspec/cases/generate.hpp"
#include "gradspec/cases/generators.hpp"
#include "gradspec/cases/suites.hpp"
#include "gradspec/reference/registry.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>

using namespace gradspec;
using namespace gradspec::checkers;
namespace tt = boost::test_tools;

namespace {

const builtin_candidate& f64() { return *find_builtin("reference-f64"); }
const builtin_candidate& f32() { return *find_builtin("reference-f32"); }

// One case from JSON text: {"id", "op", "params", "inputs", "cotangents"}.
cases::test_case hand_case(const std::string& case_text) {
  const std::string text = R"({"format": "gradspec-cases/1", "cases": [)" + case_text + "]}";
  return cases::parse_case_file(cases::parse_json_text(text, "hand.json"), "hand.json").cases.at(0);
}

const std::vector<double>& values(const candidate_result& r, const std::string& name) {
  BOOST_TEST_REQUIRE(!r.error, "error: " << r.error.value_or(""));
  auto it = r.tensors.find(name);
  BOOST_TEST_REQUIRE((it != r.tensors.end()), "missing " << name);
  return it->second.values;
}

void check_values(const candidate_result& r, const std::string& name, const std::vector<double>& want, double tol) {
  const auto& got = values(r, name);
  BOOST_TEST_REQUIRE(got.size() == want.size(), name);
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (std::isnan(want[i])) {
      BOOST_TEST(std::isnan(got[i]), name << "[" << i << "] = " << got[i] << ", want NaN");
      continue;
    }
    BOOST_TEST(std::abs(got[i] - want[i]) <= tol * std::max(1.0, std::abs(want[i])),
               name << "[" << i << "] = " << got[i] << ", want " << want[i]);
  }
}

// Both candidates on a hand-made case: float64 to 1e-15, float32 to 1e-6.
void check_both(const cases::test_case& c, const std::map<std::string, std::vector<double>>& want) {
  const auto a = f64().evaluate(c), b = f32().evaluate(c);
  for (const auto& [name, w] : want) {
    check_values(a, name, w, 1e-15);
    check_values(b, name, w, 1e-6);
  }
}

// ---------------------------------------------------------------------------------------------
// Golden comparisons.

struct tensor_error {
  std::string name;
  double rel = 0; // max |got - want| / max |want|
};

long double want_value(const std::string& v) {
  if (v == "nan") return std::numeric_limits<long double>::quiet_NaN();
  if (v == "inf") return std::numeric_limits<long double>::infinity();
  if (v == "-inf") return -std::numeric_limits<long double>::infinity();
  return std::strtold(v.c_str(), nullptr);
}

// Compares every expected output and gradient (and the intermediates the candidate gives) with the
// candidate's result; returns the worst error relative to each tensor's scale, with a note per
// problem (missing tensor, shape, a non-finite mismatch) in `problems`.
std::vector<tensor_error> compare(const cases::test_case& c, const candidate_result& r, std::vector<std::string>& problems) {
  std::vector<tensor_error> out;
  if (r.error) {
    problems.push_back(c.id + ": error " + *r.error);
    return out;
  }
  for (const char* group : {"outputs", "gradients", "intermediates"}) {
    if (!c.expected->contains(group)) continue;
    for (const auto& [key, value] : (*c.expected)[group].items()) {
      const std::string name = std::string(group) + "." + key;
      const auto want = cases::parse_tensor(value, name);
      auto it = r.tensors.find(name);
      if (it == r.tensors.end()) {
        if (std::string(group) != "intermediates") problems.push_back(c.id + ": missing " + name);
        continue;
      }
      if (it->second.shape != want.shape) {
        problems.push_back(c.id + ": " + name + " has shape " + reference::shape_to_string(it->second.shape) + ", want " +
                           reference::shape_to_string(want.shape));
        continue;
      }
      long double scale = 0, err = 0;
      for (std::size_t i = 0; i < want.values.size(); ++i) {
        const long double w = want_value(want.values[i]);
        if (std::isfinite(w)) scale = std::max(scale, std::fabs(w));
      }
      for (std::size_t i = 0; i < want.values.size(); ++i) {
        const long double w = want_value(want.values[i]), g = it->second.values[i];
        if (!std::isfinite(w)) {
          if (!((std::isnan(w) && std::isnan(g)) || w == g))
            problems.push_back(c.id + ": " + name + "[" + std::to_string(i) + "] = " + std::to_string(static_cast<double>(g)) +
                               ", want " + want.values[i]);
          continue;
        }
        if (!std::isfinite(g)) {
          problems.push_back(c.id + ": " + name + "[" + std::to_string(i) + "] is not finite, want " + want.values[i]);
          continue;
        }
        err = std::max(err, std::fabs(g - w));
      }
      out.push_back({name, static_cast<double>(scale > 0 ? err / scale : err)});
    }
  }
  return out;
}

// The golden version of a spec case (what `gradspec gen` writes).
cases::test_case golden(const cases::test_case& spec) {
  cases::json file = {{"format", "gradspec-cases/1"}, {"cases", cases::json::array({cases::generate_case(spec, {})})}};
  return cases::parse_case_file(file, spec.id).cases.at(0);
}

// Runs a candidate over golden cases; every tensor must agree within tolerance(case) of its scale,
// and non-finite values (NaN loss, -inf log-probabilities) must match exactly. Cases whose inputs
// are not exact in the candidate's dtype are skipped unless `rounded_inputs_too` (their inputs are
// then rounded once). Reports the worst error per op.
void check_golden(const builtin_candidate& b, const std::vector<cases::test_case>& cases,
                  const std::function<double(const cases::test_case&)>& tolerance, bool rounded_inputs_too = false) {
  std::map<std::string, std::pair<double, std::string>> worst; // op -> (error, where)
  std::vector<std::string> problems;
  std::size_t evaluated = 0;
  for (const auto& c : cases) {
    if (!rounded_inputs_too && !exact_in(c, b.dtype)) continue;
    ++evaluated;
    const candidate_result r = b.evaluate(c);
    const double tol = tolerance(c);
    for (const auto& e : compare(c, r, problems)) {
      BOOST_TEST(e.rel <= tol, b.name << " " << c.id << " " << e.name << ": error " << e.rel << " of the tensor's scale");
      auto& w = worst[c.op];
      if (e.rel >= w.first) w = {e.rel, c.id + " " + e.name};
    }
  }
  for (const auto& p : problems) BOOST_ERROR(b.name << " " << p);
  BOOST_TEST(evaluated > 0u);
  for (const auto& [op, w] : worst) BOOST_TEST_MESSAGE(b.name << " " << op << ": worst " << w.first << " (" << w.second << ")");
}

std::function<double(const cases::test_case&)> within(double tol) {
  return [tol](const cases::test_case&) { return tol; };
}

std::vector<cases::test_case> suite_goldens(const std::string& name) {
  std::vector<cases::test_case> out;
  for (const auto& f : cases::build_suite(name))
    for (const auto& c : f.cases) out.push_back(golden(c));
  return out;
}

const std::vector<cases::test_case>& standard_goldens() {
  static const std::vector<cases::test_case> all = suite_goldens("standard");
  return all;
}

// `gradspec gen --op OP --seed N` for every op, default sizes, two seeds, and a batched variant where
// the op has batch axes (every op with inputs).
const std::vector<cases::test_case>& generated_goldens() {
  static const std::vector<cases::test_case> all = [] {
    std::vector<cases::test_case> out;
    for (const auto& op : reference::op_catalogue()) {
      for (std::uint64_t seed : {0u, 1u}) out.push_back(golden(cases::make_case(op.name, {}, {}, seed)));
      if (!op.inputs(out.back().params).empty()) out.push_back(golden(cases::make_case(op.name, {{"batch", "2x2"}}, {}, 7)));
    }
    return out;
  }();
  return all;
}

bool flagged(const cases::test_case& c, std::initializer_list<const char*> flags) {
  return std::any_of(flags.begin(), flags.end(), [&](const char* f) { return std::find(c.flags.begin(), c.flags.end(), f) != c.flags.end(); });
}

} // namespace

BOOST_AUTO_TEST_SUITE(builtin_test)

BOOST_AUTO_TEST_CASE(table_and_baselines) {
  BOOST_TEST(builtin_candidates().size() == 2u);
  BOOST_TEST(f64().dtype == "float64");
  BOOST_TEST(f32().dtype == "float32");
  BOOST_TEST(find_builtin("nope") == nullptr);
  BOOST_TEST(baseline_for("float64")->name == "reference-f64");
  for (const char* d : {"float32", "bfloat16", "float16"}) BOOST_TEST(baseline_for(d)->name == "reference-f32");
  BOOST_TEST(find_builtin("armadillo-f64") == &f64()); // the former names, kept as aliases
  BOOST_TEST(find_builtin("armadillo-f32") == &f32());
  BOOST_TEST(baseline_for("int8") == nullptr);
  for (const auto& op : reference::op_catalogue()) {
    BOOST_TEST(f64().ops.count(op.name) == 1u, op.name);
    BOOST_TEST(f32().ops.count(op.name) == 1u, op.name);
  }
}

BOOST_AUTO_TEST_CASE(linear_by_hand) {
  // y = x·w + b = [0.5·1 - 0.25·3 + 0.125, 0.5·2 - 0.25·4 + 0] = [-0.125, 0]
  // dx = dy·wᵀ = [1·1 + 2·2, 1·3 + 2·4], dw = xᵀ·dy, db = dy
  auto c = hand_case(R"({"id": "lin", "op": "linear", "params": {},
    "inputs": {"x": {"shape": [1, 2], "values": ["0.5", "-0.25"]}, "w": {"shape": [2, 2], "values": ["1", "2", "3", "4"]},
               "b": {"shape": [2], "values": ["0.125", "0"]}},
    "cotangents": {"y": {"shape": [1, 2], "values": ["1", "2"]}}})");
  check_both(c, {{"outputs.y", {-0.125, 0}}, {"gradients.x", {5, 11}}, {"gradients.w", {0.5, 1, -0.25, -0.5}}, {"gradients.b", {1, 2}}});
  const auto r = f64().evaluate(c);
  BOOST_TEST(r.id == "lin");
  BOOST_TEST((r.tensors.at("outputs.y").shape == shape_t{1, 2}));
  BOOST_TEST((r.tensors.at("gradients.w").shape == shape_t{2, 2}));
}

BOOST_AUTO_TEST_CASE(softmax_by_hand_and_safe_for_a_fully_masked_row) {
  // Row 0: equal inputs give 1/4 each; dx = y·(dy - <dy, y>) = 1/4·(1 - 1/4), 1/4·(0 - 1/4).
  // Row 1: every entry -inf gives zeros and zero gradients.
  auto c = hand_case(R"({"id": "sm", "op": "softmax", "params": {},
    "inputs": {"x": {"shape": [2, 4], "values": ["3", "3", "3", "3", "-inf", "-inf", "-inf", "-inf"]}},
    "cotangents": {"y": {"shape": [2, 4], "values": ["1", "0", "0", "0", "1", "2", "3", "4"]}}})");
  check_both(c, {{"outputs.y", {0.25, 0.25, 0.25, 0.25, 0, 0, 0, 0}},
                 {"gradients.x", {0.1875, -0.0625, -0.0625, -0.0625, 0, 0, 0, 0}}});
  // Large inputs do not overflow (max-subtracted): softmax([1000, 1000 + ln 3 ≈ 1001.0986]) ≈ [1/4, 3/4].
  auto big = hand_case(R"({"id": "sm2", "op": "softmax", "params": {},
    "inputs": {"x": {"shape": [2], "values": ["1000", "1001.0986122886681"]}}})");
  const auto r = f64().evaluate(big);
  check_values(r, "outputs.y", {0.25, 0.75}, 1e-12);
  BOOST_TEST(r.tensors.count("gradients.x") == 0u); // no cotangents: forward only
  // log_softmax of a fully masked row is -inf with zero gradient.
  auto ls = hand_case(R"({"id": "ls", "op": "log_softmax", "params": {},
    "inputs": {"x": {"shape": [1, 2], "values": ["-inf", "-inf"]}},
    "cotangents": {"y": {"shape": [1, 2], "values": ["1", "1"]}}})");
  const auto l = f32().evaluate(ls);
  BOOST_TEST(values(l, "outputs.y")[0] == -std::numeric_limits<double>::infinity());
  check_values(l, "gradients.x", {0, 0}, 0);
}

BOOST_AUTO_TEST_CASE(layer_norm_by_hand) {
  // x = [1, 2, 3, 4]: mean 2.5, biased variance 1.25, eps 0.75 inside the root: rstd = 1/sqrt(2);
  // y = (x - 2.5)·rstd·gamma + beta with gamma 2, beta 1. With dy all ones (and gamma constant) the
  // gradient of x is zero (a uniform shift of x changes nothing), dbeta = dy, dgamma = dy·xhat.
  const double r2 = 1 / std::sqrt(2.0);
  auto c = hand_case(R"({"id": "ln", "op": "layer_norm", "params": {"eps": "0.75"},
    "inputs": {"x": {"shape": [1, 4], "values": ["1", "2", "3", "4"]}, "gamma": {"shape": [4], "values": ["2", "2", "2", "2"]},
               "beta": {"shape": [4], "values": ["1", "1", "1", "1"]}},
    "cotangents": {"y": {"shape": [1, 4], "values": ["1", "1", "1", "1"]}}})");
  check_both(c, {{"outputs.y", {1 - 3 * r2, 1 - r2, 1 + r2, 1 + 3 * r2}},
                 {"gradients.x", {0, 0, 0, 0}},
                 {"gradients.gamma", {-1.5 * r2, -0.5 * r2, 0.5 * r2, 1.5 * r2}},
                 {"gradients.beta", {1, 1, 1, 1}},
                 {"intermediates.mean", {2.5}},
                 {"intermediates.rstd", {r2}}});
}

BOOST_AUTO_TEST_CASE(cross_entropy_by_hand) {
  // Equal logits: p = 1/V, loss = log V per row; dlogits = g·(p - onehot). The second row is ignored
  // (ignore_index -100), so mean divides by 1 and its gradient is zero.
  auto c = hand_case(R"({"id": "ce", "op": "cross_entropy", "params": {"ignore_index": -100},
    "inputs": {"logits": {"shape": [2, 4], "values": ["0", "0", "0", "0", "1", "2", "3", "4"]},
               "targets": {"shape": [2], "dtype": "int64", "values": [1, -100]}},
    "cotangents": {"loss": {"shape": [], "values": ["2"]}}})");
  check_both(c, {{"outputs.loss", {std::log(4.0)}}, {"gradients.logits", {0.5, -1.5, 0.5, 0.5, 0, 0, 0, 0}}});
  BOOST_TEST(f64().evaluate(c).tensors.at("outputs.loss").shape.empty());
  // Label smoothing ε: loss = (1-ε)·log V + ε/V·V·log V = log V for equal logits; the gradient's
  // target weight is (1-ε) + ε/V.
  auto s = hand_case(R"({"id": "ces", "op": "cross_entropy", "params": {"label_smoothing": 0.5, "reduction": "none"},
    "inputs": {"logits": {"shape": [1, 4], "values": ["0", "0", "0", "0"]}, "targets": {"shape": [1], "dtype": "int64", "values": [3]}},
    "cotangents": {"loss": {"shape": [1], "values": ["1"]}}})");
  check_both(s, {{"outputs.loss", {std::log(4.0)}}, {"gradients.logits", {0.125, 0.125, 0.125, -0.375}}});
  // Every row ignored with mean: 0/0 = NaN loss (PyTorch) and zero gradients.
  auto all = hand_case(R"({"id": "cea", "op": "cross_entropy", "params": {"ignore_index": 0},
    "inputs": {"logits": {"shape": [2, 2], "values": ["1", "2", "3", "4"]}, "targets": {"shape": [2], "dtype": "int64", "values": [0, 0]}},
    "cotangents": {"loss": {"shape": [], "values": ["1"]}}})");
  check_both(all, {{"outputs.loss", {std::numeric_limits<double>::quiet_NaN()}}, {"gradients.logits", {0, 0, 0, 0}}});
}

BOOST_AUTO_TEST_CASE(attention_masked_positions_never_enter) {
  // Key 1 is masked for every query (a -inf mask column), so NaN in k[1] and v[1] changes nothing:
  // each query sees key 0 alone (weight 1), out = v[0], dv[0] = Σ dout, and a single weight has no
  // gradient (dq = dk = 0).
  auto c = hand_case(R"({"id": "at", "op": "attention", "params": {},
    "inputs": {"q": {"shape": [2, 1], "values": ["1", "1"]}, "k": {"shape": [2, 1], "values": ["1", "nan"]},
               "v": {"shape": [2, 1], "values": ["0.5", "nan"]}, "mask": {"shape": [2, 2], "values": ["0", "-inf", "0", "-inf"]}},
    "cotangents": {"out": {"shape": [2, 1], "values": ["1", "2"]}}})");
  check_both(c, {{"outputs.out", {0.5, 0.5}}, {"gradients.q", {0, 0}}, {"gradients.k", {0, 0}}, {"gradients.v", {3, 0}},
                 {"intermediates.weights", {1, 0, 1, 0}}});
  BOOST_TEST(values(f64().evaluate(c), "intermediates.scores")[1] == -std::numeric_limits<double>::infinity());
  // Causal, T = 2: NaN in the last key and value reaches the last query only.
  auto causal = hand_case(R"({"id": "atc", "op": "attention", "params": {"causal": true},
    "inputs": {"q": {"shape": [2, 1], "values": ["1", "1"]}, "k": {"shape": [2, 1], "values": ["1", "nan"]},
               "v": {"shape": [2, 1], "values": ["0.5", "nan"]}}})");
  for (const auto* b : {&f64(), &f32()}) {
    const auto r = b->evaluate(causal);
    BOOST_TEST(values(r, "outputs.out")[0] == 0.5);
    BOOST_TEST(std::isnan(values(r, "outputs.out")[1]));
  }
  // A -inf mask row hides every key: zero output row and zero gradients.
  auto m = hand_case(R"({"id": "am", "op": "attention", "params": {},
    "inputs": {"q": {"shape": [2, 2], "values": ["1", "0", "0", "1"]}, "k": {"shape": [2, 2], "values": ["1", "0", "0", "1"]},
               "v": {"shape": [2, 2], "values": ["1", "2", "3", "4"]},
               "mask": {"shape": [2, 2], "values": ["0", "-inf", "-inf", "-inf"]}},
    "cotangents": {"out": {"shape": [2, 2], "values": ["1", "1", "1", "1"]}}})");
  check_both(m, {{"outputs.out", {1, 2, 0, 0}}, {"gradients.q", {0, 0, 0, 0}}, {"gradients.k", {0, 0, 0, 0}},
                 {"gradients.v", {1, 1, 0, 0}}, {"intermediates.weights", {1, 0, 0, 0}}});
}

BOOST_AUTO_TEST_CASE(bad_input_is_an_error_not_a_crash) {
  auto c = hand_case(R"({"id": "bad", "op": "linear", "params": {},
    "inputs": {"x": {"shape": [1, 2], "values": ["0.5", "-0.25"]}, "w": {"shape": [2, 2], "values": ["1", "2", "3", "4"]},
               "b": {"shape": [2], "values": ["0.125", "0"]}}})");
  c.inputs["w"].shape = {3, 2};
  c.inputs["w"].values.resize(6, "0");
  for (const auto* b : {&f64(), &f32()}) {
    const auto r = b->evaluate(c);
    BOOST_TEST(r.id == "bad");
    BOOST_TEST_REQUIRE(r.error.has_value());
    BOOST_TEST(r.error->find("inputs/w") != std::string::npos, *r.error);
  }
  c.op = "no_such_op";
  BOOST_TEST(f64().evaluate(c).error.value_or("").find("unsupported op") != std::string::npos);
  auto e = hand_case(R"({"id": "ids", "op": "embedding", "params": {},
    "inputs": {"ids": {"shape": [2], "dtype": "int64", "values": [0, 5]}, "table": {"shape": [2, 1], "values": ["1", "2"]}}})");
  BOOST_TEST(f32().evaluate(e).error.value_or("").find("inputs/ids") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(generated_cases_float64) { check_golden(f64(), generated_goldens(), within(1e-12)); }
BOOST_AUTO_TEST_CASE(generated_cases_float32) { check_golden(f32(), generated_goldens(), within(1e-5)); }
BOOST_AUTO_TEST_CASE(standard_suite_float64) { check_golden(f64(), standard_goldens(), within(1e-12)); }
BOOST_AUTO_TEST_CASE(standard_suite_float32) { check_golden(f32(), standard_goldens(), within(1e-5)); }

// The edge suite checks the conventions (fully masked rows, NaN and 1e10 behind masks, all targets
// ignored, relu'(0), odd d_model) as much as accuracy. float32 is held to 1e-5 except where a
// straightforward float32 evaluation is ill-conditioned by design; there it only has to be roughly
// right and agree on every NaN and infinity (measured: a row mean of 1e7 + i over 4096 columns,
// summed naively as llm.c does, about 0.15 of the scale; sin/cos of positions near 1e4, 5e-5;
// attention scores scaled by 64, 1.3e-5).
BOOST_AUTO_TEST_CASE(edge_suite) {
  const auto edge = suite_goldens("edge");
  // A common score offset near 3.5e4 costs 3.5e4·eps of relative accuracy in any float64 attention;
  // a rotary angle p·ω formed in float64 is off by about p·2^-53 (1.1e-10 at p = 10^6).
  check_golden(f64(), edge, [](const cases::test_case& c) {
    if (flagged(c, {"rope_large_position"})) return 2e-10;
    return flagged(c, {"float64_conditioned"}) ? 1e-10 : 1e-12;
  });
  check_golden(f32(), edge, [](const cases::test_case& c) {
    if (flagged(c, {"large_mean"})) return 0.25;
    return flagged(c, {"large_position", "scaled_inputs"}) ? 1e-4 : 1e-5;
  });
}

// The slides' exercises have decimal inputs (not exact in any binary dtype): rounded once on input.
BOOST_AUTO_TEST_CASE(examples_suite_with_rounded_inputs) {
  const auto examples = suite_goldens("examples");
  check_golden(f64(), examples, within(1e-12), true);
  check_golden(f32(), examples, within(1e-4), true); // rounding the inputs, amplified by cancellation in dq
}

BOOST_AUTO_TEST_SUITE_END()
