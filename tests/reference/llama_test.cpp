// llama: tied embeddings equal untied ones with lm_head = embedᵀ (embed's tied gradient is the
// lookup's plus lm_head's transposed); one block equals embedding, llama_block, rms_norm, linear,
// logit soft-capping and cross_entropy composed by hand, the loss one mean over every counted
// position of both batch rows (not a mean of row means); finite differences (tied, soft-capped,
// ignored labels, two GQA blocks); the input list; bad inputs. Finite differences at the defaults,
// batch axes, float64/float32 against MPFR and determinism run for every op in catalogue_test.
#include "gradspec/reference/ops/llama.hpp"
#include "gradspec/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/tensor_checks.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

using namespace gradspec::reference;
using namespace gradspec::testing;

namespace {

using kv = std::map<std::string, std::string>;

constexpr std::int64_t T_len = 4, V = 6, C = 8, F = 12;

// ids, labels [batch..., 4] (labels at flat indices 1, 4, 7, ... set to -100 when `ignore`), embed and
// every weight (grid values), lm_head unless tied.
template <class T = mp_real> op_args<T> model_args(const shape_t& batch, const kv& given, std::uint64_t seed, bool ignore = false) {
  op_args<T> a;
  a.params = params("llama", given);
  const std::int64_t Hq = a.params.integer("heads"), Hkv = a.params.optional_integer("kv_heads").value_or(Hq);
  const std::int64_t D = a.params.optional_integer("head_dim").value_or(C / Hq);
  shape_t s = batch;
  s.push_back(T_len);
  std::vector<std::int64_t> ids, labels;
  for (std::size_t n = 0; n < numel(s); ++n) {
    ids.push_back(static_cast<std::int64_t>((3 * n + seed) % V));
    labels.push_back(ignore && n % 3 == 1 ? -100 : static_cast<std::int64_t>((5 * n + 2 * seed + 1) % V));
  }
  a.int_inputs["ids"] = int_tensor{s, ids};
  a.int_inputs["labels"] = int_tensor{s, labels};
  a.inputs["embed"] = grid_tensor<T>({V, C}, seed + 1);
  for (std::int64_t i = 0; i < a.params.integer("layers"); ++i) {
    const std::string p = "blocks." + std::to_string(i) + ".";
    const std::uint64_t k = seed + 10 * (i + 1);
    a.inputs[p + "attn_norm.gamma"] = grid_tensor<T>({C}, k, 2.0);
    a.inputs[p + "attn.w_q"] = grid_tensor<T>({C, Hq * D}, k + 1, 0.5);
    a.inputs[p + "attn.w_k"] = grid_tensor<T>({C, Hkv * D}, k + 2, 0.5);
    a.inputs[p + "attn.w_v"] = grid_tensor<T>({C, Hkv * D}, k + 3, 0.5);
    a.inputs[p + "attn.w_o"] = grid_tensor<T>({Hq * D, C}, k + 4, 0.5);
    a.inputs[p + "ffn_norm.gamma"] = grid_tensor<T>({C}, k + 5, 2.0);
    a.inputs[p + "ffn.w_gate"] = grid_tensor<T>({C, F}, k + 6, 0.5);
    a.inputs[p + "ffn.w_up"] = grid_tensor<T>({C, F}, k + 7, 0.5);
    a.inputs[p + "ffn.w_down"] = grid_tensor<T>({F, C}, k + 8, 0.5);
  }
  a.inputs["norm.gamma"] = grid_tensor<T>({C}, seed + 2, 2.0);
  if (!a.params.boolean("tie_embeddings")) a.inputs["lm_head"] = grid_tensor<T>({C, V}, seed + 3);
  return a;
}

const op_info& llama_op_info() { return *find_op("llama"); }

template <class T> tensor<T> transposed(const tensor<T>& m) {
  tensor<T> t({m.shape[1], m.shape[0]});
  for (std::int64_t r = 0; r < m.shape[0]; ++r)
    for (std::int64_t c = 0; c < m.shape[1]; ++c) t.data[c * m.shape[0] + r] = m.data[r * m.shape[1] + c];
  return t;
}

std::string path_of(const op_args<double>& args) {
  try {
    evaluate(llama_op_info(), args, false);
  } catch (const gradspec::bad_input& e) {
    return e.path();
  }
  return "(no error)";
}

const mp_real tiny("1e-70"); // 256-bit arithmetic keeps ~77 digits

} // namespace

BOOST_AUTO_TEST_SUITE(llama_test)

BOOST_AUTO_TEST_CASE(tied_equals_untied_with_lm_head_embed_transposed) {
  precision_guard bits(256);
  const kv common{{"layers", "2"}, {"heads", "2"}, {"logit_softcap", "3"}, {"ignore_index", "-100"}};
  kv tied_params = common;
  tied_params["tie_embeddings"] = "true";
  auto tied = model_args({2}, tied_params, 5, true);
  fill_cotangents("llama", tied, 6);
  auto untied = tied;
  untied.params = params("llama", common);
  untied.inputs["lm_head"] = transposed(tied.inputs.at("embed"));
  const auto rt = evaluate(llama_op_info(), tied, true), ru = evaluate(llama_op_info(), untied, true);
  BOOST_TEST(same(rt.outputs.at("loss"), ru.outputs.at("loss")));
  BOOST_TEST(same(rt.outputs.at("logits"), ru.outputs.at("logits")));
  BOOST_TEST(rt.gradients.count("lm_head") == 0u);
  // Both uses of embed: the lookup's scatter-add plus the projection's gradient, transposed.
  const auto both = sum(ru.gradients.at("embed"), transposed(ru.gradients.at("lm_head")));
  BOOST_TEST(same(rt.gradients.at("embed"), both));
  BOOST_TEST(max_abs_diff(rt.gradients.at("embed"), ru.gradients.at("embed")) > 1e-3);
  BOOST_TEST(max_abs_diff(rt.gradients.at("embed"), transposed(ru.gradients.at("lm_head"))) > 1e-3);
  for (const auto& [name, g] : ru.gradients)
    if (name != "embed" && name != "lm_head") BOOST_TEST(same(rt.gradients.at(name), g), name);
}

BOOST_AUTO_TEST_CASE(one_block_equals_the_ops_composed_by_hand) {
  // Two batch rows with 1 and 2 of 4 labels ignored: the loss is one mean over the 5 counted positions.
  precision_guard bits(256);
  const kv given{{"layers", "1"}, {"heads", "4"}, {"kv_heads", "2"}, {"window", "2"}, {"logit_softcap", "2"}, {"ignore_index", "-100"}};
  const auto a = model_args({2}, given, 9, true);
  const auto& in = a.inputs;
  const auto& labels = a.int_inputs.at("labels");
  BOOST_TEST(std::count(labels.data.begin(), labels.data.begin() + T_len, -100) == 1);
  BOOST_TEST(std::count(labels.data.begin() + T_len, labels.data.end(), -100) == 2);

  const auto x = run("embedding", {{"table", &in.at("embed")}}, {}, "y", {{"ids", a.int_inputs.at("ids")}});
  std::map<std::string, const tensor<mp_real>*> block{{"x", &x}};
  for (const auto& spec : find_op("llama_block")->inputs(params("llama_block", {{"heads", "4"}})))
    if (spec.name != "x") block[spec.name] = &in.at("blocks.0." + spec.name);
  const auto h = run("llama_block", block, {{"heads", "4"}, {"kv_heads", "2"}, {"window", "2"}});
  const auto hidden = run("rms_norm", {{"x", &h}, {"gamma", &in.at("norm.gamma")}}, {});
  const tensor<mp_real> zero_bias({V});
  auto logits = run("linear", {{"x", &hidden}, {"w", &in.at("lm_head")}, {"b", &zero_bias}}, {});
  for (auto& l : logits.data) l = 2 * tanh(l / 2);
  const auto flat = reshaped(logits, {2 * T_len, V});
  const int_tensor targets{{2 * T_len}, labels.data};
  const auto loss = run("cross_entropy", {{"logits", &flat}}, {{"ignore_index", "-100"}}, "loss", {{"targets", targets}});

  const auto r = evaluate(llama_op_info(), a, false);
  BOOST_TEST(max_abs_diff(r.intermediates.at("hidden"), hidden) < tiny);
  BOOST_TEST(max_abs_diff(r.outputs.at("logits"), logits) < tiny);
  BOOST_TEST(max_abs_diff(r.outputs.at("loss"), loss) < tiny);
  // A mean per sequence, then over the sequences, is another number.
  mp_real mean_of_means = 0;
  for (std::int64_t b = 0; b < 2; ++b) {
    const tensor<mp_real> row({T_len, V}, std::vector<mp_real>(flat.data.begin() + b * T_len * V, flat.data.begin() + (b + 1) * T_len * V));
    const int_tensor t{{T_len}, std::vector<std::int64_t>(labels.data.begin() + b * T_len, labels.data.begin() + (b + 1) * T_len)};
    mean_of_means += run("cross_entropy", {{"logits", &row}}, {{"ignore_index", "-100"}}, "loss", {{"targets", t}}).data[0] / 2;
  }
  BOOST_TEST(abs(mp_real(mean_of_means - r.outputs.at("loss").data[0])) > 1e-3);
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  // The defaults and each choice/boolean param alone run in catalogue_test; here combinations.
  precision_guard bits(256);
  struct variant {
    shape_t batch;
    kv params;
    bool ignore;
  };
  const variant variants[] = {
      {{2}, {{"layers", "1"}, {"heads", "2"}, {"tie_embeddings", "true"}, {"logit_softcap", "1.5"}, {"ignore_index", "-100"}}, true},
      {{}, {{"layers", "2"}, {"heads", "4"}, {"kv_heads", "2"}, {"window", "3"}, {"softcap", "2"}, {"rope_style", "interleaved"}, {"offset", "9"}}, false},
      {{}, {{"layers", "1"}, {"heads", "2"}, {"kv_heads", "1"}, {"head_dim", "6"}, {"activation", "gelu_tanh"}, {"eps", "0.001"}}, false},
  };
  std::uint64_t seed = 13;
  for (const auto& v : variants) {
    auto a = model_args(v.batch, v.params, seed, v.ignore);
    fill_cotangents("llama", a, seed + 50);
    BOOST_REQUIRE(a.cotangents.count("loss") && a.cotangents.count("logits"));
    seed += 7;
    std::size_t n = 0;
    for (const auto& [name, t] : a.inputs) n += t.size();
    const auto agreement = check_gradients("llama", a);
    BOOST_TEST(agreement.checked == n);
    BOOST_TEST(agreement.min_digits >= 30, agreement.worst);
    BOOST_TEST_MESSAGE("llama gradients: " << agreement.checked << " elements, min digits " << agreement.min_digits);
  }
}

BOOST_AUTO_TEST_CASE(inputs_are_named_per_block) {
  auto names = [](const kv& given) {
    std::map<std::string, input_spec> out;
    for (const auto& s : llama_op_info().inputs(params("llama", given))) out.emplace(s.name, s);
    return out;
  };
  const auto untied = names({{"layers", "2"}, {"heads", "2"}});
  BOOST_TEST(untied.size() == 3 + 2 * 9 + 2u); // ids, labels, embed; 9 weights a block; norm.gamma, lm_head
  for (const char* name : {"blocks.0.attn_norm.gamma", "blocks.0.attn.w_q", "blocks.1.attn.w_k", "blocks.1.ffn.w_down", "norm.gamma"})
    BOOST_TEST(untied.count(name) == 1u, name);
  BOOST_TEST(untied.count("blocks.2.attn.w_q") == 0u);
  BOOST_TEST((untied.at("ids").integer && untied.at("labels").integer && !untied.at("ids").differentiable));
  BOOST_TEST(!untied.at("lm_head").optional);
  const auto tied = names({{"layers", "1"}, {"heads", "2"}, {"tie_embeddings", "true"}});
  BOOST_TEST((tied.at("lm_head").optional && !tied.at("lm_head").differentiable)); // listed only to be refused
}

BOOST_AUTO_TEST_CASE(rejects_bad_inputs) {
  const kv good{{"layers", "1"}, {"heads", "2"}};
  auto base = [&](const kv& extra = {}) {
    kv p = good;
    for (const auto& [k, v] : extra) p[k] = v;
    return model_args<double>({2}, p, 1);
  };
  BOOST_TEST(path_of(base()) == "(no error)");

  auto tied = base({{"tie_embeddings", "true"}});
  tied.inputs["lm_head"] = tensor<double>({C, V}); // contract: lm_head given with tie_embeddings is bad input
  BOOST_TEST(path_of(tied) == "inputs/lm_head");
  BOOST_TEST(path_of(base({{"tie_embeddings", "true"}})) == "(no error)");
  auto untied = base();
  untied.inputs.erase("lm_head");
  BOOST_TEST(path_of(untied) == "inputs");
  auto head = base();
  head.inputs["lm_head"] = tensor<double>({C, V + 1});
  BOOST_TEST(path_of(head) == "inputs/lm_head");

  auto label = base();
  label.int_inputs["labels"].data[0] = V;
  BOOST_TEST(path_of(label) == "inputs/labels");
  auto ignored = base(); // -100 is a bad label unless ignore_index says so
  ignored.int_inputs["labels"].data[0] = -100;
  BOOST_TEST(path_of(ignored) == "inputs/labels");
  ignored.params = params("llama", {{"layers", "1"}, {"heads", "2"}, {"ignore_index", "-100"}});
  BOOST_TEST(path_of(ignored) == "(no error)");
  auto id = base();
  id.int_inputs["ids"].data[3] = -1;
  BOOST_TEST(path_of(id) == "inputs/ids");
  auto shape = base();
  shape.int_inputs["labels"] = int_tensor{{2, T_len - 1}, std::vector<std::int64_t>(2 * (T_len - 1), 0)};
  BOOST_TEST(path_of(shape) == "inputs/labels");
  auto real_ids = base();
  real_ids.int_inputs.erase("ids");
  real_ids.inputs["ids"] = tensor<double>({2, T_len});
  BOOST_TEST(path_of(real_ids) == "inputs/ids");

  auto gamma = base();
  gamma.inputs["norm.gamma"] = tensor<double>({C + 1});
  BOOST_TEST(path_of(gamma) == "inputs/norm.gamma");
  auto wq = base();
  wq.inputs["blocks.0.attn.w_q"] = tensor<double>({C, C + 2});
  BOOST_TEST(path_of(wq) == "inputs/blocks.0.attn.w_q");
  BOOST_TEST(path_of(base({{"logit_softcap", "0"}})) == "params/logit_softcap");
  BOOST_TEST(path_of(base({{"window", "0"}})) == "params/window");
  BOOST_TEST(path_of(base({{"kv_heads", "3"}})) == "params/kv_heads");
  auto layers = base();
  layers.params = params("llama", {{"layers", "0"}, {"heads", "2"}});
  BOOST_TEST(path_of(layers) == "params/layers");
}

BOOST_AUTO_TEST_SUITE_END()
