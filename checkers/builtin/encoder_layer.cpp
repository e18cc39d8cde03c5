// encoder_layer: self-attention then feed-forward, each with a residual connection and a LayerNorm.
//   Post-LN (norm_first = false): h = LN1(x + SA(x));  y = LN2(h + FFN(h))
//   Pre-LN  (norm_first = true):  h = x + SA(LN1(x));  y = h + FFN(LN2(h))
// x [..., T, C]; SA is multi_head_attention with the optional mask [T, T] and `causal`.
// Built from this candidate's own primitives; the backward runs their backwards in reverse and adds
// the residual branches.
#include "common.hpp"

namespace gradspec::checkers::builtin {

template <class eT> layer_options<eT> read_layer_options(const case_view<eT>& v) {
  layer_options<eT> o;
  o.heads = v.integer("heads");
  o.norm_first = v.boolean("norm_first");
  o.eps = v.real("eps");
  o.act = parse_act(v.choice("activation"));
  return o;
}

template <class eT>
mat<eT> encoder_forward(const mat<eT>& x, uword batch, const encoder_weights<eT>& w, const mat<eT>* mask, bool causal,
                        const layer_options<eT>& opt, encoder_cache<eT>& cache) {
  if (!opt.norm_first) {
    cache.sum1 = x + mha_forward<eT>(x, nullptr, batch, w.attn, mask, opt.heads, causal, cache.attn);
    cache.h = layer_norm_forward<eT>(cache.sum1, w.ln1, opt.eps, cache.ln1);
    cache.sum2 = cache.h + ffn_forward<eT>(cache.h, w.ffn, opt.act, cache.ffn);
    return layer_norm_forward<eT>(cache.sum2, w.ln2, opt.eps, cache.ln2);
  }
  cache.norm1 = layer_norm_forward<eT>(x, w.ln1, opt.eps, cache.ln1);
  cache.h = x + mha_forward<eT>(cache.norm1, nullptr, batch, w.attn, mask, opt.heads, causal, cache.attn);
  cache.norm2 = layer_norm_forward<eT>(cache.h, w.ln2, opt.eps, cache.ln2);
  return cache.h + ffn_forward<eT>(cache.norm2, w.ffn, opt.act, cache.ffn);
}

template <class eT>
encoder_grads<eT> encoder_backward(const mat<eT>& dy, const mat<eT>& x, uword batch, const encoder_weights<eT>& w,
                                   const layer_options<eT>& opt, const encoder_cache<eT>& cache) {
  encoder_grads<eT> g;
  if (!opt.norm_first) {
    auto ln2 = layer_norm_backward<eT>(dy, w.ln2, cache.ln2);            // d sum2
    auto ffn = ffn_backward<eT>(ln2.dx, cache.h, w.ffn, opt.act, cache.ffn);
    const mat<eT> dh = ln2.dx + ffn.dx;
    auto ln1 = layer_norm_backward<eT>(dh, w.ln1, cache.ln1);            // d sum1
    auto attn = mha_backward<eT>(ln1.dx, x, static_cast<const mat<eT>*>(nullptr), batch, w.attn, opt.heads, cache.attn);
    g.dx = ln1.dx + attn.dx;
    g.dw = {std::move(attn.dw), std::move(ln1.dw), std::move(ffn.dw), std::move(ln2.dw)};
    return g;
  }
  auto ffn = ffn_backward<eT>(dy, cache.norm2, w.ffn, opt.act, cache.ffn);
  auto ln2 = layer_norm_backward<eT>(ffn.dx, w.ln2, cache.ln2);
  const mat<eT> dh = dy + ln2.dx;
  auto attn = mha_backward<eT>(dh, cache.norm1, static_cast<const mat<eT>*>(nullptr), batch, w.attn, opt.heads, cache.attn);
  auto ln1 = layer_norm_backward<eT>(attn.dx, w.ln1, cache.ln1);
  g.dx = dh + ln1.dx;
  g.dw = {std::move(attn.dw), std::move(ln1.dw), std::move(ffn.dw), std::move(ln2.dw)};
  return g;
}

template <class eT> encoder_weights<eT> read_encoder(const case_view<eT>& v, const std::string& prefix, uword C) {
  return {read_mha(v, prefix + "attn.", C), read_ln(v, prefix + "ln1.", C), read_ffn(v, prefix + "ffn.", C), read_ln(v, prefix + "ln2.", C)};
}

template <class eT> void store(candidate_result& r, const std::string& prefix, const encoder_weights<eT>& g) {
  store(r, prefix + "attn.", g.attn);
  store(r, prefix + "ln1.", g.ln1);
  store(r, prefix + "ffn.", g.ffn);
  store(r, prefix + "ln2.", g.ln2);
}

template <class eT> candidate_result evaluate_encoder_layer(const test_case& c) {
  case_view<eT> v(c);
  const shape_t& xs = v.shape("x");
  if (xs.size() < 2) fail("inputs/x", "expected [..., T, C], got " + shape_text(xs));
  const std::int64_t C = xs.back(), T = xs[xs.size() - 2];
  const auto opt = read_layer_options(v);
  check_heads(opt.heads, C);
  const mat<eT> x = v.rows("x");
  const auto w = read_encoder(v, "", static_cast<uword>(C));
  std::optional<mat<eT>> mask;
  if (v.has("mask")) mask = v.matrix("mask", static_cast<uword>(T), static_cast<uword>(T));
  const uword B = static_cast<uword>(reference::numel(leading(xs, 2)));

  encoder_cache<eT> cache;
  candidate_result r;
  put(r, "outputs.y", encoder_forward(x, B, w, mask ? &*mask : nullptr, v.boolean("causal"), opt, cache), xs);
  put(r, "intermediates.h", cache.h, xs);
  if (v.backward()) {
    auto g = encoder_backward<eT>(v.cotangent("y", xs), x, B, w, opt, cache);
    put(r, "gradients.x", g.dx, xs);
    store(r, "", g.dw);
  }
  return r;
}

#define GRADSPEC_INSTANTIATE(eT)                                                                                              \
  template layer_options<eT> read_layer_options(const case_view<eT>&);                                                       \
  template mat<eT> encoder_forward(const mat<eT>&, uword, const encoder_weights<eT>&, const mat<eT>*, bool,                   \
                                   const layer_options<eT>&, encoder_cache<eT>&);                                             \
  template encoder_grads<eT> encoder_backward(const mat<eT>&, const mat<eT>&, uword, const encoder_weights<eT>&,             \
                                              const layer_options<eT>&, const encoder_cache<eT>&);                            \
  template encoder_weights<eT> read_encoder(const case_view<eT>&, const std::string&, uword);                                \
  template void store(candidate_result&, const std::string&, const encoder_weights<eT>&);                                    \
  template candidate_result evaluate_encoder_layer<eT>(const test_case&);
GRADSPEC_INSTANTIATE(double)
GRADSPEC_INSTANTIATE(float)
#undef GRADSPEC_INSTANTIATE

} // namespace gradspec::checkers::builtin
