#include "gradspec/reference/ops/embedding.hpp"

#include "gradspec/reference/ops/common.hpp"

#include <cmath>
#include <cstddef>
#include <limits>
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

// positional_encoding (Vaswani et al. 2017, 3.5), pe [length, d], rows r = 0..length-1:
//   pos = offset + r (0-based);  for column pair i (columns 2i and 2i+1):
//   div_i = base^(2i/d);  pe[r, 2i] = sin(pos / div_i);  pe[r, 2i+1] = cos(pos / div_i)
// The same exponent 2i/d for the sin and the cos column of a pair; an odd d ends with a sin column.
// The angle is formed in T (in mp_real at the working precision: pos is exact, 2i/d and base^(2i/d)
// are rounded once each), so large positions keep their digits. No inputs, no gradient.
template <class T> tensor<T> positional_encoding(std::int64_t length, std::int64_t d_model, const T& base, std::int64_t offset) {
  using std::cos;
  using std::pow;
  using std::sin;
  const std::size_t L = static_cast<std::size_t>(length), D = static_cast<std::size_t>(d_model);
  tensor<T> pe(shape_t{length, d_model});
  std::vector<T> div((D + 1) / 2);
  for (std::size_t i = 0; i < div.size(); ++i) div[i] = pow(base, T(static_cast<long long>(2 * i)) / T(static_cast<long long>(D)));
  for (std::size_t r = 0; r < L; ++r) {
    const T pos(static_cast<long long>(offset + static_cast<std::int64_t>(r)));
    T* row = pe.row(r);
    for (std::size_t i = 0; i < div.size(); ++i) {
      const T angle = pos / div[i];
      row[2 * i] = sin(angle);
      if (2 * i + 1 < D) row[2 * i + 1] = cos(angle);
    }
  }
  return pe;
}

#define GRADSPEC_EMBEDDING_INSTANTIATE(T)                                                             \
  template tensor<T> embedding_forward(const int_tensor&, const tensor<T>&, const T&);                \
  template tensor<T> embedding_backward(const tensor<T>&, const int_tensor&, const shape_t&, const T&); \
  template tensor<T> positional_encoding(std::int64_t, std::int64_t, const T&, std::int64_t);
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

template <class T> op_result<T> positional_encoding_evaluate(const op_args<T>& args, bool) {
  const auto& prm = args.params;
  const std::int64_t length = prm.integer("length"), d_model = prm.integer("d_model"), offset = prm.integer("offset");
  require(length >= 1, "params/length", "must be >= 1, got " + std::to_string(length));
  require(d_model >= 1, "params/d_model", "must be >= 1, got " + std::to_string(d_model));
  // Checked before the table [length, d_model] is allocated.
  require(length <= max_dimension, "params/length", "at most " + std::to_string(max_dimension) + ", got " + std::to_string(length));
  require(d_model <= max_dimension, "params/d_model", "at most " + std::to_string(max_dimension) + ", got " + std::to_string(d_model));
  require(length * d_model <= max_case_values, "params/length",
          "length · d_model = " + std::to_string(length * d_model) + " values, more than " + std::to_string(max_case_values));
  require(offset >= 0, "params/offset", "must be >= 0, got " + std::to_string(offset));
  require(offset <= std::numeric_limits<std::int64_t>::max() - length, "params/offset",
          "offset + length overflows a 64-bit position");
  const T base = prm.template real<T>("base");
  require(base > 0, "params/base", "must be > 0, got " + prm.at("base").text);
  op_result<T> r;
  r.outputs["pe"] = positional_encoding<T>(length, d_model, base, offset);
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

op_info positional_encoding_op() {
  return {"positional_encoding",
          "sinusoidal positions (Vaswani): PE(pos, 2i) = sin(pos/base^(2i/d)), PE(pos, 2i+1) = cos(pos/base^(2i/d)), "
          "pos = offset + row (0-based)",
          {{"length", param_type::integer, "", {}, false, "rows T (>= 1)"},
           {"d_model", param_type::integer, "", {}, false, "columns C (>= 1); an odd C ends with a sin column"},
           {"base", param_type::real, "10000", {}, false, "the base of the wavelengths (> 0)"},
           {"offset", param_type::integer, "0", {}, false, "position of the first row (>= 0)"}},
          [](const param_map&) { return std::vector<input_spec>{}; },
          {{"pe", "[T, C]", false}},
          {},
          &positional_encoding_evaluate<double>,
          &positional_encoding_evaluate<mp_real>, &positional_encoding_evaluate<float>};
}

} // namespace gradspec::reference
