// embedding: ids [batch..., seq] in [0, vocab), table [vocab, d_model].
#include "common.hpp"

namespace gradspec::cases {
op_generator embedding_generator() {
  return {"embedding",
          {{"seq", 4, "ids per batch entry"}, {"vocab", 10, "V, table rows"}, {"d_model", 8, "C, table columns"}},
          [](const case_shape& s) { return s.label({"seq", "vocab", "d_model"}); },
          [](test_case& c, const case_shape& s, value_source& v) {
            c.inputs["ids"] = v.integers(s.with_batch({"seq"}), 0, s["vocab"] - 1);
            c.inputs["table"] = v.grid(s.plain({"vocab", "d_model"}));
          }};
}
} // namespace gradspec::cases
