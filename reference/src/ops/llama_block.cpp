#include "gradspec/reference/ops/llama_block.hpp"

#include "gradspec/reference/ops/common.hpp"
#include "gradspec/reference/ops/heads.hpp"
#include "gradspec/reference/ops/linear.hpp"
#include "gradspec/reference/ops/rms_norm.hpp"

#include <cmath>
#include <limits>

namespace gradspec::reference {

namespace {

template <class T> T attention_scale(std::int64_t head_dim) {
  using std::sqrt;
  return T(1) / sqrt(T(static_cast<long long>(head_dim)));
}

template <class T> attention_options<T> gqa_options(const llama_block_options<T>& opt) {
  attention_options<T> a;
  a.causal = true;
  a.window = opt.window;
  a.softcap = opt.softcap;
  return a;
}

} // namespace

// Forward (rows of x [..., T, C], heads layout [..., H, T, D]):
//   a = x·rstd_1·gamma_1                                  (rms_norm, gamma_offset 0)
//   q = rope(split(a·w_q, Hq)), k = rope(split(a·w_k, Hkv)), v = split(a·w_v, Hkv)
//   o = merge(GQA(q, k, v; causal, window, softcap, 1/sqrt(D)))
//   h = x + o·w_o;  b = h·rstd_2·gamma_2;  y = h + gated_feed_forward(b)
template <class T>
tensor<T> llama_block_forward(const tensor<T>& x, const llama_block_params<T>& p, const llama_block_options<T>& opt,
                              llama_block_cache<T>& c) {
  const std::size_t Hq = static_cast<std::size_t>(opt.heads), Hkv = static_cast<std::size_t>(opt.kv_heads);
  const std::int64_t T_len = x.shape[x.rank() - 2];
  c.a = rms_norm_forward(x, p.attn_norm_gamma, opt.eps, c.attn_norm);
  c.angles = rope_angles_for<T>(T_len, opt.head_dim, opt.rope_base, opt.offset);
  c.q = rope_forward(split_heads(linear_forward<T>(c.a, p.w_q, nullptr), Hq), c.angles, opt.style);
  c.k = rope_forward(split_heads(linear_forward<T>(c.a, p.w_k, nullptr), Hkv), c.angles, opt.style);
  c.v = split_heads(linear_forward<T>(c.a, p.w_v, nullptr), Hkv);
  c.o = merge_heads(grouped_query_attention_forward(c.q, c.k, c.v, static_cast<const tensor<T>*>(nullptr), gqa_options(opt),
                                                    attention_scale<T>(opt.head_dim), c.attn));
  c.h = linear_forward<T>(c.o, p.w_o, nullptr);
  add_into(c.h, x);
  c.b = rms_norm_forward(c.h, p.ffn_norm_gamma, opt.eps, c.ffn_norm);
  tensor<T> y = gated_feed_forward_forward(c.b, p.ffn, opt.act, c.ffn);
  add_into(y, c.h);
  return y;
}

// Backward, with dy [..., T, C]:
//   dh  = dy + rms_normᵀ(gated_feed_forwardᵀ dy)            (both residual paths)
//   do  = dh·w_oᵀ, dw_o = oᵀ·dh
//   dq, dk, dv = GQAᵀ split(do)  (dk, dv summed over each group of query heads)
//   dq, dk turned back by -θ (ropeᵀ); da = merge(dq)·w_qᵀ + merge(dk)·w_kᵀ + merge(dv)·w_vᵀ,
//   dw_q = aᵀ·merge(dq), dw_k = aᵀ·merge(dk), dw_v = aᵀ·merge(dv)
//   dx  = dh + rms_normᵀ da
template <class T>
llama_block_grads<T> llama_block_backward(const tensor<T>& dy, const tensor<T>& x, const llama_block_params<T>& p,
                                          const llama_block_options<T>& opt, const llama_block_cache<T>& c) {
  const std::size_t Hq = static_cast<std::size_t>(opt.heads);
  llama_block_grads<T> g;
  g.ffn = gated_feed_forward_backward(dy, c.b, p.ffn, opt.act, c.ffn);
  g.ffn_norm = rms_norm_backward(g.ffn.dx, c.h, p.ffn_norm_gamma, c.ffn_norm);
  tensor<T> dh = dy;
  add_into(dh, g.ffn_norm.dx);

  auto out = linear_backward(dh, c.o, p.w_o, false);
  g.dw_o = std::move(out.dw);
  auto ga = grouped_query_attention_backward(split_heads(out.dx, Hq), static_cast<const tensor<T>*>(nullptr), c.q, c.k, c.v,
                                             gqa_options(opt), attention_scale<T>(opt.head_dim), c.attn);
  auto gq = linear_backward(merge_heads(rope_backward(ga.dq, c.angles, opt.style)), c.a, p.w_q, false);
  auto gk = linear_backward(merge_heads(rope_backward(ga.dk, c.angles, opt.style)), c.a, p.w_k, false);
  auto gv = linear_backward(merge_heads(ga.dv), c.a, p.w_v, false);
  g.dw_q = std::move(gq.dw);
  g.dw_k = std::move(gk.dw);
  g.dw_v = std::move(gv.dw);
  tensor<T> da = std::move(gq.dx);
  add_into(da, gk.dx);
  add_into(da, gv.dx);
  g.attn_norm = rms_norm_backward(da, x, p.attn_norm_gamma, c.attn_norm);
  g.dx = std::move(dh);
  add_into(g.dx, g.attn_norm.dx);
  return g;
}

std::vector<input_spec> llama_block_weight_inputs(const std::string& prefix) {
  return {{prefix + "attn_norm.gamma", "[C]"},   {prefix + "attn.w_q", "[C, Hq·D]"}, {prefix + "attn.w_k", "[C, Hkv·D]"},
          {prefix + "attn.w_v", "[C, Hkv·D]"},   {prefix + "attn.w_o", "[Hq·D, C]"}, {prefix + "ffn_norm.gamma", "[C]"},
          {prefix + "ffn.w_gate", "[C, F]"},     {prefix + "ffn.w_up", "[C, F]"},    {prefix + "ffn.w_down", "[F, C]"}};
}

std::vector<param_spec> llama_block_param_specs() {
  return {{"heads", param_type::integer, "", {}, false, "query heads Hq (>= 1)"},
          {"kv_heads", param_type::integer, "null", {}, true,
           "key/value heads Hkv (divides Hq; query head h reads kv head h / (Hq/Hkv)); null: Hq (multi-head), 1: multi-query"},
          {"head_dim", param_type::integer, "null", {}, true, "D, features per head (even: RoPE turns the whole head); null: C/Hq"},
          {"rope_base", param_type::real, "10000", {}, false, "RoPE base of the wavelengths (> 0; LLaMA 3: 500000)"},
          {"rope_style", param_type::choice, "\"half\"", {"half", "interleaved"}, false,
           "RoPE pairs: \"half\" (i, i + D/2), rotate_half (Hugging Face); \"interleaved\" (2i, 2i + 1) (Meta's LLaMA)"},
          {"eps", param_type::real, "1e-6", {}, false, "epsilon of both RMSNorms (>= 0), inside the square root"},
          {"window", param_type::integer, "null", {}, true,
           "sliding window W (>= 1): position p sees keys p - W < j <= p (Mistral); null: all earlier keys"},
          {"softcap", param_type::real, "null", {}, true, "attention score soft-capping c (> 0): s = c·tanh(s/c) (Gemma 2)"},
          {"activation", param_type::choice, "\"silu\"", {"silu", "gelu", "gelu_tanh"}, false,
           "feed-forward gate activation: silu (SwiGLU: LLaMA, Mistral, Qwen), gelu, gelu_tanh (GeGLU: Gemma)"},
          {"offset", param_type::integer, "0", {}, false, "RoPE position of row 0 of the T axis (>= 0)"}};
}

template <class T> llama_block_options<T> llama_block_options_from(const param_map& prm, std::int64_t C, std::int64_t T_len) {
  llama_block_options<T> opt;
  opt.heads = prm.integer("heads");
  require(opt.heads >= 1, "params/heads", "must be >= 1, got " + std::to_string(opt.heads));
  require(opt.heads <= max_dimension, "params/heads", "at most " + std::to_string(max_dimension) + ", got " + std::to_string(opt.heads));
  opt.kv_heads = prm.optional_integer("kv_heads").value_or(opt.heads);
  require(opt.kv_heads >= 1, "params/kv_heads", "must be >= 1, got " + std::to_string(opt.kv_heads));
  require(opt.heads % opt.kv_heads == 0, "params/kv_heads",
          "the query heads Hq = " + std::to_string(opt.heads) + " are not a multiple of kv_heads = " + std::to_string(opt.kv_heads));
  if (prm.is_null("head_dim")) {
    require(C % opt.heads == 0, "params/heads",
            std::to_string(opt.heads) + " heads do not divide the model width C = " + std::to_string(C) +
                " (give head_dim to choose D freely)");
    opt.head_dim = C / opt.heads;
    require(opt.head_dim % 2 == 0, "params/heads",
            "head_dim defaults to C/heads = " + std::to_string(opt.head_dim) + ", which is odd: RoPE turns the whole head by pairs");
  } else {
    opt.head_dim = prm.integer("head_dim");
    require(opt.head_dim >= 2 && opt.head_dim % 2 == 0 && opt.head_dim <= max_dimension, "params/head_dim",
            "must be even, >= 2 and at most " + std::to_string(max_dimension) + " (RoPE turns the whole head by pairs), got " +
                std::to_string(opt.head_dim));
  }
  opt.rope_base = prm.template real<rope_angle_t<T>>("rope_base");
  require(opt.rope_base > 0, "params/rope_base", "must be > 0, got " + prm.at("rope_base").text);
  opt.style = prm.choice("rope_style") == "interleaved" ? rope_style::interleaved : rope_style::half;
  opt.eps = norm_eps<T>(prm);
  opt.window = prm.optional_integer("window");
  if (opt.window) require(*opt.window >= 1, "params/window", "must be >= 1 (the key itself), got " + std::to_string(*opt.window));
  opt.softcap = prm.template optional_real<T>("softcap");
  if (opt.softcap) require(*opt.softcap > 0, "params/softcap", "must be > 0, got " + prm.at("softcap").text);
  opt.act = parse_activation(prm.choice("activation"));
  opt.offset = prm.integer("offset");
  require(opt.offset >= 0, "params/offset", "must be >= 0, got " + std::to_string(opt.offset));
  require(opt.offset <= std::numeric_limits<std::int64_t>::max() - T_len, "params/offset",
          "offset + T overflows a 64-bit position");
  return opt;
}

template <class T>
llama_block_params<T> llama_block_params_from(const op_args<T>& args, const std::string& prefix, std::int64_t C,
                                              const llama_block_options<T>& opt) {
  const std::int64_t q_width = opt.heads * opt.head_dim, kv_width = opt.kv_heads * opt.head_dim;
  auto get = [&](const std::string& name, const shape_t& shape) -> const tensor<T>& {
    const tensor<T>& t = input(args, prefix + name);
    require_shape(t.shape, shape, "inputs/" + prefix + name);
    return t;
  };
  const tensor<T>& w_gate = input(args, prefix + "ffn.w_gate");
  require(w_gate.rank() == 2 && w_gate.shape[0] == C && w_gate.shape[1] >= 1, "inputs/" + prefix + "ffn.w_gate",
          "expected shape [C, F] with C = " + std::to_string(C) + " and F >= 1, got " + shape_to_string(w_gate.shape));
  const std::int64_t F = w_gate.shape[1];
  // Braced initialisation runs left to right, so the first bad input is the one reported.
  return llama_block_params<T>{get("attn_norm.gamma", {C}),
                               get("attn.w_q", {C, q_width}),
                               get("attn.w_k", {C, kv_width}),
                               get("attn.w_v", {C, kv_width}),
                               get("attn.w_o", {q_width, C}),
                               get("ffn_norm.gamma", {C}),
                               {w_gate, get("ffn.w_up", {C, F}), get("ffn.w_down", {F, C})}};
}

template <class T> void store_gradients(op_result<T>& result, const std::string& prefix, llama_block_grads<T>&& g) {
  store_gradients(result, prefix + "attn_norm.", std::move(g.attn_norm));
  result.gradients[prefix + "attn.w_q"] = std::move(g.dw_q);
  result.gradients[prefix + "attn.w_k"] = std::move(g.dw_k);
  result.gradients[prefix + "attn.w_v"] = std::move(g.dw_v);
  result.gradients[prefix + "attn.w_o"] = std::move(g.dw_o);
  store_gradients(result, prefix + "ffn_norm.", std::move(g.ffn_norm));
  result.gradients[prefix + "ffn.w_gate"] = std::move(g.ffn.dw_gate);
  result.gradients[prefix + "ffn.w_up"] = std::move(g.ffn.dw_up);
  result.gradients[prefix + "ffn.w_down"] = std::move(g.ffn.dw_down);
}

#define GRADSPEC_LLAMA_BLOCK_INSTANTIATE(T)                                                                      \
  template tensor<T> llama_block_forward(const tensor<T>&, const llama_block_params<T>&, const llama_block_options<T>&, \
                                         llama_block_cache<T>&);                                                 \
  template llama_block_grads<T> llama_block_backward(const tensor<T>&, const tensor<T>&, const llama_block_params<T>&, \
                                                     const llama_block_options<T>&, const llama_block_cache<T>&); \
  template llama_block_options<T> llama_block_options_from(const param_map&, std::int64_t, std::int64_t);       \
  template llama_block_params<T> llama_block_params_from(const op_args<T>&, const std::string&, std::int64_t,   \
                                                         const llama_block_options<T>&);                         \
  template void store_gradients(op_result<T>&, const std::string&, llama_block_grads<T>&&);
GRADSPEC_LLAMA_BLOCK_INSTANTIATE(double)
GRADSPEC_LLAMA_BLOCK_INSTANTIATE(float)
GRADSPEC_LLAMA_BLOCK_INSTANTIATE(mp_real)
#undef GRADSPEC_LLAMA_BLOCK_INSTANTIATE

namespace {

template <class T> op_result<T> llama_block_evaluate(const op_args<T>& args, bool backward) {
  const auto& x = input(args, "x");
  require_rank(x.shape, 2, "inputs/x", "[..., T, C]");
  const std::int64_t T_len = x.shape[x.rank() - 2], C = x.shape.back();
  require(C >= 1, "inputs/x", "the model width C (last axis) must be >= 1, got shape " + shape_to_string(x.shape));
  const auto opt = llama_block_options_from<T>(args.params, C, T_len);
  const auto p = llama_block_params_from(args, "", C, opt);

  llama_block_cache<T> cache;
  op_result<T> r;
  r.outputs["y"] = llama_block_forward(x, p, opt, cache);
  if (backward) {
    auto g = llama_block_backward(cotangent(args, "y", x.shape), x, p, opt, cache);
    r.gradients["x"] = std::move(g.dx);
    store_gradients(r, "", std::move(g));
  }
  r.intermediates["q"] = std::move(cache.q);
  r.intermediates["k"] = std::move(cache.k);
  r.intermediates["attn_out"] = std::move(cache.o);
  r.intermediates["h"] = std::move(cache.h);
  return r;
}

} // namespace

op_info llama_block_op() {
  return {"llama_block",
          "decoder-only pre-norm block (LLaMA, Mistral, Qwen): h = x + GQA(rope(q), rope(k), v; causal)·w_o over "
          "rms_norm(x); y = h + SwiGLU(rms_norm(h)); no biases, no KV cache",
          llama_block_param_specs(),
          [](const param_map&) {
            std::vector<input_spec> in{{"x", "[..., T, C]"}};
            for (auto& w : llama_block_weight_inputs("")) in.push_back(std::move(w));
            return in;
          },
          {{"y", "[..., T, C]"}},
          {"q", "k", "attn_out", "h"},
          &llama_block_evaluate<double>,
          &llama_block_evaluate<mp_real>,
          &llama_block_evaluate<float>};
}

} // namespace gradspec::reference
