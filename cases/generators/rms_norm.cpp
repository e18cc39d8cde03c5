// rms_norm: x [batch..., seq, d_model] in [-2, 2], gamma near 1.
#include "common.hpp"

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  s.random("rms_norm", {{"seq", "2"}, {"d_model", "4"}}, {}, {0, 1}, "tiny, readable");
  s.random("rms_norm", {{"batch", "2"}, {"seq", "3"}, {"d_model", "8"}}, {}, {0}, "one batch axis");
  s.random("rms_norm", {{"batch", "2x2"}, {"seq", "2"}, {"d_model", "6"}}, {}, {0}, "two batch axes");
  s.random("rms_norm", {{"seq", "4"}, {"d_model", "64"}}, {}, {0}, "realistic width");
  s.random("rms_norm", {{"seq", "2"}, {"d_model", "8"}}, {{"eps", "0.001"}}, {0}, "another eps");
  s.random("rms_norm", {{"batch", "2"}, {"seq", "3"}, {"d_model", "8"}}, {{"gamma_offset", "1"}}, {0}, "gamma_offset 1 (Gemma)");
}

void edge(suite_builder& s) {
  s.exact("rms_norm/fp16_square_overflow/0", "rms_norm", {},
          {{"x", real({2, 4}, text_values({1000, -992, 1008, 960, 512, 1024, -768, 896}))}, {"gamma", real({4}, text_values({1, 1, 0.5, 2}))}},
          "values near 1000: x^2 overflows float16", {"fp16_square_overflow"});

  // Conditioned for float64 (see the note of float64_conditioned).
  // The stream 0xf64c after its first 256 draws (layer_norm's): the edge cases of layer_norm,
  // rms_norm, softmax, log_softmax and attention drew from one stream 0xf64c, in that order, when they
  // sat together in suites.cpp, so cases/edge stays byte for byte.
  value_source w(0xf64c, 256);
  s.exact("rms_norm/float64_conditioned/0", "rms_norm", {},
          {{"x", offset_grid(w, {2, 64}, 1e8, 0.5, 10)}, {"gamma", w.around({64}, 1.0, 0.5, 6)}},
          "rows 1e8 + k/1024: squares summed in float32 are off by 1e-7", {"float64_conditioned"});

  // Gemma's stored weights are the scale minus one: gamma near 0, scale 1 + gamma.
  s.random("rms_norm", {{"seq", "3"}, {"d_model", "16"}}, {{"gamma_offset", "1"}}, {0},
           "gamma_offset 1 with gamma in [-1/4, 1/4]: without the offset the output nearly vanishes", "gamma_offset",
           {"rms_norm_gamma_offset"});
  value_source g(0x6e33a);
  s.last().inputs["gamma"] = g.grid({16}, 0.25, 7, true);
}

void notes(flag_notes_builder& n) {
  n.add("fp16_square_overflow", "edge_case",
        "RMSNorm of values near 1000: x^2 = 1e6 overflows float16 (max 65504) if squared in float16. Correct "
        "implementations accumulate in float32.");
  n.add("rms_norm_gamma_offset", "edge_case",
        "gamma_offset = 1 (Gemma): y = x·rstd·(1 + gamma), the checkpoint stores the scale minus one. An RMSNorm "
        "written for LLaMA (y = x·rstd·gamma) loaded with Gemma weights scales by gamma near 0; one that adds the "
        "offset in bfloat16 after rounding gamma loses its low bits. Correct: form 1 + gamma in at least float32.");
}

} // namespace

op_generator rms_norm_generator() {
  op_generator g{"rms_norm",
                 {{"seq", 3, "rows per batch entry"}, {"d_model", 8, "C, the normalised axis"}},
                 [](const case_shape& s) { return s.label({"seq", "d_model"}); },
                 [](test_case& c, const case_shape& s, value_source& v) {
                   c.inputs["x"] = v.grid(s.with_batch({"seq", "d_model"}), 2, 5);
                   c.inputs["gamma"] = v.around({s["d_model"]}, 1.0, 0.5, 7);
                 }};
  g.standard = standard;
  g.edge = edge;
  g.notes = notes;
  return g;
}

} // namespace gradspec::cases
