// decoder_layer: causal self-attention, cross-attention over memory, feed-forward, each with a
// residual connection and a LayerNorm (PyTorch's nn.TransformerDecoderLayer).
//   Post-LN: h1 = LN1(x + SA(x));  h2 = LN2(h1 + CA(h1, m));  y = LN3(h2 + FFN(h2))
//   Pre-LN:  h1 = x + SA(LN1(x));  h2 = h1 + CA(LN2(h1), m);  y = h2 + FFN(LN3(h2))
// x [..., T, C], memory [..., S, C] (same leading axes, used as given); no masks besides causality.
#include "common.hpp"

namespace gradspec::checkers::builtin {

template <class eT>
mat<eT> decoder_forward(const mat<eT>& x, const mat<eT>& memory, uword batch, const decoder_weights<eT>& w,
                        const layer_options<eT>& opt, decoder_cache<eT>& cache) {
  const mat<eT>* no_mask = nullptr;
  if (!opt.norm_first) {
    cache.sum1 = x + mha_forward<eT>(x, no_mask, batch, w.self_attn, no_mask, opt.heads, true, cache.self_attn);
    cache.h1 = layer_norm_forward<eT>(cache.sum1, w.ln1, opt.eps, cache.ln1);
    cache.sum2 = cache.h1 + mha_forward<eT>(cache.h1, &memory, batch, w.cross_attn, no_mask, opt.heads, false, cache.cross_attn);
    cache.h2 = layer_norm_forward<eT>(cache.sum2, w.ln2, opt.eps, cache.ln2);
    cache.sum3 = cache.h2 + ffn_forward<eT>(cache.h2, w.ffn, opt.act, cache.ffn);
    return layer_norm_forward<eT>(cache.sum3, w.ln3, opt.eps, cache.ln3);
  }
  cache.norm1 = layer_norm_forward<eT>(x, w.ln1, opt.eps, cache.ln1);
  cache.h1 = x + mha_forward<eT>(cache.norm1, no_mask, batch, w.self_attn, no_mask, opt.heads, true, cache.self_attn);
  cache.norm2 = layer_norm_forward<eT>(cache.h1, w.ln2, opt.eps, cache.ln2);
  cache.h2 = cache.h1 + mha_forward<eT>(cache.norm2, &memory, batch, w.cross_attn, no_mask, opt.heads, false, cache.cross_attn);
  cache.norm3 = layer_norm_forward<eT>(cache.h2, w.ln3, opt.eps, cache.ln3);
  return cache.h2 + ffn_forward<eT>(cache.norm3, w.ffn, opt.act, cache.ffn);
}

template <class eT>
decoder_grads<eT> decoder_backward(const mat<eT>& dy, const mat<eT>& x, const mat<eT>& memory, uword batch,
                                   const decoder_weights<eT>& w, const layer_options<eT>& opt, const decoder_cache<eT>& cache) {
  const mat<eT>* self = nullptr;
  decoder_grads<eT> g;
  if (!opt.norm_first) {
    auto ln3 = layer_norm_backward<eT>(dy, w.ln3, cache.ln3); // d sum3
    auto ffn = ffn_backward<eT>(ln3.dx, cache.h2, w.ffn, opt.act, cache.ffn);
    const mat<eT> dh2 = ln3.dx + ffn.dx;
    auto ln2 = layer_norm_backward<eT>(dh2, w.ln2, cache.ln2); // d sum2
    auto ca = mha_backward<eT>(ln2.dx, cache.h1, &memory, batch, w.cross_attn, opt.heads, cache.cross_attn);
    const mat<eT> dh1 = ln2.dx + ca.dx;
    auto ln1 = layer_norm_backward<eT>(dh1, w.ln1, cache.ln1); // d sum1
    auto sa = mha_backward<eT>(ln1.dx, x, self, batch, w.self_attn, opt.heads, cache.self_attn);
    g.dx = ln1.dx + sa.dx;
    g.dmemory = std::move(ca.dmemory);
    g.dw = {std::move(sa.dw), std::move(ln1.dw), std::move(ca.dw), std::move(ln2.dw), std::move(ffn.dw), std::move(ln3.dw)};
    return g;
  }
  auto ffn = ffn_backward<eT>(dy, cache.norm3, w.ffn, opt.act, cache.ffn);
  auto ln3 = layer_norm_backward<eT>(ffn.dx, w.ln3, cache.ln3);
  const mat<eT> dh2 = dy + ln3.dx;
  auto ca = mha_backward<eT>(dh2, cache.norm2, &memory, batch, w.cross_attn, opt.heads, cache.cross_attn);
  auto ln2 = layer_norm_backward<eT>(ca.dx, w.ln2, cache.ln2);
  const mat<eT> dh1 = dh2 + ln2.dx;
  auto sa = mha_backward<eT>(dh1, cache.norm1, self, batch, w.self_attn, opt.heads, cache.self_attn);
  auto ln1 = layer_norm_backward<eT>(sa.dx, w.ln1, cache.ln1);
  g.dx = dh1 + ln1.dx;
  g.dmemory = std::move(ca.dmemory);
  g.dw = {std::move(sa.dw), std::move(ln1.dw), std::move(ca.dw), std::move(ln2.dw), std::move(ffn.dw), std::move(ln3.dw)};
  return g;
}

template <class eT> decoder_weights<eT> read_decoder(const case_view<eT>& v, const std::string& prefix, uword C) {
  return {read_mha(v, prefix + "self_attn.", C), read_ln(v, prefix + "ln1.", C), read_mha(v, prefix + "cross_attn.", C),
          read_ln(v, prefix + "ln2.", C),        read_ffn(v, prefix + "ffn.", C), read_ln(v, prefix + "ln3.", C)};
}

template <class eT> void store(candidate_result& r, const std::string& prefix, const decoder_weights<eT>& g) {
  store(r, prefix + "self_attn.", g.self_attn);
  store(r, prefix + "ln1.", g.ln1);
  store(r, prefix + "cross_attn.", g.cross_attn);
  store(r, prefix + "ln2.", g.ln2);
  store(r, prefix + "ffn.", g.ffn);
  store(r, prefix + "ln3.", g.ln3);
}

template <class eT> candidate_result evaluate_decoder_layer(const test_case& c) {
  case_view<eT> v(c);
  const shape_t &xs = v.shape("x"), &ms = v.shape("memory");
  if (xs.size() < 2) fail("inputs/x", "expected [..., T, C], got " + shape_text(xs));
  const std::int64_t C = xs.back();
  if (ms.size() != xs.size() || leading(ms, 2) != leading(xs, 2) || ms.back() != C)
    fail("inputs/memory", "expected [..., S, C] with x's leading axes and C, got " + shape_text(ms));
  const auto opt = read_layer_options(v);
  check_heads(opt.heads, C);
  const mat<eT> x = v.rows("x"), memory = v.rows("memory");
  const auto w = read_decoder(v, "", static_cast<uword>(C));
  const uword B = static_cast<uword>(reference::numel(leading(xs, 2)));

  decoder_cache<eT> cache;
  candidate_result r;
  put(r, "outputs.y", decoder_forward(x, memory, B, w, opt, cache), xs);
  put(r, "intermediates.h1", cache.h1, xs);
  put(r, "intermediates.h2", cache.h2, xs);
  if (v.backward()) {
    auto g = decoder_backward<eT>(v.cotangent("y", xs), x, memory, B, w, opt, cache);
    put(r, "gradients.x", g.dx, xs);
    put(r, "gradients.memory", g.dmemory, ms);
    store(r, "", g.dw);
  }
  return r;
}

#define GRADSPEC_INSTANTIATE(eT)                                                                                              \
  template mat<eT> decoder_forward(const mat<eT>&, const mat<eT>&, uword, const decoder_weights<eT>&,                        \
                                   const layer_options<eT>&, decoder_cache<eT>&);                                             \
  template decoder_grads<eT> decoder_backward(const mat<eT>&, const mat<eT>&, const mat<eT>&, uword,                         \
                                              const decoder_weights<eT>&, const layer_options<eT>&, const decoder_cache<eT>&); \
  template decoder_weights<eT> read_decoder(const case_view<eT>&, const std::string&, uword);                                \
  template void store(candidate_result&, const std::string&, const decoder_weights<eT>&);                                    \
  template candidate_result evaluate_decoder_layer<eT>(const test_case&);
GRADSPEC_INSTANTIATE(double)
GRADSPEC_INSTANTIATE(float)
#undef GRADSPEC_INSTANTIATE

} // namespace gradspec::checkers::builtin
