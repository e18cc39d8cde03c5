// rope: x [batch..., seq, head_dim] with values k/64 in [-1, 1]; the batch axes stand for batch and
// heads, which see the same positions.
#include "common.hpp"

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  s.random("rope", {{"seq", "3"}, {"head_dim", "4"}}, {}, {0, 1}, "tiny, readable");
  s.random("rope", {{"seq", "3"}, {"head_dim", "4"}}, {{"style", "interleaved"}}, {0}, "tiny, interleaved pairs");
  s.random("rope", {{"batch", "2x2"}, {"seq", "4"}, {"head_dim", "8"}}, {}, {0}, "batch and heads axes");
  s.random("rope", {{"batch", "2"}, {"seq", "4"}, {"head_dim", "8"}}, {{"style", "interleaved"}, {"offset", "17"}}, {0},
           "interleaved, decode offset 17");
  s.random("rope", {{"seq", "4"}, {"head_dim", "16"}}, {{"rotary_dim", "4"}}, {0}, "partial rotary: a quarter of the head (GPT-NeoX)");
  s.random("rope", {{"seq", "4"}, {"head_dim", "8"}}, {{"base", "500000"}}, {0}, "base 500000 (LLaMA 3)");
  s.random("rope", {{"batch", "4"}, {"seq", "64"}, {"head_dim", "64"}}, {}, {0}, "realistic: 4 heads, T = 64, D = 64");
}

void edge(suite_builder& s) {
  for (const char* style : {"half", "interleaved"}) {
    s.random("rope", {{"seq", "2"}, {"head_dim", "64"}}, {{"style", style}, {"offset", "131072"}}, {0},
             std::string("positions 2^17, 2^17 + 1, ") + style, std::string("large_position_") + style, {"rope_large_position"});
    s.random("rope", {{"seq", "2"}, {"head_dim", "64"}}, {{"style", style}, {"offset", "1000000"}}, {0},
             std::string("positions 10^6, 10^6 + 1, ") + style, std::string("large_position_1e6_") + style, {"rope_large_position"});
  }
  s.random("rope", {{"seq", "4"}, {"head_dim", "8"}}, {{"style", "interleaved"}, {"offset", "3"}}, {0},
           "interleaved pairs (2i, 2i + 1): rotate_half here is a different map", "style", {"rope_style"});
  s.random("rope", {{"seq", "3"}, {"head_dim", "32"}}, {{"rotary_dim", "8"}, {"offset", "5"}}, {0},
           "R = 8 of D = 32: frequencies over R, features 8..31 unchanged", "partial_rotary", {"rope_partial_rotary"});
  s.random("rope", {{"seq", "3"}, {"head_dim", "6"}}, {{"rotary_dim", "2"}, {"offset", "1"}}, {0},
           "R = 2: one pair, turning by the position itself", "rotary_dim_2", {"rope_partial_rotary"});
}

// Size sweep for error-growth studies (gen --suite sweep).
void sweep(suite_builder& s) {
  for (const char* offset : {"0", "1000", "100000", "131072", "1000000"})
    s.random("rope", {{"seq", "4"}, {"head_dim", "128"}}, {{"offset", offset}}, {0}, std::string("position sweep: offset ") + offset);
}

void notes(flag_notes_builder& n) {
  n.add("rope_large_position", "edge_case",
        "Positions 2^17 and 10^6. Angles formed in float32 as p·inv_freq (Meta's precompute_freqs_cis, Hugging Face's "
        "rotary embedding) are off by up to p·2^-24 (0.06 rad at 10^6), a phase drift far above float32's rounding of "
        "the output; in bfloat16 the position itself is not representable. Correct: form the angle in float64 (or "
        "reduce p·inv_freq exactly) and round only cos and sin to the dtype.");
  n.add("rope_style", "edge_case",
        "Interleaved pairs (2i, 2i + 1) (GPT-J, Meta's LLaMA) versus halves (i, i + R/2) (rotate_half: Hugging Face, "
        "GPT-NeoX): checkpoints converted between the two permute w_q and w_k, so an implementation that applies the "
        "other style gives a different, plausible-looking result.");
  n.add("rope_partial_rotary", "edge_case",
        "Only the first R features rotate (GPT-NeoX rotates a quarter of each head); the frequencies are base^(-2i/R) "
        "over R, not over the head dimension, and features R..D-1 pass through. R = 2 (one pair) is odd-looking but "
        "legal.");
}

} // namespace

op_generator rope_generator() {
  op_generator g{"rope",
                 {{"seq", 4, "T, positions offset .. offset + T - 1"}, {"head_dim", 8, "D, features per row (even unless rotary_dim is given)"}},
                 [](const case_shape& s) { return s.label({"seq", "head_dim"}); },
                 [](test_case& c, const case_shape& s, value_source& v) { c.inputs["x"] = v.grid(s.with_batch({"seq", "head_dim"})); }};
  g.standard = standard;
  g.edge = edge;
  g.sweep = sweep;
  g.notes = notes;
  return g;
}

} // namespace gradspec::cases
