// linear: x [batch..., n, in_features], w [in_features, out_features], b [out_features].
#include "common.hpp"

namespace gradspec::cases {
op_generator linear_generator() {
  return {"linear",
          {{"n", 3, "rows per batch entry"}, {"in_features", 4, "I"}, {"out_features", 5, "O"}},
          [](const case_shape& s) { return s.label({"n", "in_features", "out_features"}); },
          [](test_case& c, const case_shape& s, value_source& v) {
            c.inputs["x"] = v.grid(s.with_batch({"n", "in_features"}));
            c.inputs["w"] = generators::weight(v, s.plain({"in_features", "out_features"}), s["in_features"]);
            c.inputs["b"] = v.grid(s.plain({"out_features"}), 0.5, 7);
          }};
}
} // namespace gradspec::cases
