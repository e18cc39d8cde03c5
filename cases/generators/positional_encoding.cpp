// positional_encoding: no inputs; `seq` and `d_model` give the params length and d_model.
#include "common.hpp"

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  s.random("positional_encoding", {{"seq", "4"}, {"d_model", "4"}}, {}, {0}, "tiny, readable");
  s.random("positional_encoding", {{"seq", "64"}, {"d_model", "16"}}, {}, {0}, "realistic length");
  s.random("positional_encoding", {{"seq", "8"}, {"d_model", "6"}}, {{"offset", "10"}}, {0}, "positions from an offset");
  s.random("positional_encoding", {{"seq", "8"}, {"d_model", "8"}}, {{"base", "100"}}, {0}, "another base");
}

void edge(suite_builder& s) {
  s.exact("positional_encoding/large_position/0", "positional_encoding", {{"length", "4"}, {"d_model", "8"}, {"offset", "10000"}}, {},
          "positions 10000 to 10003", {"large_position"});
  s.exact("positional_encoding/large_position/1", "positional_encoding", {{"length", "2"}, {"d_model", "16"}, {"offset", "4095"}}, {},
          "positions 4095, 4096", {"large_position"});
  s.exact("positional_encoding/odd_d_model/0", "positional_encoding", {{"length", "5"}, {"d_model", "7"}}, {}, "d_model = 7", {"odd_d_model"});
}

void notes(flag_notes_builder& n) {
  n.add("large_position", "edge_case",
        "Positional encoding at positions in the thousands: angles pos/base^(2i/d) must be formed in enough "
        "precision; float32 angles near 1e4 have an absolute error of about 1e-3.");
  n.add("odd_d_model", "edge_case",
        "Odd d_model: the last column is a sin column; implementations that assume even widths index out of "
        "range or drop it.");
}

} // namespace

op_generator positional_encoding_generator() {
  op_generator g{"positional_encoding",
                 {{"seq", 16, "length (rows)"}, {"d_model", 8, "columns"}},
                 [](const case_shape& s) { return s.label({"seq", "d_model"}); },
                 [](test_case&, const case_shape&, value_source&) {}};
  g.implied_params = [](const case_shape& s) {
    return std::map<std::string, std::string>{{"length", std::to_string(s["seq"])}, {"d_model", std::to_string(s["d_model"])}};
  };
  g.standard = standard;
  g.edge = edge;
  g.notes = notes;
  return g;
}

} // namespace gradspec::cases
