// embedding: ids [batch..., seq] in [0, vocab), table [vocab, d_model].
#include "common.hpp"

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  s.random("embedding", {{"seq", "3"}, {"vocab", "5"}, {"d_model", "4"}}, {}, {0, 1}, "tiny, readable");
  s.random("embedding", {{"batch", "2"}, {"seq", "6"}, {"vocab", "8"}, {"d_model", "8"}}, {{"scale", "sqrt_d"}}, {0}, "scaled by sqrt(d_model)");
  s.random("embedding", {{"batch", "2x2"}, {"seq", "4"}, {"vocab", "10"}, {"d_model", "16"}}, {}, {0}, "two batch axes");
}

void edge(suite_builder& s) {
  // The stream 0x5eed after its first 8296 draws (layer_norm's and cross_entropy's): the edge cases of
  // layer_norm, cross_entropy and embedding drew from one stream 0x5eed, in that order, when they sat
  // together in suites.cpp, so cases/edge stays byte for byte.
  value_source v(0x5eed, 8296);
  s.exact("embedding/repeated_ids/0", "embedding", {},
          {{"ids", ints({2, 4}, {1, 3, 1, 1, 0, 3, 2, 1})}, {"table", v.grid({4, 3})}}, "id 1 four times, id 3 twice", {"repeated_ids"});
}

void notes(flag_notes_builder& n) {
  n.add("repeated_ids", "edge_case",
        "Repeated token ids: the embedding gradient must add the contributions of every occurrence (a scatter "
        "that overwrites keeps only one).");
}

} // namespace

op_generator embedding_generator() {
  op_generator g{"embedding",
                 {{"seq", 4, "ids per batch entry"}, {"vocab", 10, "V, table rows"}, {"d_model", 8, "C, table columns"}},
                 [](const case_shape& s) { return s.label({"seq", "vocab", "d_model"}); },
                 [](test_case& c, const case_shape& s, value_source& v) {
                   c.inputs["ids"] = v.integers(s.with_batch({"seq"}), 0, s["vocab"] - 1);
                   c.inputs["table"] = v.grid(s.plain({"vocab", "d_model"}));
                 }};
  g.standard = standard;
  g.edge = edge;
  g.notes = notes;
  return g;
}

} // namespace gradspec::cases
