// gelu: x [batch..., seq, features] with values k/16 in [-4, 4].
#include "common.hpp"

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  s.random("gelu", {{"seq", "1"}, {"features", "4"}}, {}, {0, 1}, "tiny, readable");
  s.random("gelu", {{"batch", "2"}, {"seq", "3"}, {"features", "8"}}, {}, {0}, "one batch axis");
  s.random("gelu", {{"seq", "2"}, {"features", "8"}}, {{"approximate", "tanh"}}, {0, 1}, "tanh approximation");
  s.random("gelu", {{"batch", "2x2"}, {"seq", "2"}, {"features", "4"}}, {{"approximate", "tanh"}}, {0}, "tanh, two batch axes");
}

void edge(suite_builder& s) {
  const auto gelu_x = text_values({-3, -2.5, -2, -1.5, -1, 1, 1.5, 2, 2.5, 3});
  s.exact("gelu/gelu_approximation/0", "gelu", {}, {{"x", real({10}, gelu_x)}}, "where erf and tanh forms differ most", {"gelu_approximation"});
  s.exact("gelu/gelu_approximation/1", "gelu", {{"approximate", "tanh"}}, {{"x", real({10}, gelu_x)}}, "the same points, tanh form", {"gelu_approximation"});
  const auto tails = text_values({-40, -20, -10, -6, 6, 10, 20, 40}); // as silu's large_magnitude
  s.exact("gelu/large_magnitude/0", "gelu", {}, {{"x", real({8}, tails)}}, "far tails", {"large_magnitude"});
}

void notes(flag_notes_builder& n) {
  n.add("gelu_approximation", "edge_case",
        "GELU's erf form and its tanh approximation differ by up to about 5e-4 around |x| = 2: using one for "
        "the other is a real error in float32 and float64.");
}

} // namespace

op_generator gelu_generator() {
  op_generator g{"gelu",
                 {{"seq", 3, "rows per batch entry"}, {"features", 8, "row length"}},
                 [](const case_shape& s) { return s.label({"seq", "features"}); },
                 [](test_case& c, const case_shape& s, value_source& v) { c.inputs["x"] = v.grid(s.with_batch({"seq", "features"}), 4, 4); }};
  g.standard = standard;
  g.edge = edge;
  g.notes = notes;
  return g;
}

} // namespace gradspec::cases
