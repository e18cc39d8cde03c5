// transformer: src_ids [batch..., seq_kv], tgt_ids and labels [batch..., seq], shared vocab size,
// `layers` encoder and decoder layers (default 1), heads 2.
#include "common.hpp"

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  s.random("transformer", {{"seq", "3"}, {"seq_kv", "4"}, {"vocab", "5"}, {"d_model", "4"}, {"d_ff", "8"}}, {{"layers", "1"}, {"heads", "2"}}, {0}, "tiny, one layer");
  s.random("transformer", {{"seq", "3"}, {"seq_kv", "4"}, {"vocab", "5"}, {"d_model", "4"}, {"d_ff", "8"}},
           {{"layers", "1"}, {"heads", "2"}, {"norm_first", "true"}, {"label_smoothing", "0.1"}, {"ignore_index", "0"}}, {0}, "pre-LN, smoothing, ignore_index");
  s.random("transformer", {{"batch", "2"}, {"seq", "8"}, {"seq_kv", "10"}, {"vocab", "20"}, {"d_model", "16"}, {"d_ff", "32"}},
           {{"layers", "2"}, {"heads", "4"}}, {0}, "realistic: two layers");
}

} // namespace

op_generator transformer_generator() {
  op_generator g{
      "transformer",
      {{"seq", 4, "T, target length"}, {"seq_kv", 5, "S, source length"}, {"vocab", 7, "V, source and target vocabulary"},
       {"d_model", 8, "C"}, {"d_ff", 16, "F"}},
      [](const case_shape& s) { return s.label({"seq", "seq_kv", "vocab", "d_model", "d_ff"}); },
      [](test_case& c, const case_shape& s, value_source& v) {
        const auto C = s["d_model"], V = s["vocab"], F = s["d_ff"];
        c.inputs["src_ids"] = v.integers(s.with_batch({"seq_kv"}), 0, V - 1);
        c.inputs["tgt_ids"] = v.integers(s.with_batch({"seq"}), 0, V - 1);
        c.inputs["labels"] = v.integers(s.with_batch({"seq"}), 0, V - 1);
        c.inputs["src_embed"] = v.grid({V, C});
        c.inputs["tgt_embed"] = v.grid({V, C});
        for (std::int64_t i = 0; i < c.params.integer("layers"); ++i) {
          const std::string e = "enc." + std::to_string(i) + ".", d = "dec." + std::to_string(i) + ".";
          generators::attention_weights(c, e + "attn.", C, v);
          generators::layer_norm_weights(c, e + "ln1.", C, v);
          generators::feed_forward_weights(c, e + "ffn.", C, F, v);
          generators::layer_norm_weights(c, e + "ln2.", C, v);
          generators::attention_weights(c, d + "self_attn.", C, v);
          generators::layer_norm_weights(c, d + "ln1.", C, v);
          generators::attention_weights(c, d + "cross_attn.", C, v);
          generators::layer_norm_weights(c, d + "ln2.", C, v);
          generators::feed_forward_weights(c, d + "ffn.", C, F, v);
          generators::layer_norm_weights(c, d + "ln3.", C, v);
        }
        generators::layer_norm_weights(c, "enc_norm.", C, v);
        generators::layer_norm_weights(c, "dec_norm.", C, v);
        c.inputs["out.w"] = generators::weight(v, {C, V}, C);
        c.inputs["out.b"] = v.grid({V}, 0.25, 8);
      }};
  g.implied_params = [](const case_shape&) {
    return std::map<std::string, std::string>{{"heads", "2"}, {"layers", "1"}};
  };
  g.standard = standard;
  return g;
}

} // namespace gradspec::cases
