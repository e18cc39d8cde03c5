#include "gradspec/reference/ops/embedding.hpp"

#include "gradspec/reference/ops/common.hpp"

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

namespace gradspec::reference {

// embedding: ids [...] (int64, each in [0, V), checked by the binding), table [V, C], scale s:
//   y[n, c] = s · table[ids[n], c]                      y [..., C] (ids' shape plus C)
// s is 1 ("none") or sqrt(C) ("sqrt_d", as in Vaswani et al. 3.4); with s = 1 the output is an exact
// copy of the table rows.
template <class T> tensor<T> embedding_forward(const int_tensor& ids, const tensor<T>& table, const T& scale) {
  const std::size_t C = static_cast<std::size_t>(table.shape[1]);
  shape_t out_shape = ids.shape;
  out_shape.push_back(table.shape[1]);
  tensor<T> y(out_shape);
  for (std::size_t n = 0; n < ids.size(); ++n) {
    const T* src = table.row(static_cast<std::size_t>(ids.data[n]));
    T* dst = y.data.data() + n * C;
    for (std::size_t c = 0; c < C; ++c) {
      dst[c] = src[c];
      dst[c] *= scale;
    }
  }
  return y;
}

// embedding backward, with the cotangent dy [..., C]:
//   dtable[v, c] = s · sum_{n : ids[n] = v} dy[n, c]     dtable [V, C]
// A scatter-add: every occurrence of an id adds its row (repeated ids accumulate); rows of ids that do
// not occur stay 0. The rows are added in flat order of ids, then multiplied by s once.
template <class T>
tensor<T> embedding_backward(const tensor<T>& dy, const int_tensor& ids, const shape_t& table_shape, const T& scale) {
  const std::size_t C = static_cast<std::size_t>(table_shape[1]);
  tensor<T> dtable(table_shape);
  for (std::size_t n = 0; n < ids.size(); ++n) {
    T* dst = dtable.row(static_cast<std::size_t>(ids.data[n]));
    const T* src = dy.data.data() + n * C;
    for (std::size_t c = 0; c < C; ++c) dst[c] += src[c];
  }
  if (scale != 1)
    for (auto& v : dtable.data) v *= scale;
  return dtable;
}

#define GRADSPEC_EMBEDDING_INSTANTIATE(T)                                                             \
  template tensor<T> embedding_forward(const int_tensor&, const tensor<T>&, const T&);                \
  template tensor<T> embedding_backward(const tensor<T>&, const int_tensor&, const shape_t&, const T&);
GRADSPEC_EMBEDDING_INSTANTIATE(double)
GRADSPEC_EMBEDDING_INSTANTIATE(float)
GRADSPEC_EMBEDDING_INSTANTIATE(mp_real)
#undef GRADSPEC_EMBEDDING_INSTANTIATE

namespace {

template <class T> op_result<T> embedding_evaluate(const op_args<T>& args, bool backward) {
  const auto& ids = int_input(args, "ids");
  const auto& table = input(args, "table");
  require(table.rank() == 2, "inputs/table", "expected shape [V, C], got " + shape_to_string(table.shape));
  require(ids.size() == numel(ids.shape), "inputs/ids",
          "shape " + shape_to_string(ids.shape) + " holds " + std::to_string(numel(ids.shape)) + " values, got " +
              std::to_string(ids.size()));
  const std::int64_t V = table.shape[0];
  for (std::size_t n = 0; n < ids.size(); ++n)
    require(ids.data[n] >= 0 && ids.data[n] < V, "inputs/ids",
            "id " + std::to_string(ids.data[n]) + " at flat index " + std::to_string(n) + " is outside [0, " +
                std::to_string(V) + ") (table has V = " + std::to_string(V) + " rows)");
  using std::sqrt;
  const T scale = args.params.choice("scale") == "sqrt_d" ? T(sqrt(T(static_cast<long long>(table.shape[1])))) : T(1);
  op_result<T> r;
  r.outputs["y"] = embedding_forward(ids, table, scale);
  if (backward) r.gradients["table"] = embedding_backward(cotangent(args, "y", r.outputs["y"].shape), ids, table.shape, scale);
  return r;
}

} // namespace

op_info embedding_op() {
  return {"embedding",
          "y = table[ids] · s, s = 1 or sqrt(C); gradient for the table only (scatter-add, repeated ids accumulate)",
          {{"scale", param_type::choice, "\"none\"", {"none", "sqrt_d"}, false,
            "\"none\": y = table[ids]; \"sqrt_d\": y = table[ids]·sqrt(C) (Vaswani et al. 3.4)"}},
          [](const param_map&) {
            return std::vector<input_spec>{{"ids", "[...]", true, false, false}, {"table", "[V, C]"}};
          },
          {{"y", "[..., C]"}},
          {},
          &embedding_evaluate<double>,
          &embedding_evaluate<mp_real>, &embedding_evaluate<float>};
}

} // namespace gradspec::reference
