// layer_norm: x [batch..., seq, d_model] in [-2, 2], gamma near 1, beta small.
#include "common.hpp"

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  s.random("layer_norm", {{"seq", "2"}, {"d_model", "4"}}, {}, {0, 1}, "tiny, readable");
  s.random("layer_norm", {{"batch", "2"}, {"seq", "3"}, {"d_model", "8"}}, {}, {0}, "one batch axis");
  s.random("layer_norm", {{"batch", "2x2"}, {"seq", "2"}, {"d_model", "6"}}, {}, {0}, "two batch axes");
  s.random("layer_norm", {{"seq", "4"}, {"d_model", "64"}}, {}, {0}, "realistic width");
  s.random("layer_norm", {{"seq", "2"}, {"d_model", "8"}}, {{"eps", "0.001"}}, {0}, "another eps");
}

void edge(suite_builder& s) {
  // The streams 0x5eed and 0xf64c start here. The edge cases of several ops shared them, in suite order,
  // when they sat together in suites.cpp; each later op's file now continues them where the previous
  // op's draws ended (cross_entropy.cpp, embedding.cpp; rms_norm.cpp, softmax.cpp, log_softmax.cpp,
  // attention.cpp), so cases/edge stays byte for byte.
  value_source v(0x5eed);
  s.exact("layer_norm/large_mean/0", "layer_norm", {},
          {{"x", real({2, 4}, text_values({80000, 80001, 80002, 80003, -80000, -80003, -80001, -80002}))},
           {"gamma", real({4}, text_values({1, 1, 1, 1}))}, {"beta", real({4}, text_values({0, 0, 0, 0}))}},
          "rows [80000, 80001, 80002, 80003]", {"large_mean"});
  {
    std::vector<std::string> row;
    for (int i = 0; i < 4096; ++i) row.push_back(std::to_string(10000000 + i));
    s.exact("layer_norm/large_mean/1", "layer_norm", {},
            {{"x", real({1, 4096}, row)}, {"gamma", v.around({4096}, 1.0, 0.5, 7)}, {"beta", v.grid({4096}, 0.5, 7)}},
            "1e7 + i, C = 4096", {"large_mean"});
  }
  s.exact("layer_norm/constant_row/0", "layer_norm", {},
          {{"x", real({2, 4}, text_values({3, 3, 3, 3, -0.5, -0.5, -0.5, -0.5}))}, {"gamma", real({4}, text_values({1, 0.5, 2, -1}))},
           {"beta", real({4}, text_values({0.25, 0, -0.5, 1}))}},
          "constant rows: variance 0, output beta", {"constant_row"});
  s.exact("layer_norm/biased_variance/0", "layer_norm", {{"eps", "0.5"}},
          {{"x", real({3, 2}, text_values({1, -1, 0.5, 2, -3, 0.25}))}, {"gamma", real({2}, text_values({1, 1}))},
           {"beta", real({2}, text_values({0, 0}))}},
          "C = 2 and eps = 0.5: divide by C, eps inside the root", {"biased_variance", "eps_inside_sqrt"});
  s.random("layer_norm", {{"seq", "2"}, {"d_model", "16"}}, {}, {0}, "mean 100, spread 1/4: few digits of x - mean survive bfloat16", "small_std", {"small_std"});
  for (auto& x : s.last().inputs["x"].values) x = reference::format_scalar(100 + std::stod(x) / 8, 17);

  // Conditioned for float64: inputs exact in float64 only, where float64's 53 bits no longer hide
  // one-pass variance, float32 accumulation inside a float64 path or a lost common offset.
  value_source w(0xf64c);
  s.exact("layer_norm/float64_conditioned/0", "layer_norm", {},
          {{"x", offset_grid(w, {2, 64}, 1e8, 0.5, 10)}, {"gamma", w.around({64}, 1.0, 0.5, 6)}, {"beta", w.grid({64}, 0.5, 6)}},
          "rows 1e8 + k/1024, |k| <= 512: one-pass variance loses every digit in float64", {"float64_conditioned", "large_mean"});
}

// Size sweep for error-growth studies (gen --suite sweep).
void sweep(suite_builder& s) {
  for (int c : {16, 64, 256, 1024, 4096, 8192})
    s.random("layer_norm", {{"seq", "2"}, {"d_model", std::to_string(c)}}, {}, {0}, "width sweep");
}

void notes(flag_notes_builder& n) {
  n.add("large_mean", "edge_case",
        "LayerNorm rows with a large mean and a small spread ([80000, 80001, 80002, 80003], 1e7 + i). One-pass "
        "variance E[x^2] - E[x]^2 cancels catastrophically (even to negative variance). Correct: two-pass (or "
        "Welford) variance. The problem itself is ill-conditioned: a correct float32 result is off by about "
        "1e-3 relative, so judge against the element's conditioning, not a fixed rtol.");
  n.add("constant_row", "edge_case",
        "A constant row has variance 0: the output is beta and the gradient is finite; eps decides everything.");
  n.add("biased_variance", "edge_case",
        "LayerNorm divides by C (biased variance), not C - 1; at C = 2 the two differ by a factor of 2.");
  n.add("eps_inside_sqrt", "edge_case",
        "eps goes inside the square root: 1/sqrt(var + eps), not 1/(sqrt(var) + eps). A large eps makes the "
        "difference visible.");
  n.add("small_std", "edge_case",
        "Rows with a small standard deviation relative to their mean: bfloat16's 8-bit significand keeps few "
        "digits of x - mean.");
}

} // namespace

op_generator layer_norm_generator() {
  op_generator g{"layer_norm",
                 {{"seq", 3, "rows per batch entry"}, {"d_model", 8, "C, the normalised axis"}},
                 [](const case_shape& s) { return s.label({"seq", "d_model"}); },
                 [](test_case& c, const case_shape& s, value_source& v) {
                   c.inputs["x"] = v.grid(s.with_batch({"seq", "d_model"}), 2, 5);
                   generators::layer_norm_weights(c, "", s["d_model"], v);
                 }};
  g.standard = standard;
  g.edge = edge;
  g.sweep = sweep;
  g.notes = notes;
  return g;
}

} // namespace gradspec::cases
