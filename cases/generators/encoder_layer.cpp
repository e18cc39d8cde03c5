// encoder_layer: x [batch..., seq, d_model] and the attn., ln1., ffn., ln2. weights; heads 2.
#include "common.hpp"

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  s.random("encoder_layer", {{"seq", "3"}, {"d_model", "4"}, {"d_ff", "8"}}, {{"heads", "2"}}, {0}, "tiny, post-LN");
  s.random("encoder_layer", {{"seq", "3"}, {"d_model", "4"}, {"d_ff", "8"}}, {{"heads", "2"}, {"norm_first", "true"}}, {0}, "tiny, pre-LN");
  s.random("encoder_layer", {{"batch", "2"}, {"seq", "4"}, {"d_model", "8"}, {"d_ff", "16"}}, {{"heads", "2"}, {"activation", "gelu"}}, {0}, "gelu, batch");
  s.random("encoder_layer", {{"seq", "4"}, {"d_model", "8"}, {"d_ff", "16"}}, {{"heads", "2"}, {"causal", "true"}, {"activation", "silu"}}, {0}, "causal, silu", "", {"causal"});
  s.random("encoder_layer", {{"seq", "16"}, {"d_model", "32"}, {"d_ff", "64"}}, {{"heads", "4"}, {"norm_first", "true"}}, {0}, "realistic, pre-LN");
}

} // namespace

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
  g.standard = standard;
  return g;
}

} // namespace gradspec::cases
