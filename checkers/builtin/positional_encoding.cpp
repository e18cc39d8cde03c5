// positional_encoding: pe [length, d] with PE(pos, 2i) = sin(pos / base^(2i/d)) and
// PE(pos, 2i+1) = cos(pos / base^(2i/d)), pos = offset + row (Vaswani et al. 3.5). With odd d the
// last column is a sin column. No inputs, no gradient. Computed in eT as written.
#include "common.hpp"

#include <cmath>

namespace gradspec::checkers::builtin {

template <class eT> mat<eT> positional_encoding(std::int64_t length, std::int64_t d, eT base, std::int64_t offset) {
  if (length < 0) fail("params/length", "must be >= 0");
  if (d < 0) fail("params/d_model", "must be >= 0");
  mat<eT> pe(static_cast<uword>(length), static_cast<uword>(d));
  for (uword j = 0; j < pe.n_cols; ++j) {
    const eT frequency_denominator = std::pow(base, static_cast<eT>(2 * (j / 2)) / static_cast<eT>(d));
    for (uword p = 0; p < pe.n_rows; ++p) {
      const eT angle = static_cast<eT>(offset + static_cast<std::int64_t>(p)) / frequency_denominator;
      pe(p, j) = j % 2 == 0 ? std::sin(angle) : std::cos(angle);
    }
  }
  return pe;
}

template <class eT> candidate_result evaluate_positional_encoding(const test_case& c) {
  case_view<eT> v(c);
  const std::int64_t length = v.integer("length"), d = v.integer("d_model"), offset = v.integer("offset");
  candidate_result r;
  put(r, "outputs.pe", positional_encoding(length, d, v.real("base"), offset), {length, d});
  return r;
}

#define GRADSPEC_INSTANTIATE(eT)                                                              \
  template mat<eT> positional_encoding(std::int64_t, std::int64_t, eT, std::int64_t);        \
  template candidate_result evaluate_positional_encoding<eT>(const test_case&);
GRADSPEC_INSTANTIATE(double)
GRADSPEC_INSTANTIATE(float)
#undef GRADSPEC_INSTANTIATE

} // namespace gradspec::checkers::builtin
