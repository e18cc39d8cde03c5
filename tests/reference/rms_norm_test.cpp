// rms_norm: gradients against finite differences at eps 0.375 and 0, intermediates, RMSNorm by
// hand, a constant row, and bad input.
#include "gradspec/reference/ops/rms_norm.hpp"
#include "gradspec/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/tensor_checks.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>

using namespace gradspec::reference;
using namespace gradspec::testing;

BOOST_AUTO_TEST_SUITE(rms_norm_test)

// The default eps is in catalogue_test; here a large eps and eps = 0 (rstd = 1/sqrt(mean(x²)) exactly).
BOOST_AUTO_TEST_CASE(gradients_at_other_eps_match_finite_differences) {
  precision_guard bits(256);
  for (const std::string eps : {"0.375", "0"})
    for (shape_t xs : {shape_t{2, 6}}) {
      op_args<mp_real> args;
      args.params = params("rms_norm", {{"eps", eps}});
      args.inputs["x"] = grid_tensor<mp_real>(xs, 41, 3.0);
      args.inputs["gamma"] = grid_tensor<mp_real>({6}, 42, 2.0);
      fill_cotangents("rms_norm", args, 44);
      auto agreement = check_gradients("rms_norm", args);
      const std::string what = "eps=" + eps + " " + shape_to_string(xs);
      BOOST_TEST(agreement.checked == numel(xs) + 6u);
      BOOST_TEST_MESSAGE("rms_norm " << what << ": " << agreement.min_digits << " digits");
      BOOST_TEST(agreement.min_digits >= 30, what << ": " << agreement.worst);
    }
}

// gamma_offset (catalogue v2, Gemma): y = x·rstd·(offset + gamma), so offset 1 with gamma equals
// offset 0 with gamma + 1 exactly (the same scale, formed once), in the output and in dx; dgamma does
// not depend on the offset (∂(offset + gamma)/∂gamma = 1); and finite differences agree with offset 1.
BOOST_AUTO_TEST_CASE(gamma_offset_shifts_the_scale) {
  precision_guard bits(256);
  const auto x = grid_tensor<mp_real>({3, 5}, 51, 2.0), gamma = grid_tensor<mp_real>({5}, 52, 0.5);
  tensor<mp_real> gamma_plus_one = gamma;
  for (auto& v : gamma_plus_one.data) v += 1;
  auto eval = [&](const tensor<mp_real>& g, const std::string& offset) {
    op_args<mp_real> args;
    args.params = params("rms_norm", {{"gamma_offset", offset}});
    args.inputs["x"] = x;
    args.inputs["gamma"] = g;
    args.cotangents["y"] = grid_tensor<mp_real>({3, 5}, 53);
    return evaluate(*find_op("rms_norm"), args, true);
  };
  const auto gemma = eval(gamma, "1"), llama = eval(gamma_plus_one, "0"), plain = eval(gamma, "0");
  BOOST_TEST(gemma.outputs.at("y").data == llama.outputs.at("y").data, boost::test_tools::per_element());
  BOOST_TEST(gemma.gradients.at("x").data == llama.gradients.at("x").data, boost::test_tools::per_element());
  BOOST_TEST(gemma.gradients.at("gamma").data == plain.gradients.at("gamma").data, boost::test_tools::per_element());
  BOOST_TEST(!(gemma.outputs.at("y").data == plain.outputs.at("y").data)); // the offset is not ignored

  op_args<mp_real> args;
  args.params = params("rms_norm", {{"gamma_offset", "1"}, {"eps", "0.25"}});
  args.inputs["x"] = x;
  args.inputs["gamma"] = gamma;
  fill_cotangents("rms_norm", args, 54);
  const auto agreement = check_gradients("rms_norm", args);
  BOOST_TEST(agreement.checked == 15u + 5u);
  BOOST_TEST(agreement.min_digits >= 30, agreement.worst);
}

BOOST_AUTO_TEST_CASE(intermediates_have_the_leading_shape) {
  precision_guard bits(128);
  for (shape_t xs : {shape_t{5}, shape_t{3, 5}, shape_t{2, 3, 5}}) {
    op_args<mp_real> args;
    args.params = params("rms_norm");
    args.inputs["x"] = grid_tensor<mp_real>(xs, 1);
    args.inputs["gamma"] = grid_tensor<mp_real>({5}, 2);
    auto q = evaluate(*find_op("rms_norm"), args, false);
    const shape_t lead(xs.begin(), xs.end() - 1);
    BOOST_TEST(q.intermediates.at("rstd").shape == lead);
    BOOST_TEST(q.intermediates.count("mean") == 0u);
  }
}

BOOST_AUTO_TEST_CASE(constant_row) {
  // rms_norm of a constant row c: y = c/sqrt(c² + eps)·gamma, finite for c = 0 too when eps > 0.
  tensor<double> zero({4}, {0, 0, 0, 0}), gamma({4}, {1, -2, 0.5, 3});
  norm_cache<double> rc;
  auto ry = rms_norm_forward(zero, gamma, 1e-6, rc);
  for (double v : ry.data) BOOST_TEST(v == 0.0);
  BOOST_TEST(all_finite(rms_norm_backward(tensor<double>({4}, {1, 1, 1, 1}), zero, gamma, rc).dx));
}

BOOST_AUTO_TEST_CASE(known_values) {
  precision_guard bits(256);
  // x = [3, 4]: mean(x²) = 12.5, eps = 0: y = [3, 4]/sqrt(12.5)·gamma = [3√2/5, 4√2/5]·[1, 2].
  auto params0 = params("rms_norm", {{"eps", "0"}});
  op_args<mp_real> args;
  args.params = params0;
  args.inputs["x"] = tensor<mp_real>({2}, {mp_real(3), mp_real(4)});
  args.inputs["gamma"] = tensor<mp_real>({2}, {mp_real(1), mp_real(2)});
  args.cotangents["y"] = tensor<mp_real>({2}, {mp_real(1), mp_real(0)});
  auto r = evaluate(*find_op("rms_norm"), args, true);
  const mp_real s2 = sqrt(mp_real(2));
  BOOST_TEST(to_double(abs(r.outputs["y"][0] - 3 * s2 / 5)) < 1e-70);
  BOOST_TEST(to_double(abs(r.outputs["y"][1] - 8 * s2 / 5)) < 1e-70);
  BOOST_TEST(to_double(abs(r.intermediates["rstd"][0] - s2 / 5)) < 1e-70);
  // By hand, y_0 = 3/sqrt((9 + x_1²)/2): dy_0/dx_0 = rstd - x_0²·rstd³/2 = (√2/5)(1 - 9/25) = 16√2/125,
  // dy_0/dx_1 = -x_0 x_1 rstd³ / 2 = -12·(2√2/125)/2 = -12√2/125; dgamma = [3√2/5, 0].
  BOOST_TEST(to_double(abs(r.gradients["x"][0] - 16 * s2 / 125)) < 1e-70);
  BOOST_TEST(to_double(abs(r.gradients["x"][1] + 12 * s2 / 125)) < 1e-70);
  BOOST_TEST(to_double(abs(r.gradients["gamma"][0] - 3 * s2 / 5)) < 1e-70);
  BOOST_TEST(r.gradients["gamma"][1] == 0);
  BOOST_TEST(r.gradients.count("beta") == 0u);

  // x = [2, 2, 2, 2] with eps = 0: y = gamma exactly; default eps = 1e-6: y = 2/sqrt(4 + 1e-6)·gamma.
  tensor<mp_real> x2 = filled({4}, mp_real(2)), gm = grid_tensor<mp_real>({4}, 9);
  norm_cache<mp_real> cache;
  auto y2 = rms_norm_forward(x2, gm, mp_real(0), cache);
  for (int j = 0; j < 4; ++j) BOOST_TEST(y2[j] == gm[j]);
  auto y3 = rms_norm_forward(x2, gm, params("rms_norm").real<mp_real>("eps"), cache);
  const mp_real f = 2 / sqrt(parse_scalar<mp_real>("4.000001"));
  for (int j = 0; j < 4; ++j) BOOST_TEST(to_double(abs(y3[j] - f * gm[j])) < 1e-70);
}

BOOST_AUTO_TEST_CASE(defaults) {
  BOOST_TEST(params("rms_norm").at("eps").text == "1e-6");
  BOOST_TEST(params("rms_norm").at("gamma_offset").text == "0");
}

BOOST_AUTO_TEST_CASE(rejects_bad_input) {
  auto path_of = [&](const op_args<double>& args) -> std::string {
    try {
      evaluate(*find_op("rms_norm"), args, false);
    } catch (const gradspec::bad_input& e) {
      return e.path();
    }
    return "(no error)";
  };
  op_args<double> r;
  r.params = params("rms_norm");
  r.inputs["x"] = tensor<double>({2, 3});
  r.inputs["gamma"] = tensor<double>({2});
  BOOST_TEST(path_of(r) == "inputs/gamma");
  r.inputs["gamma"] = tensor<double>({3});
  r.params = params("rms_norm", {{"eps", "-0.5"}});
  BOOST_TEST(path_of(r) == "params/eps");
  r.params = params("rms_norm");
  r.inputs["x"] = tensor<double>(shape_t{}, {1.0});
  BOOST_TEST(path_of(r) == "inputs/x");
}

BOOST_AUTO_TEST_SUITE_END()
