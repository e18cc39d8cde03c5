// grouped_query_attention: q [batch..., heads, seq, d_k], k [batch..., kv_heads, seq_kv, d_k],
// v [batch..., kv_heads, seq_kv, d_v]; seq_kv and d_v default to seq and d_k.
#include "common.hpp"

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  const std::string op = "grouped_query_attention";
  s.random(op, {{"heads", "4"}, {"kv_heads", "2"}, {"seq", "3"}, {"d_k", "4"}}, {}, {0, 1}, "tiny: 4 query heads, 2 kv heads");
  s.random(op, {{"heads", "4"}, {"kv_heads", "1"}, {"seq", "3"}, {"d_k", "4"}}, {}, {0}, "multi-query: one kv head");
  s.random(op, {{"heads", "2"}, {"kv_heads", "2"}, {"seq", "3"}, {"d_k", "4"}}, {}, {0}, "Hkv = Hq: multi-head attention");
  s.random(op, {{"batch", "2"}, {"heads", "4"}, {"kv_heads", "2"}, {"seq", "4"}, {"d_k", "4"}, {"d_v", "3"}}, {{"causal", "true"}},
           {0}, "batch axis, causal, Dv != D", "", {"causal"});
  s.random(op, {{"heads", "6"}, {"kv_heads", "2"}, {"seq", "3"}, {"seq_kv", "8"}, {"d_k", "4"}}, {{"causal", "true"}}, {0},
           "causal with a cache: 3 queries at the end of 8 keys (bottom-right)", "", {"causal"});
  s.random(op, {{"heads", "4"}, {"kv_heads", "2"}, {"seq", "6"}, {"d_k", "4"}}, {{"causal", "true"}, {"window", "3"}}, {0},
           "sliding window of 3 keys", "", {"causal"});
  s.random(op, {{"heads", "4"}, {"kv_heads", "2"}, {"seq", "4"}, {"d_k", "4"}}, {{"softcap", "0.75"}}, {0},
           "soft-capped scores, c = 0.75");
  s.random(op, {{"heads", "4"}, {"kv_heads", "1"}, {"seq", "4"}, {"seq_kv", "6"}, {"d_k", "4"}}, {{"return_lse", "true"}}, {0},
           "lse output, additive mask", "mask");
  s.last().inputs["mask"] = partial_mask(4, 6, 23);
  s.random(op, {{"heads", "8"}, {"kv_heads", "2"}, {"seq", "64"}, {"d_k", "16"}}, {{"causal", "true"}}, {0},
           "realistic: 8 query heads, 2 kv heads, T = 64, causal", "", {"causal"});
}

void edge(suite_builder& s) {
  const std::string op = "grouped_query_attention";
  s.random(op, {{"heads", "6"}, {"kv_heads", "3"}, {"seq", "3"}, {"d_k", "4"}}, {}, {0},
           "6 query heads on 3 kv heads: head h reads kv head h / 2 (not h % 3)", "head_mapping", {"gqa_head_mapping"});
  s.random(op, {{"heads", "4"}, {"kv_heads", "1"}, {"seq", "3"}, {"d_k", "4"}}, {{"causal", "true"}}, {0},
           "multi-query (Hkv = 1): dk and dv sum the four query heads", "multi_query", {"gqa_multi_query", "causal"});
  s.random(op, {{"heads", "4"}, {"kv_heads", "2"}, {"seq", "1"}, {"seq_kv", "17"}, {"d_k", "4"}}, {{"causal", "true"}}, {0},
           "decode step: one query after 16 cached keys sees all 17", "decode_1", {"kv_cache_decode", "causal"});
}

// Size sweep for error-growth studies (gen --suite sweep): GQA to T = 1024.
void sweep(suite_builder& s) {
  for (int t : {64, 256, 1024})
    s.random("grouped_query_attention", {{"heads", "4"}, {"kv_heads", "2"}, {"seq", std::to_string(t)}, {"d_k", "16"}},
             {{"causal", "true"}}, {0}, "sequence length sweep, 4 query heads on 2 kv heads");
}

void notes(flag_notes_builder& n) {
  n.add("gqa_head_mapping", "edge_case",
        "Query head h reads key/value head h / (Hq / Hkv): consecutive query heads share a kv head (Hugging Face "
        "repeat_kv, Meta's LLaMA, FlashAttention). Taking h % Hkv (interleaved groups, as a broadcast over a reshaped "
        "[Hkv, group] axis in the wrong order gives) pairs queries with the wrong keys whenever Hkv > 1 and Hq / Hkv > 1.");
  n.add("gqa_multi_query", "edge_case",
        "Multi-query attention (Hkv = 1): every query head reads the one key/value head, whose gradients dk and dv "
        "are the sums over all query heads. Taking the gradient of one head of the group (or averaging) is wrong.");
}

} // namespace

op_generator grouped_query_attention_generator() {
  using generators::with_kv_defaults;
  op_generator g{"grouped_query_attention",
                 {{"heads", 4, "Hq, query heads"},
                  {"kv_heads", 2, "Hkv, key/value heads (divides heads)"},
                  {"seq", 4, "Tq, queries"},
                  {"seq_kv", 0, "Tk, keys (default: seq)"},
                  {"d_k", 8, "D"},
                  {"d_v", 0, "Dv (default: d_k)"}},
                 [](const case_shape& s) { return with_kv_defaults(s).label({"heads", "kv_heads", "seq", "seq_kv", "d_k", "d_v"}); },
                 [](test_case& c, const case_shape& given, value_source& v) {
                   const case_shape s = with_kv_defaults(given);
                   c.inputs["q"] = v.grid(s.with_batch({"heads", "seq", "d_k"}));
                   c.inputs["k"] = v.grid(s.with_batch({"kv_heads", "seq_kv", "d_k"}));
                   c.inputs["v"] = v.grid(s.with_batch({"kv_heads", "seq_kv", "d_v"}));
                 }};
  g.standard = standard;
  g.edge = edge;
  g.sweep = sweep;
  g.notes = notes;
  return g;
}

} // namespace gradspec::cases
