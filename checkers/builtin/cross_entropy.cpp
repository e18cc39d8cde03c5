// cross_entropy with PyTorch's semantics: logits [..., V] (the contract's [N, V]), targets [...]
// int64. Per row n with target t != ignore_index:
//   loss_n = (1-ε)·(-log p[t]) + ε/V·Σ_c(-log p[c]),   log p = log_softmax(logits row)
// ignored rows give 0 and are not counted. reduction "mean" divides the sum by the count (0/0 = NaN
// when every row is ignored, with a zero gradient), "sum" adds, "none" returns loss_n.
// dlogits_n = g_n·(p - (1-ε)·onehot(t) - ε/V), 0 for ignored rows.
#include "common.hpp"

#include <cmath>

namespace gradspec::checkers::builtin {

void check_targets(const std::vector<std::int64_t>& targets, std::int64_t vocab, std::optional<std::int64_t> ignore_index,
                   const std::string& path) {
  for (std::size_t i = 0; i < targets.size(); ++i) {
    if (ignore_index && targets[i] == *ignore_index) continue;
    if (targets[i] < 0 || targets[i] >= vocab)
      fail(path + "/values/" + std::to_string(i),
           "target " + std::to_string(targets[i]) + " is outside [0, " + std::to_string(vocab) + ") and not the ignore_index");
  }
}

template <class eT>
col<eT> cross_entropy_rows(const mat<eT>& logits, const std::vector<std::int64_t>& targets, std::optional<std::int64_t> ignore_index,
                           eT smoothing, ce_cache<eT>& cache) {
  const uword N = logits.n_rows, V = logits.n_cols;
  cache.log_probs = log_softmax_forward<eT>(logits);
  cache.counted.assign(N, false);
  cache.n_counted = 0;
  col<eT> loss(N, arma::fill::zeros);
  for (uword n = 0; n < N; ++n) {
    if (ignore_index && targets[n] == *ignore_index) continue;
    cache.counted[n] = true;
    ++cache.n_counted;
    const eT nll = -cache.log_probs(n, static_cast<uword>(targets[n]));
    if (smoothing == eT(0)) {
      loss(n) = nll;
      continue;
    }
    eT smooth = 0;
    for (uword c = 0; c < V; ++c) smooth -= cache.log_probs(n, c);
    loss(n) = (eT(1) - smoothing) * nll + smoothing / static_cast<eT>(V) * smooth;
  }
  return loss;
}

template <class eT>
mat<eT> cross_entropy_backward(const col<eT>& g, const std::vector<std::int64_t>& targets, eT smoothing, const ce_cache<eT>& cache) {
  const uword N = cache.log_probs.n_rows, V = cache.log_probs.n_cols;
  mat<eT> d(N, V, arma::fill::zeros);
  const eT uniform = smoothing / static_cast<eT>(V);
  for (uword n = 0; n < N; ++n) {
    if (!cache.counted[n]) continue;
    for (uword c = 0; c < V; ++c) {
      eT target_weight = uniform;
      if (c == static_cast<uword>(targets[n])) target_weight += eT(1) - smoothing;
      d(n, c) = g(n) * (std::exp(cache.log_probs(n, c)) - target_weight);
    }
  }
  return d;
}

template <class eT> candidate_result evaluate_cross_entropy(const test_case& c) {
  case_view<eT> v(c);
  const shape_t& ls = v.shape("logits");
  if (ls.empty()) fail("inputs/logits", "expected [..., V], got a scalar");
  const auto& targets = v.ints("targets");
  const shape_t& ts = v.int_shape("targets");
  if (ts != leading(ls, 1)) fail("inputs/targets", "expected shape " + shape_text(leading(ls, 1)) + " (logits without V), got " + shape_text(ts));
  const auto ignore_index = v.optional_integer("ignore_index");
  check_targets(targets, ls.back(), ignore_index, "inputs/targets");
  const eT smoothing = v.real("label_smoothing");
  const std::string& reduction = v.choice("reduction");
  const mat<eT> logits = v.rows("logits");

  ce_cache<eT> cache;
  const col<eT> rows = cross_entropy_rows(logits, targets, ignore_index, smoothing, cache);
  candidate_result r;
  put(r, "intermediates.log_probs", cache.log_probs, ls);
  const shape_t loss_shape = reduction == "none" ? ts : shape_t{};
  if (reduction == "none") {
    put(r, "outputs.loss", rows, loss_shape);
  } else {
    eT total = 0;
    for (uword n = 0; n < rows.n_elem; ++n) total += rows(n);
    if (reduction == "mean") total /= static_cast<eT>(cache.n_counted);
    put(r, "outputs.loss", mat<eT>{total}, loss_shape);
  }
  if (v.backward()) {
    const mat<eT> dloss = v.cotangent("loss", loss_shape);
    col<eT> g(rows.n_elem);
    if (reduction == "none") g = arma::vectorise(dloss, 1).t(); // row-major order
    else if (reduction == "sum") g.fill(dloss(0, 0));
    else g.fill(cache.n_counted ? dloss(0, 0) / static_cast<eT>(cache.n_counted) : eT(0));
    put(r, "gradients.logits", cross_entropy_backward(g, targets, smoothing, cache), ls);
  }
  return r;
}

#define GRADSPEC_INSTANTIATE(eT)                                                                                         \
  template col<eT> cross_entropy_rows(const mat<eT>&, const std::vector<std::int64_t>&, std::optional<std::int64_t>, eT,  \
                                      ce_cache<eT>&);                                                                    \
  template mat<eT> cross_entropy_backward(const col<eT>&, const std::vector<std::int64_t>&, eT, const ce_cache<eT>&);    \
  template candidate_result evaluate_cross_entropy<eT>(const test_case&);
GRADSPEC_INSTANTIATE(double)
GRADSPEC_INSTANTIATE(float)
#undef GRADSPEC_INSTANTIATE

} // namespace gradspec::checkers::builtin
