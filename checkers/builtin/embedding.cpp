// embedding: y [..., C] = table[ids]·s, ids [...] int64 in [0, V), table [V, C], s = 1 ("none") or
// sqrt(C) ("sqrt_d"). Gradient: the table only; repeated ids accumulate.
#include "common.hpp"

#include <cmath>

namespace gradspec::checkers::builtin {

void check_ids(const std::vector<std::int64_t>& ids, std::int64_t vocab, const std::string& path) {
  for (std::size_t i = 0; i < ids.size(); ++i)
    if (ids[i] < 0 || ids[i] >= vocab)
      fail(path + "/values/" + std::to_string(i), "id " + std::to_string(ids[i]) + " is outside [0, " + std::to_string(vocab) + ")");
}

template <class eT> mat<eT> embedding_forward(const std::vector<std::int64_t>& ids, const mat<eT>& table, eT scale) {
  mat<eT> y(ids.size(), table.n_cols);
  for (uword i = 0; i < ids.size(); ++i) y.row(i) = table.row(static_cast<uword>(ids[i])) * scale;
  return y;
}

template <class eT> mat<eT> embedding_backward(const mat<eT>& dy, const std::vector<std::int64_t>& ids, uword vocab, eT scale) {
  mat<eT> dtable(vocab, dy.n_cols, arma::fill::zeros);
  for (uword i = 0; i < ids.size(); ++i) dtable.row(static_cast<uword>(ids[i])) += dy.row(i) * scale;
  return dtable;
}

template <class eT> candidate_result evaluate_embedding(const test_case& c) {
  case_view<eT> v(c);
  const auto& ids = v.ints("ids");
  const shape_t& ts = v.shape("table");
  if (ts.size() != 2) fail("inputs/table", "expected shape [V, C], got " + shape_text(ts));
  const mat<eT> table = v.matrix("table", static_cast<uword>(ts[0]), static_cast<uword>(ts[1]));
  check_ids(ids, ts[0], "inputs/ids");
  const eT s = v.choice("scale") == "sqrt_d" ? std::sqrt(static_cast<eT>(ts[1])) : eT(1);

  candidate_result r;
  const shape_t ys = concat(v.int_shape("ids"), {ts[1]});
  put(r, "outputs.y", embedding_forward(ids, table, s), ys);
  if (v.backward()) put(r, "gradients.table", embedding_backward<eT>(v.cotangent("y", ys), ids, table.n_rows, s), ts);
  return r;
}

#define GRADSPEC_INSTANTIATE(eT)                                                                              \
  template mat<eT> embedding_forward(const std::vector<std::int64_t>&, const mat<eT>&, eT);                  \
  template mat<eT> embedding_backward(const mat<eT>&, const std::vector<std::int64_t>&, uword, eT);           \
  template candidate_result evaluate_embedding<eT>(const test_case&);
GRADSPEC_INSTANTIATE(double)
GRADSPEC_INSTANTIATE(float)
#undef GRADSPEC_INSTANTIATE

} // namespace gradspec::checkers::builtin
