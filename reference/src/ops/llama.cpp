#include "gradspec/reference/ops/llama.hpp"

#include "gradspec/reference/ops/common.hpp"
#include "gradspec/reference/ops/embedding.hpp"
#include "gradspec/reference/ops/linear.hpp"
#include "gradspec/reference/ops/rms_norm.hpp"

#include <cmath>
#include <string>

namespace gradspec::reference {

namespace {

// [R, K] -> [K, R].
template <class T> tensor<T> transposed(const tensor<T>& m) {
  const std::size_t R = static_cast<std::size_t>(m.shape[0]), K = static_cast<std::size_t>(m.shape[1]);
  tensor<T> t(shape_t{m.shape[1], m.shape[0]});
  for (std::size_t r = 0; r < R; ++r)
    for (std::size_t k = 0; k < K; ++k) t.data[k * R + r] = m.data[r * K + k];
  return t;
}

} // namespace

// Forward:
//   h_0 = embed[ids] (scale 1);  h_{i+1} = llama_block_i(h_i);  hidden = rms_norm(h_L, norm.gamma)
//   raw = hidden·W with W = lm_head, or the explicit transpose embedᵀ when tied
//   logits = raw, or c·tanh(raw/c) with logit_softcap c (cache.capped keeps tanh(raw/c))
//   loss = cross_entropy(logits, labels), mean over the non-ignored positions of every batch axis
template <class T>
llama_outputs<T> llama_forward(const int_tensor& ids, const int_tensor& labels, const llama_params<T>& p,
                               const llama_options<T>& opt, llama_cache<T>& c) {
  using std::tanh;
  const std::size_t L = p.blocks.size();
  c.acts.assign(1, embedding_forward(ids, p.embed, T(1)));
  c.blocks.assign(L, {});
  for (std::size_t i = 0; i < L; ++i) c.acts.push_back(llama_block_forward(c.acts[i], p.blocks[i], opt.block, c.blocks[i]));
  c.hidden = rms_norm_forward(c.acts[L], p.norm_gamma, opt.block.eps, c.norm);
  if (!p.lm_head) c.projection = transposed(p.embed);
  llama_outputs<T> out;
  out.logits = linear_forward<T>(c.hidden, p.lm_head ? *p.lm_head : c.projection, nullptr);
  if (opt.logit_softcap) {
    const T& cap = *opt.logit_softcap;
    c.capped = out.logits;
    for (std::size_t i = 0; i < c.capped.size(); ++i) {
      c.capped.data[i] /= cap;
      c.capped.data[i] = tanh(c.capped.data[i]);
      out.logits.data[i] = c.capped.data[i] * cap;
    }
  }
  out.loss = cross_entropy_forward(out.logits, labels, reduction::mean, opt.ignore_index, T(0), c.ce);
  return out;
}

// Backward:
//   dlogits = cot_logits + CEᵀ dloss;  draw = dlogits ⊙ (1 - tanh²(raw/c)) with logit_softcap, else dlogits
//   dhidden = draw·Wᵀ, dW = hiddenᵀ·draw  (dlm_head = dW; tied: dembed gets dWᵀ)
//   dh_L = rms_normᵀ dhidden; the blocks in reverse; dembed += the scatter-add of dh_0 over ids
template <class T>
llama_grads<T> llama_backward(const tensor<T>& dloss, const tensor<T>& dlogits_in, const int_tensor& ids, const int_tensor& labels,
                              const llama_params<T>& p, const llama_options<T>& opt, const llama_cache<T>& c) {
  const std::size_t L = p.blocks.size();
  llama_grads<T> g;
  g.blocks.resize(L);
  tensor<T> draw = dlogits_in;
  add_into(draw, cross_entropy_backward(dloss, labels, reduction::mean, opt.ignore_index, T(0), c.ce));
  if (opt.logit_softcap)
    for (std::size_t i = 0; i < draw.size(); ++i) {
      T slope = c.capped.data[i] * c.capped.data[i];
      slope = T(1) - slope;
      draw.data[i] *= slope;
    }
  auto head = linear_backward(draw, c.hidden, p.lm_head ? *p.lm_head : c.projection, false);
  g.norm = rms_norm_backward(head.dx, c.acts[L], p.norm_gamma, c.norm);
  tensor<T> d = std::move(g.norm.dx);
  for (std::size_t i = L; i-- > 0;) {
    g.blocks[i] = llama_block_backward(d, c.acts[i], p.blocks[i], opt.block, c.blocks[i]);
    d = std::move(g.blocks[i].dx);
  }
  g.dembed = embedding_backward(d, ids, p.embed.shape, T(1));
  if (p.lm_head) g.dlm_head = std::move(head.dw);
  else add_into(g.dembed, transposed(head.dw)); // tied: the lookup and the output projection both read embed
  return g;
}

#define GRADSPEC_LLAMA_INSTANTIATE(T)                                                                              \
  template llama_outputs<T> llama_forward(const int_tensor&, const int_tensor&, const llama_params<T>&,           \
                                          const llama_options<T>&, llama_cache<T>&);                              \
  template llama_grads<T> llama_backward(const tensor<T>&, const tensor<T>&, const int_tensor&, const int_tensor&, \
                                         const llama_params<T>&, const llama_options<T>&, const llama_cache<T>&);
GRADSPEC_LLAMA_INSTANTIATE(double)
GRADSPEC_LLAMA_INSTANTIATE(float)
GRADSPEC_LLAMA_INSTANTIATE(mp_real)
#undef GRADSPEC_LLAMA_INSTANTIATE

namespace {

std::string block_prefix(std::int64_t i) { return "blocks." + std::to_string(i) + "."; }

std::vector<input_spec> llama_inputs(const param_map& prm) {
  const std::int64_t layers = checked_layers(prm);
  std::vector<input_spec> in{{"ids", "[..., T]", true, false, false}, {"labels", "[..., T]", true, false, false}, {"embed", "[V, C]"}};
  for (std::int64_t i = 0; i < layers; ++i)
    for (auto& w : llama_block_weight_inputs(block_prefix(i))) in.push_back(std::move(w));
  in.push_back({"norm.gamma", "[C]"});
  // Tied, lm_head is listed only to be refused with a clear message if a case gives it.
  if (prm.boolean("tie_embeddings")) in.push_back({"lm_head", "absent: tie_embeddings projects with embedᵀ", false, true, false});
  else in.push_back({"lm_head", "[C, V]"});
  return in;
}

template <class T> op_result<T> llama_evaluate(const op_args<T>& args, bool backward) {
  const auto& prm = args.params;
  const std::int64_t layers = checked_layers(prm);
  const auto &ids = int_input(args, "ids"), &labels = int_input(args, "labels");
  require_rank(ids.shape, 1, "inputs/ids", "[..., T]");
  require(ids.size() == numel(ids.shape), "inputs/ids",
          "shape " + shape_to_string(ids.shape) + " holds " + std::to_string(numel(ids.shape)) + " values, got " +
              std::to_string(ids.size()));
  require_shape(labels.shape, ids.shape, "inputs/labels");
  require(labels.size() == ids.size(), "inputs/labels",
          "shape " + shape_to_string(labels.shape) + " holds " + std::to_string(ids.size()) + " values, got " +
              std::to_string(labels.size()));
  const auto& embed = input(args, "embed");
  require(embed.rank() == 2 && embed.shape[0] >= 1 && embed.shape[1] >= 1, "inputs/embed",
          "expected shape [V, C] with V, C >= 1, got " + shape_to_string(embed.shape));
  const std::int64_t V = embed.shape[0], C = embed.shape[1], T_len = ids.shape.back();
  const bool tied = prm.boolean("tie_embeddings");
  const tensor<T>* lm_head = optional_input(args, "lm_head");
  if (tied)
    require(!lm_head, "inputs/lm_head",
            "must be absent with tie_embeddings = true: the output projection is embedᵀ (give it with tie_embeddings = false)");
  else require_shape(input(args, "lm_head").shape, {C, V}, "inputs/lm_head");
  const auto& norm_gamma = input(args, "norm.gamma");
  require_shape(norm_gamma.shape, {C}, "inputs/norm.gamma");

  llama_options<T> opt{llama_block_options_from<T>(prm, C, T_len), prm.template optional_real<T>("logit_softcap"),
                       prm.optional_integer("ignore_index")};
  if (opt.logit_softcap)
    require(*opt.logit_softcap > 0, "params/logit_softcap", "must be > 0, got " + prm.at("logit_softcap").text);
  require_ids(ids, V, "inputs/ids");
  require_ids(labels, V, "inputs/labels", opt.ignore_index);

  llama_params<T> p{embed, {}, norm_gamma, tied ? nullptr : lm_head};
  for (std::int64_t i = 0; i < layers; ++i) p.blocks.push_back(llama_block_params_from(args, block_prefix(i), C, opt.block));

  llama_cache<T> cache;
  auto out = llama_forward(ids, labels, p, opt, cache);
  op_result<T> r;
  r.outputs["loss"] = std::move(out.loss);
  r.outputs["logits"] = std::move(out.logits);
  if (backward) {
    const auto& dloss = cotangent(args, "loss", r.outputs["loss"].shape);
    const auto& dlogits = cotangent(args, "logits", r.outputs["logits"].shape);
    auto g = llama_backward(dloss, dlogits, ids, labels, p, opt, cache);
    r.gradients["embed"] = std::move(g.dembed);
    for (std::int64_t i = 0; i < layers; ++i) store_gradients(r, block_prefix(i), std::move(g.blocks[static_cast<std::size_t>(i)]));
    store_gradients(r, "norm.", std::move(g.norm));
    if (!tied) r.gradients["lm_head"] = std::move(g.dlm_head);
  }
  r.intermediates["hidden"] = std::move(cache.hidden);
  return r;
}

} // namespace

op_info llama_op() {
  std::vector<param_spec> params{{"layers", param_type::integer, "", {}, false, "llama_blocks (>= 1), numbered from 0"}};
  for (auto& s : llama_block_param_specs()) params.push_back(std::move(s));
  for (auto& s : params)
    if (s.name == "eps") s.doc = "epsilon of every RMSNorm, the final one included (>= 0)";
    else if (s.name == "offset") s.doc = "RoPE position of row 0 of the T axis, in every block (>= 0)";
  params.push_back({"tie_embeddings", param_type::boolean, "false", {}, false,
                    "true: logits = hidden·embedᵀ and lm_head is absent; embed's gradient adds both uses"});
  params.push_back({"logit_softcap", param_type::real, "null", {}, true,
                    "c > 0: logits = c·tanh(logits/c) (Gemma 2), the output and the loss's input; null: none"});
  params.push_back({"ignore_index", param_type::integer, "null", {}, true,
                    "labels equal to it are left out of the mean loss (null: none is)"});
  return {"llama",
          "decoder-only language model: embedding, llama_blocks, final RMSNorm, output projection (tied or not, optional "
          "logit soft-capping) and the mean cross-entropy over every non-ignored position",
          std::move(params),
          &llama_inputs,
          {{"loss", "[]"}, {"logits", "[..., T, V]"}},
          {"hidden"},
          &llama_evaluate<double>,
          &llama_evaluate<mp_real>,
          &llama_evaluate<float>};
}

} // namespace gradspec::reference
