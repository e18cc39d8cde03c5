// transformer: gradients against finite differences (1 and 2 layers, post-LN and pre-LN, label
// smoothing, ignore_index), the loss against cross_entropy of its own logits, one layer against the
// primitive ops composed by hand, the input list, and bad inputs.
#include "gradspec/reference/ops/transformer.hpp"
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

constexpr std::int64_t C = 4, F = 8, V = 5, S_len = 3, T_len = 3;

shape_t weight_shape(const std::string& name) {
  if (name == "src_embed" || name == "tgt_embed") return {V, C};
  if (name == "out.w") return {C, V};
  if (name == "out.b") return {V};
  const std::string w = name.substr(name.rfind('.') + 1);
  if (w == "w1") return {C, F};
  if (w == "b1") return {F};
  if (w == "w2") return {F, C};
  if (w[0] == 'w') return {C, C};
  return {C};
}

int_tensor ids(shape_t shape, std::vector<std::int64_t> values) { return {std::move(shape), std::move(values)}; }

// ids [batch..., 3] and every weight (grid values). Labels may hold -100 (ignored when asked).
template <class T = mp_real>
op_args<T> model_args(const shape_t& batch, const std::map<std::string, std::string>& given, std::uint64_t seed) {
  op_args<T> a;
  a.params = params("transformer", given);
  shape_t s = batch, t = batch;
  s.push_back(S_len);
  t.push_back(T_len);
  const std::size_t n = numel(batch);
  std::vector<std::int64_t> src, tgt, lab;
  for (std::size_t b = 0; b < n; ++b) {
    for (std::int64_t i = 0; i < S_len; ++i) src.push_back((3 * i + b + seed) % V);
    for (std::int64_t i = 0; i < T_len; ++i) tgt.push_back((2 * i + 1 + b + seed) % V);
    for (std::int64_t i = 0; i < T_len; ++i) lab.push_back((i + 2 * b + seed) % V);
  }
  a.int_inputs["src_ids"] = ids(s, src);
  a.int_inputs["tgt_ids"] = ids(t, tgt);
  a.int_inputs["labels"] = ids(t, lab);
  for (const auto& in : find_op("transformer")->inputs(a.params))
    if (!in.integer)
      a.inputs[in.name] = grid_tensor<T>(weight_shape(in.name), seed + 1 + a.inputs.size());
  return a;
}

std::size_t real_elements(const op_args<mp_real>& a) {
  std::size_t n = 0;
  for (const auto& [name, t] : a.inputs) n += t.size();
  return n;
}



} // namespace

BOOST_AUTO_TEST_SUITE(transformer_test)

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  precision_guard bits(256);
  struct variant {
    shape_t batch;
    std::map<std::string, std::string> params;
    bool ignore_one; // set one label to -100
  };
  // One layer at the defaults, each activation, norm_first and embed_scale alone, batch axes are in
  // catalogue_test; here label smoothing, ignore_index and two layers.
  const variant variants[] = {
      {{2}, {{"layers", "1"}, {"heads", "2"}, {"label_smoothing", "0.125"}}, false},
      {{}, {{"layers", "1"}, {"heads", "2"}, {"norm_first", "true"}, {"activation", "gelu"}, {"ignore_index", "-100"},
            {"embed_scale", "none"}}, true},
      {{}, {{"layers", "2"}, {"heads", "2"}, {"norm_first", "true"}, {"activation", "silu"}}, false},
      {{}, {{"layers", "2"}, {"heads", "2"}, {"activation", "gelu_tanh"}}, false},
  };
  std::uint64_t seed = 3;
  for (const auto& v : variants) {
    auto args = model_args(v.batch, v.params, seed);
    if (v.ignore_one) args.int_inputs["labels"].data[1] = -100;
    fill_cotangents("transformer", args, seed + 50);
    BOOST_REQUIRE(args.cotangents.count("loss") && args.cotangents.count("logits"));
    seed += 4;
    auto agreement = check_gradients("transformer", args);
    BOOST_TEST(agreement.checked == real_elements(args));
    BOOST_TEST(agreement.min_digits >= 30, agreement.worst);
    BOOST_TEST_MESSAGE("transformer gradients: min digits " << agreement.min_digits);
  }
}

BOOST_AUTO_TEST_CASE(loss_is_cross_entropy_of_its_logits) {
  precision_guard bits(256);
  for (const char* smoothing : {"0", "0.25"}) {
    auto a = model_args({2}, {{"layers", "1"}, {"heads", "2"}, {"label_smoothing", smoothing}, {"ignore_index", "-100"}}, 7);
    a.int_inputs["labels"].data[2] = -100;
    auto r = evaluate(*find_op("transformer"), a, false);
    const auto& logits = r.outputs.at("logits");
    BOOST_TEST(logits.shape == (shape_t{2, T_len, V}));
    BOOST_TEST(r.outputs.at("loss").shape == shape_t{});
    const auto flat = reshaped(logits, {2 * T_len, V});
    const auto& labels = a.int_inputs.at("labels");
    auto loss = run("cross_entropy", {{"logits", &flat}}, {{"label_smoothing", smoothing}, {"ignore_index", "-100"}}, "loss",
                    {{"targets", int_tensor{{2 * T_len}, labels.data}}});
    BOOST_TEST(max_abs_diff(r.outputs.at("loss"), loss) < 1e-70);
  }
}

BOOST_AUTO_TEST_CASE(one_layer_equals_primitives_composed) {
  precision_guard bits(256);
  auto a = model_args({2}, {{"layers", "1"}, {"heads", "2"}, {"activation", "gelu"}}, 11);
  const auto& in = a.inputs;
  auto embed = [&](const std::string& ids_name, const std::string& table, std::int64_t len) {
    auto y = run("embedding", {{"table", &in.at(table)}}, {{"scale", "sqrt_d"}}, "y", {{"ids", a.int_inputs.at(ids_name)}});
    const auto pe = run("positional_encoding", {}, {{"length", std::to_string(len)}, {"d_model", std::to_string(C)}}, "pe");
    for (std::size_t r = 0; r < y.rows(); ++r)
      for (std::int64_t c = 0; c < C; ++c) y.row(r)[c] += pe.row(r % len)[c];
    return y;
  };
  auto layer = [&](const std::string& op, const std::string& prefix, std::map<std::string, const tensor<mp_real>*> ins) {
    for (const auto& spec : find_op(op)->inputs(params(op, {{"heads", "2"}})))
      if (!ins.count(spec.name) && !spec.optional) ins[spec.name] = &in.at(prefix + spec.name);
    return run(op, ins, {{"heads", "2"}, {"activation", "gelu"}});
  };
  auto norm = [&](const tensor<mp_real>& x, const std::string& ln) {
    return run("layer_norm", {{"x", &x}, {"gamma", &in.at(ln + ".gamma")}, {"beta", &in.at(ln + ".beta")}}, {});
  };
  const auto src = embed("src_ids", "src_embed", S_len);
  const auto memory = norm(layer("encoder_layer", "enc.0.", {{"x", &src}}), "enc_norm");
  const auto tgt = embed("tgt_ids", "tgt_embed", T_len);
  const auto dec = norm(layer("decoder_layer", "dec.0.", {{"x", &tgt}, {"memory", &memory}}), "dec_norm");
  const auto logits = run("linear", {{"x", &dec}, {"w", &in.at("out.w")}, {"b", &in.at("out.b")}}, {});

  auto r = evaluate(*find_op("transformer"), a, false);
  BOOST_TEST(max_abs_diff(r.outputs.at("logits"), logits) < 1e-70);
  BOOST_TEST(max_abs_diff(r.intermediates.at("memory"), memory) < 1e-70);
}

BOOST_AUTO_TEST_CASE(inputs_are_named_per_layer) {
  const auto specs = find_op("transformer")->inputs(params("transformer", {{"layers", "2"}, {"heads", "2"}}));
  // 3 id tensors, 2 embeddings, 2 x 16 encoder and 2 x 26 decoder weights, 2 final norms, out.w, out.b.
  BOOST_TEST(specs.size() == 3 + 2 + 2 * 16 + 2 * 26 + 4 + 2u);
  auto has = [&](const std::string& name) {
    return std::any_of(specs.begin(), specs.end(), [&](const input_spec& s) { return s.name == name; });
  };
  for (const char* name : {"src_ids", "labels", "enc.1.ffn.w1", "enc.0.attn.b_o", "enc.1.ln2.gamma", "dec.0.cross_attn.w_k",
                           "dec.1.self_attn.b_q", "dec.1.ln3.beta", "enc_norm.gamma", "dec_norm.beta", "out.w", "out.b"})
    BOOST_TEST(has(name), name);
  BOOST_TEST(!has("enc.2.ffn.w1"));
  BOOST_TEST(!has("dec.0.x"));
}

BOOST_AUTO_TEST_CASE(rejects_bad_inputs) {
  const std::map<std::string, std::string> given{{"layers", "1"}, {"heads", "2"}};
  auto base = [&] { return model_args<double>({2}, given, 1); };
  const auto& op = *find_op("transformer");
  BOOST_CHECK_NO_THROW(evaluate(op, base(), false));

  auto missing = base();
  missing.inputs.erase("enc.0.ffn.w1");
  BOOST_CHECK_THROW(evaluate(op, missing, false), gradspec::bad_input);

  auto wide = base();
  wide.inputs["dec.0.ln2.gamma"] = tensor<double>({C + 1});
  BOOST_CHECK_THROW(evaluate(op, wide, false), gradspec::bad_input);

  auto out_w = base();
  out_w.inputs["out.w"] = tensor<double>({C, V + 1});
  BOOST_CHECK_THROW(evaluate(op, out_w, false), gradspec::bad_input);

  auto heads = base();
  heads.params = params("transformer", {{"layers", "1"}, {"heads", "3"}});
  BOOST_CHECK_THROW(evaluate(op, heads, false), gradspec::bad_input);

  auto label = base();
  label.int_inputs["labels"].data[0] = V;
  BOOST_CHECK_THROW(evaluate(op, label, false), gradspec::bad_input);

  auto ignored = base(); // -100 is not ignored unless ignore_index says so
  ignored.int_inputs["labels"].data[0] = -100;
  BOOST_CHECK_THROW(evaluate(op, ignored, false), gradspec::bad_input);

  auto src = base();
  src.int_inputs["src_ids"].data[0] = -1;
  BOOST_CHECK_THROW(evaluate(op, src, false), gradspec::bad_input);

  auto batch = base();
  batch.int_inputs["tgt_ids"] = ids({1, T_len}, {0, 1, 2});
  batch.int_inputs["labels"] = ids({1, T_len}, {0, 1, 2});
  BOOST_CHECK_THROW(evaluate(op, batch, false), gradspec::bad_input);

  auto layers = base();
  layers.params = params("transformer", {{"layers", "0"}, {"heads", "2"}});
  BOOST_CHECK_THROW(evaluate(op, layers, false), gradspec::bad_input);

  auto real_ids = base();
  real_ids.int_inputs.erase("src_ids");
  real_ids.inputs["src_ids"] = tensor<double>({2, S_len});
  BOOST_CHECK_THROW(evaluate(op, real_ids, false), gradspec::bad_input);
}

BOOST_AUTO_TEST_SUITE_END()
