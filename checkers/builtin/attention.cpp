// Scaled dot-product attention: q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv] (same leading axes),
// mask [Tq, Tk] additive (optional, no gradient). scores = q·kᵀ·scale + mask, weights = softmax over
// the keys, out = weights·v; scale defaults to 1/sqrt(D). Query i sees key j unless mask(i, j) is -inf
// or (causal) j > i; an unseen key's score is -inf whatever q·k is and its k, v rows are never read
// for that query (masked_fill semantics). A query that sees no key gives zeros and zero gradients.
#include "common.hpp"

#include <cmath>
#include <limits>

namespace gradspec::checkers::builtin {

namespace {
// The rows of x at the (ascending) indices vis.
template <class eT> mat<eT> seen_rows(const mat<eT>& x, const arma::uvec& vis) {
  if (vis.back() - vis.front() + 1 == vis.n_elem) return x.rows(vis.front(), vis.back()); // no mask, or causal
  return x.rows(vis);
}
} // namespace

template <class eT>
mat<eT> attention_forward(const mat<eT>& q, const mat<eT>& k, const mat<eT>& v, const mat<eT>* mask, bool causal, eT scale,
                          attention_cache<eT>& cache) {
  const uword Tq = q.n_rows, Tk = k.n_rows;
  cache.scores.set_size(Tq, Tk);
  cache.scores.fill(-std::numeric_limits<eT>::infinity());
  cache.weights.zeros(Tq, Tk);
  cache.visible.assign(Tq, arma::uvec());
  mat<eT> out(Tq, v.n_cols, arma::fill::zeros);
  for (uword i = 0; i < Tq; ++i) {
    std::vector<uword> seen;
    for (uword j = 0; j < Tk; ++j) {
      if (causal && j > i) continue;
      if (mask && (*mask)(i, j) == -std::numeric_limits<eT>::infinity()) continue;
      seen.push_back(j);
    }
    if (seen.empty()) continue;
    const arma::uvec vis(seen);
    const arma::uvec qi{i};
    row<eT> s = (q.row(i) * seen_rows(k, vis).t()) * scale;
    if (mask) s += mask->submat(qi, vis);
    // max-subtracted softmax over the seen keys
    eT m = -std::numeric_limits<eT>::infinity();
    for (uword t = 0; t < s.n_elem; ++t)
      if (s(t) > m) m = s(t);
    row<eT> w(s.n_elem);
    eT sum = 0;
    for (uword t = 0; t < s.n_elem; ++t) {
      w(t) = std::exp(s(t) - m);
      sum += w(t);
    }
    w /= sum;
    cache.scores.submat(qi, vis) = s;
    cache.weights.submat(qi, vis) = w;
    cache.visible[i] = vis;
    out.row(i) = w * seen_rows(v, vis);
  }
  return out;
}

template <class eT>
attention_grads<eT> attention_backward(const mat<eT>& dout, const mat<eT>& q, const mat<eT>& k, const mat<eT>& v, eT scale,
                                       const attention_cache<eT>& cache) {
  attention_grads<eT> g;
  g.dq.zeros(q.n_rows, q.n_cols);
  g.dk.zeros(k.n_rows, k.n_cols);
  g.dv.zeros(v.n_rows, v.n_cols);
  for (uword i = 0; i < q.n_rows; ++i) {
    const arma::uvec& vis = cache.visible[i];
    if (vis.is_empty()) continue;
    const arma::uvec qi{i};
    const row<eT> w = cache.weights.submat(qi, vis);
    const row<eT> dw = dout.row(i) * seen_rows(v, vis).t();
    const eT dot = arma::dot(w, dw);
    const row<eT> ds = (w % (dw - dot)) * scale; // d(q·kᵀ), the scale folded in
    g.dq.row(i) = ds * seen_rows(k, vis);
    g.dk.rows(vis) += ds.t() * q.row(i);
    g.dv.rows(vis) += w.t() * dout.row(i);
  }
  return g;
}

template <class eT> candidate_result evaluate_attention(const test_case& c) {
  case_view<eT> view(c);
  const shape_t &qs = view.shape("q"), &ks = view.shape("k"), &vs = view.shape("v");
  if (qs.size() < 2) fail("inputs/q", "expected [..., Tq, D], got " + shape_text(qs));
  if (ks.size() != qs.size() || leading(ks, 2) != leading(qs, 2) || ks.back() != qs.back())
    fail("inputs/k", "expected shape " + shape_text(concat(leading(qs, 2), {ks.size() >= 2 ? ks[ks.size() - 2] : 0, qs.back()})) +
                         " (q's leading axes and D), got " + shape_text(ks));
  if (vs.size() != ks.size() || leading(vs, 1) != leading(ks, 1))
    fail("inputs/v", "expected [..., Tk, Dv] with k's leading axes and Tk, got " + shape_text(vs));
  const uword Tq = static_cast<uword>(qs[qs.size() - 2]), Tk = static_cast<uword>(ks[ks.size() - 2]);
  const uword D = static_cast<uword>(qs.back()), Dv = static_cast<uword>(vs.back());
  const bool causal = view.boolean("causal");
  if (causal && Tq != Tk) fail("params/causal", "causal attention needs Tq == Tk, got " + std::to_string(Tq) + " and " + std::to_string(Tk));
  const eT scale = view.optional_real("scale").value_or(eT(1) / std::sqrt(static_cast<eT>(D)));
  const mat<eT> q = view.rows("q"), k = view.rows("k"), v = view.rows("v");
  std::optional<mat<eT>> mask;
  if (view.has("mask")) mask = view.matrix("mask", Tq, Tk);
  const uword B = static_cast<uword>(reference::numel(leading(qs, 2)));

  const shape_t outs = with_last(qs, static_cast<std::int64_t>(Dv));
  const shape_t score_shape = concat(leading(qs, 1), {static_cast<std::int64_t>(Tk)});
  mat<eT> out(B * Tq, Dv), scores(B * Tq, Tk), weights(B * Tq, Tk);
  std::vector<attention_cache<eT>> caches(B);
  for (uword b = 0; b < B; ++b) {
    block(out, b, Tq) = attention_forward<eT>(block(q, b, Tq), block(k, b, Tk), block(v, b, Tk), mask ? &*mask : nullptr, causal, scale, caches[b]);
    block(scores, b, Tq) = caches[b].scores;
    block(weights, b, Tq) = caches[b].weights;
  }
  candidate_result r;
  put(r, "outputs.out", out, outs);
  put(r, "intermediates.scores", scores, score_shape);
  put(r, "intermediates.weights", weights, score_shape);
  if (view.backward()) {
    const mat<eT> dout = view.cotangent("out", outs);
    mat<eT> dq(q.n_rows, q.n_cols), dk(k.n_rows, k.n_cols), dv(v.n_rows, v.n_cols);
    for (uword b = 0; b < B; ++b) {
      auto g = attention_backward<eT>(block(dout, b, Tq), block(q, b, Tq), block(k, b, Tk), block(v, b, Tk), scale, caches[b]);
      block(dq, b, Tq) = g.dq;
      block(dk, b, Tk) = g.dk;
      block(dv, b, Tk) = g.dv;
    }
    put(r, "gradients.q", dq, qs);
    put(r, "gradients.k", dk, ks);
    put(r, "gradients.v", dv, vs);
  }
  return r;
}

#define GRADSPEC_INSTANTIATE(eT)                                                                                            \
  template mat<eT> attention_forward(const mat<eT>&, const mat<eT>&, const mat<eT>&, const mat<eT>*, bool, eT,             \
                                     attention_cache<eT>&);                                                                 \
  template attention_grads<eT> attention_backward(const mat<eT>&, const mat<eT>&, const mat<eT>&, const mat<eT>&, eT,      \
                                                  const attention_cache<eT>&);                                              \
  template candidate_result evaluate_attention<eT>(const test_case&);
GRADSPEC_INSTANTIATE(double)
GRADSPEC_INSTANTIATE(float)
#undef GRADSPEC_INSTANTIATE

} // namespace gradspec::checkers::builtin
