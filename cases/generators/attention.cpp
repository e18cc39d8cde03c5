// attention: q [batch..., seq, d_k], k [batch..., seq_kv, d_k], v [batch..., seq_kv, d_v];
// seq_kv and d_v default to seq and d_k.
#include "common.hpp"

namespace gradspec::cases {
op_generator attention_generator() {
  auto resolve = [](case_shape s) {
    if (s.dims["seq_kv"] == 0) s.dims["seq_kv"] = s["seq"];
    if (s.dims["d_v"] == 0) s.dims["d_v"] = s["d_k"];
    return s;
  };
  return {"attention",
          {{"seq", 4, "Tq, queries"}, {"seq_kv", 0, "Tk, keys (default: seq)"}, {"d_k", 8, "D"}, {"d_v", 0, "Dv (default: d_k)"}},
          [resolve](const case_shape& s) { return resolve(s).label({"seq", "seq_kv", "d_k", "d_v"}); },
          [resolve](test_case& c, const case_shape& given, value_source& v) {
            const case_shape s = resolve(given);
            c.inputs["q"] = v.grid(s.with_batch({"seq", "d_k"}));
            c.inputs["k"] = v.grid(s.with_batch({"seq_kv", "d_k"}));
            c.inputs["v"] = v.grid(s.with_batch({"seq_kv", "d_v"}));
          }};
}
} // namespace gradspec::cases
