// transformer: the encoder-decoder model (nn.Transformer with embeddings, positional encoding, output
// projection and loss around it), built from this candidate's own primitives:
//   e_0 = src_embed[src_ids]·s + PE[0:S];  e_i+1 = encoder_layer_i(e_i)  (no mask, not causal)
//   memory = LN(e_L; enc_norm)
//   d_0 = tgt_embed[tgt_ids]·s + PE[0:T];  d_i+1 = decoder_layer_i(d_i, memory)
//   logits = LN(d_L; dec_norm)·out.w + out.b;  loss = cross_entropy(logits, labels), mean
// s = sqrt(C) ("sqrt_d") or 1 ("none"). Both outputs carry cotangents:
// dlogits = cot_logits + CEᵀ·cot_loss.
#include "common.hpp"

#include <cmath>

namespace gradspec::checkers::builtin {

template <class eT> candidate_result evaluate_transformer(const test_case& c) {
  case_view<eT> v(c);
  const std::int64_t layers = v.integer("layers");
  if (layers < 1) fail("params/layers", "must be >= 1");
  const auto opt = read_layer_options(v);
  const auto &src_ids = v.ints("src_ids"), &tgt_ids = v.ints("tgt_ids"), &labels = v.ints("labels");
  const shape_t &ss = v.int_shape("src_ids"), &ts = v.int_shape("tgt_ids");
  if (ss.empty()) fail("inputs/src_ids", "expected [..., S], got a scalar");
  if (ts.size() != ss.size() || leading(ts, 1) != leading(ss, 1))
    fail("inputs/tgt_ids", "expected [..., T] with src_ids' leading axes, got " + shape_text(ts));
  if (v.int_shape("labels") != ts) fail("inputs/labels", "expected tgt_ids' shape " + shape_text(ts) + ", got " + shape_text(v.int_shape("labels")));
  const shape_t &ses = v.shape("src_embed"), &tes = v.shape("tgt_embed");
  if (ses.size() != 2) fail("inputs/src_embed", "expected [Vs, C], got " + shape_text(ses));
  if (tes.size() != 2 || tes[1] != ses[1]) fail("inputs/tgt_embed", "expected [Vt, " + std::to_string(ses[1]) + "], got " + shape_text(tes));
  const std::int64_t C = ses[1], Vs = ses[0], Vt = tes[0], S = ss.back(), T = ts.back();
  check_heads(opt.heads, C);
  check_ids(src_ids, Vs, "inputs/src_ids");
  check_ids(tgt_ids, Vt, "inputs/tgt_ids");
  const auto ignore_index = v.optional_integer("ignore_index");
  check_targets(labels, Vt, ignore_index, "inputs/labels");
  const eT smoothing = v.real("label_smoothing");
  const eT s = v.choice("embed_scale") == "sqrt_d" ? std::sqrt(static_cast<eT>(C)) : eT(1);
  const uword B = static_cast<uword>(reference::numel(leading(ss, 1))), uC = static_cast<uword>(C);

  const mat<eT> src_embed = v.matrix("src_embed", static_cast<uword>(Vs), uC), tgt_embed = v.matrix("tgt_embed", static_cast<uword>(Vt), uC);
  std::vector<encoder_weights<eT>> enc;
  std::vector<decoder_weights<eT>> dec;
  for (std::int64_t i = 0; i < layers; ++i) enc.push_back(read_encoder(v, "enc." + std::to_string(i) + ".", uC));
  for (std::int64_t i = 0; i < layers; ++i) dec.push_back(read_decoder(v, "dec." + std::to_string(i) + ".", uC));
  const ln_weights<eT> enc_norm = read_ln(v, "enc_norm.", uC), dec_norm = read_ln(v, "dec_norm.", uC);
  const mat<eT> out_w = v.matrix("out.w", uC, static_cast<uword>(Vt));
  const row<eT> out_b = v.vector("out.b", static_cast<uword>(Vt));

  // Forward.
  const mat<eT> pe_src = positional_encoding<eT>(S, C, eT(10000), 0), pe_tgt = positional_encoding<eT>(T, C, eT(10000), 0);
  const auto L = static_cast<std::size_t>(layers);
  std::vector<mat<eT>> e(L + 1), d(L + 1);
  std::vector<encoder_cache<eT>> enc_cache(L);
  std::vector<decoder_cache<eT>> dec_cache(L);
  e[0] = embedding_forward<eT>(src_ids, src_embed, s);
  d[0] = embedding_forward<eT>(tgt_ids, tgt_embed, s);
  for (uword b = 0; b < B; ++b) {
    block(e[0], b, static_cast<uword>(S)) += pe_src;
    block(d[0], b, static_cast<uword>(T)) += pe_tgt;
  }
  for (std::size_t i = 0; i < L; ++i) e[i + 1] = encoder_forward<eT>(e[i], B, enc[i], static_cast<const mat<eT>*>(nullptr), false, opt, enc_cache[i]);
  norm_cache<eT> enc_norm_cache, dec_norm_cache;
  const mat<eT> memory = layer_norm_forward<eT>(e[L], enc_norm, opt.eps, enc_norm_cache);
  for (std::size_t i = 0; i < L; ++i) d[i + 1] = decoder_forward<eT>(d[i], memory, B, dec[i], opt, dec_cache[i]);
  const mat<eT> dec_out = layer_norm_forward<eT>(d[L], dec_norm, opt.eps, dec_norm_cache);
  const mat<eT> logits = linear_forward<eT>(dec_out, out_w, out_b);
  ce_cache<eT> ce;
  const col<eT> rows = cross_entropy_rows<eT>(logits, labels, ignore_index, smoothing, ce);
  eT loss = 0;
  for (uword n = 0; n < rows.n_elem; ++n) loss += rows(n);
  loss /= static_cast<eT>(ce.n_counted);

  candidate_result r;
  const shape_t logits_shape = concat(ts, {Vt});
  put(r, "outputs.loss", mat<eT>{loss}, {});
  put(r, "outputs.logits", logits, logits_shape);
  put(r, "intermediates.memory", memory, concat(ss, {C}));
  if (!v.backward()) return r;

  // Backward, the primitives' backwards in reverse.
  const eT dloss = v.cotangent("loss", {})(0, 0);
  mat<eT> dlogits = v.cotangent("logits", logits_shape);
  col<eT> g(rows.n_elem);
  g.fill(ce.n_counted ? dloss / static_cast<eT>(ce.n_counted) : eT(0));
  dlogits += cross_entropy_backward<eT>(g, labels, smoothing, ce);
  auto out = linear_backward<eT>(dlogits, dec_out, out_w);
  put(r, "gradients.out.w", out.dw, {C, Vt});
  put(r, "gradients.out.b", out.db, {Vt});
  auto dn = layer_norm_backward<eT>(out.dx, dec_norm, dec_norm_cache);
  store(r, "dec_norm.", dn.dw);
  mat<eT> dd = std::move(dn.dx);
  mat<eT> dmemory(memory.n_rows, memory.n_cols, arma::fill::zeros);
  for (std::size_t i = L; i-- > 0;) {
    auto gi = decoder_backward<eT>(dd, d[i], memory, B, dec[i], opt, dec_cache[i]);
    dd = std::move(gi.dx);
    dmemory += gi.dmemory;
    store(r, "dec." + std::to_string(i) + ".", gi.dw);
  }
  put(r, "gradients.tgt_embed", embedding_backward<eT>(dd, tgt_ids, static_cast<uword>(Vt), s), tes);
  auto en = layer_norm_backward<eT>(dmemory, enc_norm, enc_norm_cache);
  store(r, "enc_norm.", en.dw);
  mat<eT> de = std::move(en.dx);
  for (std::size_t i = L; i-- > 0;) {
    auto gi = encoder_backward<eT>(de, e[i], B, enc[i], opt, enc_cache[i]);
    de = std::move(gi.dx);
    store(r, "enc." + std::to_string(i) + ".", gi.dw);
  }
  put(r, "gradients.src_embed", embedding_backward<eT>(de, src_ids, static_cast<uword>(Vs), s), ses);
  return r;
}

template candidate_result evaluate_transformer<double>(const test_case&);
template candidate_result evaluate_transformer<float>(const test_case&);

} // namespace gradspec::checkers::builtin
