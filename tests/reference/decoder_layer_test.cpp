// decoder_layer: gradients against finite differences (one head, pre-LN, another eps), the output
// against the primitive ops composed by hand, causality of the self-attention, the post-LN row mean,
// and bad inputs.
#include "gradspec/reference/ops/decoder_layer.hpp"
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

constexpr std::int64_t C = 4, F = 8, T_len = 3, S_len = 2;

shape_t weight_shape(const std::string& name) {
  const std::string w = name.substr(name.rfind('.') + 1);
  if (w == "w1") return {C, F};
  if (w == "b1") return {F};
  if (w == "w2") return {F, C};
  if (w[0] == 'w') return {C, C};
  return {C};
}

shape_t seq(shape_t batch, std::int64_t len) {
  batch.push_back(len);
  batch.push_back(C);
  return batch;
}

// x [batch..., T, C], memory [batch..., S, C] and every weight (grid values).
op_args<mp_real> layer_args(const shape_t& batch, const std::map<std::string, std::string>& given, std::uint64_t seed) {
  op_args<mp_real> a;
  a.params = params("decoder_layer", given);
  a.inputs["x"] = grid_tensor<mp_real>(seq(batch, T_len), seed);
  a.inputs["memory"] = grid_tensor<mp_real>(seq(batch, S_len), seed + 1);
  for (const auto& in : find_op("decoder_layer")->inputs(a.params))
    if (!a.inputs.count(in.name)) a.inputs[in.name] = grid_tensor<mp_real>(weight_shape(in.name), seed + 1 + a.inputs.size());
  return a;
}




} // namespace

BOOST_AUTO_TEST_SUITE(decoder_layer_test)

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  precision_guard bits(256);
  struct variant {
    shape_t batch;
    std::map<std::string, std::string> params;
  };
  // The defaults, each activation and norm_first alone, batch axes are in catalogue_test; here one
  // head and another eps.
  const variant variants[] = {
      {{2}, {{"heads", "1"}, {"norm_first", "true"}, {"activation", "silu"}, {"eps", "0.125"}}},
  };
  std::uint64_t seed = 40;
  for (const auto& v : variants) {
    auto args = layer_args(v.batch, v.params, seed);
    fill_cotangents("decoder_layer", args, seed + 50);
    seed += 7;
    auto agreement = check_gradients("decoder_layer", args);
    const std::size_t weights = 2 * 4 * (C * C + C) + 3 * 2 * C + (C * F + F + F * C + C);
    BOOST_TEST(agreement.checked ==
               numel(args.inputs.at("x").shape) + numel(args.inputs.at("memory").shape) + weights);
    BOOST_TEST(agreement.min_digits >= 30, agreement.worst);
    BOOST_TEST_MESSAGE("decoder_layer gradients: min digits " << agreement.min_digits);
  }
}

BOOST_AUTO_TEST_CASE(output_equals_primitives_composed) {
  precision_guard bits(256);
  for (bool norm_first : {false, true}) {
    auto a = layer_args({2}, {{"heads", "2"}, {"norm_first", norm_first ? "true" : "false"}, {"activation", "silu"}}, 5);
    const auto& in = a.inputs;
    auto attention = [&](const std::string& name, const tensor<mp_real>& x, const tensor<mp_real>* memory) {
      std::map<std::string, const tensor<mp_real>*> ins{{"x", &x}};
      if (memory) ins["memory"] = memory;
      for (const char* w : {"w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_o", "b_o"}) ins[w] = &in.at(name + "." + w);
      return run("multi_head_attention", ins, {{"heads", "2"}, {"causal", memory ? "false" : "true"}});
    };
    auto norm = [&](const tensor<mp_real>& x, const std::string& ln) {
      return run("layer_norm", {{"x", &x}, {"gamma", &in.at(ln + ".gamma")}, {"beta", &in.at(ln + ".beta")}}, {});
    };
    auto ffn = [&](const tensor<mp_real>& x) {
      return run("feed_forward",
                 {{"x", &x}, {"w1", &in.at("ffn.w1")}, {"b1", &in.at("ffn.b1")}, {"w2", &in.at("ffn.w2")}, {"b2", &in.at("ffn.b2")}},
                 {{"activation", "silu"}});
    };
    const auto &x = in.at("x"), &m = in.at("memory");
    tensor<mp_real> y;
    if (!norm_first) {
      auto h1 = norm(sum(x, attention("self_attn", x, nullptr)), "ln1");
      auto h2 = norm(sum(h1, attention("cross_attn", h1, &m)), "ln2");
      y = norm(sum(h2, ffn(h2)), "ln3");
    } else {
      auto h1 = sum(x, attention("self_attn", norm(x, "ln1"), nullptr));
      auto h2 = sum(h1, attention("cross_attn", norm(h1, "ln2"), &m));
      y = sum(h2, ffn(norm(h2, "ln3")));
    }
    auto got = evaluate(*find_op("decoder_layer"), a, false).outputs.at("y");
    BOOST_TEST(max_abs_diff(got, y) < 1e-70);
  }
}

BOOST_AUTO_TEST_CASE(self_attention_is_causal) {
  // Changing the last target position changes no earlier output row, in either layout.
  precision_guard bits(256);
  for (const char* norm_first : {"false", "true"}) {
    auto a = layer_args({2}, {{"heads", "2"}, {"norm_first", norm_first}}, 9);
    const auto y0 = evaluate(*find_op("decoder_layer"), a, false).outputs.at("y");
    auto& x = a.inputs.at("x");
    for (std::size_t b = 0; b < 2; ++b)
      for (std::int64_t c = 0; c < C; ++c) x.data[(b * T_len + T_len - 1) * C + c] += 0.5;
    const auto y1 = evaluate(*find_op("decoder_layer"), a, false).outputs.at("y");
    for (std::size_t r = 0; r < y0.rows(); ++r) {
      const bool last = r % T_len == T_len - 1;
      mp_real diff = 0;
      for (std::int64_t c = 0; c < C; ++c) diff += abs(y0.row(r)[c] - y1.row(r)[c]);
      if (last) BOOST_TEST(to_double(diff) > 1e-6);
      else BOOST_TEST(to_double(diff) == 0.0);
    }
  }
}

BOOST_AUTO_TEST_CASE(post_ln_rows_have_the_mean_of_beta) {
  precision_guard bits(256);
  auto a = layer_args({}, {{"heads", "2"}}, 13);
  for (auto& g : a.inputs.at("ln3.gamma").data) g = 1;
  mp_real beta_mean = 0;
  for (const auto& b : a.inputs.at("ln3.beta").data) beta_mean += b;
  beta_mean /= C;
  auto y = evaluate(*find_op("decoder_layer"), a, false).outputs.at("y");
  for (std::size_t r = 0; r < y.rows(); ++r) {
    mp_real mean = 0;
    for (std::int64_t c = 0; c < C; ++c) mean += y.row(r)[c];
    BOOST_TEST(to_double(abs(mean / C - beta_mean)) < 1e-70);
  }
}

BOOST_AUTO_TEST_CASE(rejects_bad_inputs) {
  auto base = [] {
    op_args<double> a;
    a.params = params("decoder_layer", {{"heads", "2"}});
    a.inputs["x"] = tensor<double>(seq({2}, T_len));
    a.inputs["memory"] = tensor<double>(seq({2}, S_len));
    for (const auto& in : find_op("decoder_layer")->inputs(a.params))
      if (!a.inputs.count(in.name)) a.inputs[in.name] = tensor<double>(weight_shape(in.name));
    return a;
  };
  const auto& op = *find_op("decoder_layer");
  BOOST_CHECK_NO_THROW(evaluate(op, base(), false));

  auto missing = base();
  missing.inputs.erase("ffn.w1");
  BOOST_CHECK_THROW(evaluate(op, missing, false), gradspec::bad_input);

  auto missing_cross = base();
  missing_cross.inputs.erase("cross_attn.w_k");
  BOOST_CHECK_THROW(evaluate(op, missing_cross, false), gradspec::bad_input);

  auto wide = base();
  wide.inputs["ln3.beta"] = tensor<double>({C + 1});
  BOOST_CHECK_THROW(evaluate(op, wide, false), gradspec::bad_input);

  auto memory_width = base();
  memory_width.inputs["memory"] = tensor<double>({2, S_len, C + 1});
  BOOST_CHECK_THROW(evaluate(op, memory_width, false), gradspec::bad_input);

  auto memory_batch = base();
  memory_batch.inputs["memory"] = tensor<double>({3, S_len, C});
  BOOST_CHECK_THROW(evaluate(op, memory_batch, false), gradspec::bad_input);

  auto heads = base();
  heads.params = params("decoder_layer", {{"heads", "3"}});
  BOOST_CHECK_THROW(evaluate(op, heads, false), gradspec::bad_input);

  auto mask = base();
  mask.inputs["mask"] = tensor<double>({T_len, T_len}); // the decoder layer takes no mask
  BOOST_CHECK_THROW(evaluate(op, mask, false), gradspec::bad_input);
}

BOOST_AUTO_TEST_SUITE_END()
