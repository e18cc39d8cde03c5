// Multi-head attention, self (no memory) or cross: x [..., Tq, C], memory [..., Tk, C];
// q = x·w_q + b_q, k = m·w_k + b_k, v = m·w_v + b_v (m = memory, or x); head h attends with columns
// [h·C/H, (h+1)·C/H) of q, k, v and scale 1/sqrt(C/H); heads are concatenated in order and
// y = concat·w_o + b_o. mask [Tq, Tk] (optional, additive) and causal apply to every head.
#include "common.hpp"

#include <cmath>

namespace gradspec::checkers::builtin {

void check_heads(std::int64_t heads, std::int64_t C) {
  if (heads < 1 || C % heads != 0)
    fail("params/heads", "must be >= 1 and divide the model width " + std::to_string(C) + ", got " + std::to_string(heads));
}

namespace {
// Columns [h·dh, (h+1)·dh) of the rows of batch entry b (n rows each).
template <class M> auto head_block(M& x, uword b, uword n, uword h, uword dh) { return x.submat(b * n, h * dh, arma::size(n, dh)); }
} // namespace

template <class eT>
mat<eT> mha_forward(const mat<eT>& x, const mat<eT>* memory, uword batch, const mha_weights<eT>& w, const mat<eT>* mask,
                    std::int64_t heads, bool causal, mha_cache<eT>& cache) {
  const mat<eT>& m = memory ? *memory : x;
  const uword C = x.n_cols, H = static_cast<uword>(heads), dh = C / H;
  const uword Tq = batch ? x.n_rows / batch : 0, Tk = batch ? m.n_rows / batch : 0;
  const eT scale = eT(1) / std::sqrt(static_cast<eT>(dh));
  cache.q = linear_forward<eT>(x, w.w_q, w.b_q);
  cache.k = linear_forward<eT>(m, w.w_k, w.b_k);
  cache.v = linear_forward<eT>(m, w.w_v, w.b_v);
  cache.concat.set_size(x.n_rows, C);
  cache.heads.assign(batch * H, attention_cache<eT>());
  for (uword b = 0; b < batch; ++b)
    for (uword h = 0; h < H; ++h)
      head_block(cache.concat, b, Tq, h, dh) =
          attention_forward<eT>(head_block(cache.q, b, Tq, h, dh), head_block(cache.k, b, Tk, h, dh), head_block(cache.v, b, Tk, h, dh),
                                mask, causal, scale, cache.heads[b * H + h]);
  return linear_forward<eT>(cache.concat, w.w_o, w.b_o);
}

template <class eT>
mha_grads<eT> mha_backward(const mat<eT>& dy, const mat<eT>& x, const mat<eT>* memory, uword batch, const mha_weights<eT>& w,
                           std::int64_t heads, const mha_cache<eT>& cache) {
  const mat<eT>& m = memory ? *memory : x;
  const uword C = x.n_cols, H = static_cast<uword>(heads), dh = C / H;
  const uword Tq = batch ? x.n_rows / batch : 0, Tk = batch ? m.n_rows / batch : 0;
  const eT scale = eT(1) / std::sqrt(static_cast<eT>(dh));
  mha_grads<eT> g;
  auto out = linear_backward<eT>(dy, cache.concat, w.w_o);
  g.dw.w_o = std::move(out.dw);
  g.dw.b_o = std::move(out.db);
  mat<eT> dq(cache.q.n_rows, C), dk(cache.k.n_rows, C), dv(cache.v.n_rows, C);
  for (uword b = 0; b < batch; ++b)
    for (uword h = 0; h < H; ++h) {
      auto a = attention_backward<eT>(head_block(out.dx, b, Tq, h, dh), head_block(cache.q, b, Tq, h, dh), head_block(cache.k, b, Tk, h, dh),
                                      head_block(cache.v, b, Tk, h, dh), scale, cache.heads[b * H + h]);
      head_block(dq, b, Tq, h, dh) = a.dq;
      head_block(dk, b, Tk, h, dh) = a.dk;
      head_block(dv, b, Tk, h, dh) = a.dv;
    }
  auto lq = linear_backward<eT>(dq, x, w.w_q), lk = linear_backward<eT>(dk, m, w.w_k), lv = linear_backward<eT>(dv, m, w.w_v);
  g.dw.w_q = std::move(lq.dw);
  g.dw.b_q = std::move(lq.db);
  g.dw.w_k = std::move(lk.dw);
  g.dw.b_k = std::move(lk.db);
  g.dw.w_v = std::move(lv.dw);
  g.dw.b_v = std::move(lv.db);
  if (memory) {
    g.dx = std::move(lq.dx);
    g.dmemory = lk.dx + lv.dx;
  } else {
    g.dx = lq.dx + lk.dx + lv.dx;
  }
  return g;
}

template <class eT> mha_weights<eT> read_mha(const case_view<eT>& v, const std::string& prefix, uword C) {
  return {v.matrix(prefix + "w_q", C, C), v.matrix(prefix + "w_k", C, C), v.matrix(prefix + "w_v", C, C), v.matrix(prefix + "w_o", C, C),
          v.vector(prefix + "b_q", C),    v.vector(prefix + "b_k", C),    v.vector(prefix + "b_v", C),    v.vector(prefix + "b_o", C)};
}

template <class eT> void store(candidate_result& r, const std::string& prefix, const mha_weights<eT>& g) {
  const std::int64_t C = static_cast<std::int64_t>(g.w_q.n_rows);
  const std::string p = "gradients." + prefix;
  put(r, p + "w_q", g.w_q, {C, C});
  put(r, p + "w_k", g.w_k, {C, C});
  put(r, p + "w_v", g.w_v, {C, C});
  put(r, p + "w_o", g.w_o, {C, C});
  put(r, p + "b_q", g.b_q, {C});
  put(r, p + "b_k", g.b_k, {C});
  put(r, p + "b_v", g.b_v, {C});
  put(r, p + "b_o", g.b_o, {C});
}

template <class eT> candidate_result evaluate_multi_head_attention(const test_case& c) {
  case_view<eT> view(c);
  const shape_t& xs = view.shape("x");
  if (xs.size() < 2) fail("inputs/x", "expected [..., Tq, C], got " + shape_text(xs));
  const std::int64_t C = xs.back(), Tq = xs[xs.size() - 2], heads = view.integer("heads");
  check_heads(heads, C);
  const bool cross = view.has("memory");
  shape_t ms = xs;
  if (cross) {
    ms = view.shape("memory");
    if (ms.size() != xs.size() || leading(ms, 2) != leading(xs, 2) || ms.back() != C)
      fail("inputs/memory", "expected [..., Tk, C] with x's leading axes and C, got " + shape_text(ms));
  }
  const std::int64_t Tk = ms[ms.size() - 2];
  const bool causal = view.boolean("causal");
  if (causal && Tq != Tk) fail("params/causal", "causal attention needs Tq == Tk, got " + std::to_string(Tq) + " and " + std::to_string(Tk));
  const mat<eT> x = view.rows("x");
  std::optional<mat<eT>> memory, mask;
  if (cross) memory = view.rows("memory");
  if (view.has("mask")) mask = view.matrix("mask", static_cast<uword>(Tq), static_cast<uword>(Tk));
  const auto w = read_mha(view, "", static_cast<uword>(C));
  const uword B = static_cast<uword>(reference::numel(leading(xs, 2))), H = static_cast<uword>(heads);

  mha_cache<eT> cache;
  candidate_result r;
  put(r, "outputs.y", mha_forward(x, memory ? &*memory : nullptr, B, w, mask ? &*mask : nullptr, heads, causal, cache), xs);
  mat<eT> weights(B * H * static_cast<uword>(Tq), static_cast<uword>(Tk));
  for (uword i = 0; i < B * H; ++i) block(weights, i, static_cast<uword>(Tq)) = cache.heads[i].weights;
  put(r, "intermediates.weights", weights, concat(leading(xs, 2), {heads, Tq, Tk}));
  put(r, "intermediates.concat", cache.concat, xs);
  if (view.backward()) {
    auto g = mha_backward<eT>(view.cotangent("y", xs), x, memory ? &*memory : nullptr, B, w, heads, cache);
    put(r, "gradients.x", g.dx, xs);
    if (cross) put(r, "gradients.memory", g.dmemory, ms);
    store(r, "", g.dw);
  }
  return r;
}

#define GRADSPEC_INSTANTIATE(eT)                                                                                            \
  template mat<eT> mha_forward(const mat<eT>&, const mat<eT>*, uword, const mha_weights<eT>&, const mat<eT>*, std::int64_t, \
                               bool, mha_cache<eT>&);                                                                       \
  template mha_grads<eT> mha_backward(const mat<eT>&, const mat<eT>&, const mat<eT>*, uword, const mha_weights<eT>&,      \
                                      std::int64_t, const mha_cache<eT>&);                                                  \
  template mha_weights<eT> read_mha(const case_view<eT>&, const std::string&, uword);                                      \
  template void store(candidate_result&, const std::string&, const mha_weights<eT>&);                                      \
  template candidate_result evaluate_multi_head_attention<eT>(const test_case&);
GRADSPEC_INSTANTIATE(double)
GRADSPEC_INSTANTIATE(float)
#undef GRADSPEC_INSTANTIATE

} // namespace gradspec::checkers::builtin
