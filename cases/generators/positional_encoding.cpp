// positional_encoding: no inputs; `seq` and `d_model` give the params length and d_model.
#include "common.hpp"

namespace gradspec::cases {
op_generator positional_encoding_generator() {
  op_generator g{"positional_encoding",
                 {{"seq", 16, "length (rows)"}, {"d_model", 8, "columns"}},
                 [](const case_shape& s) { return s.label({"seq", "d_model"}); },
                 [](test_case&, const case_shape&, value_source&) {}};
  g.implied_params = [](const case_shape& s) {
    return std::map<std::string, std::string>{{"length", std::to_string(s["seq"])}, {"d_model", std::to_string(s["d_model"])}};
  };
  return g;
}
} // namespace gradspec::cases
