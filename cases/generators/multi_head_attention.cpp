// multi_head_attention: x [batch..., seq, d_model]; giving seq_kv asks for cross-attention with a
// memory [batch..., seq_kv, d_model]. heads defaults to 2.
#include "common.hpp"

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  s.random("multi_head_attention", {{"seq", "3"}, {"d_model", "4"}}, {{"heads", "1"}}, {0}, "tiny, one head");
  s.random("multi_head_attention", {{"seq", "4"}, {"d_model", "8"}}, {{"heads", "2"}}, {0, 1}, "self-attention, 2 heads");
  s.random("multi_head_attention", {{"batch", "2"}, {"seq", "3"}, {"seq_kv", "5"}, {"d_model", "8"}}, {{"heads", "2"}}, {0}, "cross-attention");
  s.random("multi_head_attention", {{"seq", "4"}, {"d_model", "8"}}, {{"heads", "4"}, {"causal", "true"}}, {0}, "causal, 4 heads", "", {"causal"});
  s.random("multi_head_attention", {{"seq", "4"}, {"d_model", "8"}}, {{"heads", "2"}}, {0}, "additive mask", "mask");
  s.last().inputs["mask"] = partial_mask(4, 4, 12);
  s.random("multi_head_attention", {{"seq", "16"}, {"d_model", "64"}}, {{"heads", "4"}}, {0}, "realistic: C = 64, 4 heads");
}

void edge(suite_builder& s) {
  const std::string inf = "-inf";
  s.random("multi_head_attention", {{"seq", "3"}, {"d_model", "8"}}, {{"heads", "2"}}, {0}, "query row 2 fully masked in every head", "fully_masked_row", {"fully_masked_row"});
  s.last().inputs["mask"] = real({3, 3}, {"0", inf, "0", "0", "0", "0", inf, inf, inf});
}

} // namespace

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
  g.standard = standard;
  g.edge = edge;
  return g;
}

} // namespace gradspec::cases
