#include "gradspec/reference/ops/cross_entropy.hpp"

#include "gradspec/reference/ops/common.hpp"
#include "gradspec/reference/ops/log_softmax.hpp"

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <vector>

namespace gradspec::reference {

reduction parse_reduction(const std::string& name) {
  if (name == "mean") return reduction::mean;
  if (name == "sum") return reduction::sum;
  if (name == "none") return reduction::none;
  throw std::invalid_argument("unknown reduction \"" + name + "\" (expected \"mean\", \"sum\" or \"none\")");
}

namespace {
bool ignored(std::int64_t target, const std::optional<std::int64_t>& ignore_index) {
  return ignore_index && target == *ignore_index;
}
} // namespace

// cross_entropy forward, logits [R, V] (leading axes flattened into R rows), targets [R]:
//   lp = log_softmax(logits) (max-subtracted: lp_c = (x_c - m) - log sum_l exp(x_l - m))
//   counted row n (t_n != ignore_index):
//     loss_n = (1-ε)·(-lp[t_n]) + (ε/V)·sum_c (-lp[c])      (ε = 0: the first term alone)
//   ignored row: loss_n = 0 (both terms skipped)
//   none: loss [...] = loss_n;  sum: loss [] = sum_n loss_n;
//   mean: loss [] = sum_n loss_n / K, K = number of counted rows (K = 0: NaN, as PyTorch's 0/0)
// Targets are in [0, V) or equal to ignore_index (the binding checks it).
template <class T>
tensor<T> cross_entropy_forward(const tensor<T>& logits, const int_tensor& targets, reduction red,
                                std::optional<std::int64_t> ignore_index, const T& label_smoothing,
                                cross_entropy_cache<T>& cache) {
  const std::size_t R = logits.rows(), V = logits.cols();
  cache.log_probs = log_softmax_forward(logits);
  cache.counted = 0;
  const bool smoothing = label_smoothing != 0;
  const T keep = T(1) - label_smoothing, spread = label_smoothing / T(static_cast<long long>(V));
  tensor<T> per_row(leading_axes(logits.shape, 1)); // ignored rows stay 0
  for (std::size_t r = 0; r < R; ++r) {
    const std::int64_t t = targets.data[r];
    if (ignored(t, ignore_index)) continue;
    ++cache.counted;
    const T* lp = cache.log_probs.row(r);
    T nll = -lp[t];
    if (smoothing) {
      T smooth = 0;
      for (std::size_t c = 0; c < V; ++c) smooth -= lp[c];
      nll *= keep;
      smooth *= spread;
      nll += smooth;
    }
    per_row.data[r] = nll;
  }
  if (red == reduction::none) return per_row;
  tensor<T> loss(shape_t{});
  T sum = 0;
  for (const auto& v : per_row.data) sum += v;
  if (red == reduction::sum) loss.data[0] = sum;
  else loss.data[0] = cache.counted == 0 ? quiet_nan<T>() : T(sum / T(static_cast<long long>(cache.counted)));
  return loss;
}

// cross_entropy backward. With p = softmax(logits) = exp(lp) and δ the one-hot of t_n:
//   ∂(-lp[t])/∂x_c = p_c - δ_c;   ∂(sum_k -lp[k])/∂x_c = sum_k (p_c - δ_kc) = V·p_c - 1
//   ∂loss_n/∂x_c   = (1-ε)(p_c - δ_c) + (ε/V)(V·p_c - 1) = p_c - (1-ε)·δ_c - ε/V
//   dlogits[n, c]  = g_n · (p_c - (1-ε)·δ_c - ε/V) for counted rows, 0 for ignored rows, with
//   g_n = dloss[n] (none), dloss (sum), dloss / K (mean). Mean with K = 0: every row is ignored, so
//   dlogits = 0 (as PyTorch: the ignored rows are masked out before the 0/0 could reach them).
template <class T>
tensor<T> cross_entropy_backward(const tensor<T>& dloss, const int_tensor& targets, reduction red,
                                 std::optional<std::int64_t> ignore_index, const T& label_smoothing,
                                 const cross_entropy_cache<T>& cache) {
  using std::exp;
  const auto& lp = cache.log_probs;
  const std::size_t R = lp.rows(), V = lp.cols();
  tensor<T> dlogits(lp.shape);
  if (cache.counted == 0) return dlogits;
  const bool smoothing = label_smoothing != 0;
  const T keep = T(1) - label_smoothing, spread = label_smoothing / T(static_cast<long long>(V));
  const T shared = red == reduction::mean ? T(dloss.data[0] / T(static_cast<long long>(cache.counted)))
                   : red == reduction::sum ? dloss.data[0]
                                           : T(0);
  for (std::size_t r = 0; r < R; ++r) {
    const std::int64_t t = targets.data[r];
    if (ignored(t, ignore_index)) continue;
    const T& g = red == reduction::none ? dloss.data[r] : shared;
    const T* lpr = lp.row(r);
    T* d = dlogits.row(r);
    for (std::size_t c = 0; c < V; ++c) {
      d[c] = exp(lpr[c]);
      if (smoothing) d[c] -= spread;
      if (static_cast<std::int64_t>(c) == t) d[c] -= keep;
      d[c] *= g;
    }
  }
  return dlogits;
}

#define GRADSPEC_CE_INSTANTIATE(T)                                                                        \
  template tensor<T> cross_entropy_forward(const tensor<T>&, const int_tensor&, reduction,               \
                                           std::optional<std::int64_t>, const T&, cross_entropy_cache<T>&); \
  template tensor<T> cross_entropy_backward(const tensor<T>&, const int_tensor&, reduction,              \
                                            std::optional<std::int64_t>, const T&, const cross_entropy_cache<T>&);
GRADSPEC_CE_INSTANTIATE(double)
GRADSPEC_CE_INSTANTIATE(float)
GRADSPEC_CE_INSTANTIATE(mp_real)
#undef GRADSPEC_CE_INSTANTIATE

namespace {

template <class T> op_result<T> cross_entropy_evaluate(const op_args<T>& args, bool backward) {
  const auto& logits = input(args, "logits");
  const auto& targets = int_input(args, "targets");
  require_rank(logits.shape, 1, "inputs/logits", "[..., V]");
  const std::int64_t V = logits.shape.back();
  require(V >= 1, "inputs/logits", "needs at least one class (V >= 1), got shape " + shape_to_string(logits.shape));
  require(targets.shape == leading_axes(logits.shape, 1), "inputs/targets",
          "expected shape " + shape_to_string(leading_axes(logits.shape, 1)) + " (the leading axes of logits " +
              shape_to_string(logits.shape) + "), got " + shape_to_string(targets.shape));
  require(targets.size() == numel(targets.shape), "inputs/targets",
          "shape " + shape_to_string(targets.shape) + " holds " + std::to_string(numel(targets.shape)) +
              " values, got " + std::to_string(targets.size()));
  const auto& prm = args.params;
  const auto ignore_index = prm.optional_integer("ignore_index");
  for (std::size_t n = 0; n < targets.size(); ++n) {
    const std::int64_t t = targets.data[n];
    require(ignored(t, ignore_index) || (t >= 0 && t < V), "inputs/targets",
            "target " + std::to_string(t) + " at flat index " + std::to_string(n) + " is outside [0, " +
                std::to_string(V) + ")" +
                (ignore_index ? " and is not ignore_index (" + std::to_string(*ignore_index) + ")" : std::string()));
  }
  const T eps = prm.template real<T>("label_smoothing");
  require(eps >= 0 && eps <= 1, "params/label_smoothing",
          "must be in [0, 1], got " + prm.at("label_smoothing").text);
  const reduction red = parse_reduction(prm.choice("reduction"));

  cross_entropy_cache<T> cache;
  op_result<T> r;
  r.outputs["loss"] = cross_entropy_forward(logits, targets, red, ignore_index, eps, cache);
  if (backward)
    r.gradients["logits"] = cross_entropy_backward(cotangent(args, "loss", r.outputs["loss"].shape), targets, red,
                                                   ignore_index, eps, cache);
  r.intermediates["log_probs"] = std::move(cache.log_probs);
  return r;
}

} // namespace

op_info cross_entropy_op() {
  return {"cross_entropy",
          "PyTorch F.cross_entropy over the last axis: log_softmax, ignore_index, label_smoothing, reduction "
          "mean (over non-ignored targets) | sum | none",
          {{"reduction", param_type::choice, "\"mean\"", {"mean", "sum", "none"}, false,
            "mean: over the non-ignored targets (NaN when there are none); sum; none: one loss per row"},
           {"ignore_index", param_type::integer, "null", {}, true,
            "rows whose target equals it contribute nothing (null: no row is ignored); may be a valid class"},
           {"label_smoothing", param_type::real, "0", {}, false,
            "ε in [0, 1]: the target is (1-ε)·onehot + ε/V (Szegedy et al.); ignored rows are skipped"}},
          [](const param_map&) {
            return std::vector<input_spec>{{"logits", "[..., V]"}, {"targets", "[...]", true, false, false}};
          },
          {{"loss", "[] (mean, sum) or [...] (none)"}},
          {"log_probs"},
          &cross_entropy_evaluate<double>,
          &cross_entropy_evaluate<mp_real>, &cross_entropy_evaluate<float>};
}

} // namespace gradspec::reference
