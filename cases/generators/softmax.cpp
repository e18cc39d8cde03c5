// softmax: x [batch..., seq, n] with values k/16 in [-4, 4] (rows spread over e^8).
#include "common.hpp"

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  s.random("softmax", {{"seq", "1"}, {"n", "3"}}, {}, {0, 1}, "tiny, readable");
  s.random("softmax", {{"batch", "2"}, {"seq", "3"}, {"n", "8"}}, {}, {0}, "one batch axis");
  s.random("softmax", {{"batch", "2x2"}, {"seq", "2"}, {"n", "5"}}, {}, {0}, "two batch axes");
  s.random("softmax", {{"seq", "4"}, {"n", "64"}}, {}, {0}, "realistic row length");
}

void edge(suite_builder& s) {
  s.exact("softmax/large_logits/0", "softmax", {},
          {{"x", real({2, 4}, text_values({10000, 10001, 9999.5, 10000.25, -10000, -10001, -9999.5, -10000.25}))}},
          "logits around 1e4 (and -1e4)", {"large_logits"});
  s.exact("softmax/wide_spread/0", "softmax", {}, {{"x", real({3, 4}, text_values({0, -5, 5, 1, 0, -640, 640, 1, 320, -320, 0, 160}))}},
          "rows spreading over 5 to 640", {"wide_spread"});
  s.random("softmax", {{"seq", "1"}, {"n", "4096"}}, {}, {0}, "one row of 4096 logits", "long_row", {"long_row"});

  // Conditioned for float64 (see the note of float64_conditioned).
  // The stream 0xf64c after its first 448 draws (layer_norm's and rms_norm's): the edge cases of
  // layer_norm, rms_norm, softmax, log_softmax and attention drew from one stream 0xf64c, in that
  // order, when they sat together in suites.cpp, so cases/edge stays byte for byte.
  value_source w(0xf64c, 448);
  s.exact("softmax/float64_conditioned/0", "softmax", {}, {{"x", offset_grid(w, {2, 32}, 1e6, 4, 10)}},
          "logits 1e6 + k/1024, |k| <= 4096: the fractional parts decide", {"float64_conditioned"});
}

// Size sweep for error-growth studies (gen --suite sweep).
void sweep(suite_builder& s) {
  for (int n : {16, 64, 256, 1024, 4096, 16384, 32768})
    s.random("softmax", {{"seq", "1"}, {"n", std::to_string(n)}}, {}, {0}, "row length sweep");
}

void notes(flag_notes_builder& n) {
  n.add("large_logits", "edge_case",
        "Logits around 1e4: exp without subtracting the row maximum overflows to inf and gives NaN. Correct: "
        "max-subtracted softmax, identical to the result for the logits minus 1e4.");
}

} // namespace

op_generator softmax_generator() {
  op_generator g{"softmax",
                 {{"seq", 3, "rows per batch entry"}, {"n", 8, "row length (the softmax axis)"}},
                 [](const case_shape& s) { return s.label({"seq", "n"}); },
                 [](test_case& c, const case_shape& s, value_source& v) { c.inputs["x"] = v.grid(s.with_batch({"seq", "n"}), 4, 4); }};
  g.standard = standard;
  g.edge = edge;
  g.sweep = sweep;
  g.notes = notes;
  return g;
}

} // namespace gradspec::cases
