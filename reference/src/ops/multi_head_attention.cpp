#include "gradspec/reference/ops/multi_head_attention.hpp"

#include "gradspec/reference/ops/common.hpp"
#include "gradspec/reference/ops/linear.hpp"

#include <cmath>
#include <cstddef>
#include <optional>
#include <vector>

namespace gradspec::reference {

namespace {

// [..., T, C] -> [..., H, T, C/H]: head h takes the contiguous columns [h·C/H, (h+1)·C/H).
template <class T> tensor<T> split_heads(const tensor<T>& t, std::size_t H) {
  const std::size_t r = t.rank(), Tn = static_cast<std::size_t>(t.shape[r - 2]), C = t.cols(), dh = C / H;
  const std::size_t nb = numel(leading_axes(t.shape, 2));
  shape_t s = leading_axes(t.shape, 2);
  s.insert(s.end(), {static_cast<std::int64_t>(H), static_cast<std::int64_t>(Tn), static_cast<std::int64_t>(dh)});
  tensor<T> out(std::move(s));
  for (std::size_t b = 0; b < nb; ++b)
    for (std::size_t h = 0; h < H; ++h)
      for (std::size_t i = 0; i < Tn; ++i)
        for (std::size_t c = 0; c < dh; ++c)
          out.data[((b * H + h) * Tn + i) * dh + c] = t.data[(b * Tn + i) * C + h * dh + c];
  return out;
}

// [..., H, T, dh] -> [..., T, H·dh]: heads side by side, in order (the inverse of split_heads).
template <class T> tensor<T> merge_heads(const tensor<T>& t) {
  const std::size_t r = t.rank(), H = static_cast<std::size_t>(t.shape[r - 3]), Tn = static_cast<std::size_t>(t.shape[r - 2]),
                    dh = t.cols(), C = H * dh;
  const std::size_t nb = numel(leading_axes(t.shape, 3));
  shape_t s = leading_axes(t.shape, 3);
  s.insert(s.end(), {static_cast<std::int64_t>(Tn), static_cast<std::int64_t>(C)});
  tensor<T> out(std::move(s));
  for (std::size_t b = 0; b < nb; ++b)
    for (std::size_t h = 0; h < H; ++h)
      for (std::size_t i = 0; i < Tn; ++i)
        for (std::size_t c = 0; c < dh; ++c)
          out.data[(b * Tn + i) * C + h * dh + c] = t.data[((b * H + h) * Tn + i) * dh + c];
  return out;
}

template <class T> T head_scale(std::int64_t C, std::int64_t heads) {
  using std::sqrt;
  return T(1) / sqrt(T(C / heads));
}

// A copy of t [..., T, C] with row (b, i) set to zero where dead(b, i) and that row holds a NaN or
// inf; nullopt when no row needs it. A dead row is one no query or key of the attention can see
// (every score that involves it is -inf): its gradient is exactly zero, and zeroing it keeps a NaN in
// a masked (padding) row out of the weight gradients (xᵀ·dq would otherwise give 0·NaN = NaN).
template <class T, class Dead> std::optional<tensor<T>> without_dead_rows(const tensor<T>& t, Dead dead) {
  const std::size_t C = t.cols(), Tn = static_cast<std::size_t>(t.shape[t.rank() - 2]);
  std::optional<tensor<T>> out;
  for (std::size_t row = 0; row < t.rows(); ++row) {
    bool finite = true;
    for (std::size_t c = 0; c < C && finite; ++c) finite = is_finite(t.data[row * C + c]);
    if (finite || !dead(row / Tn, row % Tn)) continue;
    if (!out) out = t;
    for (std::size_t c = 0; c < C; ++c) out->data[row * C + c] = 0;
  }
  return out;
}

template <class T> bool masked_score(const T& s) { return is_inf(s) && s < 0; }

} // namespace

// Forward (H heads, dh = C/H, m = memory or x):
//   q = x·w_q + b_q [..., Tq, C];  k = m·w_k + b_k, v = m·w_v + b_v [..., Tk, C]
//   per head h: o_h = attention(q[..., h·dh:(h+1)·dh], k[...], v[...]) with scale 1/sqrt(dh), run as
//   one attention over the leading axes [..., H] (scores, weights [..., H, Tq, Tk])
//   concat = [o_0 | o_1 | ... | o_{H-1}] [..., Tq, C];  y = concat·w_o + b_o
template <class T>
tensor<T> multi_head_attention_forward(const tensor<T>& x, const tensor<T>* memory, const mha_params<T>& p,
                                       const tensor<T>* mask, std::int64_t heads, bool causal, mha_cache<T>& cache) {
  const tensor<T>& m = memory ? *memory : x;
  const std::size_t H = static_cast<std::size_t>(heads);
  cache.q = linear_forward(x, p.w_q, &p.b_q);
  cache.k = linear_forward(m, p.w_k, &p.b_k);
  cache.v = linear_forward(m, p.w_v, &p.b_v);
  attention_cache<T> ac;
  attention_options<T> opt;
  opt.causal = causal;
  const tensor<T> o = attention_forward(split_heads(cache.q, H), split_heads(cache.k, H), split_heads(cache.v, H), mask,
                                        opt, head_scale<T>(x.shape.back(), heads), ac);
  cache.scores = std::move(ac.scores);
  cache.weights = std::move(ac.weights);
  cache.concat = merge_heads(o);
  return linear_forward(cache.concat, p.w_o, &p.b_o);
}

// Backward, with dy [..., Tq, C]:
//   dconcat = dy·w_oᵀ, dw_o = concatᵀ·dy, db_o = sum of dy rows          (linear_backward)
//   dq, dk, dv = attention_backward per head on the column blocks of dconcat, merged back to [..., T, C]
//   dx = dq·w_qᵀ; dm = dk·w_kᵀ + dv·w_vᵀ; dw_q = xᵀ·dq, dw_k = mᵀ·dk, dw_v = mᵀ·dv; db_* = row sums
//   self-attention (m = x): dx += dm; cross-attention: dmemory = dm.
template <class T>
mha_grads<T> multi_head_attention_backward(const tensor<T>& dy, const tensor<T>& x, const tensor<T>* memory,
                                           const mha_params<T>& p, std::int64_t heads, const mha_cache<T>& cache) {
  const tensor<T>& m = memory ? *memory : x;
  const std::size_t H = static_cast<std::size_t>(heads), r = x.rank();
  const std::size_t Tq = static_cast<std::size_t>(x.shape[r - 2]), Tk = static_cast<std::size_t>(m.shape[r - 2]);
  mha_grads<T> g;
  auto go = linear_backward(dy, cache.concat, p.w_o, true);
  g.dw_o = std::move(go.dw);
  g.db_o = std::move(go.db);

  attention_cache<T> ac;
  ac.scores = cache.scores;
  ac.weights = cache.weights;
  auto ga = attention_backward(split_heads(go.dx, H), static_cast<const tensor<T>*>(nullptr), split_heads(cache.q, H),
                               split_heads(cache.k, H), split_heads(cache.v, H), attention_options<T>(),
                               head_scale<T>(x.shape.back(), heads), ac);
  const tensor<T> dq = merge_heads(ga.dq), dk = merge_heads(ga.dk), dv = merge_heads(ga.dv);

  // Rows no score can see (fully masked queries; keys masked for every query) with NaN/inf in them.
  const T* s = cache.scores.data.data();
  auto dead_query = [&](std::size_t b, std::size_t i) {
    for (std::size_t h = 0; h < H; ++h)
      for (std::size_t j = 0; j < Tk; ++j)
        if (!masked_score(s[((b * H + h) * Tq + i) * Tk + j])) return false;
    return true;
  };
  auto dead_key = [&](std::size_t b, std::size_t j) {
    for (std::size_t h = 0; h < H; ++h)
      for (std::size_t i = 0; i < Tq; ++i)
        if (!masked_score(s[((b * H + h) * Tq + i) * Tk + j])) return false;
    return true;
  };
  const auto xq = without_dead_rows(x, dead_query);
  const auto mkv = without_dead_rows(m, dead_key);

  auto gq = linear_backward(dq, xq ? *xq : x, p.w_q, true);
  auto gk = linear_backward(dk, mkv ? *mkv : m, p.w_k, true);
  auto gv = linear_backward(dv, mkv ? *mkv : m, p.w_v, true);
  g.dw_q = std::move(gq.dw);
  g.db_q = std::move(gq.db);
  g.dw_k = std::move(gk.dw);
  g.db_k = std::move(gk.db);
  // db_k is exactly zero: b_k adds (q_i·b_k_h)·scale to every live score of query row i (per head),
  // and softmax is invariant to adding one value to a whole row. The sum computed above is rounding
  // noise around 0 (~1e-78 at 256 bits, different at every precision), so the exact value is stored;
  // NaN or inf (from NaN or inf inputs) is kept.
  for (auto& d : g.db_k.data)
    if (is_finite(d)) d = 0;
  g.dw_v = std::move(gv.dw);
  g.db_v = std::move(gv.db);
  g.dx = std::move(gq.dx);
  if (memory) {
    g.dmemory = std::move(gk.dx);
    add_into(g.dmemory, gv.dx);
  } else {
    add_into(g.dx, gk.dx);
    add_into(g.dx, gv.dx);
  }
  return g;
}

template <class T> mha_params<T> mha_params_from(const op_args<T>& args, const std::string& prefix, std::int64_t C) {
  auto get = [&](const char* name, bool matrix) -> const tensor<T>& {
    const tensor<T>& t = input(args, prefix + name);
    require_shape(t.shape, matrix ? shape_t{C, C} : shape_t{C}, "inputs/" + prefix + name);
    return t;
  };
  // Braced initialisation runs left to right, so the first bad input is the one reported.
  return mha_params<T>{get("w_q", true), get("b_q", false), get("w_k", true), get("b_k", false),
                       get("w_v", true), get("b_v", false), get("w_o", true), get("b_o", false)};
}

template <class T> void store_gradients(op_result<T>& result, const std::string& prefix, mha_grads<T>&& g) {
  result.gradients[prefix + "w_q"] = std::move(g.dw_q);
  result.gradients[prefix + "b_q"] = std::move(g.db_q);
  result.gradients[prefix + "w_k"] = std::move(g.dw_k);
  result.gradients[prefix + "b_k"] = std::move(g.db_k);
  result.gradients[prefix + "w_v"] = std::move(g.dw_v);
  result.gradients[prefix + "b_v"] = std::move(g.db_v);
  result.gradients[prefix + "w_o"] = std::move(g.dw_o);
  result.gradients[prefix + "b_o"] = std::move(g.db_o);
}

#define GRADSPEC_MHA_INSTANTIATE(T)                                                                              \
  template tensor<T> multi_head_attention_forward(const tensor<T>&, const tensor<T>*, const mha_params<T>&,      \
                                                  const tensor<T>*, std::int64_t, bool, mha_cache<T>&);          \
  template mha_grads<T> multi_head_attention_backward(const tensor<T>&, const tensor<T>&, const tensor<T>*,      \
                                                      const mha_params<T>&, std::int64_t, const mha_cache<T>&); \
  template mha_params<T> mha_params_from(const op_args<T>&, const std::string&, std::int64_t);                   \
  template void store_gradients(op_result<T>&, const std::string&, mha_grads<T>&&);
GRADSPEC_MHA_INSTANTIATE(double)
GRADSPEC_MHA_INSTANTIATE(float)
GRADSPEC_MHA_INSTANTIATE(mp_real)
#undef GRADSPEC_MHA_INSTANTIATE

namespace {

template <class T> op_result<T> multi_head_attention_evaluate(const op_args<T>& args, bool backward) {
  const auto& x = input(args, "x");
  require_rank(x.shape, 2, "inputs/x", "[..., Tq, C]");
  const std::size_t r = x.rank();
  const std::int64_t Tq = x.shape[r - 2], C = x.shape[r - 1];
  require(C >= 1, "inputs/x", "the model width C (last axis) must be >= 1, got shape " + shape_to_string(x.shape));
  const auto& prm = args.params;
  const std::int64_t heads = prm.integer("heads");
  require(heads >= 1, "params/heads", "must be >= 1, got " + std::to_string(heads));
  require(C % heads == 0, "params/heads",
          std::to_string(heads) + " heads do not divide the model width C = " + std::to_string(C));
  const tensor<T>* memory = optional_input(args, "memory");
  if (memory)
    require(memory->rank() == r && leading_axes(memory->shape, 2) == leading_axes(x.shape, 2) && memory->shape[r - 1] == C,
            "inputs/memory",
            "expected shape [..., Tk, C] with the leading axes of x and C = " + std::to_string(C) + ", got " +
                shape_to_string(memory->shape) + " (x is " + shape_to_string(x.shape) + ")");
  const std::int64_t Tk = memory ? memory->shape[r - 2] : Tq;
  const tensor<T>* mask = optional_input(args, "mask");
  if (mask) require_shape(mask->shape, {Tq, Tk}, "inputs/mask");
  const bool causal = prm.boolean("causal");
  if (causal)
    require(Tq == Tk, "params/causal",
            "causal attention needs Tq == Tk, got Tq = " + std::to_string(Tq) + ", Tk = " + std::to_string(Tk));
  const auto p = mha_params_from(args, "", C);

  mha_cache<T> cache;
  op_result<T> res;
  res.outputs["y"] = multi_head_attention_forward(x, memory, p, mask, heads, causal, cache);
  if (backward) {
    auto g = multi_head_attention_backward(cotangent(args, "y", res.outputs["y"].shape), x, memory, p, heads, cache);
    res.gradients["x"] = std::move(g.dx);
    if (memory) res.gradients["memory"] = std::move(g.dmemory);
    store_gradients(res, "", std::move(g));
  }
  res.intermediates["weights"] = std::move(cache.weights);
  res.intermediates["concat"] = std::move(cache.concat);
  return res;
}

} // namespace

op_info multi_head_attention_op() {
  return {"multi_head_attention",
          "multi-head attention, self (no memory) or cross: heads on contiguous column blocks, y = concat·w_o + b_o",
          {{"heads", param_type::integer, "", {}, false, "attention heads H (>= 1, must divide C); head dim C/H"},
           {"causal", param_type::boolean, "false", {}, false, "query i sees key j iff j <= i (needs Tq == Tk)"}},
          [](const param_map&) {
            std::vector<input_spec> in{{"x", "[..., Tq, C]"}, {"memory", "[..., Tk, C]", false, true, true}};
            for (const char* w : {"w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_o", "b_o"})
              in.push_back({w, w[0] == 'w' ? "[C, C]" : "[C]"});
            in.push_back({"mask", "[Tq, Tk]", false, true, false, tensor_role::additive_mask});
            return in;
          },
          {{"y", "[..., Tq, C]"}},
          {"weights", "concat"},
          &multi_head_attention_evaluate<double>,
          &multi_head_attention_evaluate<mp_real>, &multi_head_attention_evaluate<float>};
}

} // namespace gradspec::reference
