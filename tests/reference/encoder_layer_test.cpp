// encoder_layer: gradients against finite differences (masks, 1 and 4 heads, eps, pre-LN with
// causal), the output against the primitive ops composed by hand, the post-LN row mean, and bad inputs.
#include "gradspec/reference/ops/encoder_layer.hpp"
#include "gradspec/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/tensor_checks.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <string>

using namespace gradspec::reference;
using namespace gradspec::testing;

namespace {

constexpr std::int64_t C = 4, F = 8, T_len = 3;

shape_t weight_shape(const std::string& name) {
  const std::string w = name.substr(name.rfind('.') + 1);
  if (w == "w1") return {C, F};
  if (w == "b1") return {F};
  if (w == "w2") return {F, C};
  if (w[0] == 'w') return {C, C};
  return {C}; // b_*, b2, gamma, beta
}

// x [batch..., T, C] and every weight of the op (grid values), mask [T, T] with one -inf when asked.
op_args<mp_real> layer_args(const shape_t& batch, const std::map<std::string, std::string>& given, std::uint64_t seed,
                            bool with_mask) {
  op_args<mp_real> a;
  a.params = params("encoder_layer", given);
  shape_t xs = batch;
  xs.push_back(T_len);
  xs.push_back(C);
  a.inputs["x"] = grid_tensor<mp_real>(xs, seed);
  for (const auto& in : find_op("encoder_layer")->inputs(a.params))
    if (in.name != "x" && !in.optional) a.inputs[in.name] = grid_tensor<mp_real>(weight_shape(in.name), seed + 1 + a.inputs.size());
  if (with_mask) {
    auto mask = grid_tensor<mp_real>({T_len, T_len}, seed + 100);
    mask.data[0 * T_len + 1] = -infinity<mp_real>(); // query 0 never sees key 1
    a.inputs["mask"] = mask;
  }
  return a;
}




} // namespace

BOOST_AUTO_TEST_SUITE(encoder_layer_test)

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  precision_guard bits(256);
  struct variant {
    shape_t batch;
    std::map<std::string, std::string> params;
    bool mask;
  };
  // The defaults, each activation, norm_first and causal alone, batch axes are in catalogue_test;
  // here masks, other head counts and eps.
  const variant variants[] = {
      {{2}, {{"heads", "2"}, {"activation", "gelu"}}, true},                                    // post-LN, mask
      {{2}, {{"heads", "1"}, {"norm_first", "true"}, {"activation", "silu"}, {"causal", "true"}}, true},
      {{2}, {{"heads", "4"}, {"causal", "true"}, {"eps", "0.25"}}, false},                      // post-LN, causal
  };
  std::uint64_t seed = 10;
  for (const auto& v : variants) {
    auto args = layer_args(v.batch, v.params, seed, v.mask);
    fill_cotangents("encoder_layer", args, seed + 50);
    seed += 7;
    auto agreement = check_gradients("encoder_layer", args);
    const std::size_t weights = 4 * (C * C + C) + 2 * C + (C * F + F + F * C + C) + 2 * C;
    BOOST_TEST(agreement.checked == numel(args.inputs.at("x").shape) + weights);
    BOOST_TEST(agreement.min_digits >= 30, agreement.worst);
    BOOST_TEST_MESSAGE("encoder_layer gradients: min digits " << agreement.min_digits);
  }
}

BOOST_AUTO_TEST_CASE(output_equals_primitives_composed) {
  precision_guard bits(256);
  for (bool norm_first : {false, true}) {
    auto a = layer_args({2}, {{"heads", "2"}, {"norm_first", norm_first ? "true" : "false"}, {"activation", "gelu"},
                              {"causal", "true"}},
                        3, true);
    const auto& in = a.inputs;
    auto attention = [&](const tensor<mp_real>& x) {
      return run("multi_head_attention",
                 {{"x", &x}, {"w_q", &in.at("attn.w_q")}, {"b_q", &in.at("attn.b_q")}, {"w_k", &in.at("attn.w_k")},
                  {"b_k", &in.at("attn.b_k")}, {"w_v", &in.at("attn.w_v")}, {"b_v", &in.at("attn.b_v")},
                  {"w_o", &in.at("attn.w_o")}, {"b_o", &in.at("attn.b_o")}, {"mask", &in.at("mask")}},
                 {{"heads", "2"}, {"causal", "true"}});
    };
    auto norm = [&](const tensor<mp_real>& x, const std::string& ln) {
      return run("layer_norm", {{"x", &x}, {"gamma", &in.at(ln + ".gamma")}, {"beta", &in.at(ln + ".beta")}}, {});
    };
    auto ffn = [&](const tensor<mp_real>& x) {
      return run("feed_forward",
                 {{"x", &x}, {"w1", &in.at("ffn.w1")}, {"b1", &in.at("ffn.b1")}, {"w2", &in.at("ffn.w2")}, {"b2", &in.at("ffn.b2")}},
                 {{"activation", "gelu"}});
    };
    const auto& x = in.at("x");
    tensor<mp_real> y;
    if (!norm_first) {
      auto h = norm(sum(x, attention(x)), "ln1");
      y = norm(sum(h, ffn(h)), "ln2");
    } else {
      auto h = sum(x, attention(norm(x, "ln1")));
      y = sum(h, ffn(norm(h, "ln2")));
    }
    auto got = evaluate(*find_op("encoder_layer"), a, false).outputs.at("y");
    BOOST_TEST(max_abs_diff(got, y) < 1e-70);
  }
}

BOOST_AUTO_TEST_CASE(post_ln_rows_have_the_mean_of_beta) {
  // y = LN2(...) with gamma = 1: every row of y is a zero-mean row plus beta, so its mean is mean(beta).
  precision_guard bits(256);
  auto a = layer_args({2}, {{"heads", "2"}}, 21, false);
  for (auto& g : a.inputs.at("ln2.gamma").data) g = 1;
  const auto& beta = a.inputs.at("ln2.beta");
  mp_real beta_mean = 0;
  for (const auto& b : beta.data) beta_mean += b;
  beta_mean /= C;
  auto y = evaluate(*find_op("encoder_layer"), a, false).outputs.at("y");
  for (std::size_t r = 0; r < y.rows(); ++r) {
    mp_real mean = 0, var = 0;
    for (std::int64_t c = 0; c < C; ++c) mean += y.row(r)[c];
    mean /= C;
    for (std::int64_t c = 0; c < C; ++c) var += (y.row(r)[c] - beta.data[c]) * (y.row(r)[c] - beta.data[c]);
    BOOST_TEST(to_double(abs(mean - beta_mean)) < 1e-70);
    BOOST_TEST(to_double(var / C) < 1.0); // var / (var + eps) of the normalized row
  }
}

BOOST_AUTO_TEST_CASE(rejects_bad_inputs) {
  auto base = [] {
    op_args<double> a;
    a.params = params("encoder_layer", {{"heads", "2"}});
    a.inputs["x"] = tensor<double>({2, T_len, C});
    for (const auto& in : find_op("encoder_layer")->inputs(a.params))
      if (in.name != "x" && !in.optional) a.inputs[in.name] = tensor<double>(weight_shape(in.name));
    return a;
  };
  const auto& op = *find_op("encoder_layer");
  BOOST_CHECK_NO_THROW(evaluate(op, base(), false));

  auto missing = base();
  missing.inputs.erase("ffn.w1");
  BOOST_CHECK_THROW(evaluate(op, missing, false), gradspec::bad_input);

  auto wide = base();
  wide.inputs["ln1.gamma"] = tensor<double>({C + 1});
  BOOST_CHECK_THROW(evaluate(op, wide, false), gradspec::bad_input);

  auto wide_w = base();
  wide_w.inputs["attn.w_k"] = tensor<double>({C, C + 2});
  BOOST_CHECK_THROW(evaluate(op, wide_w, false), gradspec::bad_input);

  auto heads = base();
  heads.params = params("encoder_layer", {{"heads", "3"}});
  BOOST_CHECK_THROW(evaluate(op, heads, false), gradspec::bad_input);

  auto mask = base();
  mask.inputs["mask"] = tensor<double>({T_len, T_len + 1});
  BOOST_CHECK_THROW(evaluate(op, mask, false), gradspec::bad_input);

  auto flat = base();
  flat.inputs["x"] = tensor<double>({C});
  BOOST_CHECK_THROW(evaluate(op, flat, false), gradspec::bad_input);

  BOOST_CHECK_THROW(params("encoder_layer", {}), gradspec::bad_input); // heads is required
}

BOOST_AUTO_TEST_CASE(mask_is_an_additive_mask) {
  for (const auto& in : find_op("encoder_layer")->inputs(params("encoder_layer", {{"heads", "1"}})))
    BOOST_TEST((in.role == (in.name == "mask" ? tensor_role::additive_mask : tensor_role::plain)), in.name);
}

BOOST_AUTO_TEST_SUITE_END()
