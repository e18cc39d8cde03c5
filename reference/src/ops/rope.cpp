#include "gradspec/reference/ops/rope.hpp"

#include "gradspec/reference/ops/common.hpp"

#include <limits>

namespace gradspec::reference {

template <class T>
rope_angles<T> rope_angles_for(std::int64_t length, std::int64_t rotary_dim, const rope_angle_t<T>& base, std::int64_t offset) {
  using A = rope_angle_t<T>;
  using std::cos;
  using std::pow;
  using std::sin;
  rope_angles<T> a;
  a.length = static_cast<std::size_t>(length);
  a.pairs = static_cast<std::size_t>(rotary_dim / 2);
  std::vector<A> inv_freq(a.pairs); // base^(-2i/R)
  for (std::size_t i = 0; i < a.pairs; ++i)
    inv_freq[i] = pow(base, A(-static_cast<long long>(2 * i)) / A(static_cast<long long>(rotary_dim)));
  a.cos.resize(a.length * a.pairs);
  a.sin.resize(a.length * a.pairs);
  for (std::size_t t = 0; t < a.length; ++t) {
    const A p(static_cast<long long>(offset + static_cast<std::int64_t>(t))); // exact below 2^53 (and in mp_real)
    for (std::size_t i = 0; i < a.pairs; ++i) {
      const A theta = p * inv_freq[i];
      a.cos[t * a.pairs + i] = static_cast<T>(cos(theta));
      a.sin[t * a.pairs + i] = static_cast<T>(sin(theta));
    }
  }
  return a;
}

namespace {

// Turns every pair of every row of x [..., T, D] by sign·θ (sign +1 forward, -1 backward).
template <class T> tensor<T> rotate(const tensor<T>& x, const rope_angles<T>& a, rope_style style, int sign) {
  tensor<T> y = x; // features from R on pass through
  const std::size_t half = a.pairs;
  for (std::size_t r = 0; r < x.rows(); ++r) {
    const std::size_t t = r % a.length;
    const T* in = x.row(r);
    T* out = y.row(r);
    for (std::size_t i = 0; i < half; ++i) {
      const std::size_t ia = style == rope_style::half ? i : 2 * i, ib = style == rope_style::half ? i + half : 2 * i + 1;
      const T& c = a.cos[t * half + i];
      const T s = sign > 0 ? a.sin[t * half + i] : T(-a.sin[t * half + i]);
      out[ia] = in[ia] * c - in[ib] * s;
      out[ib] = in[ib] * c + in[ia] * s;
    }
  }
  return y;
}

} // namespace

template <class T> tensor<T> rope_forward(const tensor<T>& x, const rope_angles<T>& angles, rope_style style) {
  return rotate(x, angles, style, +1);
}

template <class T> tensor<T> rope_backward(const tensor<T>& dy, const rope_angles<T>& angles, rope_style style) {
  return rotate(dy, angles, style, -1);
}

#define GRADSPEC_ROPE_INSTANTIATE(T)                                                                  \
  template rope_angles<T> rope_angles_for(std::int64_t, std::int64_t, const rope_angle_t<T>&, std::int64_t); \
  template tensor<T> rope_forward(const tensor<T>&, const rope_angles<T>&, rope_style);               \
  template tensor<T> rope_backward(const tensor<T>&, const rope_angles<T>&, rope_style);
GRADSPEC_ROPE_INSTANTIATE(double)
GRADSPEC_ROPE_INSTANTIATE(float)
GRADSPEC_ROPE_INSTANTIATE(mp_real)
#undef GRADSPEC_ROPE_INSTANTIATE

namespace {

template <class T> op_result<T> rope_evaluate(const op_args<T>& args, bool backward) {
  const auto& x = input(args, "x");
  require_rank(x.shape, 2, "inputs/x", "[..., T, D]");
  const auto& prm = args.params;
  const std::int64_t T_len = x.shape[x.rank() - 2], D = x.shape.back();
  const std::int64_t R = prm.optional_integer("rotary_dim").value_or(D);
  require(R >= 0 && R % 2 == 0, prm.is_null("rotary_dim") ? "inputs/x" : "params/rotary_dim",
          prm.is_null("rotary_dim") ? "rotary_dim defaults to D = " + std::to_string(D) + ", which is odd: rope rotates pairs"
                                    : "must be even and >= 0, got " + std::to_string(R));
  require(R <= D, "params/rotary_dim", "must be <= D = " + std::to_string(D) + ", got " + std::to_string(R));
  const std::int64_t offset = prm.integer("offset");
  require(offset >= 0, "params/offset", "must be >= 0, got " + std::to_string(offset));
  require(offset <= std::numeric_limits<std::int64_t>::max() - T_len, "params/offset", "offset + T overflows a 64-bit position");
  const rope_angle_t<T> base = prm.template real<rope_angle_t<T>>("base");
  require(base > 0, "params/base", "must be > 0, got " + prm.at("base").text);
  const rope_style style = prm.choice("style") == "interleaved" ? rope_style::interleaved : rope_style::half;
  const auto angles = rope_angles_for<T>(T_len, R, base, offset);
  op_result<T> r;
  r.outputs["y"] = rope_forward(x, angles, style);
  if (backward) r.gradients["x"] = rope_backward(cotangent(args, "y", x.shape), angles, style);
  return r;
}

} // namespace

op_info rope_op() {
  return {"rope",
          "rotary position embedding: pair i of row t turns by θ = (offset + t)·base^(-2i/R); pairs (i, i + R/2) "
          "(style half) or (2i, 2i + 1) (interleaved); features from R on pass through",
          {{"base", param_type::real, "10000", {}, false, "the base of the wavelengths (> 0)"},
           {"style", param_type::choice, "\"half\"", {"half", "interleaved"}, false,
            "\"half\": pairs (i, i + R/2), rotate_half (Hugging Face LLaMA, GPT-NeoX); \"interleaved\": pairs (2i, 2i + 1) "
            "(GPT-J, Meta's LLaMA)"},
           {"rotary_dim", param_type::integer, "null", {}, true, "R: the rotated leading features (even, <= D); null: all D"},
           {"offset", param_type::integer, "0", {}, false, "position of row 0 of the T axis (>= 0)"}},
          [](const param_map&) { return std::vector<input_spec>{{"x", "[..., T, D]"}}; },
          {{"y", "[..., T, D]"}},
          {},
          &rope_evaluate<double>,
          &rope_evaluate<mp_real>,
          &rope_evaluate<float>};
}

} // namespace gradspec::reference
