// feed_forward: x [batch..., seq, d_model], w1 [d_model, d_ff], w2 [d_ff, d_model].
#include "common.hpp"

namespace gradspec::cases {
op_generator feed_forward_generator() {
  return {"feed_forward",
          {{"seq", 3, "rows per batch entry"}, {"d_model", 8, "C"}, {"d_ff", 16, "F, hidden width"}},
          [](const case_shape& s) { return s.label({"seq", "d_model", "d_ff"}); },
          [](test_case& c, const case_shape& s, value_source& v) {
            c.inputs["x"] = v.grid(s.with_batch({"seq", "d_model"}));
            generators::feed_forward_weights(c, "", s["d_model"], s["d_ff"], v);
          }};
}
} // namespace gradspec::cases
