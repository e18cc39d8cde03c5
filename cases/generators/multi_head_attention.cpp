// multi_head_attention: x [batch..., seq, d_model]; giving seq_kv asks for cross-attention with a
// memory [batch..., seq_kv, d_model]. heads defaults to 2.
#include "common.hpp"

namespace gradspec::cases {
op_generator multi_head_attention_generator() {
  op_generator g{"multi_head_attention",
                 {{"seq", 4, "Tq"}, {"seq_kv", 0, "Tk of the memory (given: cross-attention)"}, {"d_model", 8, "C"}},
                 [](const case_shape& s) {
                   return s["seq_kv"] ? s.label({"seq", "seq_kv", "d_model"}) : s.label({"seq", "d_model"});
                 },
                 [](test_case& c, const case_shape& s, value_source& v) {
                   c.inputs["x"] = v.grid(s.with_batch({"seq", "d_model"}));
                   if (s["seq_kv"]) c.inputs["memory"] = v.grid(s.with_batch({"seq_kv", "d_model"}));
                   generators::attention_weights(c, "", s["d_model"], v);
                 }};
  g.implied_params = [](const case_shape&) { return std::map<std::string, std::string>{{"heads", "2"}}; };
  return g;
}
} // namespace gradspec::cases
