// llama_block: with w_o = 0 and ffn.w_down = 0 the block is the identity (and so is its x gradient);
// with kv_heads = heads it equals rms_norm, linear, rope, causal attention (v1) and gated_feed_forward
// composed by hand; grouped-query equals multi-head with w_k, w_v repeated per group (and its k/v
// gradients are the group sums); the RoPE offset moves q and k but not the output (scores depend on
// p_i - p_j only); window >= T is no window and window 1 returns each row's own value; finite
// differences on GQA, MQA, window, softcap, head_dim != C/heads; bad params and shapes. Finite
// differences at the defaults, batch axes, float64/float32 against MPFR and determinism run for
// every op in catalogue_test.
#include "gradspec/reference/ops/heads.hpp"
#include "gradspec/reference/ops/llama_block.hpp"
#include "gradspec/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/tensor_checks.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <string>

using namespace gradspec::reference;
using namespace gradspec::testing;

namespace {

using kv = std::map<std::string, std::string>;

// x [batch..., T, C] and every weight, grid values (projections within ±1/2), for the heads of `given`.
template <class T = mp_real>
op_args<T> block_args(const shape_t& batch, std::int64_t T_len, std::int64_t C, std::int64_t F, const kv& given, std::uint64_t seed) {
  op_args<T> a;
  a.params = params("llama_block", given);
  const std::int64_t Hq = std::max<std::int64_t>(a.params.integer("heads"), 1); // heads = 0 is refused by the op
  const std::int64_t Hkv = a.params.optional_integer("kv_heads").value_or(Hq);
  const std::int64_t D = a.params.optional_integer("head_dim").value_or(C / Hq);
  shape_t xs = batch;
  xs.insert(xs.end(), {T_len, C});
  a.inputs["x"] = grid_tensor<T>(xs, seed);
  a.inputs["attn_norm.gamma"] = grid_tensor<T>({C}, seed + 1, 2.0);
  a.inputs["attn.w_q"] = grid_tensor<T>({C, Hq * D}, seed + 2, 0.5);
  a.inputs["attn.w_k"] = grid_tensor<T>({C, Hkv * D}, seed + 3, 0.5);
  a.inputs["attn.w_v"] = grid_tensor<T>({C, Hkv * D}, seed + 4, 0.5);
  a.inputs["attn.w_o"] = grid_tensor<T>({Hq * D, C}, seed + 5, 0.5);
  a.inputs["ffn_norm.gamma"] = grid_tensor<T>({C}, seed + 6, 2.0);
  a.inputs["ffn.w_gate"] = grid_tensor<T>({C, F}, seed + 7, 0.5);
  a.inputs["ffn.w_up"] = grid_tensor<T>({C, F}, seed + 8, 0.5);
  a.inputs["ffn.w_down"] = grid_tensor<T>({F, C}, seed + 9, 0.5);
  return a;
}

const op_info& block_op() { return *find_op("llama_block"); }

std::string path_of(const op_args<double>& args) {
  try {
    evaluate(block_op(), args, false);
  } catch (const gradspec::bad_input& e) {
    return e.path();
  }
  return "(no error)";
}

// Columns [g·D, (g+1)·D) of w [C, Hkv·D] repeated for each of the G query heads of group g: [C, Hkv·G·D].
tensor<mp_real> repeat_kv(const tensor<mp_real>& w, std::int64_t Hkv, std::int64_t G) {
  const std::int64_t C = w.shape[0], D = w.shape[1] / Hkv;
  tensor<mp_real> out({C, Hkv * G * D});
  for (std::int64_t r = 0; r < C; ++r)
    for (std::int64_t h = 0; h < Hkv * G; ++h)
      for (std::int64_t d = 0; d < D; ++d) out.data[r * Hkv * G * D + h * D + d] = w.data[r * Hkv * D + (h / G) * D + d];
  return out;
}

// The inverse for gradients: the blocks of the G heads of each group added up.
tensor<mp_real> sum_groups(const tensor<mp_real>& g, std::int64_t Hkv, std::int64_t G) {
  const std::int64_t C = g.shape[0], D = g.shape[1] / (Hkv * G);
  tensor<mp_real> out({C, Hkv * D});
  for (std::int64_t r = 0; r < C; ++r)
    for (std::int64_t h = 0; h < Hkv * G; ++h)
      for (std::int64_t d = 0; d < D; ++d) out.data[r * Hkv * D + (h / G) * D + d] += g.data[r * Hkv * G * D + h * D + d];
  return out;
}

const mp_real tiny("1e-70"); // 256-bit arithmetic keeps ~77 digits

} // namespace

BOOST_AUTO_TEST_SUITE(llama_block_test)

BOOST_AUTO_TEST_CASE(zero_output_projections_give_the_identity) {
  // h = x + o·0 = x and y = h + hidden·0 = h exactly; backward, dhidden = dy·0ᵀ = 0 and do = dh·0ᵀ = 0, so
  // dx = dy exactly and every weight gradient but w_o's and w_down's is zero.
  precision_guard bits(256);
  auto a = block_args({2}, 5, 8, 12, {{"heads", "4"}, {"kv_heads", "2"}, {"window", "3"}}, 11);
  a.inputs["attn.w_o"] = tensor<mp_real>(a.inputs["attn.w_o"].shape);
  a.inputs["ffn.w_down"] = tensor<mp_real>(a.inputs["ffn.w_down"].shape);
  fill_cotangents("llama_block", a, 12);
  const auto r = evaluate(block_op(), a, true);
  BOOST_TEST(same(r.outputs.at("y"), a.inputs.at("x")));
  BOOST_TEST(same(r.intermediates.at("h"), a.inputs.at("x")));
  BOOST_TEST(same(r.gradients.at("x"), a.cotangents.at("y")));
  for (const char* zero : {"attn_norm.gamma", "attn.w_q", "attn.w_k", "attn.w_v", "ffn_norm.gamma", "ffn.w_gate", "ffn.w_up"})
    BOOST_TEST(same(r.gradients.at(zero), tensor<mp_real>(a.inputs.at(zero).shape)), zero);
  BOOST_TEST(max_abs_diff(r.gradients.at("attn.w_o"), tensor<mp_real>(a.inputs.at("attn.w_o").shape)) > 1e-3);
  BOOST_TEST(max_abs_diff(r.gradients.at("ffn.w_down"), tensor<mp_real>(a.inputs.at("ffn.w_down").shape)) > 1e-3);
}

BOOST_AUTO_TEST_CASE(multi_head_equals_the_ops_composed_by_hand) {
  // kv_heads = heads: the catalogue's v1 ops, one at a time (attention's causal is v1's j <= i).
  precision_guard bits(256);
  for (const char* style : {"half", "interleaved"}) {
    const kv given{{"heads", "2"}, {"rope_style", style}, {"offset", "3"}, {"activation", "gelu"}};
    const auto a = block_args({2}, 4, 8, 12, given, 21);
    const auto& in = a.inputs;
    auto project = [&](const tensor<mp_real>& x, const std::string& w) {
      const tensor<mp_real> b({in.at(w).shape[1]}); // linear's bias, zero
      return run("linear", {{"x", &x}, {"w", &in.at(w)}, {"b", &b}}, {});
    };
    auto rope = [&](const tensor<mp_real>& t) { return run("rope", {{"x", &t}}, {{"style", style}, {"offset", "3"}}); };
    const auto norm1 = run("rms_norm", {{"x", &in.at("x")}, {"gamma", &in.at("attn_norm.gamma")}}, {});
    const auto q = rope(split_heads(project(norm1, "attn.w_q"), 2));
    const auto k = rope(split_heads(project(norm1, "attn.w_k"), 2));
    const auto v = split_heads(project(norm1, "attn.w_v"), 2);
    const auto o = merge_heads(run("attention", {{"q", &q}, {"k", &k}, {"v", &v}}, {{"causal", "true"}}, "out"));
    const auto h = sum(project(o, "attn.w_o"), in.at("x"));
    const auto norm2 = run("rms_norm", {{"x", &h}, {"gamma", &in.at("ffn_norm.gamma")}}, {});
    const auto y = sum(run("gated_feed_forward",
                           {{"x", &norm2}, {"w_gate", &in.at("ffn.w_gate")}, {"w_up", &in.at("ffn.w_up")}, {"w_down", &in.at("ffn.w_down")}},
                           {{"activation", "gelu"}}),
                       h);
    const auto r = evaluate(block_op(), a, false);
    BOOST_TEST(max_abs_diff(r.intermediates.at("q"), q) < tiny, style);
    BOOST_TEST(max_abs_diff(r.intermediates.at("k"), k) < tiny, style);
    BOOST_TEST(max_abs_diff(r.intermediates.at("attn_out"), o) < tiny, style);
    BOOST_TEST(max_abs_diff(r.intermediates.at("h"), h) < tiny, style);
    BOOST_TEST(max_abs_diff(r.outputs.at("y"), y) < tiny, style);
  }
}

BOOST_AUTO_TEST_CASE(grouped_query_equals_multi_head_with_repeated_kv_weights) {
  // Query head h reads kv head h / G: the same block as multi-head attention whose w_k, w_v repeat each
  // kv head's columns for its G query heads (Hugging Face's repeat_kv); the gradients of the shared
  // columns are the sums over the group.
  precision_guard bits(256);
  for (const auto& [Hkv, G] : {std::pair<std::int64_t, std::int64_t>{2, 2}, {1, 4}}) {
    const std::string heads = std::to_string(Hkv * G), kvh = std::to_string(Hkv);
    auto gqa = block_args({2}, 5, 8, 12, {{"heads", heads}, {"kv_heads", kvh}, {"softcap", "3"}, {"window", "2"}}, 31);
    fill_cotangents("llama_block", gqa, 32);
    auto mha = gqa;
    mha.params = params("llama_block", {{"heads", heads}, {"softcap", "3"}, {"window", "2"}});
    mha.inputs["attn.w_k"] = repeat_kv(gqa.inputs.at("attn.w_k"), Hkv, G);
    mha.inputs["attn.w_v"] = repeat_kv(gqa.inputs.at("attn.w_v"), Hkv, G);
    const auto rg = evaluate(block_op(), gqa, true), rm = evaluate(block_op(), mha, true);
    const std::string what = "Hkv = " + kvh + ", G = " + std::to_string(G);
    BOOST_TEST(max_abs_diff(rg.outputs.at("y"), rm.outputs.at("y")) < tiny, what);
    BOOST_TEST(max_abs_diff(rg.intermediates.at("attn_out"), rm.intermediates.at("attn_out")) < tiny, what);
    for (const char* name : {"x", "attn_norm.gamma", "attn.w_q", "attn.w_o", "ffn.w_gate"})
      BOOST_TEST(max_abs_diff(rg.gradients.at(name), rm.gradients.at(name)) < tiny, what << ": " << name);
    for (const char* name : {"attn.w_k", "attn.w_v"})
      BOOST_TEST(max_abs_diff(rg.gradients.at(name), sum_groups(rm.gradients.at(name), Hkv, G)) < tiny, what << ": " << name);
  }
}

BOOST_AUTO_TEST_CASE(rope_offset_moves_q_and_k_but_not_the_output) {
  // Rotations by p_i·ω and p_j·ω leave q_i·k_j a function of p_i - p_j: the whole block is invariant
  // to the offset (up to rounding of cos and sin at 256 bits), while the rotated q and k change.
  precision_guard bits(256);
  const kv base{{"heads", "4"}, {"kv_heads", "2"}};
  auto at = [&](const std::string& offset) {
    kv given = base;
    given["offset"] = offset;
    auto a = block_args({}, 4, 8, 12, given, 41);
    fill_cotangents("llama_block", a, 42);
    return evaluate(block_op(), a, true);
  };
  const auto r0 = at("0");
  for (const char* offset : {"17", "1000000"}) {
    const auto r = at(offset);
    BOOST_TEST(max_abs_diff(r.outputs.at("y"), r0.outputs.at("y")) < 1e-65, offset);
    BOOST_TEST(max_abs_diff(r.gradients.at("attn.w_q"), r0.gradients.at("attn.w_q")) < 1e-65, offset);
    BOOST_TEST(max_abs_diff(r.gradients.at("x"), r0.gradients.at("x")) < 1e-65, offset);
    BOOST_TEST(max_abs_diff(r.intermediates.at("q"), r0.intermediates.at("q")) > 1e-2, offset);
    BOOST_TEST(max_abs_diff(r.intermediates.at("k"), r0.intermediates.at("k")) > 1e-2, offset);
  }
}

BOOST_AUTO_TEST_CASE(window_of_t_is_no_window_and_window_1_sees_only_itself) {
  precision_guard bits(256);
  const auto none = evaluate(block_op(), block_args({}, 5, 8, 12, {{"heads", "2"}}, 51), false);
  for (const char* w : {"5", "6", "100"}) {
    const auto r = evaluate(block_op(), block_args({}, 5, 8, 12, {{"heads", "2"}, {"window", w}}, 51), false);
    BOOST_TEST(same(r.outputs.at("y"), none.outputs.at("y")), "window " << w);
  }
  const auto narrower = evaluate(block_op(), block_args({}, 5, 8, 12, {{"heads", "2"}, {"window", "4"}}, 51), false);
  BOOST_TEST(max_abs_diff(narrower.outputs.at("y"), none.outputs.at("y")) > 1e-6);
  // W = 1: each row's one weight is exactly 1, so the attention output is its own value row, a·w_v.
  const auto a = block_args({}, 5, 8, 12, {{"heads", "2"}, {"window", "1"}}, 51);
  const auto r = evaluate(block_op(), a, false);
  const auto norm = run("rms_norm", {{"x", &a.inputs.at("x")}, {"gamma", &a.inputs.at("attn_norm.gamma")}}, {});
  const tensor<mp_real> b({8});
  const auto v = run("linear", {{"x", &norm}, {"w", &a.inputs.at("attn.w_v")}, {"b", &b}}, {});
  BOOST_TEST(same(r.intermediates.at("attn_out"), v));
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  // The defaults and each rope_style/activation alone run in catalogue_test; here the other params.
  precision_guard bits(256);
  struct variant {
    shape_t batch;
    std::int64_t T_len, C, F;
    kv params;
  };
  const variant variants[] = {
      {{2}, 5, 8, 12, {{"heads", "4"}, {"kv_heads", "2"}, {"window", "2"}, {"softcap", "1.5"}, {"rope_style", "interleaved"}, {"offset", "7"}}},
      {{}, 4, 8, 10, {{"heads", "3"}, {"kv_heads", "1"}, {"head_dim", "6"}, {"activation", "gelu_tanh"}, {"eps", "0.01"}}},
      {{}, 3, 6, 8, {{"heads", "1"}, {"rope_base", "500000"}, {"offset", "131072"}}},
  };
  std::uint64_t seed = 61;
  for (const auto& v : variants) {
    auto a = block_args(v.batch, v.T_len, v.C, v.F, v.params, seed);
    fill_cotangents("llama_block", a, seed + 20);
    seed += 10;
    std::size_t n = 0;
    for (const auto& [name, t] : a.inputs) n += t.size();
    const auto agreement = check_gradients("llama_block", a);
    BOOST_TEST(agreement.checked == n);
    BOOST_TEST(agreement.min_digits >= 30, agreement.worst);
    BOOST_TEST_MESSAGE("llama_block gradients: " << agreement.checked << " elements, min digits " << agreement.min_digits);
  }
}

BOOST_AUTO_TEST_CASE(rejects_bad_params_and_shapes) {
  const kv good{{"heads", "4"}, {"kv_heads", "2"}};
  auto base = [&](const kv& given = {}) {
    kv p = good;
    for (const auto& [k, v] : given) p[k] = v;
    return block_args<double>({2}, 3, 8, 12, p, 1);
  };
  BOOST_TEST(path_of(base()) == "(no error)");
  BOOST_TEST(path_of(base({{"kv_heads", "3"}})) == "params/kv_heads");  // 4 query heads are no multiple of 3
  BOOST_TEST(path_of(base({{"kv_heads", "0"}})) == "params/kv_heads");
  BOOST_TEST(path_of(base({{"heads", "0"}})) == "params/heads");
  BOOST_TEST(path_of(base({{"window", "0"}})) == "params/window");
  BOOST_TEST(path_of(base({{"softcap", "0"}})) == "params/softcap");
  BOOST_TEST(path_of(base({{"softcap", "-2"}})) == "params/softcap");
  BOOST_TEST(path_of(base({{"rope_base", "0"}})) == "params/rope_base");
  BOOST_TEST(path_of(base({{"eps", "-1e-6"}})) == "params/eps");
  BOOST_TEST(path_of(base({{"offset", "-1"}})) == "params/offset");
  BOOST_TEST(path_of(base({{"head_dim", "3"}})) == "params/head_dim"); // odd: RoPE turns pairs

  auto three_heads = block_args<double>({}, 3, 8, 12, {{"heads", "4"}}, 1);
  three_heads.params = params("llama_block", {{"heads", "3"}}); // 3 does not divide C = 8
  BOOST_TEST(path_of(three_heads) == "params/heads");
  auto odd_default = block_args<double>({}, 3, 6, 12, {{"heads", "2"}}, 1); // D = 6/2 = 3, odd
  BOOST_TEST(path_of(odd_default) == "params/heads");

  auto wk = base();
  wk.inputs["attn.w_k"] = tensor<double>({8, 8}); // Hq·D columns where Hkv·D = 4 belong
  BOOST_TEST(path_of(wk) == "inputs/attn.w_k");
  auto wo = base();
  wo.inputs["attn.w_o"] = tensor<double>({8, 4});
  BOOST_TEST(path_of(wo) == "inputs/attn.w_o");
  auto up = base();
  up.inputs["ffn.w_up"] = tensor<double>({8, 13});
  BOOST_TEST(path_of(up) == "inputs/ffn.w_up");
  auto gamma = base();
  gamma.inputs["ffn_norm.gamma"] = tensor<double>({9});
  BOOST_TEST(path_of(gamma) == "inputs/ffn_norm.gamma");
  auto flat = base();
  flat.inputs["x"] = tensor<double>({8});
  BOOST_TEST(path_of(flat) == "inputs/x");
  auto missing = base();
  missing.inputs.erase("ffn.w_gate");
  BOOST_TEST(path_of(missing) == "inputs");
}

BOOST_AUTO_TEST_SUITE_END()
