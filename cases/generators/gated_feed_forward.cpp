// gated_feed_forward: x [batch..., seq, d_model], w_gate [d_model, d_ff], w_up [d_model, d_ff],
// w_down [d_ff, d_model], no biases (LLaMA's w1, w3, w2).
#include "common.hpp"

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  s.random("gated_feed_forward", {{"seq", "2"}, {"d_model", "4"}, {"d_ff", "8"}}, {}, {0, 1}, "tiny, silu (SwiGLU)");
  for (const char* act : {"gelu", "gelu_tanh"})
    s.random("gated_feed_forward", {{"seq", "2"}, {"d_model", "4"}, {"d_ff", "8"}}, {{"activation", act}}, {0},
             std::string("tiny, ") + act + " (GeGLU)");
  s.random("gated_feed_forward", {{"batch", "2x2"}, {"seq", "3"}, {"d_model", "8"}, {"d_ff", "16"}}, {}, {0}, "two batch axes");
  s.random("gated_feed_forward", {{"batch", "2"}, {"seq", "3"}, {"d_model", "8"}, {"d_ff", "12"}}, {{"activation", "gelu_tanh"}}, {0},
           "one batch axis, gelu_tanh (Gemma)");
  s.random("gated_feed_forward", {{"seq", "8"}, {"d_model", "64"}, {"d_ff", "172"}}, {}, {0},
           "realistic: C = 64, F = 172 (LLaMA's F/C = 11008/4096)");
}

// Gate pre-activations spread to |g| of 2 to 3 (w_gate scaled by 4) while x·w_up stays below 1: silu and
// gelu are far from linear there, so act(gate)·up and act(up)·gate differ clearly, and gelu's erf and
// tanh forms differ by up to about 4.7e-4 (near |g| = 2.7), far above float32's tolerance.
void spread_gate(test_case& c) {
  for (auto& w : c.inputs["w_gate"].values) w = reference::format_scalar(std::stod(w) * 4, 17);
}

void edge(suite_builder& s) {
  for (const char* act : {"silu", "gelu"}) {
    s.random("gated_feed_forward", {{"seq", "4"}, {"d_model", "8"}, {"d_ff", "16"}}, {{"activation", act}}, {0},
             std::string("w_gate scaled by 4 (|gate| up to 2-3), |x·w_up| < 1: act(x·w_gate) ⊙ x·w_up, not act(x·w_up) ⊙ x·w_gate, ") + act,
             std::string("gate_up_swapped_") + act, {"glu_gate_up_swapped"});
    spread_gate(s.last());
  }
  for (const char* act : {"gelu", "gelu_tanh"}) {
    s.random("gated_feed_forward", {{"seq", "4"}, {"d_model", "8"}, {"d_ff", "16"}}, {{"activation", act}}, {0},
             std::string("GeGLU, w_gate scaled by 4 (|gate| up to 2-3): the erf form and the tanh form differ, ") + act,
             std::string("gelu_form_") + act, {"glu_gelu_form"});
    spread_gate(s.last());
  }
}

void notes(flag_notes_builder& n) {
  n.add("glu_gate_up_swapped", "edge_case",
        "SwiGLU/GeGLU with the gate and up projections swapped: act(x·w_up) ⊙ x·w_gate instead of act(x·w_gate) ⊙ "
        "x·w_up. LLaMA's w1 is the gate, w3 the up projection and w2 the down projection (Hugging Face gate_proj, "
        "up_proj, down_proj); mixing w1/w3 when converting a checkpoint gives a plausible-looking but different "
        "block. Near 0 silu(a)·b ≈ a·b/2 is symmetric in a and b, so the cases scale w_gate by 4, "
        "which takes |x·w_gate| to 2-3, where it is not.");
  n.add("glu_gelu_form", "edge_case",
        "GeGLU with gelu's tanh approximation where the erf form was meant, or the reverse (Gemma's checkpoints use "
        "gelu_pytorch_tanh; the GLU-variants paper and T5 v1.1 use the erf form): the two differ by up to about 5e-4 "
        "in act(g) near |g| = 2.7, which the cases' gate pre-activations (w_gate scaled by 4) reach.");
}

} // namespace

op_generator gated_feed_forward_generator() {
  op_generator g{"gated_feed_forward",
                 {{"seq", 3, "rows per batch entry"}, {"d_model", 8, "C"}, {"d_ff", 16, "F, hidden width"}},
                 [](const case_shape& s) { return s.label({"seq", "d_model", "d_ff"}); },
                 [](test_case& c, const case_shape& s, value_source& v) {
                   const std::int64_t C = s["d_model"], F = s["d_ff"];
                   c.inputs["x"] = v.grid(s.with_batch({"seq", "d_model"}));
                   c.inputs["w_gate"] = generators::weight(v, {C, F}, C);
                   c.inputs["w_up"] = generators::weight(v, {C, F}, C);
                   c.inputs["w_down"] = generators::weight(v, {F, C}, F);
                 }};
  g.standard = standard;
  g.edge = edge;
  g.notes = notes;
  return g;
}

} // namespace gradspec::cases
