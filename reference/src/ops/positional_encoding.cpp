#include "gradspec/reference/ops/positional_encoding.hpp"

#include "gradspec/reference/ops/common.hpp"

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

namespace gradspec::reference {

// positional_encoding (Vaswani et al. 2017, 3.5), pe [length, d], rows r = 0..length-1:
//   pos = offset + r (0-based);  for column pair i (columns 2i and 2i+1):
//   div_i = base^(2i/d);  pe[r, 2i] = sin(pos / div_i);  pe[r, 2i+1] = cos(pos / div_i)
// The same exponent 2i/d for the sin and the cos column of a pair; an odd d ends with a sin column.
// The angle is formed in T (in mp_real at the working precision: pos is exact, 2i/d and base^(2i/d)
// are rounded once each), so large positions keep their digits. No inputs, no gradient.
template <class T> tensor<T> positional_encoding_forward(std::int64_t length, std::int64_t d_model, const T& base, std::int64_t offset) {
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

template tensor<double> positional_encoding_forward(std::int64_t, std::int64_t, const double&, std::int64_t);
template tensor<float> positional_encoding_forward(std::int64_t, std::int64_t, const float&, std::int64_t);
template tensor<mp_real> positional_encoding_forward(std::int64_t, std::int64_t, const mp_real&, std::int64_t);

namespace {

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
  r.outputs["pe"] = positional_encoding_forward<T>(length, d_model, base, offset);
  return r;
}

} // namespace

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
