// softmax: x [batch..., seq, n] with values k/16 in [-4, 4] (rows spread over e^8).
#include "common.hpp"

namespace gradspec::cases {
op_generator softmax_generator() {
  return {"softmax",
          {{"seq", 3, "rows per batch entry"}, {"n", 8, "row length (the softmax axis)"}},
          [](const case_shape& s) { return s.label({"seq", "n"}); },
          [](test_case& c, const case_shape& s, value_source& v) { c.inputs["x"] = v.grid(s.with_batch({"seq", "n"}), 4, 4); }};
}
} // namespace gradspec::cases
