// log_softmax: x [batch..., seq, n] with values k/16 in [-4, 4] (rows spread over e^8).
#include "common.hpp"

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  s.random("log_softmax", {{"seq", "1"}, {"n", "3"}}, {}, {0, 1}, "tiny, readable");
  s.random("log_softmax", {{"batch", "2"}, {"seq", "3"}, {"n", "8"}}, {}, {0}, "one batch axis");
  s.random("log_softmax", {{"batch", "2x2"}, {"seq", "2"}, {"n", "5"}}, {}, {0}, "two batch axes");
  s.random("log_softmax", {{"seq", "4"}, {"n", "64"}}, {}, {0}, "realistic row length");
}

void edge(suite_builder& s) {
  s.exact("log_softmax/wide_spread/0", "log_softmax", {}, {{"x", real({2, 4}, text_values({0, -5, 5, 1, 0, -640, 640, 1}))}},
          "rows spreading over 5 to 640", {"wide_spread"});

  // Conditioned for float64 (see the note of float64_conditioned).
  // The stream 0xf64c after its first 512 draws (layer_norm's, rms_norm's and softmax's): the edge
  // cases of layer_norm, rms_norm, softmax, log_softmax and attention drew from one stream 0xf64c, in
  // that order, when they sat together in suites.cpp, so cases/edge stays byte for byte.
  value_source w(0xf64c, 512);
  s.exact("log_softmax/float64_conditioned/0", "log_softmax", {}, {{"x", offset_grid(w, {2, 32}, 1e6, 4, 10)}},
          "logits 1e6 + k/1024, |k| <= 4096: the fractional parts decide", {"float64_conditioned"});
}

} // namespace

op_generator log_softmax_generator() {
  op_generator g{"log_softmax",
                 {{"seq", 3, "rows per batch entry"}, {"n", 8, "row length (the softmax axis)"}},
                 [](const case_shape& s) { return s.label({"seq", "n"}); },
                 [](test_case& c, const case_shape& s, value_source& v) { c.inputs["x"] = v.grid(s.with_batch({"seq", "n"}), 4, 4); }};
  g.standard = standard;
  g.edge = edge;
  return g;
}

} // namespace gradspec::cases
