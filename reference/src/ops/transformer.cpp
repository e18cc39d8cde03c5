#include "gradspec/reference/ops/transformer.hpp"

#include "gradspec/reference/ops/common.hpp"
#include "gradspec/reference/ops/embedding.hpp"
#include "gradspec/reference/ops/positional_encoding.hpp"

#include <cmath>

namespace gradspec::reference {

namespace {

// x [..., L, C] += pe [L, C], broadcast over the leading axes.
template <class T> void add_positions(tensor<T>& x, const tensor<T>& pe) {
  const std::size_t L = pe.rows(), C = pe.cols();
  for (std::size_t r = 0; r < x.rows(); ++r)
    for (std::size_t c = 0; c < C; ++c) x.data[r * C + c] += pe.data[(r % L) * C + c];
}

// embed(ids)·s + PE, [..., L, C].
template <class T> tensor<T> embed_with_positions(const int_tensor& ids, const tensor<T>& table, const T& scale) {
  tensor<T> x = embedding_forward(ids, table, scale);
  const std::int64_t L = ids.shape.back(), C = table.shape[1];
  add_positions(x, positional_encoding_forward<T>(L, C, T(10000), 0));
  return x;
}

} // namespace

template <class T>
transformer_outputs<T> transformer_forward(const int_tensor& src_ids, const int_tensor& tgt_ids, const int_tensor& labels,
                                           const transformer_params<T>& p, const transformer_options<T>& opt,
                                           transformer_cache<T>& c) {
  const std::size_t L = p.enc.size();
  const T& eps = opt.layer.eps;
  // Encoder: src [..., S, C] through L layers (no mask, not causal), then enc_norm.
  c.enc_acts.assign(1, embed_with_positions(src_ids, p.src_embed, opt.embed_scale));
  c.enc.assign(L, {});
  for (std::size_t i = 0; i < L; ++i)
    c.enc_acts.push_back(encoder_layer_forward(c.enc_acts[i], p.enc[i], static_cast<const tensor<T>*>(nullptr), false,
                                               opt.layer, c.enc[i]));
  c.memory = layer_norm_forward(c.enc_acts[L], p.enc_norm.gamma, p.enc_norm.beta, eps, c.enc_norm);
  // Decoder: tgt [..., T, C] through L layers reading memory, then dec_norm.
  c.dec_acts.assign(1, embed_with_positions(tgt_ids, p.tgt_embed, opt.embed_scale));
  c.dec.assign(L, {});
  for (std::size_t i = 0; i < L; ++i)
    c.dec_acts.push_back(decoder_layer_forward(c.dec_acts[i], c.memory, p.dec[i], opt.layer, c.dec[i]));
  c.dec_out = layer_norm_forward(c.dec_acts[L], p.dec_norm.gamma, p.dec_norm.beta, eps, c.dec_norm);
  // Head: logits [..., T, Vt], loss [].
  transformer_outputs<T> out;
  out.logits = linear_forward(c.dec_out, p.out_w, &p.out_b);
  out.loss = cross_entropy_forward(out.logits, labels, reduction::mean, opt.ignore_index, opt.label_smoothing, c.ce);
  return out;
}

template <class T>
transformer_grads<T> transformer_backward(const tensor<T>& dloss, const tensor<T>& dlogits_in, const int_tensor& src_ids,
                                          const int_tensor& tgt_ids, const int_tensor& labels, const transformer_params<T>& p,
                                          const transformer_options<T>& opt, const transformer_cache<T>& c) {
  const std::size_t L = p.enc.size();
  transformer_grads<T> g;
  g.enc.resize(L);
  g.dec.resize(L);
  // Both outputs: dlogits = cot_logits + CEᵀ dloss.
  tensor<T> dlogits = dlogits_in;
  add_into(dlogits, cross_entropy_backward(dloss, labels, reduction::mean, opt.ignore_index, opt.label_smoothing, c.ce));
  g.out = linear_backward(dlogits, c.dec_out, p.out_w, true);
  g.dec_norm = layer_norm_backward(g.out.dx, c.dec_acts[L], p.dec_norm.gamma, c.dec_norm);
  // Decoder layers in reverse; every layer's cross-attention adds into dmemory [..., S, C].
  tensor<T> d = std::move(g.dec_norm.dx), dmemory(c.memory.shape);
  for (std::size_t i = L; i-- > 0;) {
    g.dec[i] = decoder_layer_backward(d, c.dec_acts[i], c.memory, p.dec[i], opt.layer, c.dec[i]);
    add_into(dmemory, g.dec[i].dmemory);
    d = std::move(g.dec[i].dx);
  }
  g.dtgt_embed = embedding_backward(d, tgt_ids, p.tgt_embed.shape, opt.embed_scale); // PE has no gradient
  // Encoder: enc_normᵀ dmemory, then the layers in reverse.
  g.enc_norm = layer_norm_backward(dmemory, c.enc_acts[L], p.enc_norm.gamma, c.enc_norm);
  d = std::move(g.enc_norm.dx);
  for (std::size_t i = L; i-- > 0;) {
    g.enc[i] = encoder_layer_backward(d, c.enc_acts[i], p.enc[i], opt.layer, c.enc[i]);
    d = std::move(g.enc[i].dx);
  }
  g.dsrc_embed = embedding_backward(d, src_ids, p.src_embed.shape, opt.embed_scale);
  return g;
}

#define GRADSPEC_TRANSFORMER_INSTANTIATE(T)                                                                    \
  template transformer_outputs<T> transformer_forward(const int_tensor&, const int_tensor&, const int_tensor&, \
                                                      const transformer_params<T>&, const transformer_options<T>&, \
                                                      transformer_cache<T>&);                                   \
  template transformer_grads<T> transformer_backward(const tensor<T>&, const tensor<T>&, const int_tensor&,    \
                                                     const int_tensor&, const int_tensor&, const transformer_params<T>&, \
                                                     const transformer_options<T>&, const transformer_cache<T>&);
GRADSPEC_TRANSFORMER_INSTANTIATE(double)
GRADSPEC_TRANSFORMER_INSTANTIATE(float)
GRADSPEC_TRANSFORMER_INSTANTIATE(mp_real)
#undef GRADSPEC_TRANSFORMER_INSTANTIATE

namespace {

std::vector<input_spec> transformer_inputs(const param_map& prm) {
  const std::int64_t layers = checked_layers(prm);
  std::vector<input_spec> in{{"src_ids", "[..., S]", true},
                             {"tgt_ids", "[..., T]", true},
                             {"labels", "[..., T]", true},
                             {"src_embed", "[Vs, C]"},
                             {"tgt_embed", "[Vt, C]"}};
  for (std::int64_t i = 0; i < layers; ++i)
    for (auto& w : encoder_layer_weight_inputs("enc." + std::to_string(i) + ".")) in.push_back(std::move(w));
  for (std::int64_t i = 0; i < layers; ++i)
    for (auto& w : decoder_layer_weight_inputs("dec." + std::to_string(i) + ".")) in.push_back(std::move(w));
  for (const char* n : {"enc_norm.gamma", "enc_norm.beta", "dec_norm.gamma", "dec_norm.beta"}) in.push_back({n, "[C]"});
  in.push_back({"out.w", "[C, Vt]"});
  in.push_back({"out.b", "[Vt]"});
  return in;
}

template <class T> op_result<T> transformer_evaluate(const op_args<T>& args, bool backward) {
  const auto& prm = args.params;
  const std::int64_t layers = checked_layers(prm);
  const auto &src_ids = int_input(args, "src_ids"), &tgt_ids = int_input(args, "tgt_ids"), &labels = int_input(args, "labels");
  require_rank(src_ids.shape, 1, "inputs/src_ids", "[..., S]");
  require_rank(tgt_ids.shape, 1, "inputs/tgt_ids", "[..., T]");
  require(leading_axes(tgt_ids.shape, 1) == leading_axes(src_ids.shape, 1), "inputs/tgt_ids",
          "leading axes of " + shape_to_string(tgt_ids.shape) + " differ from src_ids " + shape_to_string(src_ids.shape));
  require_shape(labels.shape, tgt_ids.shape, "inputs/labels");
  const auto &src_embed = input(args, "src_embed"), &tgt_embed = input(args, "tgt_embed");
  require(src_embed.rank() == 2, "inputs/src_embed", "expected shape [Vs, C], got " + shape_to_string(src_embed.shape));
  const std::int64_t C = src_embed.shape[1];
  require(tgt_embed.rank() == 2 && tgt_embed.shape[1] == C, "inputs/tgt_embed",
          "expected shape [Vt, C] with C = " + std::to_string(C) + ", got " + shape_to_string(tgt_embed.shape));
  const std::int64_t Vs = src_embed.shape[0], Vt = tgt_embed.shape[0];
  require_heads(prm.integer("heads"), C);
  const auto ignore_index = prm.optional_integer("ignore_index");
  require_ids(src_ids, Vs, "inputs/src_ids");
  require_ids(tgt_ids, Vt, "inputs/tgt_ids");
  require_ids(labels, Vt, "inputs/labels", ignore_index);
  const auto &out_w = input(args, "out.w"), &out_b = input(args, "out.b");
  require_shape(out_w.shape, {C, Vt}, "inputs/out.w");
  require_shape(out_b.shape, {Vt}, "inputs/out.b");
  const T label_smoothing = prm.template real<T>("label_smoothing");
  require(label_smoothing >= 0 && label_smoothing <= 1, "params/label_smoothing", "must be in [0, 1]");

  transformer_params<T> p{src_embed, tgt_embed, {}, {},
                          layer_norm_params_from(args, "enc_norm.", C), layer_norm_params_from(args, "dec_norm.", C),
                          out_w, out_b};
  for (std::int64_t i = 0; i < layers; ++i) {
    p.enc.push_back(encoder_layer_params_from(args, "enc." + std::to_string(i) + ".", C));
    p.dec.push_back(decoder_layer_params_from(args, "dec." + std::to_string(i) + ".", C));
  }
  using std::sqrt;
  const transformer_options<T> opt{{prm.integer("heads"), prm.boolean("norm_first"), prm.template real<T>("eps"),
                                    parse_activation(prm.choice("activation"))},
                                   prm.choice("embed_scale") == "sqrt_d" ? T(sqrt(T(C))) : T(1),
                                   label_smoothing,
                                   ignore_index};

  transformer_cache<T> cache;
  auto out = transformer_forward(src_ids, tgt_ids, labels, p, opt, cache);
  op_result<T> r;
  r.outputs["loss"] = std::move(out.loss);
  r.outputs["logits"] = std::move(out.logits);
  if (backward) {
    const auto& dloss = cotangent(args, "loss", r.outputs["loss"].shape);
    const auto& dlogits = cotangent(args, "logits", r.outputs["logits"].shape);
    auto g = transformer_backward(dloss, dlogits, src_ids, tgt_ids, labels, p, opt, cache);
    r.gradients["src_embed"] = std::move(g.dsrc_embed);
    r.gradients["tgt_embed"] = std::move(g.dtgt_embed);
    for (std::int64_t i = 0; i < layers; ++i) {
      store_gradients(r, "enc." + std::to_string(i) + ".", std::move(g.enc[i]));
      store_gradients(r, "dec." + std::to_string(i) + ".", std::move(g.dec[i]));
    }
    store_gradients(r, "enc_norm.", std::move(g.enc_norm));
    store_gradients(r, "dec_norm.", std::move(g.dec_norm));
    r.gradients["out.w"] = std::move(g.out.dw);
    r.gradients["out.b"] = std::move(g.out.db);
  }
  r.intermediates["memory"] = std::move(cache.memory);
  return r;
}

} // namespace

op_info transformer_op() {
  return {"transformer",
          "encoder-decoder Transformer (nn.Transformer with embeddings, positional encoding, output projection and "
          "cross-entropy loss)",
          {{"layers", param_type::integer, "", {}, false, "encoder layers = decoder layers (>= 1)"},
           {"heads", param_type::integer, "", {}, false, "attention heads H (must divide C)"},
           {"norm_first", param_type::boolean, "false", {}, false, "pre-LN (true) or post-LN (false) layers"},
           {"eps", param_type::real, "1e-5", {}, false, "LayerNorm epsilon of every norm"},
           {"activation", param_type::choice, "\"relu\"", {"relu", "gelu", "gelu_tanh", "silu"}, false, "FFN activation"},
           {"embed_scale", param_type::choice, "\"sqrt_d\"", {"none", "sqrt_d"}, false,
            "embeddings are multiplied by 1 or sqrt(C) before the positional encoding is added"},
           {"label_smoothing", param_type::real, "0", {}, false, "cross-entropy label smoothing in [0, 1]"},
           {"ignore_index", param_type::integer, "null", {}, true, "labels equal to this are left out of the loss"}},
          &transformer_inputs,
          {{"loss", "[]"}, {"logits", "[..., T, Vt]"}},
          {"memory"},
          &transformer_evaluate<double>,
          &transformer_evaluate<mp_real>, &transformer_evaluate<float>};
}

} // namespace gradspec::reference
