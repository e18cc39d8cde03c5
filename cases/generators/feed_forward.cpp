// feed_forward: x [batch..., seq, d_model], w1 [d_model, d_ff], w2 [d_ff, d_model].
#include "common.hpp"

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  for (const char* act : {"relu", "gelu", "gelu_tanh", "silu"})
    s.random("feed_forward", {{"seq", "2"}, {"d_model", "4"}, {"d_ff", "8"}}, {{"activation", act}}, {0}, std::string("tiny, ") + act);
  s.random("feed_forward", {{"batch", "2"}, {"seq", "3"}, {"d_model", "8"}, {"d_ff", "16"}}, {{"activation", "gelu"}}, {0}, "one batch axis");
  s.random("feed_forward", {{"seq", "8"}, {"d_model", "64"}, {"d_ff", "256"}}, {{"activation", "relu"}}, {0}, "realistic width");
}

} // namespace

op_generator feed_forward_generator() {
  op_generator g{"feed_forward",
                 {{"seq", 3, "rows per batch entry"}, {"d_model", 8, "C"}, {"d_ff", 16, "F, hidden width"}},
                 [](const case_shape& s) { return s.label({"seq", "d_model", "d_ff"}); },
                 [](test_case& c, const case_shape& s, value_source& v) {
                   c.inputs["x"] = v.grid(s.with_batch({"seq", "d_model"}));
                   generators::feed_forward_weights(c, "", s["d_model"], s["d_ff"], v);
                 }};
  g.standard = standard;
  return g;
}

} // namespace gradspec::cases
