// relu: x [batch..., seq, features] with values k/16 in [-4, 4].
#include "common.hpp"

namespace gradspec::cases {
op_generator relu_generator() {
  return {"relu",
          {{"seq", 3, "rows per batch entry"}, {"features", 8, "row length"}},
          [](const case_shape& s) { return s.label({"seq", "features"}); },
          [](test_case& c, const case_shape& s, value_source& v) { c.inputs["x"] = v.grid(s.with_batch({"seq", "features"}), 4, 4); }};
}
} // namespace gradspec::cases
