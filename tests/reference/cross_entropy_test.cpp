// cross_entropy (PyTorch semantics): closed forms computed here independently (uniform logits give
// log V; per row loss_n = lse_n - (1-ε)·x_t - ε·mean_c(x_c); the gradient is p - (1-ε)·onehot - ε/V),
// ignore_index (a valid class, a negative one, every row ignored), label smoothing together with
// ignored rows, a logit gap of 1e4, the seed slides' Exercise 4, finite differences for every
// reduction, and bad input.
#include "gradspec/reference/ops/cross_entropy.hpp"
#include "gradspec/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <stdexcept>
#include <string>

using namespace gradspec::reference;
using namespace gradspec::testing;

namespace {

int_tensor ints(shape_t shape, std::vector<std::int64_t> values) { return {std::move(shape), std::move(values)}; }

template <class T>
op_args<T> ce_args(tensor<T> logits, int_tensor targets, const std::map<std::string, std::string>& given = {}) {
  op_args<T> args;
  args.params = params("cross_entropy", given);
  args.inputs["logits"] = std::move(logits);
  args.int_inputs["targets"] = std::move(targets);
  return args;
}

template <class T> op_result<T> run(op_args<T> args, bool backward = false, T cot = T(1)) {
  if (backward) {
    auto fwd = evaluate(*find_op("cross_entropy"), args, false);
    const auto& shape = fwd.outputs.at("loss").shape;
    args.cotangents["loss"] = tensor<T>(shape, std::vector<T>(numel(shape), cot));
  }
  return evaluate(*find_op("cross_entropy"), args, backward);
}

// Independent hand formula in double: loss_n = log(sum_c exp(x_c)) - (1-ε)·x_t - ε·mean_c(x_c)
// (from (1-ε)(lse - x_t) + (ε/V)·sum_c (lse - x_c)); the logits here are small, so no shift is needed.
double row_loss(const std::vector<double>& x, std::size_t V, std::size_t row, std::int64_t t, double eps) {
  double se = 0, mean = 0;
  for (std::size_t c = 0; c < V; ++c) {
    se += std::exp(x[row * V + c]);
    mean += x[row * V + c];
  }
  mean /= static_cast<double>(V);
  return std::log(se) - (1 - eps) * x[row * V + static_cast<std::size_t>(t)] - eps * mean;
}

const std::vector<double> logits_5x4 = {0.5,  -1.25, 2,     0.75, -0.5, 1.5, 0.25, -2,   1,   1,
                                        -0.75, 0.125, 3,     -1,   0.5,  2.5, -1.5, 0.375, 0, -0.25};

void expect_bad(const op_args<double>& args, const std::string& path, const std::string& fragment = "") {
  try {
    evaluate(*find_op("cross_entropy"), args, false);
    BOOST_FAIL("no error at " << path);
  } catch (const gradspec::bad_input& e) {
    BOOST_TEST(e.path() == path, e.what());
    if (!fragment.empty()) BOOST_TEST(e.message().find(fragment) != std::string::npos, e.message());
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(cross_entropy_test)

BOOST_AUTO_TEST_CASE(uniform_logits_give_log_v) {
  // Every class has p = 1/V: -log p = log V for every row, and the smoothing term is also log V
  // ((1-ε)·log V + (ε/V)·V·log V = log V).
  const double log5 = std::log(5.0);
  for (const char* eps : {"0", "0.1"}) {
    tensor<double> x({3, 5}, std::vector<double>(15, 0.75));
    auto mean = run(ce_args(x, ints({3}, {0, 4, 2}), {{"label_smoothing", eps}})).outputs.at("loss");
    BOOST_TEST(mean.shape == shape_t{});
    BOOST_TEST(std::abs(mean.data[0] - log5) < 1e-15);
    auto sum = run(ce_args(x, ints({3}, {0, 4, 2}), {{"label_smoothing", eps}, {"reduction", "sum"}})).outputs.at("loss");
    BOOST_TEST(std::abs(sum.data[0] - 3 * log5) < 1e-14);
    auto none = run(ce_args(x, ints({3}, {0, 4, 2}), {{"label_smoothing", eps}, {"reduction", "none"}})).outputs.at("loss");
    BOOST_TEST(none.shape == (shape_t{3}));
    for (double v : none.data) BOOST_TEST(std::abs(v - log5) < 1e-15);
  }
  precision_guard bits(256);
  tensor<mp_real> x({2, 7}, std::vector<mp_real>(14, mp_real(-3)));
  auto mp = run(ce_args(x, ints({2}, {6, 0}), {{"label_smoothing", "0.3"}})).outputs.at("loss");
  BOOST_TEST(abs(mp.data[0] - log(mp_real(7))) < mp_real(1e-70));
}

BOOST_AUTO_TEST_CASE(label_smoothing_closed_form) {
  const std::vector<std::int64_t> t = {0, 3, 2, 3, 1};
  for (double eps : {0.0, 0.1, 0.25, 1.0}) {
    const std::string e = std::to_string(eps);
    auto none = run(ce_args(tensor<double>({5, 4}, logits_5x4), ints({5}, t), {{"label_smoothing", e}, {"reduction", "none"}}))
                    .outputs.at("loss");
    double sum = 0;
    for (std::size_t n = 0; n < 5; ++n) {
      const double want = row_loss(logits_5x4, 4, n, t[n], eps);
      sum += want;
      BOOST_TEST(std::abs(none.data[n] - want) < 1e-14, "eps " << eps << " row " << n);
    }
    auto mean = run(ce_args(tensor<double>({5, 4}, logits_5x4), ints({5}, t), {{"label_smoothing", e}})).outputs.at("loss");
    BOOST_TEST(std::abs(mean.data[0] - sum / 5) < 1e-14);
  }
}

BOOST_AUTO_TEST_CASE(label_smoothing_skips_ignored_rows) {
  // ignore_index 3, targets [0, 3, 2, 3, 1]: rows 1 and 3 count for neither term, and the mean
  // divides by 3 (the counted rows), not 5.
  const std::vector<std::int64_t> t = {0, 3, 2, 3, 1};
  const double eps = 0.2;
  const double counted = row_loss(logits_5x4, 4, 0, 0, eps) + row_loss(logits_5x4, 4, 2, 2, eps) + row_loss(logits_5x4, 4, 4, 1, eps);
  const std::map<std::string, std::string> base{{"ignore_index", "3"}, {"label_smoothing", "0.2"}};
  auto mean = run(ce_args(tensor<double>({5, 4}, logits_5x4), ints({5}, t), base)).outputs.at("loss");
  BOOST_TEST(std::abs(mean.data[0] - counted / 3) < 1e-14);
  auto with_sum = base;
  with_sum["reduction"] = "sum";
  auto sum = run(ce_args(tensor<double>({5, 4}, logits_5x4), ints({5}, t), with_sum)).outputs.at("loss");
  BOOST_TEST(std::abs(sum.data[0] - counted) < 1e-14);
  auto with_none = base;
  with_none["reduction"] = "none";
  auto r = run(ce_args(tensor<double>({5, 4}, logits_5x4), ints({5}, t), with_none), true);
  BOOST_TEST(r.outputs.at("loss").data[1] == 0.0);
  BOOST_TEST(r.outputs.at("loss").data[3] == 0.0);
  for (std::size_t c = 0; c < 4; ++c) {
    BOOST_TEST(r.gradients.at("logits").data[1 * 4 + c] == 0.0);
    BOOST_TEST(r.gradients.at("logits").data[3 * 4 + c] == 0.0);
  }
}

BOOST_AUTO_TEST_CASE(gradient_closed_form) {
  // dlogits = g·(p - (1-ε)·onehot - ε/V), g = 1/K for mean; p from exp in double here.
  const std::vector<std::int64_t> t = {0, 3, 2, 3, 1};
  auto r = run(ce_args(tensor<double>({5, 4}, logits_5x4), ints({5}, t), {{"label_smoothing", "0.1"}, {"ignore_index", "2"}}), true);
  const auto& d = r.gradients.at("logits").data;
  for (std::size_t n = 0; n < 5; ++n) {
    double se = 0;
    for (std::size_t c = 0; c < 4; ++c) se += std::exp(logits_5x4[n * 4 + c]);
    for (std::size_t c = 0; c < 4; ++c) {
      const double want = t[n] == 2 ? 0.0
                                    : (std::exp(logits_5x4[n * 4 + c]) / se - (c == static_cast<std::size_t>(t[n]) ? 0.9 : 0.0) - 0.1 / 4) / 4;
      BOOST_TEST(std::abs(d[n * 4 + c] - want) < 1e-15, "row " << n << " class " << c);
    }
  }
}

BOOST_AUTO_TEST_CASE(ignore_index_that_is_a_valid_class) {
  // ignore_index 1, targets [1, 0, 2, 1]: only rows 1 and 2 count.
  const std::vector<double> x = {0.5, -1, 2, 1.5, 0.25, -0.5, 0, 0.75, 1, 3, -2, 0.125};
  auto r = run(ce_args(tensor<double>({4, 3}, x), ints({4}, {1, 0, 2, 1}), {{"ignore_index", "1"}}), true);
  const double want = (row_loss(x, 3, 1, 0, 0) + row_loss(x, 3, 2, 2, 0)) / 2;
  BOOST_TEST(std::abs(r.outputs.at("loss").data[0] - want) < 1e-15);
  const auto& d = r.gradients.at("logits").data;
  for (std::size_t c = 0; c < 3; ++c) {
    BOOST_TEST(d[c] == 0.0);
    BOOST_TEST(d[9 + c] == 0.0);
  }
  BOOST_TEST(d[3] != 0.0);
  // A negative ignore_index (PyTorch's default -100) lets that value through validation.
  auto neg = run(ce_args(tensor<double>({4, 3}, x), ints({4}, {-100, 0, 2, -100}), {{"ignore_index", "-100"}}));
  BOOST_TEST(std::abs(neg.outputs.at("loss").data[0] - want) < 1e-15);
}

BOOST_AUTO_TEST_CASE(all_targets_ignored) {
  const std::vector<double> x = {0.5, -1, 2, 1.5, 0.25, -0.5, 0, 0.75, 1, 3, -2, 0.125};
  for (const char* eps : {"0", "0.1"}) {
    // mean over zero targets: 0/0 = NaN (as PyTorch), and the gradient is 0.
    auto mean = run(ce_args(tensor<double>({3, 4}, x), ints({3}, {0, 0, 0}), {{"ignore_index", "0"}, {"label_smoothing", eps}}), true);
    BOOST_TEST(std::isnan(mean.outputs.at("loss").data[0]));
    for (double g : mean.gradients.at("logits").data) BOOST_TEST(g == 0.0);
    auto sum = run(ce_args(tensor<double>({3, 4}, x), ints({3}, {0, 0, 0}),
                           {{"ignore_index", "0"}, {"label_smoothing", eps}, {"reduction", "sum"}}), true);
    BOOST_TEST(sum.outputs.at("loss").data[0] == 0.0);
    for (double g : sum.gradients.at("logits").data) BOOST_TEST(g == 0.0);
  }
  precision_guard bits(256);
  auto mp = run(ce_args(grid_tensor<mp_real>({3, 4}, 5), ints({3}, {2, 2, 2}), {{"ignore_index", "2"}}), true);
  BOOST_TEST(is_nan(mp.outputs.at("loss").data[0]));
  for (const auto& g : mp.gradients.at("logits").data) BOOST_TEST(g == 0);
}

BOOST_AUTO_TEST_CASE(logit_gap_of_1e4_is_finite) {
  // Row 0 [1e4, 0, -1e4], target 2: loss = 2e4 + log(1 + e^-1e4 + e^-2e4) = 2e4 in double.
  // Row 1 [0, 1e4, 5], target 0: loss = 1e4 + log(1 + e^-1e4 + e^-9995) = 1e4 in double.
  tensor<double> x({2, 3}, {10000, 0, -10000, 0, 10000, 5});
  auto r = run(ce_args(x, ints({2}, {2, 0}), {{"reduction", "sum"}}), true);
  BOOST_TEST(r.outputs.at("loss").data[0] == 30000.0);
  // gradient p - onehot: row 0 [1, 0, -1], row 1 [-1, 1, 0] up to e^-9995.
  const std::vector<double> want = {1, 0, -1, -1, 1, 0};
  for (std::size_t i = 0; i < 6; ++i) BOOST_TEST(std::abs(r.gradients.at("logits").data[i] - want[i]) < 1e-300);
  for (const auto& lp : r.intermediates.at("log_probs").data) BOOST_TEST(std::isfinite(lp));
  // With label smoothing the smoothing term sum_c -log p_c = 0 + 1e4 + 2e4 stays finite too.
  auto s = run(ce_args(x, ints({2}, {2, 0}), {{"label_smoothing", "0.1"}}), true);
  // row 0: 0.9·2e4 + 0.1/3·3e4 = 19000; row 1: 0.9·1e4 + 0.1/3·(1e4 + 0 + 9995) = 9666.5; mean 14333.25
  BOOST_TEST(std::abs(s.outputs.at("loss").data[0] - 14333.25) < 1e-9);
  for (double g : s.gradients.at("logits").data) BOOST_TEST(std::isfinite(g));
  precision_guard bits(256);
  auto mp = run(ce_args(tensor<mp_real>({2, 3}, {mp_real(10000), mp_real(0), mp_real(-10000), mp_real(0), mp_real(10000), mp_real(5)}),
                        ints({2}, {2, 0}), {{"reduction", "sum"}}));
  BOOST_TEST(abs(mp.outputs.at("loss").data[0] - 30000) < mp_real(1e-70));
}

BOOST_AUTO_TEST_CASE(seed_exercise_4) {
  // Slide 5 of seed 000: decoder output [0.2, 0.6, 0.1]; "e^0.2 ≈ 1.221, e^0.6 ≈ 1.822, e^0.1 ≈ 1.105".
  const double xs[3] = {0.2, 0.6, 0.1}, printed[3] = {1.221, 1.822, 1.105};
  double se = 0;
  for (int c = 0; c < 3; ++c) {
    BOOST_TEST(std::abs(std::round(std::exp(xs[c]) * 1000) / 1000 - printed[c]) < 1e-12, "e^" << xs[c]);
    se += std::exp(xs[c]);
  }
  // Hand arithmetic: 1.221403 + 1.822119 + 1.105171 = 4.148693; ŷ ≈ [0.294, 0.439, 0.266].
  const double yhat_3dp[3] = {0.294, 0.439, 0.266};
  for (int c = 0; c < 3; ++c) BOOST_TEST(std::abs(std::round(std::exp(xs[c]) / se * 1000) / 1000 - yhat_3dp[c]) < 1e-12);
  // "Gradient through softmax: ŷ - y": target class 1 (the slide does not say which), reduction sum,
  // cotangent 1, so dlogits = softmax - onehot(1) and the loss is log(sum e^x) - 0.6.
  auto r = run(ce_args(tensor<double>({1, 3}, {0.2, 0.6, 0.1}), ints({1}, {1}), {{"reduction", "sum"}}), true);
  for (int c = 0; c < 3; ++c)
    BOOST_TEST(std::abs(r.gradients.at("logits").data[c] - (std::exp(xs[c]) / se - (c == 1 ? 1 : 0))) < 1e-15);
  BOOST_TEST(std::abs(r.outputs.at("loss").data[0] - (std::log(se) - 0.6)) < 1e-15);
  // The same at 256 bits, from the decimal text, against exp/log at 256 bits.
  precision_guard bits(256);
  const char* text[3] = {"0.2", "0.6", "0.1"};
  tensor<mp_real> x({1, 3});
  mp_real mse = 0;
  for (int c = 0; c < 3; ++c) {
    x.data[c] = parse_scalar<mp_real>(text[c]);
    mse += exp(x.data[c]);
  }
  auto mp = run(ce_args(x, ints({1}, {1}), {{"reduction", "sum"}}), true);
  for (int c = 0; c < 3; ++c)
    BOOST_TEST(abs(mp.gradients.at("logits").data[c] - (exp(x.data[c]) / mse - (c == 1 ? 1 : 0))) < mp_real(1e-70));
  BOOST_TEST(abs(mp.outputs.at("loss").data[0] - (log(mse) - x.data[1])) < mp_real(1e-70));
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  precision_guard bits(256);
  struct shape_case {
    shape_t logits;
    std::vector<std::int64_t> targets; // class 2 appears so that ignore_index 2 ignores something
  };
  // Leading axes and the reductions at default params are in catalogue_test; here every reduction
  // with ignore_index and label smoothing.
  const std::vector<shape_case> shapes = {
      {{4, 5}, {2, 0, 4, 2}},
      {{5}, {2}}, // one row, targets []
  };
  std::uint64_t seed = 100;
  double overall = 1e9;
  for (const auto& s : shapes)
    for (const char* red : {"mean", "sum", "none"})
      for (const char* ignore : {"null", "2", "-100"})
        for (const char* eps : {"0", "0.1"}) {
          auto targets = s.targets;
          if (std::string(ignore) == "-100") targets[0] = -100;
          auto args = ce_args(grid_tensor<mp_real>(s.logits, seed++, 2.0), ints(shape_t(s.logits.begin(), s.logits.end() - 1), targets),
                              {{"reduction", red}, {"ignore_index", ignore}, {"label_smoothing", eps}});
          fill_cotangents("cross_entropy", args, seed++);
          auto agreement = check_gradients("cross_entropy", args);
          BOOST_TEST(agreement.checked == numel(s.logits));
          BOOST_TEST(agreement.min_digits >= 30, shape_to_string(s.logits) << " " << red << " ignore " << ignore << " eps " << eps
                                                                           << ": " << agreement.worst);
          overall = std::min(overall, agreement.min_digits);
        }
  BOOST_TEST_MESSAGE("cross_entropy finite differences: min digits " << overall);
}

BOOST_AUTO_TEST_CASE(rejects_bad_input) {
  tensor<double> x({2, 5}, std::vector<double>(10, 0.5));
  expect_bad(ce_args(x, ints({2}, {0, 5})), "inputs/targets", "flat index 1");
  expect_bad(ce_args(x, ints({2}, {-1, 0})), "inputs/targets", "flat index 0");
  expect_bad(ce_args(x, ints({2}, {-1, 0}), {{"ignore_index", "-100"}}), "inputs/targets", "ignore_index");
  expect_bad(ce_args(x, ints({3}, {0, 1, 2})), "inputs/targets");
  expect_bad(ce_args(x, ints({2}, {0, 1}), {{"label_smoothing", "1.5"}}), "params/label_smoothing");
  expect_bad(ce_args(x, ints({2}, {0, 1}), {{"label_smoothing", "-0.1"}}), "params/label_smoothing");
  expect_bad(ce_args(tensor<double>({}, {1.0}), ints({}, {0})), "inputs/logits");
  expect_bad(ce_args(tensor<double>({2, 0}), ints({2}, {0, 0})), "inputs/logits");
  BOOST_CHECK_THROW(params("cross_entropy", {{"reduction", "avg"}}), gradspec::bad_input);
  BOOST_CHECK_THROW(parse_reduction("avg"), std::invalid_argument);
  BOOST_TEST((parse_reduction("none") == reduction::none));
  // label_smoothing 1 is allowed (the uniform target)
  BOOST_CHECK_NO_THROW(run(ce_args(x, ints({2}, {0, 1}), {{"label_smoothing", "1"}})));
}

BOOST_AUTO_TEST_SUITE_END()
