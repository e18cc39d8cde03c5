// silu: x [batch..., seq, features] with values k/16 in [-4, 4].
#include "common.hpp"

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  s.random("silu", {{"seq", "1"}, {"features", "4"}}, {}, {0, 1}, "tiny, readable");
  s.random("silu", {{"batch", "2"}, {"seq", "3"}, {"features", "8"}}, {}, {0}, "one batch axis");
}

void edge(suite_builder& s) {
  const auto tails = text_values({-40, -20, -10, -6, 6, 10, 20, 40}); // as gelu's large_magnitude
  s.exact("silu/large_magnitude/0", "silu", {}, {{"x", real({8}, tails)}}, "far tails", {"large_magnitude"});
  s.exact("silu/silu_large_negative/0", "silu", {}, {{"x", real({5}, text_values({-1000, -100, -50, -745, -20}))}},
          "large negative x", {"silu_large_negative"});
}

void notes(flag_notes_builder& n) {
  n.add("silu_large_negative", "edge_case",
        "silu(x) = x·sigmoid(x) for x down to -1000: computing sigmoid as 1/(1 + exp(-x)) overflows exp; the "
        "result must be a tiny negative number or -0, and the gradient ~0, not NaN.");
}

} // namespace

op_generator silu_generator() {
  op_generator g{"silu",
                 {{"seq", 3, "rows per batch entry"}, {"features", 8, "row length"}},
                 [](const case_shape& s) { return s.label({"seq", "features"}); },
                 [](test_case& c, const case_shape& s, value_source& v) { c.inputs["x"] = v.grid(s.with_batch({"seq", "features"}), 4, 4); }};
  g.standard = standard;
  g.edge = edge;
  g.notes = notes;
  return g;
}

} // namespace gradspec::cases
