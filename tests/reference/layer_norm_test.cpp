// layer_norm: gradients against finite differences at eps 0.375 and 0, the moments of the output
// (mean = beta, variance = var/(var + eps)), constant rows, the catastrophic-cancellation rows of
// EDGE_CASES.md against closed forms, and bad input.
#include "gradspec/reference/ops/layer_norm.hpp"
#include "gradspec/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/tensor_checks.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>

using namespace gradspec::reference;
using namespace gradspec::testing;

BOOST_AUTO_TEST_SUITE(layer_norm_test)

// The default eps is in catalogue_test; here a large eps and eps = 0 (rstd = 1/sqrt(var) exactly).
BOOST_AUTO_TEST_CASE(gradients_at_other_eps_match_finite_differences) {
  precision_guard bits(256);
  for (const std::string eps : {"0.375", "0"})
    for (shape_t xs : {shape_t{2, 6}}) {
      op_args<mp_real> args;
      args.params = params("layer_norm", {{"eps", eps}});
      args.inputs["x"] = grid_tensor<mp_real>(xs, 41, 3.0);
      args.inputs["gamma"] = grid_tensor<mp_real>({6}, 42, 2.0);
      args.inputs["beta"] = grid_tensor<mp_real>({6}, 43);
      fill_cotangents("layer_norm", args, 44);
      auto agreement = check_gradients("layer_norm", args);
      const std::string what = "eps=" + eps + " " + shape_to_string(xs);
      BOOST_TEST(agreement.checked == numel(xs) + 12u);
      BOOST_TEST_MESSAGE("layer_norm " << what << ": " << agreement.min_digits << " digits");
      BOOST_TEST(agreement.min_digits >= 30, what << ": " << agreement.worst);
    }
}

BOOST_AUTO_TEST_CASE(intermediates_have_the_leading_shape) {
  precision_guard bits(128);
  for (shape_t xs : {shape_t{5}, shape_t{3, 5}, shape_t{2, 3, 5}}) {
    op_args<mp_real> args;
    args.params = params("layer_norm");
    args.inputs["x"] = grid_tensor<mp_real>(xs, 1);
    args.inputs["gamma"] = grid_tensor<mp_real>({5}, 2);
    args.inputs["beta"] = grid_tensor<mp_real>({5}, 3);
    auto r = evaluate(*find_op("layer_norm"), args, false);
    const shape_t lead(xs.begin(), xs.end() - 1);
    BOOST_TEST(r.intermediates.at("mean").shape == lead);
    BOOST_TEST(r.intermediates.at("rstd").shape == lead);
    BOOST_TEST(r.intermediates.at("mean").size() == numel(lead));
  }
}

BOOST_AUTO_TEST_CASE(output_moments) {
  // gamma = 1 and beta = b everywhere: each row of y has mean exactly b and biased variance
  // var/(var + eps), with var the biased variance of the row (computed here independently).
  precision_guard bits(256);
  const mp_real b = parse_scalar<mp_real>("0.375"), eps = parse_scalar<mp_real>("0.01");
  const std::size_t C = 7;
  auto x = grid_tensor<mp_real>({4, C}, 51, 4.0);
  norm_cache<mp_real> cache;
  auto y = layer_norm_forward(x, filled({long(C)}, mp_real(1)), filled({long(C)}, b), eps, cache);
  for (std::size_t r = 0; r < x.rows(); ++r) {
    mp_real sx = 0, sxx = 0, sy = 0;
    for (std::size_t j = 0; j < C; ++j) {
      sx += x.row(r)[j];
      sxx += x.row(r)[j] * x.row(r)[j];
      sy += y.row(r)[j];
    }
    const mp_real mean_x = sx / C, var_x = sxx / C - mean_x * mean_x; // exact enough at 256 bits here
    const mp_real mean_y = sy / C;
    mp_real vy = 0;
    for (std::size_t j = 0; j < C; ++j) vy += (y.row(r)[j] - mean_y) * (y.row(r)[j] - mean_y);
    vy /= C;
    BOOST_TEST(to_double(abs(mean_y - b)) < 1e-70);
    BOOST_TEST(to_double(abs(vy - var_x / (var_x + eps))) < 1e-70);
    BOOST_TEST(to_double(abs(cache.mean.data[r] - mean_x)) < 1e-70);
    BOOST_TEST(to_double(abs(cache.rstd.data[r] - 1 / sqrt(var_x + eps))) < 1e-70);
  }
}

BOOST_AUTO_TEST_CASE(constant_row) {
  // Variance 0: xhat = 0, y = beta exactly, rstd = 1/sqrt(eps), dx = rstd·(g - mean(g)) finite.
  tensor<double> x({2, 4}, {2.5, 2.5, 2.5, 2.5, -7, -7, -7, -7}), gamma({4}, {1, -2, 0.5, 3}),
      beta({4}, {0.25, -1, 0, 4}), dy({2, 4}, {1, 2, -1, 0.5, 0.25, 0, 1, -3});
  norm_cache<double> cache;
  auto y = layer_norm_forward(x, gamma, beta, 1e-5, cache);
  for (std::size_t i = 0; i < 8; ++i) BOOST_TEST(y[i] == beta[i % 4]);
  auto g = layer_norm_backward(dy, x, gamma, cache);
  BOOST_TEST(all_finite(g.dx));
  BOOST_TEST(all_finite(g.dgamma));
  for (double v : g.dgamma.data) BOOST_TEST(v == 0.0);
  // Row 0: g = dy·gamma = [1, -4, -0.5, 1.5], mean -0.5, so dx = [1.5, -3.5, 0, 2]/sqrt(1e-5).
  const double rstd = 1 / std::sqrt(1e-5), want[4] = {1.5, -3.5, 0, 2};
  for (int j = 0; j < 4; ++j) BOOST_TEST(std::abs(g.dx[j] - want[j] * rstd) <= 1e-12 * rstd);
}

BOOST_AUTO_TEST_CASE(large_offset_rows_in_double) {
  // [80000, 80001, 80002, 80003]: mean 80001.5, biased variance (2.25 + 0.25 + 0.25 + 2.25)/4 = 1.25,
  // so y = [-1.5, -0.5, 0.5, 1.5]/sqrt(1.25 + eps). One-pass E[x²] - E[x]² would lose most digits.
  const double eps = 1e-5;
  tensor<double> x({4}, {80000, 80001, 80002, 80003}), ones({4}, {1, 1, 1, 1}), zeros({4});
  norm_cache<double> cache;
  auto y = layer_norm_forward(x, ones, zeros, eps, cache);
  const double d[4] = {-1.5, -0.5, 0.5, 1.5};
  for (int j = 0; j < 4; ++j) BOOST_TEST(std::abs(y[j] - d[j] / std::sqrt(1.25 + eps)) < 1e-15);
  BOOST_TEST(cache.mean[0] == 80001.5);

  // 1e7 + i, i = 0..4095: mean 1e7 + 2047.5, biased variance (C² - 1)/12 = 1398101.25.
  const std::size_t C = 4096;
  tensor<double> big({long(C)}), g1({long(C)}), b0({long(C)});
  for (std::size_t i = 0; i < C; ++i) {
    big[i] = 1e7 + double(i);
    g1[i] = 1;
  }
  auto yb = layer_norm_forward(big, g1, b0, eps, cache);
  const double rstd = 1 / std::sqrt(1398101.25 + eps);
  double worst = 0;
  for (std::size_t i = 0; i < C; ++i) worst = std::max(worst, std::abs(yb[i] - (double(i) - 2047.5) * rstd));
  BOOST_TEST(worst < 1e-13);
}

BOOST_AUTO_TEST_CASE(large_offset_row_in_mp_real) {
  precision_guard bits(256);
  tensor<mp_real> x({4}, {mp_real(80000), mp_real(80001), mp_real(80002), mp_real(80003)});
  const mp_real eps = parse_scalar<mp_real>("1e-5");
  norm_cache<mp_real> cache;
  auto y = layer_norm_forward(x, filled({4}, mp_real(1)), filled({4}, mp_real(0)), eps, cache);
  const mp_real root = sqrt(parse_scalar<mp_real>("1.25001"));
  const char* d[4] = {"-1.5", "-0.5", "0.5", "1.5"};
  for (int j = 0; j < 4; ++j) BOOST_TEST(to_double(abs(y[j] - parse_scalar<mp_real>(d[j]) / root)) < 1e-70);
}

BOOST_AUTO_TEST_CASE(defaults) {
  BOOST_TEST(params("layer_norm").at("eps").text == "1e-5");
}

BOOST_AUTO_TEST_CASE(rejects_bad_input) {
  auto ln_args = [] {
    op_args<double> args;
    args.params = params("layer_norm");
    args.inputs["x"] = tensor<double>({2, 3});
    args.inputs["gamma"] = tensor<double>({3});
    args.inputs["beta"] = tensor<double>({3});
    return args;
  };
  const auto& ln = *find_op("layer_norm");
  BOOST_CHECK_NO_THROW(evaluate(ln, ln_args(), false));
  auto path_of = [&](const op_args<double>& args, const op_info& op) -> std::string {
    try {
      evaluate(op, args, false);
    } catch (const gradspec::bad_input& e) {
      return e.path();
    }
    return "(no error)";
  };
  auto a = ln_args();
  a.inputs["gamma"] = tensor<double>({4});
  BOOST_TEST(path_of(a, ln) == "inputs/gamma");
  a = ln_args();
  a.inputs["beta"] = tensor<double>({3, 1});
  BOOST_TEST(path_of(a, ln) == "inputs/beta");
  a = ln_args();
  a.params = params("layer_norm", {{"eps", "-1e-5"}});
  BOOST_TEST(path_of(a, ln) == "params/eps");
  a = ln_args();
  a.inputs["x"] = tensor<double>(shape_t{}, {1.0});
  BOOST_TEST(path_of(a, ln) == "inputs/x");
  a = ln_args();
  a.inputs["x"] = tensor<double>({2, 0});
  BOOST_TEST(path_of(a, ln) == "inputs/x");

  // The prefixed lookup used by the encoder and decoder layers.
  op_args<double> p;
  p.inputs["ln1.gamma"] = tensor<double>({4});
  p.inputs["ln1.beta"] = tensor<double>({5});
  try {
    layer_norm_params_from(p, "ln1.", 4);
    BOOST_TEST(false, "expected bad_input");
  } catch (const gradspec::bad_input& e) {
    BOOST_TEST(e.path() == "inputs/ln1.beta");
  }
  p.inputs["ln1.beta"] = tensor<double>({4});
  auto lp = layer_norm_params_from(p, "ln1.", 4);
  BOOST_TEST(&lp.gamma == &p.inputs["ln1.gamma"]);
  op_result<double> res;
  store_gradients(res, "ln1.", norm_grads<double>{tensor<double>({2, 4}), tensor<double>({4}), tensor<double>({4})});
  BOOST_TEST(res.gradients.count("ln1.gamma") == 1u);
  BOOST_TEST(res.gradients.count("ln1.beta") == 1u);
  BOOST_TEST(res.gradients.count("ln1.x") == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
