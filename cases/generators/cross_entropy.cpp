// cross_entropy: logits [batch..., n, vocab] in [-4, 4], targets [batch..., n] in [0, vocab).
#include "common.hpp"

namespace gradspec::cases {
op_generator cross_entropy_generator() {
  return {"cross_entropy",
          {{"n", 4, "N, rows"}, {"vocab", 6, "V, classes"}},
          [](const case_shape& s) { return s.label({"n", "vocab"}); },
          [](test_case& c, const case_shape& s, value_source& v) {
            c.inputs["logits"] = v.grid(s.with_batch({"n", "vocab"}), 4, 4);
            c.inputs["targets"] = v.integers(s.with_batch({"n"}), 0, s["vocab"] - 1);
          }};
}
} // namespace gradspec::cases
