// Building blocks of the per-op files: weights scaled by fan-in on the exact grid, and the named
// parameter groups of attention, LayerNorm, the feed-forward block and llama_block; suite_builder.hpp
// for their suite cases and flag notes.
#pragma once

#include "gradspec/cases/generators.hpp"
#include "gradspec/cases/suite_builder.hpp"

#include <cmath>
#include <string>

namespace gradspec::cases::generators {

// Values k/2^(6+s) with |k| <= 64, s = round(log2(sqrt(fan_in))): magnitude about 1/sqrt(fan_in) so
// activations stay O(1) at any width, and still at most 7 significant bits (exact in bfloat16).
inline raw_tensor weight(value_source& v, const shape_t& shape, std::int64_t fan_in) {
  const int s = static_cast<int>(std::lround(0.5 * std::log2(static_cast<double>(std::max<std::int64_t>(fan_in, 1)))));
  return v.grid(shape, std::ldexp(1.0, -s), 6 + s);
}

// The shape keys of attention-like generators: seq_kv (Tk) and d_v (Dv) default, when 0, to seq and d_k.
inline case_shape with_kv_defaults(case_shape s) {
  if (s.dims["seq_kv"] == 0) s.dims["seq_kv"] = s["seq"];
  if (s.dims["d_v"] == 0) s.dims["d_v"] = s["d_k"];
  return s;
}

inline void attention_weights(test_case& c, const std::string& prefix, std::int64_t C, value_source& v) {
  for (const char* w : {"w_q", "w_k", "w_v", "w_o"}) c.inputs[prefix + w] = weight(v, {C, C}, C);
  for (const char* b : {"b_q", "b_k", "b_v", "b_o"}) c.inputs[prefix + b] = v.grid({C}, 0.25, 8);
}

inline void layer_norm_weights(test_case& c, const std::string& prefix, std::int64_t C, value_source& v) {
  c.inputs[prefix + "gamma"] = v.around({C}, 1.0, 0.5, 7);
  c.inputs[prefix + "beta"] = v.grid({C}, 0.5, 7);
}

inline void feed_forward_weights(test_case& c, const std::string& prefix, std::int64_t C, std::int64_t F, value_source& v) {
  c.inputs[prefix + "w1"] = weight(v, {C, F}, C);
  c.inputs[prefix + "b1"] = v.grid({F}, 0.25, 8);
  c.inputs[prefix + "w2"] = weight(v, {F, C}, F);
  c.inputs[prefix + "b2"] = v.grid({C}, 0.25, 8);
}

// One llama_block's weights under `prefix`: RMSNorm gammas near 1, projections scaled by fan-in
// (w_q [C, Hq·D], w_k and w_v [C, Hkv·D], w_o [Hq·D, C]), the gated feed-forward w_gate, w_up [C, F],
// w_down [F, C].
inline void llama_block_weights(test_case& c, const std::string& prefix, std::int64_t C, std::int64_t F, std::int64_t Hq,
                                std::int64_t Hkv, std::int64_t D, value_source& v) {
  c.inputs[prefix + "attn_norm.gamma"] = v.around({C}, 1.0, 0.5, 7);
  c.inputs[prefix + "attn.w_q"] = weight(v, {C, Hq * D}, C);
  c.inputs[prefix + "attn.w_k"] = weight(v, {C, Hkv * D}, C);
  c.inputs[prefix + "attn.w_v"] = weight(v, {C, Hkv * D}, C);
  c.inputs[prefix + "attn.w_o"] = weight(v, {Hq * D, C}, Hq * D);
  c.inputs[prefix + "ffn_norm.gamma"] = v.around({C}, 1.0, 0.5, 7);
  c.inputs[prefix + "ffn.w_gate"] = weight(v, {C, F}, C);
  c.inputs[prefix + "ffn.w_up"] = weight(v, {C, F}, C);
  c.inputs[prefix + "ffn.w_down"] = weight(v, {F, C}, F);
}

} // namespace gradspec::cases::generators
