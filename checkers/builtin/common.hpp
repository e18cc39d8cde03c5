// Shared pieces of the built-in Armadillo candidates ("armadillo-f64", "armadillo-f32"): reading a
// case's tensors into Armadillo matrices of the element type eT, params, storing results, and the
// forward/backward pairs of the primitives that the composite ops (encoder and decoder layers,
// transformer) are built from.
//
// This is an independent implementation of CONTRACT.md in the candidate's own dtype, written the way
// a careful engineer would (two-pass LayerNorm variance, max-subtracted softmax, safe softmax for
// fully masked rows, masked_fill for -inf masks); it never calls reference/. It is a candidate users
// run and the same-dtype baseline that the verdict policy measures error ratios against.
//
// Layout: a tensor [..., N] is an arma::Mat<eT> of rows() = product of the leading axes and N columns
// (token r is row r); sequence tensors [..., T, C] stack the batch entries' T rows one after the
// other. Vectors of a last axis (bias, gamma) are arma::Row<eT>; per-row statistics are arma::Col<eT>.
#pragma once

#include "gradspec/cases/case_file.hpp"
#include "gradspec/checkers/results.hpp"
#include "gradspec/errors.hpp"

#include <armadillo>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <string>
#include <vector>

namespace gradspec::checkers::builtin {

template <class eT> using mat = arma::Mat<eT>;
template <class eT> using row = arma::Row<eT>;
template <class eT> using col = arma::Col<eT>;
using arma::uword;
using cases::test_case;

// Throws bad_input(path, message).
[[noreturn]] inline void fail(const std::string& path, const std::string& message);

// The value of decimal text in eT, rounded once (std::strtof / std::strtod); "inf", "-inf", "nan".
template <class eT> eT parse_value(const std::string& text, const std::string& path);

// [2, 3, 4] minus its last k axes / with its last axis replaced / with axes appended.
inline shape_t leading(const shape_t& shape, std::size_t k);
inline shape_t with_last(shape_t shape, std::int64_t last);
inline shape_t concat(shape_t a, const shape_t& b);
// Product of all axes but the last (1 for rank <= 1).
inline uword leading_rows(const shape_t& shape);
inline std::string shape_text(const shape_t& shape);

// A case's tensors and params read in eT; every error names the tensor ("inputs/w: ...").
template <class eT> class case_view {
public:
  explicit case_view(const test_case& c) : c_(c) {}
  const test_case& source() const { return c_; }

  bool has(const std::string& name) const;
  const cases::raw_tensor& raw(const std::string& name) const; // a real input
  const shape_t& shape(const std::string& name) const { return raw(name).shape; }
  // [leading_rows, last axis]; a scalar is 1x1. Requires rank >= min_rank.
  mat<eT> rows(const std::string& name, std::size_t min_rank = 1) const;
  // Exactly [r, c] / [n].
  mat<eT> matrix(const std::string& name, uword r, uword c) const;
  row<eT> vector(const std::string& name, uword n) const;
  // An int64 input's values (and its shape through int_shape).
  const std::vector<std::int64_t>& ints(const std::string& name) const;
  const shape_t& int_shape(const std::string& name) const;

  // True when the case carries cotangents (a case without them is evaluated forward only).
  bool backward() const { return !c_.cotangents.empty(); }
  // The cotangent of output `name` as rows, which must have the output's shape; zeros when the case
  // gives cotangents for other outputs only.
  mat<eT> cotangent(const std::string& name, const shape_t& output_shape) const;

  eT real(const std::string& param) const;
  std::optional<eT> optional_real(const std::string& param) const;
  std::int64_t integer(const std::string& param) const { return c_.params.integer(param); }
  std::optional<std::int64_t> optional_integer(const std::string& param) const { return c_.params.optional_integer(param); }
  bool boolean(const std::string& param) const { return c_.params.boolean(param); }
  const std::string& choice(const std::string& param) const { return c_.params.choice(param); }

private:
  const test_case& c_;
};

// Stores m (row-major, as rows x cols) as result tensor `name` ("outputs.y") of the given shape.
template <class eT> void put(candidate_result& r, const std::string& name, const mat<eT>& m, const shape_t& shape);

// ---------------------------------------------------------------------------------------------
// Primitives. Each pair is forward (outputs, then what the backward needs) and backward.

// linear.cpp: y [N, O] = x [N, I]·w [I, O] + b [O].
template <class eT> mat<eT> linear_forward(const mat<eT>& x, const mat<eT>& w, const row<eT>& b);
template <class eT> struct linear_grads {
  mat<eT> dx, dw;
  row<eT> db;
};
// dx = dy·wᵀ, dw = xᵀ·dy, db = column sums of dy.
template <class eT> linear_grads<eT> linear_backward(const mat<eT>& dy, const mat<eT>& x, const mat<eT>& w);

// embedding.cpp: y [N, C] = table[ids]·scale; dtable [V, C] accumulates dy·scale per id.
template <class eT> mat<eT> embedding_forward(const std::vector<std::int64_t>& ids, const mat<eT>& table, eT scale);
template <class eT> mat<eT> embedding_backward(const mat<eT>& dy, const std::vector<std::int64_t>& ids, uword vocab, eT scale);
// Ids must lie in [0, vocab): bad_input at `path` otherwise.
void check_ids(const std::vector<std::int64_t>& ids, std::int64_t vocab, const std::string& path);
// pe [length, d]: PE(pos, 2i) = sin(pos / base^(2i/d)), PE(pos, 2i+1) = cos(same), pos = offset + row.
template <class eT> mat<eT> positional_encoding(std::int64_t length, std::int64_t d, eT base, std::int64_t offset);

// softmax.cpp, per row. A row of all -inf gives zeros (softmax) or -inf (log_softmax), zero gradient.
template <class eT> mat<eT> softmax_forward(const mat<eT>& x);
template <class eT> mat<eT> softmax_backward(const mat<eT>& dy, const mat<eT>& y);
template <class eT> mat<eT> log_softmax_forward(const mat<eT>& x);
template <class eT> mat<eT> log_softmax_backward(const mat<eT>& dy, const mat<eT>& y);

// activations.cpp, elementwise. relu'(0) = 0.
enum class act_kind { relu, gelu, gelu_tanh, silu };
act_kind parse_act(const std::string& name); // feed_forward's names: relu, gelu, gelu_tanh, silu
template <class eT> mat<eT> activation_forward(act_kind act, const mat<eT>& x);
template <class eT> mat<eT> activation_backward(act_kind act, const mat<eT>& dy, const mat<eT>& x);

// norms.cpp over each row. LayerNorm: two-pass biased variance, rstd = 1/sqrt(var + eps).
// RMSNorm: rstd = 1/sqrt(mean(x²) + eps).
template <class eT> struct ln_weights {
  row<eT> gamma, beta; // beta empty for rms_norm
};
template <class eT> struct norm_cache {
  col<eT> mean, rstd; // [N]
  mat<eT> xhat;       // [N, C] (x - mean)·rstd, or x·rstd for RMSNorm
};
template <class eT> struct norm_grads {
  mat<eT> dx;
  ln_weights<eT> dw;
};
template <class eT> mat<eT> layer_norm_forward(const mat<eT>& x, const ln_weights<eT>& w, eT eps, norm_cache<eT>& cache);
template <class eT> norm_grads<eT> layer_norm_backward(const mat<eT>& dy, const ln_weights<eT>& w, const norm_cache<eT>& cache);
template <class eT> mat<eT> rms_norm_forward(const mat<eT>& x, const row<eT>& gamma, eT eps, norm_cache<eT>& cache);
template <class eT> norm_grads<eT> rms_norm_backward(const mat<eT>& dy, const row<eT>& gamma, const norm_cache<eT>& cache);

// attention.cpp, one batch entry: q [Tq, D], k [Tk, D], v [Tk, Dv], mask [Tq, Tk] or null.
// Query i sees key j unless mask(i, j) == -inf or (causal and j > i); what it does not see never
// enters a product (masked_fill semantics: NaN there changes nothing). A row that sees nothing gives
// a zero output row and zero gradients.
template <class eT> struct attention_cache {
  mat<eT> scores, weights;         // [Tq, Tk]; scores -inf and weights 0 where not seen
  std::vector<arma::uvec> visible; // per query, the keys it sees
};
template <class eT> struct attention_grads {
  mat<eT> dq, dk, dv;
};
template <class eT>
mat<eT> attention_forward(const mat<eT>& q, const mat<eT>& k, const mat<eT>& v, const mat<eT>* mask, bool causal, eT scale,
                          attention_cache<eT>& cache);
template <class eT>
attention_grads<eT> attention_backward(const mat<eT>& dout, const mat<eT>& q, const mat<eT>& k, const mat<eT>& v, eT scale,
                                       const attention_cache<eT>& cache);

// multi_head_attention.cpp: x [B·Tq, C], memory [B·Tk, C] (null: self-attention), mask [Tq, Tk].
// Head h uses columns [h·C/H, (h+1)·C/H) of q, k, v with scale 1/sqrt(C/H); y = concat·w_o + b_o.
template <class eT> struct mha_weights {
  mat<eT> w_q, w_k, w_v, w_o;
  row<eT> b_q, b_k, b_v, b_o;
};
template <class eT> struct mha_cache {
  mat<eT> q, k, v, concat;
  std::vector<attention_cache<eT>> heads; // [b·H + h]
};
template <class eT> struct mha_grads {
  mat<eT> dx, dmemory; // dmemory empty for self-attention (folded into dx)
  mha_weights<eT> dw;
};
template <class eT>
mat<eT> mha_forward(const mat<eT>& x, const mat<eT>* memory, uword batch, const mha_weights<eT>& w, const mat<eT>* mask,
                    std::int64_t heads, bool causal, mha_cache<eT>& cache);
template <class eT>
mha_grads<eT> mha_backward(const mat<eT>& dy, const mat<eT>& x, const mat<eT>* memory, uword batch, const mha_weights<eT>& w,
                           std::int64_t heads, const mha_cache<eT>& cache);

// feed_forward.cpp: y = act(x·w1 + b1)·w2 + b2.
template <class eT> struct ffn_weights {
  mat<eT> w1, w2;
  row<eT> b1, b2;
};
template <class eT> struct ffn_cache {
  mat<eT> pre, hidden; // [N, F]: x·w1 + b1 and act of it
};
template <class eT> struct ffn_grads {
  mat<eT> dx;
  ffn_weights<eT> dw;
};
template <class eT> mat<eT> ffn_forward(const mat<eT>& x, const ffn_weights<eT>& w, act_kind act, ffn_cache<eT>& cache);
template <class eT>
ffn_grads<eT> ffn_backward(const mat<eT>& dy, const mat<eT>& x, const ffn_weights<eT>& w, act_kind act, const ffn_cache<eT>& cache);

// cross_entropy.cpp: logits [N, V], targets [N]. Per counted row (target != ignore_index):
// loss_n = (1-ε)·(-log p[t]) + ε/V·Σ_c(-log p[c]); ignored rows give 0 and are not counted.
template <class eT> struct ce_cache {
  mat<eT> log_probs;
  std::vector<bool> counted;
  std::size_t n_counted = 0;
};
template <class eT>
col<eT> cross_entropy_rows(const mat<eT>& logits, const std::vector<std::int64_t>& targets, std::optional<std::int64_t> ignore_index,
                           eT smoothing, ce_cache<eT>& cache);
// dlogits for per-row loss cotangents g [N].
template <class eT>
mat<eT> cross_entropy_backward(const col<eT>& g, const std::vector<std::int64_t>& targets, eT smoothing, const ce_cache<eT>& cache);
// Targets must lie in [0, V) or equal ignore_index.
void check_targets(const std::vector<std::int64_t>& targets, std::int64_t vocab, std::optional<std::int64_t> ignore_index,
                   const std::string& path);

// encoder_layer.cpp / decoder_layer.cpp (post-LN or pre-LN, CONTRACT.md).
template <class eT> struct layer_options {
  std::int64_t heads = 1;
  bool norm_first = false;
  eT eps = 0;
  act_kind act = act_kind::relu;
};
template <class eT> struct encoder_weights {
  mha_weights<eT> attn;
  ln_weights<eT> ln1;
  ffn_weights<eT> ffn;
  ln_weights<eT> ln2;
};
template <class eT> struct encoder_cache {
  mat<eT> sum1, norm1, h, sum2, norm2; // post-LN: sum1, sum2 (the norms' inputs); pre-LN: norm1, norm2
  mha_cache<eT> attn;
  norm_cache<eT> ln1, ln2;
  ffn_cache<eT> ffn;
};
template <class eT> struct encoder_grads {
  mat<eT> dx;
  encoder_weights<eT> dw;
};
template <class eT>
mat<eT> encoder_forward(const mat<eT>& x, uword batch, const encoder_weights<eT>& w, const mat<eT>* mask, bool causal,
                        const layer_options<eT>& opt, encoder_cache<eT>& cache);
template <class eT>
encoder_grads<eT> encoder_backward(const mat<eT>& dy, const mat<eT>& x, uword batch, const encoder_weights<eT>& w,
                                   const layer_options<eT>& opt, const encoder_cache<eT>& cache);

template <class eT> struct decoder_weights {
  mha_weights<eT> self_attn;
  ln_weights<eT> ln1;
  mha_weights<eT> cross_attn;
  ln_weights<eT> ln2;
  ffn_weights<eT> ffn;
  ln_weights<eT> ln3;
};
template <class eT> struct decoder_cache {
  mat<eT> sum1, sum2, sum3, norm1, norm2, norm3, h1, h2;
  mha_cache<eT> self_attn, cross_attn;
  norm_cache<eT> ln1, ln2, ln3;
  ffn_cache<eT> ffn;
};
template <class eT> struct decoder_grads {
  mat<eT> dx, dmemory;
  decoder_weights<eT> dw;
};
template <class eT>
mat<eT> decoder_forward(const mat<eT>& x, const mat<eT>& memory, uword batch, const decoder_weights<eT>& w,
                        const layer_options<eT>& opt, decoder_cache<eT>& cache);
template <class eT>
decoder_grads<eT> decoder_backward(const mat<eT>& dy, const mat<eT>& x, const mat<eT>& memory, uword batch,
                                   const decoder_weights<eT>& w, const layer_options<eT>& opt, const decoder_cache<eT>& cache);

// ---------------------------------------------------------------------------------------------
// Weights of a case under a name prefix ("" for the op itself, "attn.", "enc.0.attn.") and their
// gradients stored as "gradients.<prefix>NAME".
template <class eT> ln_weights<eT> read_ln(const case_view<eT>& v, const std::string& prefix, uword C);
template <class eT> mha_weights<eT> read_mha(const case_view<eT>& v, const std::string& prefix, uword C);
template <class eT> ffn_weights<eT> read_ffn(const case_view<eT>& v, const std::string& prefix, uword C);
template <class eT> encoder_weights<eT> read_encoder(const case_view<eT>& v, const std::string& prefix, uword C);
template <class eT> decoder_weights<eT> read_decoder(const case_view<eT>& v, const std::string& prefix, uword C);
template <class eT> void store(candidate_result& r, const std::string& prefix, const ln_weights<eT>& g);
template <class eT> void store(candidate_result& r, const std::string& prefix, const mha_weights<eT>& g);
template <class eT> void store(candidate_result& r, const std::string& prefix, const ffn_weights<eT>& g);
template <class eT> void store(candidate_result& r, const std::string& prefix, const encoder_weights<eT>& g);
template <class eT> void store(candidate_result& r, const std::string& prefix, const decoder_weights<eT>& g);
template <class eT> layer_options<eT> read_layer_options(const case_view<eT>& v);
// heads >= 1 and dividing C, else bad_input at params/heads.
void check_heads(std::int64_t heads, std::int64_t C);

// ---------------------------------------------------------------------------------------------
// One evaluation per op (outputs, and gradients when the case has cotangents). They throw on bad
// input; the registry turns every exception into candidate_result::error.
#define GRADSPEC_BUILTIN_OPS(X)                                                                     \
  X(linear) X(embedding) X(positional_encoding) X(softmax) X(log_softmax) X(relu) X(gelu) X(silu) \
  X(layer_norm) X(rms_norm) X(attention) X(multi_head_attention) X(feed_forward) X(cross_entropy)  \
  X(encoder_layer) X(decoder_layer) X(transformer)

#define GRADSPEC_BUILTIN_DECLARE(op) template <class eT> candidate_result evaluate_##op(const test_case& c);
GRADSPEC_BUILTIN_OPS(GRADSPEC_BUILTIN_DECLARE)
#undef GRADSPEC_BUILTIN_DECLARE

// ---------------------------------------------------------------------------------------------
// Definitions of the helpers above.

[[noreturn]] inline void fail(const std::string& path, const std::string& message) { throw bad_input(path, message); }

template <class eT> eT parse_value(const std::string& text, const std::string& path) {
  const char* begin = text.c_str();
  char* end = nullptr;
  eT value;
  if constexpr (std::is_same_v<eT, float>) value = std::strtof(begin, &end);
  else value = std::strtod(begin, &end);
  if (text.empty() || end != begin + text.size()) fail(path, "not a decimal number: \"" + text + "\"");
  return value;
}

inline shape_t leading(const shape_t& shape, std::size_t k) {
  return shape_t(shape.begin(), shape.end() - static_cast<std::ptrdiff_t>(std::min(k, shape.size())));
}
inline shape_t with_last(shape_t shape, std::int64_t last) {
  if (shape.empty()) shape.push_back(last);
  else shape.back() = last;
  return shape;
}
inline shape_t concat(shape_t a, const shape_t& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
inline uword leading_rows(const shape_t& shape) {
  uword n = 1;
  for (std::size_t i = 0; i + 1 < shape.size(); ++i) n *= static_cast<uword>(shape[i]);
  return n;
}
inline std::string shape_text(const shape_t& shape) { return reference::shape_to_string(shape); }

// Rows [b·n, (b+1)·n) of x: batch entry b of a stacked sequence tensor (n may be 0).
template <class eT> auto block(mat<eT>& x, uword b, uword n) { return x.submat(b * n, 0, arma::size(n, x.n_cols)); }
template <class eT> auto block(const mat<eT>& x, uword b, uword n) { return x.submat(b * n, 0, arma::size(n, x.n_cols)); }

template <class eT> bool case_view<eT>::has(const std::string& name) const { return c_.inputs.count(name) > 0; }

template <class eT> const cases::raw_tensor& case_view<eT>::raw(const std::string& name) const {
  auto it = c_.inputs.find(name);
  if (it == c_.inputs.end()) fail("inputs", "missing input \"" + name + "\"");
  if (it->second.integer) fail("inputs/" + name, "must be a real tensor, not int64");
  return it->second;
}

namespace detail {
// rows x cols from row-major decimal text.
template <class eT> mat<eT> fill_rows(const cases::raw_tensor& t, uword rows, uword cols, const std::string& path) {
  if (t.values.size() != static_cast<std::size_t>(rows * cols))
    fail(path, "has " + std::to_string(t.values.size()) + " values for shape " + shape_text(t.shape));
  mat<eT> m(rows, cols);
  for (uword r = 0; r < rows; ++r)
    for (uword c = 0; c < cols; ++c) m(r, c) = parse_value<eT>(t.values[r * cols + c], path + "/values/" + std::to_string(r * cols + c));
  return m;
}
} // namespace detail

template <class eT> mat<eT> case_view<eT>::rows(const std::string& name, std::size_t min_rank) const {
  const auto& t = raw(name);
  if (t.shape.size() < min_rank)
    fail("inputs/" + name, "expected rank >= " + std::to_string(min_rank) + ", got shape " + shape_text(t.shape));
  const uword cols = t.shape.empty() ? 1 : static_cast<uword>(t.shape.back());
  return detail::fill_rows<eT>(t, t.shape.empty() ? 1 : leading_rows(t.shape), cols, "inputs/" + name);
}

template <class eT> mat<eT> case_view<eT>::matrix(const std::string& name, uword r, uword c) const {
  const auto& t = raw(name);
  const shape_t want{static_cast<std::int64_t>(r), static_cast<std::int64_t>(c)};
  if (t.shape != want) fail("inputs/" + name, "expected shape " + shape_text(want) + ", got " + shape_text(t.shape));
  return detail::fill_rows<eT>(t, r, c, "inputs/" + name);
}

template <class eT> row<eT> case_view<eT>::vector(const std::string& name, uword n) const {
  const auto& t = raw(name);
  const shape_t want{static_cast<std::int64_t>(n)};
  if (t.shape != want) fail("inputs/" + name, "expected shape " + shape_text(want) + ", got " + shape_text(t.shape));
  return detail::fill_rows<eT>(t, 1, n, "inputs/" + name);
}

template <class eT> const std::vector<std::int64_t>& case_view<eT>::ints(const std::string& name) const {
  auto it = c_.inputs.find(name);
  if (it == c_.inputs.end()) fail("inputs", "missing integer input \"" + name + "\"");
  if (!it->second.integer) fail("inputs/" + name, "must be an integer tensor (\"dtype\": \"int64\")");
  return it->second.ints;
}

template <class eT> const shape_t& case_view<eT>::int_shape(const std::string& name) const {
  ints(name);
  return c_.inputs.at(name).shape;
}

template <class eT> mat<eT> case_view<eT>::cotangent(const std::string& name, const shape_t& output_shape) const {
  const uword cols = output_shape.empty() ? 1 : static_cast<uword>(output_shape.back());
  const uword rows = output_shape.empty() ? 1 : leading_rows(output_shape);
  auto it = c_.cotangents.find(name);
  if (it == c_.cotangents.end()) return mat<eT>(rows, cols, arma::fill::zeros);
  if (it->second.shape != output_shape)
    fail("cotangents/" + name, "shape " + shape_text(it->second.shape) + " does not match output shape " + shape_text(output_shape));
  return detail::fill_rows<eT>(it->second, rows, cols, "cotangents/" + name);
}

template <class eT> eT case_view<eT>::real(const std::string& param) const {
  return parse_value<eT>(c_.params.at(param).text, "params/" + param);
}

template <class eT> std::optional<eT> case_view<eT>::optional_real(const std::string& param) const {
  if (c_.params.is_null(param)) return std::nullopt;
  return real(param);
}

template <class eT> void put(candidate_result& r, const std::string& name, const mat<eT>& m, const shape_t& shape) {
  if (reference::numel(shape) != static_cast<std::size_t>(m.n_elem))
    throw std::logic_error("builtin: " + name + " has " + std::to_string(m.n_elem) + " values for shape " + shape_text(shape));
  candidate_tensor t;
  t.shape = shape;
  t.values.reserve(m.n_elem);
  for (uword i = 0; i < m.n_rows; ++i)
    for (uword j = 0; j < m.n_cols; ++j) t.values.push_back(static_cast<double>(m(i, j)));
  r.tensors[name] = std::move(t);
}

} // namespace gradspec::checkers::builtin
