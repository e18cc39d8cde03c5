// linear: x [batch..., n, in_features], w [in_features, out_features], b [out_features].
#include "common.hpp"

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  s.random("linear", {{"n", "2"}, {"in_features", "3"}, {"out_features", "2"}}, {}, {0, 1}, "tiny, readable");
  s.random("linear", {{"batch", "2"}, {"n", "3"}, {"in_features", "4"}, {"out_features", "5"}}, {}, {0}, "one batch axis");
  s.random("linear", {{"batch", "2x2"}, {"n", "2"}, {"in_features", "3"}, {"out_features", "3"}}, {}, {0}, "two batch axes");
  s.random("linear", {{"n", "16"}, {"in_features", "64"}, {"out_features", "64"}}, {}, {0}, "realistic width");
}

} // namespace

op_generator linear_generator() {
  op_generator g{"linear",
                 {{"n", 3, "rows per batch entry"}, {"in_features", 4, "I"}, {"out_features", 5, "O"}},
                 [](const case_shape& s) { return s.label({"n", "in_features", "out_features"}); },
                 [](test_case& c, const case_shape& s, value_source& v) {
                   c.inputs["x"] = v.grid(s.with_batch({"n", "in_features"}));
                   c.inputs["w"] = generators::weight(v, s.plain({"in_features", "out_features"}), s["in_features"]);
                   c.inputs["b"] = v.grid(s.plain({"out_features"}), 0.5, 7);
                 }};
  g.standard = standard;
  return g;
}

} // namespace gradspec::cases
