// relu: x [batch..., seq, features] with values k/16 in [-4, 4].
#include "common.hpp"

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  s.random("relu", {{"seq", "1"}, {"features", "4"}}, {}, {0, 1}, "tiny, readable");
  s.random("relu", {{"batch", "2"}, {"seq", "3"}, {"features", "8"}}, {}, {0}, "one batch axis");
}

void edge(suite_builder& s) {
  s.exact("relu/relu_at_zero/0", "relu", {}, {{"x", real({6}, text_values({0, -0.5, 0, 0.5, -0.0, 2}))}}, "exact zeros: relu'(0) = 0", {"relu_at_zero"});
}

void notes(flag_notes_builder& n) {
  n.add("relu_at_zero", "edge_case", "relu'(0) = 0 by convention (PyTorch, JAX); some code uses 1 or 0.5.");
}

} // namespace

op_generator relu_generator() {
  op_generator g{"relu",
                 {{"seq", 3, "rows per batch entry"}, {"features", 8, "row length"}},
                 [](const case_shape& s) { return s.label({"seq", "features"}); },
                 [](test_case& c, const case_shape& s, value_source& v) { c.inputs["x"] = v.grid(s.with_batch({"seq", "features"}), 4, 4); }};
  g.standard = standard;
  g.edge = edge;
  g.notes = notes;
  return g;
}

} // namespace gradspec::cases
