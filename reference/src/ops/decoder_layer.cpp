#include "gradspec/reference/ops/decoder_layer.hpp"

#include "gradspec/reference/ops/common.hpp"

namespace gradspec::reference {

template <class T>
tensor<T> decoder_layer_forward(const tensor<T>& x, const tensor<T>& m, const decoder_layer_params<T>& p,
                                const layer_options<T>& opt, decoder_layer_cache<T>& c) {
  const tensor<T>* self = nullptr; // self-attention reads x itself
  const tensor<T>* no_mask = nullptr;
  if (!opt.norm_first) {
    // Post-LN: h1 = LN1(x + SA(x)); h2 = LN2(h1 + CA(h1, m)); y = LN3(h2 + FFN(h2)).
    c.sum1 = multi_head_attention_forward(x, self, p.self_attn, no_mask, opt.heads, true, c.self_attn);
    add_into(c.sum1, x);
    c.h1 = layer_norm_forward(c.sum1, p.ln1.gamma, p.ln1.beta, opt.eps, c.ln1);
    c.sum2 = multi_head_attention_forward(c.h1, &m, p.cross_attn, no_mask, opt.heads, false, c.cross_attn);
    add_into(c.sum2, c.h1);
    c.h2 = layer_norm_forward(c.sum2, p.ln2.gamma, p.ln2.beta, opt.eps, c.ln2);
    c.sum3 = feed_forward_forward(c.h2, p.ffn, opt.act, c.ffn);
    add_into(c.sum3, c.h2);
    return layer_norm_forward(c.sum3, p.ln3.gamma, p.ln3.beta, opt.eps, c.ln3);
  }
  // Pre-LN: h1 = x + SA(LN1(x)); h2 = h1 + CA(LN2(h1), m); y = h2 + FFN(LN3(h2)).
  c.norm1 = layer_norm_forward(x, p.ln1.gamma, p.ln1.beta, opt.eps, c.ln1);
  c.h1 = multi_head_attention_forward(c.norm1, self, p.self_attn, no_mask, opt.heads, true, c.self_attn);
  add_into(c.h1, x);
  c.norm2 = layer_norm_forward(c.h1, p.ln2.gamma, p.ln2.beta, opt.eps, c.ln2);
  c.h2 = multi_head_attention_forward(c.norm2, &m, p.cross_attn, no_mask, opt.heads, false, c.cross_attn);
  add_into(c.h2, c.h1);
  c.norm3 = layer_norm_forward(c.h2, p.ln3.gamma, p.ln3.beta, opt.eps, c.ln3);
  tensor<T> y = feed_forward_forward(c.norm3, p.ffn, opt.act, c.ffn);
  add_into(y, c.h2);
  return y;
}

template <class T>
decoder_layer_grads<T> decoder_layer_backward(const tensor<T>& dy, const tensor<T>& x, const tensor<T>& m,
                                              const decoder_layer_params<T>& p, const layer_options<T>& opt,
                                              const decoder_layer_cache<T>& c) {
  decoder_layer_grads<T> g;
  const tensor<T>* self = nullptr;
  if (!opt.norm_first) {
    // dsum3 = LN3ᵀ dy;  dh2 = dsum3 + FFNᵀ dsum3;
    // dsum2 = LN2ᵀ dh2; dh1 = dsum2 + CAᵀ_x dsum2, dmemory = CAᵀ_m dsum2;
    // dsum1 = LN1ᵀ dh1; dx = dsum1 + SAᵀ dsum1.
    g.ln3 = layer_norm_backward(dy, c.sum3, p.ln3.gamma, c.ln3);
    g.ffn = feed_forward_backward(g.ln3.dx, c.h2, p.ffn, opt.act, c.ffn);
    tensor<T> dh2 = g.ln3.dx;
    add_into(dh2, g.ffn.dx);
    g.ln2 = layer_norm_backward(dh2, c.sum2, p.ln2.gamma, c.ln2);
    g.cross_attn = multi_head_attention_backward(g.ln2.dx, c.h1, &m, p.cross_attn, opt.heads, c.cross_attn);
    tensor<T> dh1 = g.ln2.dx;
    add_into(dh1, g.cross_attn.dx);
    g.dmemory = std::move(g.cross_attn.dmemory);
    g.ln1 = layer_norm_backward(dh1, c.sum1, p.ln1.gamma, c.ln1);
    g.self_attn = multi_head_attention_backward(g.ln1.dx, x, self, p.self_attn, opt.heads, c.self_attn);
    g.dx = g.ln1.dx;
    add_into(g.dx, g.self_attn.dx);
    return g;
  }
  // dh2 = dy + LN3ᵀ FFNᵀ dy;
  // dh1 = dh2 + LN2ᵀ CAᵀ_x dh2, dmemory = CAᵀ_m dh2;
  // dx = dh1 + LN1ᵀ SAᵀ dh1.
  g.ffn = feed_forward_backward(dy, c.norm3, p.ffn, opt.act, c.ffn);
  g.ln3 = layer_norm_backward(g.ffn.dx, c.h2, p.ln3.gamma, c.ln3);
  tensor<T> dh2 = dy;
  add_into(dh2, g.ln3.dx);
  g.cross_attn = multi_head_attention_backward(dh2, c.norm2, &m, p.cross_attn, opt.heads, c.cross_attn);
  g.dmemory = std::move(g.cross_attn.dmemory);
  g.ln2 = layer_norm_backward(g.cross_attn.dx, c.h1, p.ln2.gamma, c.ln2);
  tensor<T> dh1 = std::move(dh2);
  add_into(dh1, g.ln2.dx);
  g.self_attn = multi_head_attention_backward(dh1, c.norm1, self, p.self_attn, opt.heads, c.self_attn);
  g.ln1 = layer_norm_backward(g.self_attn.dx, x, p.ln1.gamma, c.ln1);
  g.dx = std::move(dh1);
  add_into(g.dx, g.ln1.dx);
  return g;
}

std::vector<input_spec> decoder_layer_weight_inputs(const std::string& prefix) {
  std::vector<input_spec> in;
  auto attention = [&](const std::string& name) {
    for (const char* w : {"w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_o", "b_o"})
      in.push_back({prefix + name + "." + w, w[0] == 'w' ? "[C, C]" : "[C]"});
  };
  auto norm = [&](const std::string& name) {
    in.push_back({prefix + name + ".gamma", "[C]"});
    in.push_back({prefix + name + ".beta", "[C]"});
  };
  attention("self_attn");
  norm("ln1");
  attention("cross_attn");
  norm("ln2");
  in.push_back({prefix + "ffn.w1", "[C, F]"});
  in.push_back({prefix + "ffn.b1", "[F]"});
  in.push_back({prefix + "ffn.w2", "[F, C]"});
  in.push_back({prefix + "ffn.b2", "[C]"});
  norm("ln3");
  return in;
}

template <class T>
decoder_layer_params<T> decoder_layer_params_from(const op_args<T>& args, const std::string& prefix, std::int64_t C) {
  return {mha_params_from(args, prefix + "self_attn.", C),  layer_norm_params_from(args, prefix + "ln1.", C),
          mha_params_from(args, prefix + "cross_attn.", C), layer_norm_params_from(args, prefix + "ln2.", C),
          feed_forward_params_from(args, prefix + "ffn.", C), layer_norm_params_from(args, prefix + "ln3.", C)};
}

template <class T> void store_gradients(op_result<T>& result, const std::string& prefix, decoder_layer_grads<T>&& g) {
  store_gradients(result, prefix + "self_attn.", std::move(g.self_attn));
  store_gradients(result, prefix + "ln1.", std::move(g.ln1));
  store_gradients(result, prefix + "cross_attn.", std::move(g.cross_attn));
  store_gradients(result, prefix + "ln2.", std::move(g.ln2));
  store_gradients(result, prefix + "ffn.", std::move(g.ffn));
  store_gradients(result, prefix + "ln3.", std::move(g.ln3));
}

#define GRADSPEC_DECODER_INSTANTIATE(T)                                                                          \
  template tensor<T> decoder_layer_forward(const tensor<T>&, const tensor<T>&, const decoder_layer_params<T>&,  \
                                           const layer_options<T>&, decoder_layer_cache<T>&);                    \
  template decoder_layer_grads<T> decoder_layer_backward(const tensor<T>&, const tensor<T>&, const tensor<T>&,  \
                                                         const decoder_layer_params<T>&, const layer_options<T>&, \
                                                         const decoder_layer_cache<T>&);                         \
  template decoder_layer_params<T> decoder_layer_params_from(const op_args<T>&, const std::string&, std::int64_t); \
  template void store_gradients(op_result<T>&, const std::string&, decoder_layer_grads<T>&&);
GRADSPEC_DECODER_INSTANTIATE(double)
GRADSPEC_DECODER_INSTANTIATE(float)
GRADSPEC_DECODER_INSTANTIATE(mp_real)
#undef GRADSPEC_DECODER_INSTANTIATE

namespace {

template <class T> op_result<T> decoder_layer_evaluate(const op_args<T>& args, bool backward) {
  const auto &x = input(args, "x"), &memory = input(args, "memory");
  require_rank(x.shape, 2, "inputs/x", "[..., T, C]");
  const std::int64_t C = x.shape.back();
  require(memory.rank() == x.rank() && leading_axes(memory.shape, 2) == leading_axes(x.shape, 2) && memory.shape.back() == C,
          "inputs/memory",
          "expected shape [..., S, C] with the leading axes and C of x " + shape_to_string(x.shape) + ", got " +
              shape_to_string(memory.shape));
  const auto& prm = args.params;
  require_heads(prm.integer("heads"), C);
  const auto p = decoder_layer_params_from(args, "", C);
  const layer_options<T> opt{prm.integer("heads"), prm.boolean("norm_first"), prm.template real<T>("eps"),
                             parse_activation(prm.choice("activation"))};

  decoder_layer_cache<T> cache;
  op_result<T> r;
  r.outputs["y"] = decoder_layer_forward(x, memory, p, opt, cache);
  if (backward) {
    auto g = decoder_layer_backward(cotangent(args, "y", r.outputs["y"].shape), x, memory, p, opt, cache);
    r.gradients["x"] = std::move(g.dx);
    r.gradients["memory"] = std::move(g.dmemory);
    store_gradients(r, "", std::move(g));
  }
  r.intermediates["h1"] = std::move(cache.h1);
  r.intermediates["h2"] = std::move(cache.h2);
  return r;
}

} // namespace

op_info decoder_layer_op() {
  return {"decoder_layer",
          "Transformer decoder block: causal self-attention, cross-attention over memory and feed-forward, with "
          "residuals and LayerNorm (post-LN or pre-LN)",
          {{"heads", param_type::integer, "", {}, false, "attention heads H (must divide C)"},
           {"norm_first", param_type::boolean, "false", {}, false, "pre-LN (true) or post-LN (false, the original paper)"},
           {"eps", param_type::real, "1e-5", {}, false, "LayerNorm epsilon, inside the square root"},
           {"activation", param_type::choice, "\"relu\"", {"relu", "gelu", "gelu_tanh", "silu"}, false, "FFN activation"}},
          [](const param_map&) {
            std::vector<input_spec> in{{"x", "[..., T, C]"}, {"memory", "[..., S, C]"}};
            for (auto& w : decoder_layer_weight_inputs("")) in.push_back(std::move(w));
            return in;
          },
          {{"y", "[..., T, C]"}},
          {"h1", "h2"},
          &decoder_layer_evaluate<double>,
          &decoder_layer_evaluate<mp_real>, &decoder_layer_evaluate<float>};
}

} // namespace gradspec::reference
