// feed_forward: y = act(x·w1 + b1)·w2 + b2; x [..., C], w1 [C, F], b1 [F], w2 [F, C], b2 [C];
// activation relu, gelu (erf), gelu_tanh or silu.
#include "common.hpp"

namespace gradspec::checkers::builtin {

template <class eT> mat<eT> ffn_forward(const mat<eT>& x, const ffn_weights<eT>& w, act_kind act, ffn_cache<eT>& cache) {
  cache.pre = linear_forward<eT>(x, w.w1, w.b1);
  cache.hidden = activation_forward<eT>(act, cache.pre);
  return linear_forward<eT>(cache.hidden, w.w2, w.b2);
}

template <class eT>
ffn_grads<eT> ffn_backward(const mat<eT>& dy, const mat<eT>& x, const ffn_weights<eT>& w, act_kind act, const ffn_cache<eT>& cache) {
  ffn_grads<eT> g;
  auto second = linear_backward<eT>(dy, cache.hidden, w.w2);
  const mat<eT> dpre = activation_backward<eT>(act, second.dx, cache.pre);
  auto first = linear_backward<eT>(dpre, x, w.w1);
  g.dx = std::move(first.dx);
  g.dw.w1 = std::move(first.dw);
  g.dw.b1 = std::move(first.db);
  g.dw.w2 = std::move(second.dw);
  g.dw.b2 = std::move(second.db);
  return g;
}

template <class eT> ffn_weights<eT> read_ffn(const case_view<eT>& v, const std::string& prefix, uword C) {
  const shape_t& s = v.shape(prefix + "w1");
  if (s.size() != 2 || s[0] != static_cast<std::int64_t>(C))
    fail("inputs/" + prefix + "w1", "expected shape [" + std::to_string(C) + ", F], got " + shape_text(s));
  const uword F = static_cast<uword>(s[1]);
  return {v.matrix(prefix + "w1", C, F), v.matrix(prefix + "w2", F, C), v.vector(prefix + "b1", F), v.vector(prefix + "b2", C)};
}

template <class eT> void store(candidate_result& r, const std::string& prefix, const ffn_weights<eT>& g) {
  const std::int64_t C = static_cast<std::int64_t>(g.w1.n_rows), F = static_cast<std::int64_t>(g.w1.n_cols);
  put(r, "gradients." + prefix + "w1", g.w1, {C, F});
  put(r, "gradients." + prefix + "b1", g.b1, {F});
  put(r, "gradients." + prefix + "w2", g.w2, {F, C});
  put(r, "gradients." + prefix + "b2", g.b2, {C});
}

template <class eT> candidate_result evaluate_feed_forward(const test_case& c) {
  case_view<eT> v(c);
  const shape_t& xs = v.shape("x");
  const mat<eT> x = v.rows("x");
  const auto w = read_ffn(v, "", x.n_cols);
  const act_kind act = parse_act(v.choice("activation"));
  ffn_cache<eT> cache;
  candidate_result r;
  put(r, "outputs.y", ffn_forward(x, w, act, cache), xs);
  const shape_t hs = with_last(xs, static_cast<std::int64_t>(w.w1.n_cols));
  put(r, "intermediates.pre_activation", cache.pre, hs);
  put(r, "intermediates.hidden", cache.hidden, hs);
  if (v.backward()) {
    auto g = ffn_backward<eT>(v.cotangent("y", xs), x, w, act, cache);
    put(r, "gradients.x", g.dx, xs);
    store(r, "", g.dw);
  }
  return r;
}

#define GRADSPEC_INSTANTIATE(eT)                                                                                         \
  template mat<eT> ffn_forward(const mat<eT>&, const ffn_weights<eT>&, act_kind, ffn_cache<eT>&);                        \
  template ffn_grads<eT> ffn_backward(const mat<eT>&, const mat<eT>&, const ffn_weights<eT>&, act_kind, const ffn_cache<eT>&); \
  template ffn_weights<eT> read_ffn(const case_view<eT>&, const std::string&, uword);                                   \
  template void store(candidate_result&, const std::string&, const ffn_weights<eT>&);                                   \
  template candidate_result evaluate_feed_forward<eT>(const test_case&);
GRADSPEC_INSTANTIATE(double)
GRADSPEC_INSTANTIATE(float)
#undef GRADSPEC_INSTANTIATE

} // namespace gradspec::checkers::builtin
