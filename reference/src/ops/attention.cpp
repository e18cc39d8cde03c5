#include "gradspec/reference/ops/attention.hpp"

#include "gradspec/reference/kernels.hpp"
#include "gradspec/reference/ops/common.hpp"

#include <cmath>
#include <cstddef>
#include <vector>

namespace gradspec::reference {

namespace {

// A score of -inf marks a masked position (the forward pass writes -inf there whatever q·k is).
template <class T> bool masked_score(const T& s) { return is_inf(s) && s < 0; }

// C[m,p] = A·B with A(i,j) = a[i*a_row + j*a_col] and B [n,p] row-major, where A is zero at every
// masked (i,j) (!live(i,j)) and such a product must contribute nothing even when B(j,:) holds NaN or
// inf (masked_fill semantics: 0·NaN must not reach C). With B finite this is one gemm: the masked
// terms add exact zeros. Otherwise the gemm runs on a copy of B with its non-finite entries zeroed,
// and the non-finite entries are then added back for the live (i,j) only; the result is non-finite
// there anyway, so the order of that addition does not matter.
template <class T, class Live>
void masked_product(std::size_t m, std::size_t p, std::size_t n, const T* a, std::ptrdiff_t a_row, std::ptrdiff_t a_col,
                    const T* b, Live live, T* c) {
  std::vector<std::size_t> bad;
  for (std::size_t idx = 0; idx < n * p; ++idx)
    if (!is_finite(b[idx])) bad.push_back(idx);
  if (bad.empty()) {
    gemm<T>(m, p, n, a, a_row, a_col, b, static_cast<std::ptrdiff_t>(p), 1, c, false);
    return;
  }
  std::vector<T> clean(b, b + n * p);
  for (auto idx : bad) clean[idx] = 0;
  gemm<T>(m, p, n, a, a_row, a_col, clean.data(), static_cast<std::ptrdiff_t>(p), 1, c, false);
  for (auto idx : bad) {
    const std::size_t j = idx / p, col = idx % p;
    for (std::size_t i = 0; i < m; ++i)
      if (live(i, j)) c[i * p + col] += a[i * a_row + j * a_col] * b[idx];
  }
}

// Safe row softmax over the live (not -inf) scores of a [rows, n] block: w = exp(s - max) / sum,
// max over live entries only (FlashAttention's safe softmax), and lse = max + log(sum); masked
// entries stay 0 and a fully masked row keeps w = 0 and gets lse = -inf. NaN among the live scores
// makes the row's live weights and its lse NaN.
template <class T> void masked_softmax_rows(const T* s, T* w, T* lse, std::size_t rows, std::size_t n) {
  for (std::size_t i = 0; i < rows; ++i) {
    const T* si = s + i * n;
    T* wi = w + i * n;
    std::ptrdiff_t first = -1;
    for (std::size_t j = 0; j < n && first < 0; ++j)
      if (!masked_score(si[j])) first = static_cast<std::ptrdiff_t>(j);
    if (first < 0) { // fully masked row: weights stay 0
      lse[i] = -infinity<T>();
      continue;
    }
    T max = si[first];
    for (std::size_t j = static_cast<std::size_t>(first) + 1; j < n; ++j)
      if (!masked_score(si[j]) && si[j] > max) max = si[j];
    T sum = 0;
    for (std::size_t j = 0; j < n; ++j) {
      if (masked_score(si[j])) continue;
      wi[j] = si[j];
      wi[j] -= max;
      using std::exp;
      wi[j] = exp(wi[j]);
      sum += wi[j];
    }
    for (std::size_t j = 0; j < n; ++j)
      if (!masked_score(si[j])) wi[j] /= sum;
    using std::log;
    lse[i] = log(sum);
    lse[i] += max;
  }
}

struct attention_dims {
  std::size_t batch, Tq, Tk, D, Dv;
};

template <class T> attention_dims dims_of(const tensor<T>& q, const tensor<T>& k, const tensor<T>& v) {
  const std::size_t r = q.rank();
  return {numel(leading_axes(q.shape, 2)), static_cast<std::size_t>(q.shape[r - 2]), static_cast<std::size_t>(k.shape[r - 2]),
          static_cast<std::size_t>(q.shape[r - 1]), static_cast<std::size_t>(v.shape[r - 1])};
}

} // namespace

// Forward, per batch element b (leading axes flattened):
//   s[Tq,Tk] = q_b[Tq,D]·k_b[Tk,D]ᵀ·scale, then c·tanh(s/c) (softcap), then + mask;
//             -inf where masked (mask == -inf, or hidden by causality or the window)
//   w[Tq,Tk] = softmax over the live entries of each row (0 where masked, all 0 if none is live)
//   lse[Tq]  = log sum over the live entries of exp(s) (-inf if none is live)
//   out_b[Tq,Dv] = w·v_b[Tk,Dv], summing over the live keys only
template <class T>
tensor<T> attention_forward(const tensor<T>& q, const tensor<T>& k, const tensor<T>& v, const tensor<T>* mask,
                            const attention_options<T>& opt, const T& scale, attention_cache<T>& cache) {
  const attention_dims d = dims_of(q, k, v);
  const std::size_t nb = d.batch, Tq = d.Tq, Tk = d.Tk, D = d.D, Dv = d.Dv;
  shape_t ss = leading_axes(q.shape, 2);
  ss.push_back(static_cast<std::int64_t>(Tq));
  cache.lse = tensor<T>(ss);
  ss.push_back(static_cast<std::int64_t>(Tk));
  cache.scores = tensor<T>(ss);
  cache.weights = tensor<T>(ss);
  cache.cap_slope = opt.softcap ? tensor<T>(ss) : tensor<T>();
  tensor<T> out(with_last(q.shape, static_cast<std::int64_t>(Dv)));
  const T neg_inf = -infinity<T>();
  for (std::size_t b = 0; b < nb; ++b) {
    const T* qb = q.data.data() + b * Tq * D;
    const T* kb = k.data.data() + b * Tk * D;
    const T* vb = v.data.data() + b * Tk * Dv;
    T* s = cache.scores.data.data() + b * Tq * Tk;
    T* w = cache.weights.data.data() + b * Tq * Tk;
    matmul_nt(qb, kb, s, Tq, D, Tk); // [Tq,D]·[Tk,D]ᵀ
    for (std::size_t i = 0; i < Tq; ++i)
      for (std::size_t j = 0; j < Tk; ++j) {
        T& sij = s[i * Tk + j];
        const T* mij = mask ? &mask->data[i * Tk + j] : nullptr;
        if (!attention_visible(opt, Tq, Tk, i, j) || (mij && masked_score(*mij))) {
          sij = neg_inf; // masked_fill: q·k (even NaN) is discarded
          continue;
        }
        sij *= scale;
        if (opt.softcap) {
          // c·tanh(u/c), and its slope 1/cosh²(u/c) formed directly: 1 - tanh² would cancel to 0
          // at working precision once tanh saturates (u/c of 100 or so), losing a gradient that is
          // tiny but not zero.
          using std::cosh;
          using std::tanh;
          T u = sij;
          u /= *opt.softcap;
          sij = tanh(u);
          sij *= *opt.softcap;
          T ch = cosh(u);
          ch *= ch;
          T& slope = cache.cap_slope.data[b * Tq * Tk + i * Tk + j];
          slope = 1;
          slope /= ch;
        }
        if (mij) sij += *mij;
      }
    masked_softmax_rows(s, w, cache.lse.data.data() + b * Tq, Tq, Tk);
    auto live = [s, Tk](std::size_t i, std::size_t j) { return !masked_score(s[i * Tk + j]); };
    masked_product(Tq, Dv, Tk, w, static_cast<std::ptrdiff_t>(Tk), 1, vb, live, out.data.data() + b * Tq * Dv);
  }
  return out;
}

// Backward, per batch element, with dout [Tq,Dv], dlse [Tq] (or none) and the cached s, w [Tq,Tk]:
//   dv[Tk,Dv] = wᵀ·dout
//   dp[Tq,Tk] = dout·vᵀ, 0 where masked
//   ds_ij = w_ij (dp_ij - sum_l w_il dp_il + dlse_i), 0 where masked (softmax and logsumexp VJPs;
//           masking is read from the cached scores, so opt matters only for the softcap slope)
//   du_ij = ds_ij · scale · (1/cosh²(u_ij/c) with softcap, else 1)
//   dq[Tq,D] = du·k,  dk[Tk,D] = duᵀ·q
// Every product skips masked pairs, so NaN or inf in a masked q, k or v row reaches no gradient.
template <class T>
attention_grads<T> attention_backward(const tensor<T>& dout, const tensor<T>* dlse, const tensor<T>& q, const tensor<T>& k,
                                      const tensor<T>& v, const attention_options<T>& opt, const T& scale,
                                      const attention_cache<T>& cache) {
  const attention_dims d = dims_of(q, k, v);
  const std::size_t nb = d.batch, Tq = d.Tq, Tk = d.Tk, D = d.D, Dv = d.Dv;
  attention_grads<T> g{tensor<T>(q.shape), tensor<T>(k.shape), tensor<T>(v.shape)};
  std::vector<T> ds(Tq * Tk);
  for (std::size_t b = 0; b < nb; ++b) {
    const T* qb = q.data.data() + b * Tq * D;
    const T* kb = k.data.data() + b * Tk * D;
    const T* vb = v.data.data() + b * Tk * Dv;
    const T* dob = dout.data.data() + b * Tq * Dv;
    const T* s = cache.scores.data.data() + b * Tq * Tk;
    const T* w = cache.weights.data.data() + b * Tq * Tk;
    auto live = [s, Tk](std::size_t i, std::size_t j) { return !masked_score(s[i * Tk + j]); };
    auto live_t = [s, Tk](std::size_t j, std::size_t i) { return !masked_score(s[i * Tk + j]); };
    // dv = wᵀ·dout: A(j,i) = w[i*Tk + j]
    masked_product(Tk, Dv, Tq, w, 1, static_cast<std::ptrdiff_t>(Tk), dob, live_t, g.dv.data.data() + b * Tk * Dv);
    matmul_nt(dob, vb, ds.data(), Tq, Dv, Tk); // dp = [Tq,Dv]·[Tk,Dv]ᵀ
    for (std::size_t i = 0; i < Tq; ++i) {
      T* dsi = ds.data() + i * Tk;
      for (std::size_t j = 0; j < Tk; ++j)
        if (!live(i, j)) dsi[j] = 0;
      T row = dot(w + i * Tk, 1, dsi, 1, Tk); // sum_l w_il dp_il over live l
      if (dlse) row -= dlse->data[b * Tq + i];
      for (std::size_t j = 0; j < Tk; ++j) {
        if (!live(i, j)) continue;
        dsi[j] -= row;
        dsi[j] *= w[i * Tk + j];
        dsi[j] *= scale;
        if (opt.softcap) dsi[j] *= cache.cap_slope.data[b * Tq * Tk + i * Tk + j];
      }
    }
    masked_product(Tq, D, Tk, ds.data(), static_cast<std::ptrdiff_t>(Tk), 1, kb, live, g.dq.data.data() + b * Tq * D);
    masked_product(Tk, D, Tq, ds.data(), 1, static_cast<std::ptrdiff_t>(Tk), qb, live_t, g.dk.data.data() + b * Tk * D);
  }
  return g;
}

template <class T> attention_options<T> attention_options_from(const param_map& prm, std::int64_t Tq, std::int64_t Tk) {
  attention_options<T> opt;
  opt.causal = prm.boolean("causal");
  if (opt.causal)
    require(Tq <= Tk, "params/causal",
            "causal attention needs Tq <= Tk (queries aligned to the last keys), got Tq = " + std::to_string(Tq) +
                ", Tk = " + std::to_string(Tk));
  opt.window = prm.optional_integer("window");
  if (opt.window) {
    require(*opt.window >= 1, "params/window", "must be >= 1 (the keys a query sees, itself included), got " +
                                                   std::to_string(*opt.window));
    require(opt.causal, "params/window", "a sliding window needs causal = true");
  }
  opt.softcap = prm.template optional_real<T>("softcap");
  if (opt.softcap)
    require(is_finite(*opt.softcap) && *opt.softcap > 0, "params/softcap",
            "must be a finite number > 0, got " + prm.at("softcap").text);
  opt.return_lse = prm.boolean("return_lse");
  return opt;
}

template <class T> T attention_scale_from(const param_map& prm, std::int64_t D) {
  using std::sqrt;
  return prm.is_null("scale") ? T(1) / sqrt(T(D)) : prm.template real<T>("scale");
}

template <class T>
op_result<T> attention_result(const op_args<T>& args, bool backward, const tensor<T>* mask, const attention_options<T>& opt,
                              const T& scale, attention_forward_fn<T> forward, attention_backward_fn<T> backward_fn) {
  const auto &q = input(args, "q"), &k = input(args, "k"), &v = input(args, "v");
  attention_cache<T> cache;
  op_result<T> res;
  res.outputs["out"] = forward(q, k, v, mask, opt, scale, cache);
  if (opt.return_lse) res.outputs["lse"] = cache.lse;
  if (backward) {
    const tensor<T>* dlse = opt.return_lse ? &cotangent(args, "lse", cache.lse.shape) : nullptr;
    auto g = backward_fn(cotangent(args, "out", res.outputs["out"].shape), dlse, q, k, v, opt, scale, cache);
    res.gradients = {{"q", std::move(g.dq)}, {"k", std::move(g.dk)}, {"v", std::move(g.dv)}};
  }
  res.intermediates["scores"] = std::move(cache.scores);
  res.intermediates["weights"] = std::move(cache.weights);
  return res;
}

std::vector<param_spec> attention_param_specs() {
  return {{"causal", param_type::boolean, "false", {}, false,
           "query row i (at position p = Tk - Tq + i) sees key j iff j <= p; needs Tq <= Tk"},
          {"scale", param_type::real, "null", {}, true, "score scale; null means 1/sqrt(D)"},
          {"window", param_type::integer, "null", {}, true, "sliding window W (needs causal): p - W < j <= p"},
          {"softcap", param_type::real, "null", {}, true, "soft-capping c: s = c·tanh(s/c) after the scale, before the mask"},
          {"return_lse", param_type::boolean, "false", {}, false, "also output lse = log sum exp of each score row"}};
}

#define GRADSPEC_ATTENTION_INSTANTIATE(T)                                                                        \
  template tensor<T> attention_forward(const tensor<T>&, const tensor<T>&, const tensor<T>&, const tensor<T>*,     \
                                       const attention_options<T>&, const T&, attention_cache<T>&);             \
  template attention_grads<T> attention_backward(const tensor<T>&, const tensor<T>*, const tensor<T>&, const tensor<T>&, \
                                                 const tensor<T>&, const attention_options<T>&, const T&,       \
                                                 const attention_cache<T>&);                                    \
  template attention_options<T> attention_options_from(const param_map&, std::int64_t, std::int64_t);          \
  template T attention_scale_from(const param_map&, std::int64_t);                                             \
  template op_result<T> attention_result(const op_args<T>&, bool, const tensor<T>*, const attention_options<T>&,   \
                                         const T&, attention_forward_fn<T>, attention_backward_fn<T>);
GRADSPEC_ATTENTION_INSTANTIATE(double)
GRADSPEC_ATTENTION_INSTANTIATE(float)
GRADSPEC_ATTENTION_INSTANTIATE(mp_real)
#undef GRADSPEC_ATTENTION_INSTANTIATE

namespace {

template <class T> op_result<T> attention_evaluate(const op_args<T>& args, bool backward) {
  const auto &q = input(args, "q"), &k = input(args, "k"), &v = input(args, "v");
  const tensor<T>* mask = optional_input(args, "mask");
  require_rank(q.shape, 2, "inputs/q", "[..., Tq, D]");
  const std::size_t r = q.rank();
  const std::int64_t Tq = q.shape[r - 2], D = q.shape[r - 1];
  require(D >= 1, "inputs/q", "the head dimension D (last axis) must be >= 1, got shape " + shape_to_string(q.shape));
  const shape_t lead = leading_axes(q.shape, 2);
  require(k.rank() == r && leading_axes(k.shape, 2) == lead && k.shape[r - 1] == D, "inputs/k",
          "expected shape [..., Tk, D] with the leading axes of q and D = " + std::to_string(D) + ", got " +
              shape_to_string(k.shape) + " (q is " + shape_to_string(q.shape) + ")");
  const std::int64_t Tk = k.shape[r - 2];
  require(v.rank() == r && leading_axes(v.shape, 2) == lead && v.shape[r - 2] == Tk, "inputs/v",
          "expected shape [..., Tk, Dv] with the leading axes of q and Tk = " + std::to_string(Tk) + ", got " +
              shape_to_string(v.shape));
  if (mask) require_shape(mask->shape, {Tq, Tk}, "inputs/mask");
  const attention_options<T> opt = attention_options_from<T>(args.params, Tq, Tk);
  const T scale = attention_scale_from<T>(args.params, D);
  return attention_result(args, backward, mask, opt, scale, &attention_forward<T>, &attention_backward<T>);
}

} // namespace

op_info attention_op() {
  return {"attention",
          "scaled dot-product attention: softmax(q·kᵀ·scale + mask)·v over the key axis, masked_fill masking",
          attention_param_specs(),
          [](const param_map&) {
            return std::vector<input_spec>{{"q", "[..., Tq, D]"},
                                           {"k", "[..., Tk, D]"},
                                           {"v", "[..., Tk, Dv]"},
                                           {"mask", "[Tq, Tk]", false, true, false, tensor_role::additive_mask}};
          },
          {{"out", "[..., Tq, Dv]"}, {"lse", "[..., Tq]", true, true}},
          {{"scores", tensor_role::softmax_logits}, "weights"},
          &attention_evaluate<double>,
          &attention_evaluate<mp_real>, &attention_evaluate<float>};
}

} // namespace gradspec::reference
