#include "gradspec/cases/suites.hpp"

#include "gradspec/cases/suite_builder.hpp"
#include "gradspec/errors.hpp"

namespace gradspec::cases {

namespace {

// ------------------------------------------------------------------------------- standard and edge

// Each op's cases are in its file (cases/generators/X.cpp); the files come in catalogue order.
std::vector<suite_file> standard_suite() {
  suite_builder s;
  for (const auto& g : op_generators())
    if (g.standard) g.standard(s);
  return s.finish();
}

std::vector<suite_file> edge_suite() {
  suite_builder s;
  for (const auto& g : op_generators())
    if (g.edge) g.edge(s);
  return s.finish();
}

// ---------------------------------------------------------------------------------------- examples

// The worked exercises of ../shared/seeds/000_8096e364c08da48c.txt, with the slides' inputs: one study
// of the lecture across ops (attention, feed_forward, softmax, cross_entropy), so it stays here.
std::vector<suite_file> examples_suite() {
  suite_builder s;
  const std::vector<std::string> flags = {"slide_exercise"};
  const auto enc_q = real({3, 2}, {"0.37", "0.5", "0.409", "0.628", "0.222", "0.403"});
  s.exact("examples/encoder_self_attention", "attention", {}, {{"q", enc_q}, {"k", enc_q}, {"v", enc_q}},
          "Slide 3: encoder self-attention on the given Q with K = V = Q, scores = Q·Kᵀ/sqrt(2)", flags);
  s.exact("examples/encoder_ffn", "feed_forward", {{"activation", "relu"}},
          {{"x", real({3, 2}, {"0.338", "0.515", "0.339", "0.516", "0.338", "0.516"})},
           {"w1", real({2, 2}, {"0.5", "0.6", "0.7", "0.8"})},
           {"b1", real({2}, {"0.1", "0.2"})},
           {"w2", real({2, 2}, {"0.9", "1.0", "1.1", "1.2"})},
           {"b2", real({2}, {"0.3", "0.4"})}},
          "Slide 4 part 1: FFN(x) = ReLU(x·W1 + b1)·W2 + b2 on the slide's encoder outputs", flags);
  const auto dec_q = real({2, 2}, {"0.405", "0.56", "0.431", "0.635"});
  s.exact("examples/masked_decoder_self_attention", "attention", {},
          {{"q", dec_q}, {"k", dec_q}, {"v", dec_q}, {"mask", real({2, 2}, {"0", "-inf", "0", "0"})}},
          "Slide 4 part 2: masked decoder self-attention, mask [[0, -inf], [0, 0]]", flags);
  s.exact("examples/softmax", "softmax", {}, {{"x", real({3}, {"0.2", "0.6", "0.1"})}},
          "Slide 5: softmax of the decoder output [0.2, 0.6, 0.1]", flags);
  s.exact("examples/cross_entropy_gradient", "cross_entropy", {{"reduction", "sum"}},
          {{"logits", real({1, 3}, {"0.2", "0.6", "0.1"})}, {"targets", ints({1}, {1})}},
          "Slide 5: the cross-entropy gradient through softmax is ŷ - y (target class 1 assumed: the slide does "
          "not say); with cotangent 1 the logits gradient is softmax - onehot",
          flags);
  s.last().cotangents["loss"] = real({}, {"1"});
  return s.finish();
}

// ------------------------------------------------------------------------------------------- sweep

// Size sweeps for error-growth studies, generated on demand (not committed): each op's in its file.
std::vector<suite_file> sweep_suite() {
  suite_builder s;
  for (const auto& g : op_generators())
    if (g.sweep) g.sweep(s);
  return s.finish();
}

} // namespace

const std::vector<std::string>& suite_names() {
  static const std::vector<std::string> names = {"standard", "edge", "examples", "sweep"};
  return names;
}

std::vector<suite_file> build_suite(const std::string& name) {
  if (name == "standard") return standard_suite();
  if (name == "edge") return edge_suite();
  if (name == "examples") return examples_suite();
  if (name == "sweep") return sweep_suite();
  throw bad_input("--suite", "unknown suite \"" + name + "\" (standard, edge, examples, sweep)");
}

} // namespace gradspec::cases
