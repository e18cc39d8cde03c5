// attention: q [batch..., seq, d_k], k [batch..., seq_kv, d_k], v [batch..., seq_kv, d_v];
// seq_kv and d_v default to seq and d_k.
#include "common.hpp"

#include <tuple>

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  s.random("attention", {{"seq", "3"}, {"d_k", "2"}}, {}, {0, 1}, "tiny, readable");
  s.random("attention", {{"seq", "4"}, {"d_k", "4"}}, {{"causal", "true"}}, {0}, "causal", "", {"causal"});
  s.random("attention", {{"seq", "3"}, {"seq_kv", "5"}, {"d_k", "4"}, {"d_v", "3"}}, {}, {0}, "cross: Tq != Tk, D != Dv");
  s.random("attention", {{"seq", "4"}, {"d_k", "4"}}, {{"scale", "0.25"}}, {0}, "custom scale");
  s.random("attention", {{"batch", "2"}, {"seq", "4"}, {"seq_kv", "6"}, {"d_k", "4"}}, {}, {0}, "additive mask with -inf entries", "mask");
  s.last().inputs["mask"] = partial_mask(4, 6, 11);
  s.random("attention", {{"batch", "2x2"}, {"seq", "3"}, {"d_k", "4"}}, {{"causal", "true"}}, {0}, "causal, two batch axes", "", {"causal"});
  s.random("attention", {{"seq", "64"}, {"d_k", "16"}}, {}, {0}, "realistic: T = 64");
  s.random("attention", {{"seq", "64"}, {"d_k", "16"}}, {{"causal", "true"}}, {0}, "realistic causal: T = 64", "", {"causal"});
  // Catalogue v2 params.
  s.random("attention", {{"seq", "3"}, {"seq_kv", "7"}, {"d_k", "4"}}, {{"causal", "true"}}, {0},
           "causal with a cache: 3 queries at the end of 7 keys (bottom-right)", "", {"causal"});
  s.random("attention", {{"batch", "2"}, {"seq", "6"}, {"d_k", "4"}}, {{"causal", "true"}, {"window", "2"}}, {0},
           "sliding window of 2 keys", "", {"causal"});
  s.random("attention", {{"seq", "4"}, {"d_k", "4"}}, {{"softcap", "0.5"}}, {0}, "soft-capped scores, c = 0.5");
  s.random("attention", {{"batch", "2"}, {"seq", "4"}, {"seq_kv", "5"}, {"d_k", "4"}}, {{"return_lse", "true"}}, {0},
           "lse output with its cotangent");
  s.random("attention", {{"seq", "5"}, {"seq_kv", "9"}, {"d_k", "4"}},
           {{"causal", "true"}, {"window", "4"}, {"softcap", "1.5"}, {"return_lse", "true"}}, {0},
           "everything at once: cache, window, softcap, lse and an additive mask", "mask", {"causal"});
  s.last().inputs["mask"] = partial_mask(5, 9, 31);
}

void edge(suite_builder& s) {
  const std::string inf = "-inf";

  // Masking.
  s.random("attention", {{"seq", "4"}, {"d_k", "4"}}, {}, {0}, "query row 1 has every key masked (additive -inf)", "fully_masked_row", {"fully_masked_row"});
  s.last().inputs["mask"] = real({4, 4}, {"0", "0", "-0.5", "0", inf, inf, inf, inf, "0", "0", "0", inf, "0", "-1", "0", "0"});
  s.random("attention", {{"seq", "4"}, {"d_k", "4"}}, {{"causal", "true"}}, {0},
           "causal plus padding of key 0: query 0 sees only key 0, which is masked", "fully_masked_row_causal", {"fully_masked_row", "causal"});
  s.last().inputs["mask"] = real({4, 4}, {inf, "0", "0", "0", inf, "0", "0", "0", inf, "0", "0", "0", inf, "0", "0", "0"});
  for (const auto& [name, value, flag] : {std::tuple{"masked_nan", "nan", "masked_nan"}, std::tuple{"masked_huge", "1e10", "masked_huge"}}) {
    s.random("attention", {{"seq", "3"}, {"seq_kv", "4"}, {"d_k", "4"}}, {}, {0},
             std::string("key 3 is masked for every query and its key and value hold ") + value, name, {flag});
    auto& c = s.last();
    c.inputs["mask"] = real({3, 4}, {"0", "0", "0", inf, "0", "0", "0", inf, "0", "0", "0", inf});
    for (int d = 0; d < 4; ++d) c.inputs["k"].values[12 + d] = c.inputs["v"].values[12 + d] = value;
  }
  s.random("attention", {{"seq", "6"}, {"d_k", "4"}}, {{"causal", "true"}}, {0}, "causal: the diagonal decides (catches j < i and masking after softmax)", "causal_boundary", {"causal"});

  // The softmax over the keys.
  s.random("attention", {{"seq", "2"}, {"seq_kv", "2048"}, {"d_k", "8"}}, {}, {0}, "2048 keys", "long_row", {"long_row"});
  s.random("attention", {{"seq", "4"}, {"d_k", "8"}}, {}, {0}, "queries and keys scaled by 8", "scaled_inputs", {"scaled_inputs"});
  for (auto* t : {&s.last().inputs["q"], &s.last().inputs["k"]})
    for (auto& x : t->values) x = reference::format_scalar(std::stod(x) * 8, 17);
  s.random("attention", {{"seq", "4"}, {"d_k", "256"}}, {}, {0}, "head dimension 256", "head_dim_256", {"head_dim_256"});
  s.random("attention", {{"seq", "3"}, {"d_k", "16"}}, {}, {0}, "default scale 1/sqrt(16) = 0.25, not 1/16", "default_scale", {"default_scale"});
  s.random("attention", {{"seq", "2"}, {"seq_kv", "5"}, {"d_k", "4"}}, {}, {0}, "Tq = 2, Tk = 5: the softmax runs over keys", "softmax_axis", {"softmax_axis"});

  // Conditioned for float64 (see the note of float64_conditioned).
  // The stream 0xf64c after its first 576 draws (layer_norm's, rms_norm's, softmax's and
  // log_softmax's): the edge cases of layer_norm, rms_norm, softmax, log_softmax and attention drew
  // from one stream 0xf64c, in that order, when they sat together in suites.cpp, so cases/edge stays
  // byte for byte.
  value_source w(0xf64c, 576);
  s.random("attention", {{"seq", "4"}, {"seq_kv", "6"}, {"d_k", "8"}}, {}, {0},
           "key feature 0 is 1e5 + k/1024 for every key: a common score offset of up to 3.5e4 per query row",
           "float64_conditioned", {"float64_conditioned"});
  {
    const raw_tensor offsets = offset_grid(w, {6}, 1e5, 1, 10);
    for (std::size_t j = 0; j < 6; ++j) s.last().inputs["k"].values[j * 8] = offsets.values[j];
  }

  // Catalogue v2. Decoding with a cache: the full causal pass over 17 positions, then the last 1 and 3
  // queries alone against the same 17 keys; their expected rows equal the full pass's last rows.
  s.random("attention", {{"seq", "17"}, {"d_k", "4"}}, {{"causal", "true"}}, {0}, "full causal pass over 17 positions",
           "decode_full", {"kv_cache_decode", "causal"});
  const test_case full = s.last();
  for (int tq : {1, 3}) {
    s.random("attention", {{"seq", std::to_string(tq)}, {"seq_kv", "17"}, {"d_k", "4"}}, {{"causal", "true"}}, {0},
             "decode: the last " + std::to_string(tq) + " queries of decode_full against its 17 keys (bottom-right)",
             "decode_" + std::to_string(tq), {"kv_cache_decode", "causal"});
    auto& c = s.last();
    c.inputs["k"] = full.inputs.at("k");
    c.inputs["v"] = full.inputs.at("v");
    const auto& fq = full.inputs.at("q").values;
    c.inputs["q"].values.assign(fq.end() - tq * 4, fq.end());
  }
  // Sliding window: W = 1 (itself only), W = 3 (off by one: 2 or 4 keys), W = 8 >= T (no effect).
  for (const char* w : {"1", "3", "8"})
    s.random("attention", {{"seq", "6"}, {"d_k", "4"}}, {{"causal", "true"}, {"window", w}}, {0},
             std::string("sliding window W = ") + w + " over 6 positions", std::string("window_") + w,
             {"sliding_window", "causal"});
  // Soft-capping: before the mask (a finite additive mask bias is not capped), and saturated.
  s.random("attention", {{"seq", "4"}, {"d_k", "4"}}, {{"softcap", "0.5"}}, {0},
           "softcap 0.5 and an additive mask with finite biases of up to 2: the bias is added after capping",
           "softcap_order", {"softcap_order"});
  s.last().inputs["mask"] = real({4, 4}, {"0", "1.5", "-2", "0", "0.5", "0", "0", "-1", "2", "0", "-0.5", "0", "0", "0", "1", "0"});
  // Key 0 is -8192·|k| against positive queries: its scores are about -4e3, capped to -30 where tanh
  // has saturated, while the other keys' scores stay O(1) and carry the gradient.
  s.random("attention", {{"seq", "3"}, {"d_k", "4"}}, {{"softcap", "30"}}, {0},
           "key 0 scores about -4e3 with softcap 30: tanh saturates there (slope below 1e-100), the other keys carry "
           "the gradient, which must stay finite",
           "softcap_saturated", {"softcap_saturated"});
  {
    auto& c = s.last();
    for (auto& x : c.inputs["q"].values) x = reference::format_scalar(std::fabs(std::stod(x)), 17);
    for (int d = 0; d < 4; ++d) {
      auto& x = c.inputs["k"].values[static_cast<std::size_t>(d)];
      x = reference::format_scalar(-8192 * std::fabs(std::stod(x)), 17);
    }
  }
  // lse: a fully masked row, and scores of about 2e3 (exp overflows without the max shift).
  s.random("attention", {{"seq", "3"}, {"seq_kv", "4"}, {"d_k", "4"}}, {{"return_lse", "true"}}, {0},
           "lse with query row 1 fully masked: lse = -inf there, zero gradient", "lse_fully_masked",
           {"lse_fully_masked", "fully_masked_row"});
  s.last().inputs["mask"] = real({3, 4}, {"0", "0", "-1", "0", inf, inf, inf, inf, "0", inf, "0", "0"});
  s.random("attention", {{"seq", "3"}, {"d_k", "16"}}, {{"return_lse", "true"}}, {0},
           "lse of scores up to about 2e3: exp overflows unless the row maximum is taken out first", "lse_large_scores",
           {"lse_large_scores"});
  for (auto* t : {&s.last().inputs["q"], &s.last().inputs["k"]})
    for (auto& x : t->values) x = reference::format_scalar(std::stod(x) * 64, 17);
}

// Size sweep for error-growth studies (gen --suite sweep).
void sweep(suite_builder& s) {
  for (int t : {16, 64, 256, 1024})
    s.random("attention", {{"seq", std::to_string(t)}, {"d_k", "16"}}, {{"causal", "true"}}, {0}, "sequence length sweep");
}

void notes(flag_notes_builder& n) {
  n.add("sliding_window", "edge_case",
        "Sliding window W (Mistral; FlashAttention window_size = (W-1, 0)): the query at position p sees keys j with "
        "p - W < j <= p, W keys counting itself. Off by one either way (W - 1 or W + 1 keys) is the common bug; W = 1 "
        "is attention to itself only (out = v of the same position), W >= T changes nothing.");
  n.add("softcap_order", "edge_case",
        "Soft-capping (Gemma 2): s = c·tanh(s/c) after the scale and before the additive mask and causal masking. "
        "Capping after adding the mask caps the mask's finite biases too; forgetting the cap leaves the scores "
        "uncapped. Both change the result here.");
  n.add("softcap_saturated", "edge_case",
        "Scores of about -4e3 against softcap 30: tanh has saturated, the capped scores sit at -30 and their slope "
        "1/cosh²(s/c) is below 1e-100, so the gradient through them is about 0 while the other keys carry it. It must "
        "stay finite: a slope formed from exp(2s/c) overflows to inf/inf = NaN there. (The slope as 1 - tanh² in the "
        "working precision is exactly 0 here, harmless next to the other keys' terms: Hugging Face's Gemma 2 and "
        "FlashAttention's backward use it.)");
  n.add("lse_fully_masked", "edge_case",
        "The logsumexp of a fully masked row is -inf (an empty sum), its gradient is 0. Safe implementations that "
        "fill such rows with 0 weights must still report lse = -inf (FlashAttention's convention), not 0 or NaN.");
  n.add("lse_large_scores", "edge_case",
        "Scores of about 2e3: exp(s) overflows even in float64, so lse must be formed as max + log(sum(exp(s - max))). "
        "Without the shift lse is inf.");
  n.add("masked_nan", "edge_case",
        "A masked key and value hold NaN. Masking must replace the score (masked_fill), not add -inf to it "
        "(NaN + -inf = NaN), and the masked value must not be multiplied in (0 · NaN = NaN). Output and the "
        "gradients of unmasked positions are unchanged; gradients of the masked key and value are 0.");
  n.acceptable("masked_nan", "nan_times_zero_weight", "nan", {"outputs", "gradients", "intermediates"},
               "NaN from 0 * NaN: the masked value still enters weights @ v with weight 0 (and its score enters the "
               "softmax backward), as in every implementation built from matmul (PyTorch, ONNX Runtime, TensorFlow.js).");
  n.add("masked_huge", "edge_case",
        "A masked key and value hold 1e10: the output must not change (an additive finite mask such as -1e9 "
        "is overwhelmed by q·k of that size).");
  n.add("scaled_inputs", "edge_case",
        "Queries and keys scaled by 8, so scores spread across exponents and the softmax is nearly one-hot.");
  n.add("head_dim_256", "edge_case", "Head dimension 256: long inner products in the backward pass (dq, dk).");
  n.add("default_scale", "edge_case",
        "The default scale is 1/sqrt(D); using 1/D (or no scale) changes the result at this D.");
  n.add("softmax_axis", "edge_case",
        "Tq != Tk: a softmax over the query axis instead of the key axis gives a different (and wrongly shaped "
        "under transposition) result.");
}

} // namespace

op_generator attention_generator() {
  using generators::with_kv_defaults;
  op_generator g{"attention",
                 {{"seq", 4, "Tq, queries"}, {"seq_kv", 0, "Tk, keys (default: seq)"}, {"d_k", 8, "D"}, {"d_v", 0, "Dv (default: d_k)"}},
                 [](const case_shape& s) { return with_kv_defaults(s).label({"seq", "seq_kv", "d_k", "d_v"}); },
                 [](test_case& c, const case_shape& given, value_source& v) {
                   const case_shape s = with_kv_defaults(given);
                   c.inputs["q"] = v.grid(s.with_batch({"seq", "d_k"}));
                   c.inputs["k"] = v.grid(s.with_batch({"seq_kv", "d_k"}));
                   c.inputs["v"] = v.grid(s.with_batch({"seq_kv", "d_v"}));
                 }};
  g.standard = standard;
  g.edge = edge;
  g.sweep = sweep;
  g.notes = notes;
  return g;
}

} // namespace gradspec::cases
