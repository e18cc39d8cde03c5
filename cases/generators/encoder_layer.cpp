// encoder_layer: x [batch..., seq, d_model] and the attn., ln1., ffn., ln2. weights; heads 2.
#include "common.hpp"

namespace gradspec::cases {
op_generator encoder_layer_generator() {
  op_generator g{"encoder_layer",
                 {{"seq", 4, "T"}, {"d_model", 8, "C"}, {"d_ff", 16, "F"}},
                 [](const case_shape& s) { return s.label({"seq", "d_model", "d_ff"}); },
                 [](test_case& c, const case_shape& s, value_source& v) {
                   const auto C = s["d_model"];
                   c.inputs["x"] = v.grid(s.with_batch({"seq", "d_model"}));
                   generators::attention_weights(c, "attn.", C, v);
                   generators::layer_norm_weights(c, "ln1.", C, v);
                   generators::feed_forward_weights(c, "ffn.", C, s["d_ff"], v);
                   generators::layer_norm_weights(c, "ln2.", C, v);
                 }};
  g.implied_params = [](const case_shape&) { return std::map<std::string, std::string>{{"heads", "2"}}; };
  return g;
}
} // namespace gradspec::cases
