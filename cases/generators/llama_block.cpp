// llama_block: x [batch..., seq, d_model] and the attn_norm., attn., ffn_norm., ffn. weights; heads 2
// (kv_heads, head_dim from the params: D = C/heads unless head_dim is given).
#include "common.hpp"

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  s.random("llama_block", {{"seq", "3"}, {"d_model", "8"}, {"d_ff", "16"}}, {{"heads", "2"}}, {0, 1},
           "tiny, multi-head (kv_heads = heads = 2, D = 4)");
  s.random("llama_block", {{"seq", "4"}, {"d_model", "16"}, {"d_ff", "24"}}, {{"heads", "4"}, {"kv_heads", "2"}}, {0},
           "grouped-query: 4 query heads on 2 key/value heads (D = 4)");
  s.random("llama_block", {{"seq", "4"}, {"d_model", "16"}, {"d_ff", "24"}}, {{"heads", "4"}, {"kv_heads", "1"}}, {0},
           "multi-query: 4 query heads on 1 key/value head");
  s.random("llama_block", {{"batch", "2x2"}, {"seq", "3"}, {"d_model", "8"}, {"d_ff", "12"}}, {{"heads", "2"}, {"kv_heads", "1"}},
           {0}, "two batch axes, multi-query");
  s.random("llama_block", {{"batch", "2"}, {"seq", "6"}, {"d_model", "8"}, {"d_ff", "16"}}, {{"heads", "2"}, {"window", "3"}}, {0},
           "sliding window W = 3 (Mistral): position p sees p-2..p");
  s.random("llama_block", {{"seq", "5"}, {"d_model", "8"}, {"d_ff", "16"}}, {{"heads", "2"}, {"softcap", "2"}}, {0},
           "attention soft-capping c = 2 (scores of order 1 are visibly bent)");
  s.random("llama_block", {{"seq", "4"}, {"d_model", "16"}, {"d_ff", "24"}},
           {{"heads", "2"}, {"rope_style", "interleaved"}, {"rope_base", "500000"}, {"offset", "5"}}, {0},
           "Meta's interleaved RoPE, LLaMA 3 base 500000, positions 5..8");
  s.random("llama_block", {{"seq", "4"}, {"d_model", "8"}, {"d_ff", "16"}},
           {{"heads", "2"}, {"kv_heads", "1"}, {"head_dim", "8"}, {"activation", "gelu_tanh"}, {"softcap", "50"}}, {0},
           "Gemma-like: head_dim 8 with 2 heads on C = 8 (Hq·D != C), multi-query, GeGLU (tanh), softcap 50");
  s.random("llama_block", {{"seq", "64"}, {"d_model", "64"}, {"d_ff", "64"}}, {{"heads", "8"}, {"kv_heads", "2"}}, {0},
           "realistic attention: T = 64, C = 64, 8 query heads on 2 key/value heads (D = 8); F = 64 keeps the file small (gated_feed_forward has F = 172)");
}

void edge(suite_builder& s) {
  // No KV cache in a block: its rows are the last T positions of a 17-token sequence, attending among themselves.
  s.random("llama_block", {{"seq", "1"}, {"d_model", "16"}, {"d_ff", "24"}}, {{"heads", "4"}, {"kv_heads", "2"}, {"offset", "16"}},
           {0}, "one row at position 16 (a decode step, without the cache): it sees only itself", "decode_1", {"llama_block_positions"});
  s.random("llama_block", {{"seq", "3"}, {"d_model", "16"}, {"d_ff", "24"}}, {{"heads", "4"}, {"kv_heads", "2"}, {"offset", "14"}},
           {0}, "three rows at positions 14..16 (the end of a 17-token sequence), causal among themselves", "decode_3",
           {"llama_block_positions"});
  for (const char* style : {"half", "interleaved"})
    s.random("llama_block", {{"seq", "3"}, {"d_model", "16"}, {"d_ff", "8"}}, {{"heads", "1"}, {"rope_style", style}, {"offset", "1000000"}},
             {0}, std::string("positions 10^6 .. 10^6 + 2, one head of D = 16, ") + style, std::string("large_position_") + style,
             {"rope_large_position"});
  s.random("llama_block", {{"seq", "4"}, {"d_model", "8"}, {"d_ff", "16"}}, {{"heads", "2"}, {"window", "1"}}, {0},
           "window W = 1: every position sees only itself", "window_1", {"sliding_window"});
  s.random("llama_block", {{"seq", "5"}, {"d_model", "8"}, {"d_ff", "16"}}, {{"heads", "2"}, {"window", "2"}}, {0},
           "window W = 2: position p sees p - 1 and p (W keys, not W + 1)", "window_2", {"sliding_window"});
  s.random("llama_block", {{"seq", "4"}, {"d_model", "16"}, {"d_ff", "24"}}, {{"heads", "4"}, {"kv_heads", "2"}}, {0},
           "4 query heads on 2 key/value heads: heads 0, 1 read kv head 0 and heads 2, 3 kv head 1 (repeat_kv)", "kv_heads",
           {"gqa_head_mapping"});
}

// Size sweep (gen --suite sweep): the realistic block, C = 256 with 8 query heads on 2 kv
// heads, T = 64, F = 688 (LLaMA's F/C ratio); about 30 s and 50 MB, so not in the committed suites.
void sweep(suite_builder& s) {
  for (const char* t : {"16", "64"})
    s.random("llama_block", {{"seq", t}, {"d_model", "256"}, {"d_ff", "688"}}, {{"heads", "8"}, {"kv_heads", "2"}}, {0},
             std::string("realistic block: C = 256, 8 query heads on 2 kv heads, F = 688, T = ") + t);
}

void notes(flag_notes_builder& n) {
  n.add("llama_block_positions", "edge_case",
        "A block's rows at positions offset + t (here the last 1 or 3 rows of a 17-token sequence, as in decoding). "
        "llama_block has no KV cache, so its rows attend among themselves, and since RoPE scores depend on p_i - p_j "
        "only, the output equals that at offset 0 up to rounding: what breaks is an implementation that positions q "
        "and k differently (q at offset + t, k at t), or whose decode path (T = 1) takes another route. The "
        "bottom-right alignment of a decode step against a cache is set by attention and grouped_query_attention.");
}

} // namespace

op_generator llama_block_generator() {
  op_generator g{"llama_block",
                 {{"seq", 4, "T, positions offset .. offset + T - 1"}, {"d_model", 8, "C"}, {"d_ff", 16, "F, feed-forward width"}},
                 [](const case_shape& s) { return s.label({"seq", "d_model", "d_ff"}); },
                 [](test_case& c, const case_shape& s, value_source& v) {
                   const auto C = s["d_model"], F = s["d_ff"];
                   const std::int64_t Hq = std::max<std::int64_t>(c.params.integer("heads"), 1);
                   const std::int64_t Hkv = std::max<std::int64_t>(c.params.optional_integer("kv_heads").value_or(Hq), 1);
                   const std::int64_t D = std::max<std::int64_t>(c.params.optional_integer("head_dim").value_or(C / Hq), 1);
                   c.inputs["x"] = v.grid(s.with_batch({"seq", "d_model"}));
                   generators::llama_block_weights(c, "", C, F, Hq, Hkv, D, v);
                 }};
  g.implied_params = [](const case_shape&) { return std::map<std::string, std::string>{{"heads", "2"}}; };
  g.standard = standard;
  g.edge = edge;
  g.sweep = sweep;
  g.notes = notes;
  return g;
}

} // namespace gradspec::cases
