// rms_norm: x [batch..., seq, d_model] in [-2, 2], gamma near 1.
#include "common.hpp"

namespace gradspec::cases {
op_generator rms_norm_generator() {
  return {"rms_norm",
          {{"seq", 3, "rows per batch entry"}, {"d_model", 8, "C, the normalised axis"}},
          [](const case_shape& s) { return s.label({"seq", "d_model"}); },
          [](test_case& c, const case_shape& s, value_source& v) {
            c.inputs["x"] = v.grid(s.with_batch({"seq", "d_model"}), 2, 5);
            c.inputs["gamma"] = v.around({s["d_model"]}, 1.0, 0.5, 7);
          }};
}
} // namespace gradspec::cases
