// decoder_layer: x [batch..., seq, d_model], memory [batch..., seq_kv, d_model] and the self_attn.,
// ln1., cross_attn., ln2., ffn., ln3. weights; heads 2.
#include "common.hpp"

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  s.random("decoder_layer", {{"seq", "3"}, {"seq_kv", "4"}, {"d_model", "4"}, {"d_ff", "8"}}, {{"heads", "2"}}, {0}, "tiny, post-LN");
  s.random("decoder_layer", {{"seq", "3"}, {"seq_kv", "4"}, {"d_model", "4"}, {"d_ff", "8"}}, {{"heads", "2"}, {"norm_first", "true"}}, {0}, "tiny, pre-LN");
  s.random("decoder_layer", {{"batch", "2"}, {"seq", "4"}, {"seq_kv", "5"}, {"d_model", "8"}, {"d_ff", "16"}}, {{"heads", "2"}, {"activation", "gelu_tanh"}}, {0}, "gelu_tanh, batch");
  s.random("decoder_layer", {{"seq", "12"}, {"seq_kv", "16"}, {"d_model", "32"}, {"d_ff", "64"}}, {{"heads", "4"}}, {0}, "realistic");
}

} // namespace

op_generator decoder_layer_generator() {
  op_generator g{"decoder_layer",
                 {{"seq", 4, "T"}, {"seq_kv", 5, "S, memory length"}, {"d_model", 8, "C"}, {"d_ff", 16, "F"}},
                 [](const case_shape& s) { return s.label({"seq", "seq_kv", "d_model", "d_ff"}); },
                 [](test_case& c, const case_shape& s, value_source& v) {
                   const auto C = s["d_model"];
                   c.inputs["x"] = v.grid(s.with_batch({"seq", "d_model"}));
                   c.inputs["memory"] = v.grid(s.with_batch({"seq_kv", "d_model"}));
                   generators::attention_weights(c, "self_attn.", C, v);
                   generators::layer_norm_weights(c, "ln1.", C, v);
                   generators::attention_weights(c, "cross_attn.", C, v);
                   generators::layer_norm_weights(c, "ln2.", C, v);
                   generators::feed_forward_weights(c, "ffn.", C, s["d_ff"], v);
                   generators::layer_norm_weights(c, "ln3.", C, v);
                 }};
  g.implied_params = [](const case_shape&) { return std::map<std::string, std::string>{{"heads", "2"}}; };
  g.standard = standard;
  return g;
}

} // namespace gradspec::cases
