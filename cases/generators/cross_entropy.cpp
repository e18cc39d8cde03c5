// cross_entropy: logits [batch..., n, vocab] in [-4, 4], targets [batch..., n] in [0, vocab).
#include "common.hpp"

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  for (const char* red : {"mean", "sum", "none"})
    s.random("cross_entropy", {{"n", "3"}, {"vocab", "4"}}, {{"reduction", red}}, {0, 1}, std::string("reduction ") + red);
  s.random("cross_entropy", {{"n", "6"}, {"vocab", "5"}}, {{"ignore_index", "2"}}, {0}, "ignore_index");
  s.random("cross_entropy", {{"n", "6"}, {"vocab", "5"}}, {{"label_smoothing", "0.1"}}, {0}, "label smoothing");
  s.random("cross_entropy", {{"n", "6"}, {"vocab", "5"}}, {{"label_smoothing", "0.1"}, {"ignore_index", "1"}}, {0}, "label smoothing and ignore_index");
  s.random("cross_entropy", {{"batch", "2"}, {"n", "3"}, {"vocab", "6"}}, {{"reduction", "sum"}}, {0}, "leading axis");
  s.random("cross_entropy", {{"n", "32"}, {"vocab", "100"}}, {}, {0}, "realistic vocabulary");
}

void edge(suite_builder& s) {
  // The stream 0x5eed after its first 8231 draws (layer_norm's): the edge cases of layer_norm,
  // cross_entropy and embedding drew from one stream 0x5eed, in that order, when they sat together in
  // suites.cpp, so cases/edge stays byte for byte.
  value_source v(0x5eed, 8231);
  for (const char* red : {"mean", "sum"})
    s.exact(std::string("cross_entropy/label_smoothing_ignored/") + red, "cross_entropy",
            {{"reduction", red}, {"ignore_index", "3"}, {"label_smoothing", "0.2"}},
            {{"logits", v.grid({5, 4}, 4, 4)}, {"targets", ints({5}, {0, 3, 2, 3, 1})}},
            std::string("label smoothing 0.2 with two ignored targets, reduction ") + red, {"label_smoothing_ignored"});
  s.exact("cross_entropy/ignore_valid_class/0", "cross_entropy", {{"ignore_index", "1"}},
          {{"logits", v.grid({4, 3}, 4, 4)}, {"targets", ints({4}, {1, 0, 2, 1})}}, "ignore_index 1 is a real class", {"ignore_valid_class"});
  s.exact("cross_entropy/all_ignored/0", "cross_entropy", {{"ignore_index", "0"}},
          {{"logits", v.grid({3, 4}, 4, 4)}, {"targets", ints({3}, {0, 0, 0})}}, "every target ignored, reduction mean", {"all_ignored"});
  s.exact("cross_entropy/large_logit_gap/0", "cross_entropy", {{"reduction", "sum"}},
          {{"logits", real({2, 3}, text_values({10000, 0, -10000, 0, 10000, 5}))}, {"targets", ints({2}, {2, 0})}},
          "logits 1e4 apart; the targets are the unlikely classes", {"large_logit_gap"});
}

void notes(flag_notes_builder& n) {
  n.add("label_smoothing_ignored", "edge_case",
        "label_smoothing together with ignore_index: the smoothing term must skip ignored targets and the mean "
        "divides by the number of non-ignored targets (PyTorch once counted ignored targets in the smoothing "
        "term).");
  n.add("ignore_valid_class", "edge_case",
        "ignore_index names a real class: rows with that target are ignored, other rows still see that class in "
        "their softmax and smoothing term.");
  n.add("all_ignored", "edge_case",
        "Every target is ignored with reduction mean: 0/0. As PyTorch, the loss is NaN and the gradient is 0.");
  n.acceptable("all_ignored", "nan_gradient_all_ignored", "nan", {"gradients"},
               "NaN gradient: the 0/0 of the mean over zero targets flows back (TensorFlow.js's weighted mean).");
  n.acceptable("all_ignored", "zero_loss_all_ignored", "zero", {"outputs"},
               "Loss 0 instead of NaN: the mean over zero targets is defined as 0 (a guarded division, as TensorFlow's "
               "div_no_nan).");
  n.add("large_logit_gap", "edge_case",
        "Logits 1e4 apart: log(softmax) computed as log of an underflowed probability is -inf; log_softmax "
        "computed as x - max - log(sum exp(x - max)) stays finite.");
}

} // namespace

op_generator cross_entropy_generator() {
  op_generator g{"cross_entropy",
                 {{"n", 4, "N, rows"}, {"vocab", 6, "V, classes"}},
                 [](const case_shape& s) { return s.label({"n", "vocab"}); },
                 [](test_case& c, const case_shape& s, value_source& v) {
                   c.inputs["logits"] = v.grid(s.with_batch({"n", "vocab"}), 4, 4);
                   c.inputs["targets"] = v.integers(s.with_batch({"n"}), 0, s["vocab"] - 1);
                 }};
  g.standard = standard;
  g.edge = edge;
  g.notes = notes;
  return g;
}

} // namespace gradspec::cases
