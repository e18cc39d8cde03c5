#include "gradspec/reference/ops/encoder_layer.hpp"

#include "gradspec/reference/ops/common.hpp"

namespace gradspec::reference {

template <class T>
tensor<T> encoder_layer_forward(const tensor<T>& x, const encoder_layer_params<T>& p, const tensor<T>* mask, bool causal,
                                const layer_options<T>& opt, encoder_layer_cache<T>& c) {
  if (!opt.norm_first) {
    // Post-LN: h = LN1(x + SA(x)); y = LN2(h + FFN(h)).
    c.sum1 = multi_head_attention_forward(x, static_cast<const tensor<T>*>(nullptr), p.attn, mask, opt.heads, causal, c.attn);
    add_into(c.sum1, x);                                                   // [..., T, C]
    c.h = layer_norm_forward(c.sum1, p.ln1.gamma, p.ln1.beta, opt.eps, c.ln1); // [..., T, C]
    c.sum2 = feed_forward_forward(c.h, p.ffn, opt.act, c.ffn);
    add_into(c.sum2, c.h);
    return layer_norm_forward(c.sum2, p.ln2.gamma, p.ln2.beta, opt.eps, c.ln2);
  }
  // Pre-LN: h = x + SA(LN1(x)); y = h + FFN(LN2(h)).
  c.norm1 = layer_norm_forward(x, p.ln1.gamma, p.ln1.beta, opt.eps, c.ln1);
  c.h = multi_head_attention_forward(c.norm1, static_cast<const tensor<T>*>(nullptr), p.attn, mask, opt.heads, causal, c.attn);
  add_into(c.h, x);
  c.norm2 = layer_norm_forward(c.h, p.ln2.gamma, p.ln2.beta, opt.eps, c.ln2);
  tensor<T> y = feed_forward_forward(c.norm2, p.ffn, opt.act, c.ffn);
  add_into(y, c.h);
  return y;
}

template <class T>
encoder_layer_grads<T> encoder_layer_backward(const tensor<T>& dy, const tensor<T>& x, const encoder_layer_params<T>& p,
                                              const layer_options<T>& opt, const encoder_layer_cache<T>& c) {
  encoder_layer_grads<T> g;
  const tensor<T>* self = nullptr; // self-attention: no memory, dmemory folded into dx
  if (!opt.norm_first) {
    // dsum2 = LN2ᵀ dy; dh = dsum2 + FFNᵀ dsum2; dsum1 = LN1ᵀ dh; dx = dsum1 + SAᵀ dsum1.
    g.ln2 = layer_norm_backward(dy, c.sum2, p.ln2.gamma, c.ln2);
    g.ffn = feed_forward_backward(g.ln2.dx, c.h, p.ffn, opt.act, c.ffn);
    tensor<T> dh = g.ln2.dx;
    add_into(dh, g.ffn.dx);
    g.ln1 = layer_norm_backward(dh, c.sum1, p.ln1.gamma, c.ln1);
    g.attn = multi_head_attention_backward(g.ln1.dx, x, self, p.attn, opt.heads, c.attn);
    g.dx = g.ln1.dx;
    add_into(g.dx, g.attn.dx);
    return g;
  }
  // dh = dy + LN2ᵀ FFNᵀ dy; dx = dh + LN1ᵀ SAᵀ dh.
  g.ffn = feed_forward_backward(dy, c.norm2, p.ffn, opt.act, c.ffn);
  g.ln2 = layer_norm_backward(g.ffn.dx, c.h, p.ln2.gamma, c.ln2);
  tensor<T> dh = dy;
  add_into(dh, g.ln2.dx);
  g.attn = multi_head_attention_backward(dh, c.norm1, self, p.attn, opt.heads, c.attn);
  g.ln1 = layer_norm_backward(g.attn.dx, x, p.ln1.gamma, c.ln1);
  g.dx = std::move(dh);
  add_into(g.dx, g.ln1.dx);
  return g;
}

std::vector<input_spec> encoder_layer_weight_inputs(const std::string& prefix) {
  std::vector<input_spec> in;
  for (const char* w : {"w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_o", "b_o"})
    in.push_back({prefix + "attn." + w, w[0] == 'w' ? "[C, C]" : "[C]"});
  in.push_back({prefix + "ln1.gamma", "[C]"});
  in.push_back({prefix + "ln1.beta", "[C]"});
  in.push_back({prefix + "ffn.w1", "[C, F]"});
  in.push_back({prefix + "ffn.b1", "[F]"});
  in.push_back({prefix + "ffn.w2", "[F, C]"});
  in.push_back({prefix + "ffn.b2", "[C]"});
  in.push_back({prefix + "ln2.gamma", "[C]"});
  in.push_back({prefix + "ln2.beta", "[C]"});
  return in;
}

template <class T>
encoder_layer_params<T> encoder_layer_params_from(const op_args<T>& args, const std::string& prefix, std::int64_t C) {
  return {mha_params_from(args, prefix + "attn.", C), layer_norm_params_from(args, prefix + "ln1.", C),
          feed_forward_params_from(args, prefix + "ffn.", C), layer_norm_params_from(args, prefix + "ln2.", C)};
}

template <class T> void store_gradients(op_result<T>& result, const std::string& prefix, encoder_layer_grads<T>&& g) {
  store_gradients(result, prefix + "attn.", std::move(g.attn));
  store_gradients(result, prefix + "ln1.", std::move(g.ln1));
  store_gradients(result, prefix + "ffn.", std::move(g.ffn));
  store_gradients(result, prefix + "ln2.", std::move(g.ln2));
}

void require_heads(std::int64_t heads, std::int64_t C) {
  require(heads >= 1, "params/heads", "must be >= 1, got " + std::to_string(heads));
  require(C % heads == 0, "params/heads",
          std::to_string(heads) + " heads do not divide the model width C = " + std::to_string(C));
}

#define GRADSPEC_ENCODER_INSTANTIATE(T)                                                                          \
  template tensor<T> encoder_layer_forward(const tensor<T>&, const encoder_layer_params<T>&, const tensor<T>*, bool, \
                                           const layer_options<T>&, encoder_layer_cache<T>&);                    \
  template encoder_layer_grads<T> encoder_layer_backward(const tensor<T>&, const tensor<T>&, const encoder_layer_params<T>&, \
                                                         const layer_options<T>&, const encoder_layer_cache<T>&); \
  template encoder_layer_params<T> encoder_layer_params_from(const op_args<T>&, const std::string&, std::int64_t); \
  template void store_gradients(op_result<T>&, const std::string&, encoder_layer_grads<T>&&);
GRADSPEC_ENCODER_INSTANTIATE(double)
GRADSPEC_ENCODER_INSTANTIATE(float)
GRADSPEC_ENCODER_INSTANTIATE(mp_real)
#undef GRADSPEC_ENCODER_INSTANTIATE

namespace {

template <class T> op_result<T> encoder_layer_evaluate(const op_args<T>& args, bool backward) {
  const auto& x = input(args, "x");
  require_rank(x.shape, 2, "inputs/x", "[..., T, C]");
  const std::int64_t T_len = x.shape[x.rank() - 2], C = x.shape.back();
  const auto& prm = args.params;
  require_heads(prm.integer("heads"), C);
  const auto p = encoder_layer_params_from(args, "", C);
  const tensor<T>* mask = optional_input(args, "mask");
  if (mask) require_shape(mask->shape, {T_len, T_len}, "inputs/mask");
  const layer_options<T> opt{prm.integer("heads"), prm.boolean("norm_first"), prm.template real<T>("eps"),
                             parse_activation(prm.choice("activation"))};

  encoder_layer_cache<T> cache;
  op_result<T> r;
  r.outputs["y"] = encoder_layer_forward(x, p, mask, prm.boolean("causal"), opt, cache);
  if (backward) {
    auto g = encoder_layer_backward(cotangent(args, "y", r.outputs["y"].shape), x, p, opt, cache);
    r.gradients["x"] = std::move(g.dx);
    store_gradients(r, "", std::move(g));
  }
  r.intermediates["h"] = std::move(cache.h);
  return r;
}

} // namespace

op_info encoder_layer_op() {
  return {"encoder_layer",
          "Transformer encoder block: self-attention and feed-forward with residuals and LayerNorm (post-LN or pre-LN)",
          {{"heads", param_type::integer, "", {}, false, "attention heads H (must divide C)"},
           {"norm_first", param_type::boolean, "false", {}, false, "pre-LN (true) or post-LN (false, the original paper)"},
           {"eps", param_type::real, "1e-5", {}, false, "LayerNorm epsilon, inside the square root"},
           {"activation", param_type::choice, "\"relu\"", {"relu", "gelu", "gelu_tanh", "silu"}, false, "FFN activation"},
           {"causal", param_type::boolean, "false", {}, false, "query i sees key j iff j <= i"}},
          [](const param_map&) {
            std::vector<input_spec> in{{"x", "[..., T, C]"}};
            for (auto& w : encoder_layer_weight_inputs("")) in.push_back(std::move(w));
            in.push_back({"mask", "[T, T]", false, true, false, tensor_role::additive_mask});
            return in;
          },
          {{"y", "[..., T, C]"}},
          {"h"},
          &encoder_layer_evaluate<double>,
          &encoder_layer_evaluate<mp_real>, &encoder_layer_evaluate<float>};
}

} // namespace gradspec::reference
