// softmax and log_softmax over the last axis, max-subtracted. A row whose entries are all -inf (every
// key masked) gives an all-zero softmax row ("safe softmax") and a -inf log_softmax row, with zero
// gradients.
#include "common.hpp"

#include <cmath>
#include <limits>

namespace gradspec::checkers::builtin {

namespace {

template <class eT> bool all_neg_inf(const mat<eT>& x, uword r) {
  for (uword j = 0; j < x.n_cols; ++j)
    if (!(x(r, j) == -std::numeric_limits<eT>::infinity())) return false;
  return x.n_cols > 0;
}

// max over the row, NaN skipped (a NaN still reaches the output through exp).
template <class eT> eT row_max(const mat<eT>& x, uword r) {
  eT m = -std::numeric_limits<eT>::infinity();
  for (uword j = 0; j < x.n_cols; ++j)
    if (x(r, j) > m) m = x(r, j);
  return m;
}

} // namespace

template <class eT> mat<eT> softmax_forward(const mat<eT>& x) {
  mat<eT> y(x.n_rows, x.n_cols);
  for (uword r = 0; r < x.n_rows; ++r) {
    if (all_neg_inf(x, r)) {
      y.row(r).zeros();
      continue;
    }
    const eT m = row_max(x, r);
    eT sum = 0;
    for (uword j = 0; j < x.n_cols; ++j) {
      y(r, j) = std::exp(x(r, j) - m);
      sum += y(r, j);
    }
    for (uword j = 0; j < x.n_cols; ++j) y(r, j) /= sum;
  }
  return y;
}

template <class eT> mat<eT> softmax_backward(const mat<eT>& dy, const mat<eT>& y) {
  mat<eT> dx(y.n_rows, y.n_cols);
  for (uword r = 0; r < y.n_rows; ++r) {
    eT dot = 0;
    for (uword j = 0; j < y.n_cols; ++j) dot += dy(r, j) * y(r, j);
    for (uword j = 0; j < y.n_cols; ++j) dx(r, j) = y(r, j) * (dy(r, j) - dot);
  }
  return dx;
}

template <class eT> mat<eT> log_softmax_forward(const mat<eT>& x) {
  mat<eT> y(x.n_rows, x.n_cols);
  for (uword r = 0; r < x.n_rows; ++r) {
    if (all_neg_inf(x, r)) {
      y.row(r).fill(-std::numeric_limits<eT>::infinity());
      continue;
    }
    const eT m = row_max(x, r);
    eT sum = 0;
    for (uword j = 0; j < x.n_cols; ++j) sum += std::exp(x(r, j) - m);
    const eT log_sum = std::log(sum);
    for (uword j = 0; j < x.n_cols; ++j) y(r, j) = (x(r, j) - m) - log_sum;
  }
  return y;
}

template <class eT> mat<eT> log_softmax_backward(const mat<eT>& dy, const mat<eT>& y) {
  mat<eT> dx(y.n_rows, y.n_cols);
  for (uword r = 0; r < y.n_rows; ++r) {
    if (all_neg_inf(y, r)) {
      dx.row(r).zeros();
      continue;
    }
    eT sum = 0;
    for (uword j = 0; j < y.n_cols; ++j) sum += dy(r, j);
    for (uword j = 0; j < y.n_cols; ++j) dx(r, j) = dy(r, j) - std::exp(y(r, j)) * sum;
  }
  return dx;
}

namespace {
template <class eT, class Forward, class Backward> candidate_result evaluate_rowwise(const test_case& c, Forward forward, Backward backward) {
  case_view<eT> v(c);
  const shape_t& xs = v.shape("x");
  const mat<eT> x = v.rows("x");
  candidate_result r;
  const mat<eT> y = forward(x);
  put(r, "outputs.y", y, xs);
  if (v.backward()) put(r, "gradients.x", backward(v.cotangent("y", xs), y), xs);
  return r;
}
} // namespace

template <class eT> candidate_result evaluate_softmax(const test_case& c) {
  return evaluate_rowwise<eT>(c, softmax_forward<eT>, softmax_backward<eT>);
}

template <class eT> candidate_result evaluate_log_softmax(const test_case& c) {
  return evaluate_rowwise<eT>(c, log_softmax_forward<eT>, log_softmax_backward<eT>);
}

#define GRADSPEC_INSTANTIATE(eT)                                                  \
  template mat<eT> softmax_forward(const mat<eT>&);                               \
  template mat<eT> softmax_backward(const mat<eT>&, const mat<eT>&);              \
  template mat<eT> log_softmax_forward(const mat<eT>&);                           \
  template mat<eT> log_softmax_backward(const mat<eT>&, const mat<eT>&);          \
  template candidate_result evaluate_softmax<eT>(const test_case&);               \
  template candidate_result evaluate_log_softmax<eT>(const test_case&);
GRADSPEC_INSTANTIATE(double)
GRADSPEC_INSTANTIATE(float)
#undef GRADSPEC_INSTANTIATE

} // namespace gradspec::checkers::builtin
