// linear: y = x·w + b, x [..., I], w [I, O] (the contract's layout), b [O].
#include "common.hpp"

namespace gradspec::checkers::builtin {

template <class eT> mat<eT> linear_forward(const mat<eT>& x, const mat<eT>& w, const row<eT>& b) {
  mat<eT> y = x * w;
  y.each_row() += b;
  return y;
}

template <class eT> linear_grads<eT> linear_backward(const mat<eT>& dy, const mat<eT>& x, const mat<eT>& w) {
  linear_grads<eT> g;
  g.dx = dy * w.t();
  g.dw = x.t() * dy;
  g.db = arma::sum(dy, 0);
  return g;
}

template <class eT> candidate_result evaluate_linear(const test_case& c) {
  case_view<eT> v(c);
  const shape_t& xs = v.shape("x");
  const mat<eT> x = v.rows("x");
  const shape_t& ws = v.shape("w");
  if (ws.size() != 2 || ws[0] != static_cast<std::int64_t>(x.n_cols))
    fail("inputs/w", "expected shape [" + std::to_string(x.n_cols) + ", O], got " + shape_text(ws));
  const uword O = static_cast<uword>(ws[1]);
  const mat<eT> w = v.matrix("w", x.n_cols, O);
  const row<eT> b = v.vector("b", O);

  candidate_result r;
  const shape_t ys = with_last(xs, static_cast<std::int64_t>(O));
  put(r, "outputs.y", linear_forward(x, w, b), ys);
  if (v.backward()) {
    const auto g = linear_backward<eT>(v.cotangent("y", ys), x, w);
    put(r, "gradients.x", g.dx, xs);
    put(r, "gradients.w", g.dw, ws);
    put(r, "gradients.b", g.db, v.shape("b"));
  }
  return r;
}

#define GRADSPEC_INSTANTIATE(eT)                                                                     \
  template mat<eT> linear_forward(const mat<eT>&, const mat<eT>&, const row<eT>&);                   \
  template linear_grads<eT> linear_backward(const mat<eT>&, const mat<eT>&, const mat<eT>&);         \
  template candidate_result evaluate_linear<eT>(const test_case&);
GRADSPEC_INSTANTIATE(double)
GRADSPEC_INSTANTIATE(float)
#undef GRADSPEC_INSTANTIATE

} // namespace gradspec::checkers::builtin
