// exact_gemm: every output is the exact inner product correctly rounded. Known values: the same sums
// accumulated by MPFR at 8192 bits (exact for these exponent ranges) and rounded once. Also: a
// cancellation the plain kernel loses and the exact one keeps, rows too wide for slicing, non-finite
// inputs declined, and a whole encoder layer through the exact path against the plain one.
#include "gradspec/cases/generate.hpp"
#include "gradspec/cases/generators.hpp"
#include "gradspec/reference/exact_gemm.hpp"
#include "gradspec/reference/kernels.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <gmp.h>
#include <mpfr.h>

#include <cstdint>
#include <limits>
#include <vector>

using namespace gradspec;
using reference::exact_gemm;
using reference::mp_real;

namespace {

// Restores exact_gemm_threshold.
struct threshold_guard {
  explicit threshold_guard(std::size_t t) : saved(reference::exact_gemm_threshold) { reference::exact_gemm_threshold = t; }
  ~threshold_guard() { reference::exact_gemm_threshold = saved; }
  std::size_t saved;
};

// `count` numbers with full random mantissas of `bits` bits, exponents in [-spread, spread], random
// signs, about one in eight exactly zero.
std::vector<mp_real> random_numbers(std::size_t count, unsigned bits, long spread, unsigned long seed) {
  gmp_randstate_t state;
  gmp_randinit_default(state);
  gmp_randseed_ui(state, seed);
  std::vector<mp_real> out(count);
  for (auto& x : out) {
    mpfr_ptr v = x.backend().data();
    mpfr_set_prec(v, bits);
    const unsigned long r = gmp_urandomm_ui(state, 1ul << 20);
    if (r % 8 == 0) { mpfr_set_zero(v, 1); continue; }
    mpfr_urandomb(v, state);
    mpfr_mul_2si(v, v, static_cast<long>(r % (2 * spread + 1)) - spread, MPFR_RNDN);
    if (r & 8) mpfr_neg(v, v, MPFR_RNDN);
  }
  gmp_randclear(state);
  return out;
}

// opA(i,p)·opB(p,j) summed exactly at 8192 bits (+ c when accumulating), rounded once to c's precision.
void exact_reference(std::size_t m, std::size_t n, std::size_t k, const mp_real* a, std::ptrdiff_t a_row, std::ptrdiff_t a_col,
                     const mp_real* b, std::ptrdiff_t b_row, std::ptrdiff_t b_col, mp_real* c, bool accumulate) {
  mpfr_t acc, prod;
  mpfr_inits2(8192, acc, prod, static_cast<mpfr_ptr>(nullptr));
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      mpfr_ptr out = c[i * n + j].backend().data();
      if (accumulate) mpfr_set(acc, out, MPFR_RNDN); else mpfr_set_zero(acc, 1);
      for (std::size_t p = 0; p < k; ++p) {
        BOOST_REQUIRE_EQUAL(mpfr_mul(prod, a[i * a_row + p * a_col].backend().data(), b[p * b_row + j * b_col].backend().data(), MPFR_RNDN), 0);
        BOOST_REQUIRE_EQUAL(mpfr_add(acc, acc, prod, MPFR_RNDN), 0); // exact, or the reference is not one
      }
      mpfr_set(out, acc, MPFR_RNDN);
    }
  mpfr_clears(acc, prod, static_cast<mpfr_ptr>(nullptr));
}

bool same_bits(const mp_real& x, const mp_real& y) {
  return mpfr_equal_p(x.backend().data(), y.backend().data()) && mpfr_signbit(x.backend().data()) == mpfr_signbit(y.backend().data());
}

std::vector<mp_real> outputs(std::size_t count, unsigned bits, unsigned long seed) { return random_numbers(count, bits, 3, seed); }

} // namespace

BOOST_AUTO_TEST_SUITE(exact_gemm_test)

BOOST_AUTO_TEST_CASE(correctly_rounded_against_exact_sums) {
  // k = 1, 5, 300, 5000: slices of 26, 25, 22 and 20 bits. Layouts nn, nt and tn through strides.
  for (unsigned bits : {64u, 128u, 192u})
    for (std::size_t k : {1u, 5u, 300u, 5000u})
      for (int layout = 0; layout < 3; ++layout)
        for (bool accumulate : {false, true}) {
          const std::size_t m = 6, n = 5;
          const auto a = random_numbers(m * k, bits, 24, 11 + k + layout); // rows 48 + bits wide
          const auto b = random_numbers(k * n, bits, 24, 97 + k + layout);
          std::ptrdiff_t a_row = k, a_col = 1, b_row = n, b_col = 1;
          if (layout == 1) b_row = 1, b_col = k;             // B stored [n, k]
          if (layout == 2) a_row = 1, a_col = m;             // A stored [k, m]
          auto c = outputs(m * n, bits, 5 + k), want = c;
          BOOST_TEST_CONTEXT("bits " << bits << " k " << k << " layout " << layout << " accumulate " << accumulate) {
            BOOST_REQUIRE(exact_gemm(m, n, k, a.data(), a_row, a_col, b.data(), b_row, b_col, c.data(), accumulate));
            exact_reference(m, n, k, a.data(), a_row, a_col, b.data(), b_row, b_col, want.data(), accumulate);
            for (std::size_t q = 0; q < m * n; ++q) BOOST_TEST(same_bits(c[q], want[q]), "element " << q);
          }
        }
}

BOOST_AUTO_TEST_CASE(keeps_what_the_plain_kernel_cancels) {
  // [2^100, 1, -2^100]·[1, 1, 1] at 64 bits: one fma at a time, 2^100 + 1 rounds to 2^100 and the sum
  // is 0; the exact inner product is 1.
  std::vector<mp_real> a(3), b(3), c(1);
  for (auto* v : {&a, &b, &c})
    for (auto& x : *v) mpfr_set_prec(x.backend().data(), 64);
  mpfr_set_ui_2exp(a[0].backend().data(), 1, 100, MPFR_RNDN);
  mpfr_set_ui(a[1].backend().data(), 1, MPFR_RNDN);
  mpfr_set_si_2exp(a[2].backend().data(), -1, 100, MPFR_RNDN);
  for (auto& x : b) mpfr_set_ui(x.backend().data(), 1, MPFR_RNDN);
  {
    threshold_guard plain(std::numeric_limits<std::size_t>::max());
    reference::matmul_nn(a.data(), b.data(), c.data(), 1, 3, 1);
    BOOST_TEST(mpfr_zero_p(c[0].backend().data())); // the test can tell the two kernels apart
  }
  BOOST_REQUIRE(exact_gemm(1, 1, 3, a.data(), 3, 1, b.data(), 1, 1, c.data(), false));
  BOOST_TEST(mpfr_cmp_ui(c[0].backend().data(), 1) == 0);
  threshold_guard exact(0);
  reference::matmul_nn(a.data(), b.data(), c.data(), 1, 3, 1);
  BOOST_TEST(mpfr_cmp_ui(c[0].backend().data(), 1) == 0); // gemm routes through exact_gemm
}

BOOST_AUTO_TEST_CASE(rows_too_wide_keep_the_plain_kernel) {
  // Row 1 of A spans 2^300 .. 2^-300 (wider than 128 + 64 bits): its outputs are the plain kernel's,
  // bit for bit; the other rows are exact.
  const std::size_t m = 3, n = 4, k = 50;
  auto a = random_numbers(m * k, 128, 10, 3);
  const auto b = random_numbers(k * n, 128, 10, 4);
  mpfr_set_ui_2exp(a[k + 2].backend().data(), 3, 300, MPFR_RNDN);
  mpfr_set_ui_2exp(a[k + 7].backend().data(), 5, -300, MPFR_RNDN);
  auto c = outputs(m * n, 128, 1), want = c, plain = c;
  BOOST_REQUIRE(exact_gemm(m, n, k, a.data(), k, 1, b.data(), n, 1, c.data(), false));
  exact_reference(m, n, k, a.data(), k, 1, b.data(), n, 1, want.data(), false);
  {
    threshold_guard off(std::numeric_limits<std::size_t>::max());
    reference::matmul_nn(a.data(), b.data(), plain.data(), m, k, n);
  }
  for (std::size_t q = 0; q < m * n; ++q) BOOST_TEST(same_bits(c[q], q / n == 1 ? plain[q] : want[q]), "element " << q);
}

BOOST_AUTO_TEST_CASE(declines_non_finite_inputs) {
  for (const char* special : {"inf", "-inf", "nan"}) {
    auto a = random_numbers(4 * 3, 128, 5, 8);
    const auto b = random_numbers(3 * 2, 128, 5, 9);
    a[5] = reference::parse_scalar<mp_real>(special);
    auto c = outputs(4 * 2, 128, 2), before = c;
    BOOST_TEST(!exact_gemm(4, 2, 3, a.data(), 3, 1, b.data(), 2, 1, c.data(), false));
    for (std::size_t q = 0; q < c.size(); ++q) BOOST_TEST(same_bits(c[q], before[q]));
  }
}

BOOST_AUTO_TEST_CASE(declines_precisions_needing_too_many_slices) {
  // 2048-bit operands would need about 100 digits a line: the plain kernel's business.
  const auto a = random_numbers(3 * 40, 2048, 5, 21), b = random_numbers(40 * 2, 2048, 5, 22);
  auto c = outputs(3 * 2, 2048, 3), before = c;
  BOOST_TEST(!exact_gemm(3, 2, 40, a.data(), 40, 1, b.data(), 2, 1, c.data(), false));
  for (std::size_t q = 0; q < c.size(); ++q) BOOST_TEST(same_bits(c[q], before[q]));
  // 448 bits still qualify (k = 40: 23-bit slices, at most 23 digits), exact to the last bit.
  const auto a2 = random_numbers(3 * 40, 448, 5, 23), b2 = random_numbers(40 * 2, 448, 5, 24);
  auto c2 = outputs(3 * 2, 448, 4), want = c2;
  BOOST_REQUIRE(exact_gemm(3, 2, 40, a2.data(), 40, 1, b2.data(), 2, 1, c2.data(), false));
  exact_reference(3, 2, 40, a2.data(), 40, 1, b2.data(), 2, 1, want.data(), false);
  for (std::size_t q = 0; q < c2.size(); ++q) BOOST_TEST(same_bits(c2[q], want[q]));
}

BOOST_AUTO_TEST_CASE(encoder_layer_through_the_exact_path) {
  // A whole encoder layer (forward and backward) at 128 bits with every gemm exact, against the plain
  // kernel at 128 bits, both against the plain kernel at 320 bits: each within 2^-118 of the largest
  // magnitude of its tensor, and the exact path never worse than 4x the plain one's worst error.
  const auto& op = *reference::find_op("encoder_layer");
  cases::test_case c = cases::make_case("encoder_layer", {{"seq", "6"}, {"d_model", "8"}, {"d_ff", "16"}}, {{"heads", reference::param_from_text("2")}}, 3);
  cases::complete_cotangents(c);
  const auto run = [&](unsigned bits, std::size_t threshold) {
    testing::precision_guard precision(bits);
    threshold_guard route(threshold);
    return reference::evaluate(op, cases::case_args<mp_real>(c), true);
  };
  const auto exact = run(128, 0), plain = run(128, std::numeric_limits<std::size_t>::max());
  const auto truth = run(320, std::numeric_limits<std::size_t>::max());
  std::size_t compared = 0;
  using member = reference::tensors<mp_real> reference::op_result<mp_real>::*;
  for (member group : {&reference::op_result<mp_real>::outputs, &reference::op_result<mp_real>::gradients})
    for (const auto& [name, t] : truth.*group) {
      const auto& e = (exact.*group).at(name).data;
      const auto& p = (plain.*group).at(name).data;
      mp_real scale = 0, worst_exact = 0, worst_plain = 0;
      for (const auto& v : t.data) scale = std::max(scale, mp_real(abs(v)));
      for (std::size_t q = 0; q < t.data.size(); ++q) {
        worst_exact = std::max(worst_exact, mp_real(abs(e[q] - t.data[q])));
        worst_plain = std::max(worst_plain, mp_real(abs(p[q] - t.data[q])));
      }
      BOOST_TEST_CONTEXT(name) {
        BOOST_TEST(worst_exact <= scale * pow(mp_real(2), -118));
        BOOST_TEST(worst_plain <= scale * pow(mp_real(2), -118));
        BOOST_TEST(worst_exact <= 4 * worst_plain + scale * pow(mp_real(2), -127));
      }
      ++compared;
    }
  BOOST_TEST(compared >= 10u);
}

BOOST_AUTO_TEST_SUITE_END()
