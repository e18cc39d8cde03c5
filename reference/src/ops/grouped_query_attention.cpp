#include "gradspec/reference/ops/grouped_query_attention.hpp"

#include "gradspec/reference/ops/common.hpp"

#include <algorithm>
#include <cstddef>

namespace gradspec::reference {

namespace {

// k or v [..., Hkv, Tk, E] repeated to [..., Hq, Tk, E]: head h is head h / (Hq / Hkv).
template <class T> tensor<T> repeat_heads(const tensor<T>& x, std::size_t Hq) {
  const std::size_t r = x.rank(), Hkv = static_cast<std::size_t>(x.shape[r - 3]);
  const std::size_t block = static_cast<std::size_t>(x.shape[r - 2] * x.shape[r - 1]), group = Hq / Hkv;
  const std::size_t nb = numel(leading_axes(x.shape, 3));
  shape_t s = x.shape;
  s[r - 3] = static_cast<std::int64_t>(Hq);
  tensor<T> out(s);
  for (std::size_t b = 0; b < nb; ++b)
    for (std::size_t h = 0; h < Hq; ++h) {
      const T* from = x.data.data() + (b * Hkv + h / group) * block;
      std::copy(from, from + block, out.data.data() + (b * Hq + h) * block);
    }
  return out;
}

// The transpose of repeat_heads: [..., Hq, Tk, E] summed over each group to [..., Hkv, Tk, E].
template <class T> tensor<T> sum_groups(const tensor<T>& x, std::size_t Hkv) {
  const std::size_t r = x.rank(), Hq = static_cast<std::size_t>(x.shape[r - 3]);
  const std::size_t block = static_cast<std::size_t>(x.shape[r - 2] * x.shape[r - 1]), group = Hq / Hkv;
  const std::size_t nb = numel(leading_axes(x.shape, 3));
  shape_t s = x.shape;
  s[r - 3] = static_cast<std::int64_t>(Hkv);
  tensor<T> out(s);
  for (std::size_t b = 0; b < nb; ++b)
    for (std::size_t h = 0; h < Hq; ++h) {
      const T* from = x.data.data() + (b * Hq + h) * block;
      T* to = out.data.data() + (b * Hkv + h / group) * block;
      for (std::size_t e = 0; e < block; ++e) to[e] += from[e];
    }
  return out;
}

template <class T> std::size_t query_heads(const tensor<T>& q) { return static_cast<std::size_t>(q.shape[q.rank() - 3]); }

} // namespace

// Forward: attention over [..., Hq] heads with k and v repeated per group (the definition itself).
template <class T>
tensor<T> grouped_query_attention_forward(const tensor<T>& q, const tensor<T>& k, const tensor<T>& v, const tensor<T>* mask,
                                          const attention_options<T>& opt, const T& scale, attention_cache<T>& cache) {
  const std::size_t Hq = query_heads(q);
  return attention_forward(q, repeat_heads(k, Hq), repeat_heads(v, Hq), mask, opt, scale, cache);
}

// Backward: attention's backward on the repeated k and v, whose gradients are then summed over each
// group (the VJP of the repetition).
template <class T>
attention_grads<T> grouped_query_attention_backward(const tensor<T>& dout, const tensor<T>* dlse, const tensor<T>& q,
                                                    const tensor<T>& k, const tensor<T>& v, const attention_options<T>& opt,
                                                    const T& scale, const attention_cache<T>& cache) {
  const std::size_t Hq = query_heads(q), Hkv = query_heads(k);
  auto g = attention_backward(dout, dlse, q, repeat_heads(k, Hq), repeat_heads(v, Hq), opt, scale, cache);
  g.dk = sum_groups(g.dk, Hkv);
  g.dv = sum_groups(g.dv, Hkv);
  return g;
}

#define GRADSPEC_GQA_INSTANTIATE(T)                                                                                  \
  template tensor<T> grouped_query_attention_forward(const tensor<T>&, const tensor<T>&, const tensor<T>&,          \
                                                     const tensor<T>*, const attention_options<T>&, const T&,        \
                                                     attention_cache<T>&);                                         \
  template attention_grads<T> grouped_query_attention_backward(const tensor<T>&, const tensor<T>*, const tensor<T>&, \
                                                               const tensor<T>&, const tensor<T>&,                  \
                                                               const attention_options<T>&, const T&,               \
                                                               const attention_cache<T>&);
GRADSPEC_GQA_INSTANTIATE(double)
GRADSPEC_GQA_INSTANTIATE(float)
GRADSPEC_GQA_INSTANTIATE(mp_real)
#undef GRADSPEC_GQA_INSTANTIATE

namespace {

template <class T> op_result<T> grouped_query_attention_evaluate(const op_args<T>& args, bool backward) {
  const auto &q = input(args, "q"), &k = input(args, "k"), &v = input(args, "v");
  const tensor<T>* mask = optional_input(args, "mask");
  require_rank(q.shape, 3, "inputs/q", "[..., Hq, Tq, D]");
  const std::size_t r = q.rank();
  const std::int64_t Hq = q.shape[r - 3], Tq = q.shape[r - 2], D = q.shape[r - 1];
  require(D >= 1 && Hq >= 1, "inputs/q",
          "the query heads Hq and head dimension D must be >= 1, got shape " + shape_to_string(q.shape));
  const shape_t lead = leading_axes(q.shape, 3);
  require(k.rank() == r && leading_axes(k.shape, 3) == lead && k.shape[r - 1] == D, "inputs/k",
          "expected shape [..., Hkv, Tk, D] with the batch axes of q and D = " + std::to_string(D) + ", got " +
              shape_to_string(k.shape) + " (q is " + shape_to_string(q.shape) + ")");
  const std::int64_t Hkv = k.shape[r - 3], Tk = k.shape[r - 2];
  require(Hkv >= 1 && Hq % Hkv == 0, "inputs/k",
          "the key/value heads Hkv = " + std::to_string(Hkv) + " must divide the query heads Hq = " + std::to_string(Hq));
  require(v.rank() == r && leading_axes(v.shape, 3) == lead && v.shape[r - 3] == Hkv && v.shape[r - 2] == Tk, "inputs/v",
          "expected shape [..., Hkv, Tk, Dv] with the batch axes of q, Hkv = " + std::to_string(Hkv) + " and Tk = " +
              std::to_string(Tk) + ", got " + shape_to_string(v.shape));
  if (mask) require_shape(mask->shape, {Tq, Tk}, "inputs/mask");
  const attention_options<T> opt = attention_options_from<T>(args.params, Tq, Tk);
  const T scale = attention_scale_from<T>(args.params, D);
  return attention_result(args, backward, mask, opt, scale, &grouped_query_attention_forward<T>,
                          &grouped_query_attention_backward<T>);
}

} // namespace

op_info grouped_query_attention_op() {
  return {"grouped_query_attention",
          "attention with Hq query heads sharing Hkv key/value heads (GQA; MQA when Hkv = 1): head h reads kv head "
          "h / (Hq / Hkv)",
          attention_param_specs(),
          [](const param_map&) {
            return std::vector<input_spec>{{"q", "[..., Hq, Tq, D]"},
                                           {"k", "[..., Hkv, Tk, D]"},
                                           {"v", "[..., Hkv, Tk, Dv]"},
                                           {"mask", "[Tq, Tk]", false, true, false, tensor_role::additive_mask}};
          },
          {{"out", "[..., Hq, Tq, Dv]"}, {"lse", "[..., Hq, Tq]", true, true}},
          {{"scores", tensor_role::softmax_logits}, "weights"},
          &grouped_query_attention_evaluate<double>,
          &grouped_query_attention_evaluate<mp_real>,
          &grouped_query_attention_evaluate<float>};
}

} // namespace gradspec::reference
