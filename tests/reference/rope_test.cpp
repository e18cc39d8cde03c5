// rope: what is special about the rotary embedding. Position 0 is the identity; pair 0 at position 1
// turns by exactly 1 radian (cos 1 and sin 1 from the literature); each pair keeps its norm; "half"
// is "interleaved" on permuted features; <rope(q, m), rope(k, n)> depends only on m - n (RoFormer
// 3.4.2); partial rotary leaves the tail alone; offset shifts rows; bad params. Finite differences,
// batch axes, float64-vs-MPFR and determinism run for every op in catalogue_test.
#include "gradspec/reference/ops/rope.hpp"
#include "gradspec/errors.hpp"
#include "support/tensor_checks.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace gradspec::reference;
using namespace gradspec::testing;

namespace {

tensor<mp_real> rope(const tensor<mp_real>& x, const std::map<std::string, std::string>& given) {
  return run("rope", {{"x", &x}}, given);
}

mp_real abs_of(const mp_real& v) { return v < 0 ? mp_real(-v) : v; }

// |a - b| over all elements (shapes equal).
mp_real max_diff(const tensor<mp_real>& a, const tensor<mp_real>& b) {
  mp_real worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, abs_of(mp_real(a.data[i] - b.data[i])));
  return worst;
}

const mp_real tiny = mp_real("1e-70"); // 256-bit arithmetic keeps ~77 digits

} // namespace

BOOST_AUTO_TEST_SUITE(rope_test)

BOOST_AUTO_TEST_CASE(position_zero_is_the_identity) {
  precision_guard g(256);
  const auto x = grid_tensor<mp_real>({1, 8}, 1);
  for (const char* style : {"half", "interleaved"}) BOOST_TEST(same(rope(x, {{"style", style}}), x), style);
}

BOOST_AUTO_TEST_CASE(pair_zero_at_position_one_turns_by_one_radian) {
  precision_guard g(256);
  // cos 1 and sin 1 to 40 digits (Abramowitz & Stegun table 4.6; OEIS A049470, A049469).
  const mp_real cos1("0.5403023058681397174009366074429766037323");
  const mp_real sin1("0.8414709848078965066525023216302989996226");
  tensor<mp_real> x(shape_t{2, 4}); // row 1 (position 1): a = 1 in pair 0, b = 0
  x.data[4 + 0] = 1;
  auto y = rope(x, {}); // half: pair 0 is features (0, 2)
  BOOST_TEST(abs_of(mp_real(y.data[4 + 0] - cos1)) < mp_real("1e-39"));
  BOOST_TEST(abs_of(mp_real(y.data[4 + 2] - sin1)) < mp_real("1e-39"));
  BOOST_TEST(y.data[4 + 1] == 0);
  BOOST_TEST(y.data[4 + 3] == 0);
  auto z = rope(x, {{"style", "interleaved"}}); // pair 0 is features (0, 1)
  BOOST_TEST(abs_of(mp_real(z.data[4 + 0] - cos1)) < mp_real("1e-39"));
  BOOST_TEST(abs_of(mp_real(z.data[4 + 1] - sin1)) < mp_real("1e-39"));
  // pair 1 of d = 4 turns by 1·10000^(-2/4) = 0.01 rad: b = 1 goes to (-sin 0.01, cos 0.01)
  tensor<mp_real> u(shape_t{2, 4});
  u.data[4 + 3] = 1; // half: pair 1 is features (1, 3)
  auto w = rope(u, {});
  BOOST_TEST(abs_of(mp_real(w.data[4 + 1] + sin(mp_real("0.01")))) < tiny);
  BOOST_TEST(abs_of(mp_real(w.data[4 + 3] - cos(mp_real("0.01")))) < tiny);
}

BOOST_AUTO_TEST_CASE(every_pair_keeps_its_norm) {
  precision_guard g(256);
  const auto x = grid_tensor<mp_real>({2, 5, 8}, 2);
  const auto y = rope(x, {{"offset", "1000"}});
  for (std::size_t r = 0; r < x.rows(); ++r)
    for (std::size_t i = 0; i < 4; ++i) {
      const mp_real before = x.row(r)[i] * x.row(r)[i] + x.row(r)[i + 4] * x.row(r)[i + 4];
      const mp_real after = y.row(r)[i] * y.row(r)[i] + y.row(r)[i + 4] * y.row(r)[i + 4];
      BOOST_TEST(abs_of(mp_real(before - after)) < tiny);
    }
}

BOOST_AUTO_TEST_CASE(half_is_interleaved_on_permuted_features) {
  precision_guard g(256);
  const std::size_t D = 8, R = 6; // partial: features 6, 7 pass through
  const auto x = grid_tensor<mp_real>({3, D}, 3);
  // P sends feature 2i to i and 2i + 1 to i + R/2 (the tail stays).
  auto permute = [&](const tensor<mp_real>& t) {
    tensor<mp_real> out = t;
    for (std::size_t r = 0; r < t.rows(); ++r)
      for (std::size_t i = 0; i < R / 2; ++i) {
        out.row(r)[i] = t.row(r)[2 * i];
        out.row(r)[i + R / 2] = t.row(r)[2 * i + 1];
      }
    return out;
  };
  const auto half = rope(permute(x), {{"rotary_dim", "6"}, {"offset", "7"}});
  const auto interleaved = rope(x, {{"rotary_dim", "6"}, {"offset", "7"}, {"style", "interleaved"}});
  BOOST_TEST(same(half, permute(interleaved)));
}

BOOST_AUTO_TEST_CASE(scores_depend_only_on_relative_position) {
  precision_guard g(256);
  // q and k repeated on every row: <rope(q)[m], rope(k)[n]> must equal <rope(q)[m+s], rope(k)[n+s]>.
  const std::size_t D = 8, T = 6;
  const auto q1 = grid_tensor<mp_real>({1, D}, 4), k1 = grid_tensor<mp_real>({1, D}, 5);
  tensor<mp_real> q(shape_t{T, D}), k(shape_t{T, D});
  for (std::size_t t = 0; t < T; ++t)
    for (std::size_t d = 0; d < D; ++d) q.row(t)[d] = q1.data[d], k.row(t)[d] = k1.data[d];
  for (const char* style : {"half", "interleaved"}) {
    const auto rq = rope(q, {{"style", style}}), rk = rope(k, {{"style", style}});
    auto score = [&](std::size_t m, std::size_t n) {
      mp_real s = 0;
      for (std::size_t d = 0; d < D; ++d) s += rq.row(m)[d] * rk.row(n)[d];
      return s;
    };
    BOOST_TEST(abs_of(mp_real(score(3, 1) - score(5, 3))) < tiny, style);
    BOOST_TEST(abs_of(mp_real(score(1, 4) - score(2, 5))) < tiny, style);
    BOOST_TEST(abs_of(mp_real(score(2, 2) - score(0, 0))) < tiny, style);
    BOOST_TEST(abs_of(mp_real(score(3, 1) - score(1, 3))) > mp_real("1e-3"), style); // not symmetric in m - n
  }
}

BOOST_AUTO_TEST_CASE(partial_rotary_leaves_the_tail_and_offset_shifts_rows) {
  precision_guard g(256);
  const auto x = grid_tensor<mp_real>({4, 10}, 6);
  const auto y = rope(x, {{"rotary_dim", "4"}, {"offset", "3"}});
  for (std::size_t r = 0; r < 4; ++r)
    for (std::size_t d = 4; d < 10; ++d) BOOST_TEST(y.row(r)[d] == x.row(r)[d]);
  // Rows 1..3 at offset 3 are rows 2..4 of the same x evaluated from offset 2.
  tensor<mp_real> shifted(shape_t{5, 10});
  for (std::size_t r = 0; r < 4; ++r)
    for (std::size_t d = 0; d < 10; ++d) shifted.row(r + 1)[d] = x.row(r)[d];
  const auto z = rope(shifted, {{"rotary_dim", "4"}, {"offset", "2"}});
  for (std::size_t r = 0; r < 4; ++r)
    for (std::size_t d = 0; d < 10; ++d) BOOST_TEST(z.row(r + 1)[d] == y.row(r)[d]);
  BOOST_TEST(max_diff(rope(x, {{"rotary_dim", "0"}}), x) == 0); // R = 0 rotates nothing
}

BOOST_AUTO_TEST_CASE(rejects_bad_params) {
  const auto x = grid_tensor<mp_real>({2, 6}, 7);
  const auto odd = grid_tensor<mp_real>({2, 5}, 7);
  const auto vector = grid_tensor<mp_real>({6}, 7);
  const std::vector<std::tuple<const tensor<mp_real>*, std::map<std::string, std::string>, std::string>> bad = {
      {&x, {{"rotary_dim", "3"}}, "params/rotary_dim"}, {&x, {{"rotary_dim", "8"}}, "params/rotary_dim"},
      {&x, {{"rotary_dim", "-2"}}, "params/rotary_dim"}, {&x, {{"base", "0"}}, "params/base"},
      {&x, {{"offset", "-1"}}, "params/offset"}, {&x, {{"offset", "9223372036854775807"}}, "params/offset"},
      {&odd, {}, "inputs/x"}, {&vector, {}, "inputs/x"}};
  for (const auto& [input, given, path] : bad) {
    try {
      rope(*input, given);
      BOOST_ERROR("no error, expected one at " << path);
    } catch (const gradspec::bad_input& e) {
      BOOST_TEST(e.path() == path, e.what());
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
