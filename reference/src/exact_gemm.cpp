#include "gradspec/reference/exact_gemm.hpp"

#include "gradspec/reference/kernels.hpp"

#include <gmp.h>
#include <mpfr.h>

#include <algorithm>
#include <bit>
#include <memory>
#include <climits>
#include <cstdint>
#include <vector>

// The reference BLAS interface (libblas.so.3: OpenBLAS where installed, netlib otherwise). Column-major.
extern "C" void dgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                       const double* alpha, const double* a, const int* lda, const double* b, const int* ldb,
                       const double* beta, double* c, const int* ldc);

namespace gradspec::reference {

std::size_t exact_gemm_threshold = std::size_t(1) << 15;

namespace {

// The exponent range and lowest set bit of a row or column: all its nonzero elements x satisfy
// 2^lsb <= |x| < 2^top, and every set bit of x has a weight in [2^lsb, 2^(top-1)].
struct extent {
  long top = LONG_MIN; // LONG_MIN: all zero
  long lsb = LONG_MAX;
  bool zero() const { return top == LONG_MIN; }
  long width() const { return zero() ? 0 : top - lsb; }
};

long limbs_of(mpfr_srcptr x) { return static_cast<long>((mpfr_get_prec(x) + GMP_NUMB_BITS - 1) / GMP_NUMB_BITS); }

// Widens e by x (finite, nonzero). MPFR: |x| = 0.d * 2^EXP with the mantissa d in L limbs, the top
// bit of the top limb set; bit j of the limb array weighs 2^(EXP - 64L + j).
void widen(extent& e, mpfr_srcptr x) {
  const long exp = mpfr_get_exp(x), L = limbs_of(x);
  const mp_limb_t* d = x->_mpfr_d;
  long q = 0;
  while (d[q] == 0) ++q; // the top limb is nonzero
  const long low = exp - GMP_NUMB_BITS * L + GMP_NUMB_BITS * q + std::countr_zero(d[q]);
  e.top = std::max(e.top, exp);
  e.lsb = std::min(e.lsb, low);
}

// Bits [jl, jl+s) of the L-limb number d (bits outside [0, 64L) are zero), s <= 26.
std::uint64_t bits_at(const mp_limb_t* d, long L, long jl, int s) {
  if (jl >= GMP_NUMB_BITS * L || jl + s <= 0) return 0;
  const long q = jl >= 0 ? jl / GMP_NUMB_BITS : -((-jl + GMP_NUMB_BITS - 1) / GMP_NUMB_BITS);
  const int off = static_cast<int>(jl - q * GMP_NUMB_BITS);
  const auto limb = [&](long i) -> unsigned __int128 { return i >= 0 && i < L ? d[i] : 0; };
  const unsigned __int128 w = (limb(q + 1) << GMP_NUMB_BITS) | limb(q);
  return static_cast<std::uint64_t>(w >> off) & ((std::uint64_t(1) << s) - 1);
}

// Writes the `count` digits of x at scale 2^top into out[0], out[stride], ...: digit t holds the
// bits of |x| weighing 2^(top - s(t+1)) .. 2^(top - s t - 1), with x's sign.
void digits_of(mpfr_srcptr x, long top, int s, int count, double* out, std::size_t stride) {
  if (mpfr_zero_p(x)) {
    for (int t = 0; t < count; ++t) out[t * stride] = 0;
    return;
  }
  const long exp = mpfr_get_exp(x), L = limbs_of(x);
  const mp_limb_t* d = x->_mpfr_d;
  const double sign = mpfr_signbit(x) ? -1.0 : 1.0;
  for (int t = 0; t < count; ++t) {
    const long weight = top - s * static_cast<long>(t + 1);
    out[t * stride] = sign * static_cast<double>(bits_at(d, L, weight - exp + GMP_NUMB_BITS * L, s));
  }
}

constexpr int max_digits = 32;

int ceil_log2(std::size_t k) { return k <= 1 ? 0 : static_cast<int>(std::bit_width(k - 1)); }

struct plan_line {
  extent e;
  int digits = 0;     // slices this line needs
  bool plain = false; // too wide: its outputs take the plain kernel
};

} // namespace

bool exact_gemm(std::size_t m, std::size_t n, std::size_t k, const mp_real* a, std::ptrdiff_t a_row,
                std::ptrdiff_t a_col, const mp_real* b, std::ptrdiff_t b_row, std::ptrdiff_t b_col, mp_real* c,
                bool accumulate) {
  if (m == 0 || n == 0 || k == 0 || k > (std::size_t(1) << 21) || m > INT_MAX || n > INT_MAX) return false;
  const int s = (53 - ceil_log2(k)) / 2; // >= 16
  // Threads only for products large enough to pay for starting them (and their spinning after).
  const bool parallel = m * n * k >= (std::size_t(1) << 18);
  const long max_width = static_cast<long>(mpfr_get_prec(c[0].backend().data())) + 64;

  // Rows of opA and columns of opB: their extents, digits, and whether they are sliced at all.
  std::vector<plan_line> rows(m), cols(n);
  const auto survey = [&](std::vector<plan_line>& lines, const mp_real* x, std::ptrdiff_t line_stride, std::ptrdiff_t step) {
    bool finite = true;
#pragma omp parallel for schedule(static) reduction(&& : finite) if (parallel)
    for (std::size_t i = 0; i < lines.size(); ++i) {
      for (std::size_t p = 0; p < k; ++p) {
        mpfr_srcptr v = x[i * line_stride + p * step].backend().data();
        if (!mpfr_number_p(v)) finite = false;
        else if (!mpfr_zero_p(v)) widen(lines[i].e, v);
      }
      lines[i].plain = lines[i].e.width() > max_width;
      lines[i].digits = lines[i].plain ? 0 : static_cast<int>((lines[i].e.width() + s - 1) / s);
    }
    return finite;
  };
  if (!survey(rows, a, a_row, a_col) || !survey(cols, b, b_col, b_row)) return false;

  const auto nd_max = [](const std::vector<plan_line>& lines) {
    int most = 0;
    for (const auto& line : lines) most = std::max(most, line.digits);
    return most;
  };
  // Past 32 digits a line (precision above about 500 bits) the slice products outnumber what the
  // plain loop costs: leave it to the plain loop (also the size of the buffer below).
  const int nb = nd_max(cols), na_max = nd_max(rows);
  if (nb > max_digits || na_max > max_digits) return false;
  // opB's slices, row-major k x n each (column-major n x k for dgemm).
  std::unique_ptr<double[]> b_slices(new double[static_cast<std::size_t>(nb) * k * n]); // every entry written below
#pragma omp parallel for schedule(static) if (parallel)
  for (std::size_t j = 0; j < n; ++j) {
    double tmp[max_digits];
    for (std::size_t p = 0; p < k; ++p) {
      digits_of(b[p * b_row + j * b_col].backend().data(), cols[j].e.top, s, cols[j].digits, tmp, 1);
      for (int u = 0; u < nb; ++u) b_slices[(u * k + p) * n + j] = u < cols[j].digits ? tmp[u] : 0.0;
    }
  }

  // Rows in blocks, so that the level sums (levels x rows x n int64) stay near 16 MB: at 128 MB a
  // single product of a small layer's backward pass was a sixth of gen's peak memory, and blocks
  // of a few dozen rows keep dgemm as fast (bench: 512^3 at 128 bits the same madd/s).
  const int most_levels = na_max > 0 && nb > 0 ? na_max + nb - 1 : 0;
  const std::size_t block = std::clamp<std::size_t>((std::size_t(2) << 20) / (static_cast<std::size_t>(std::max(most_levels, 1)) * n), 1, m);
  // Not zero-filled: every entry is written before it is read.
  std::unique_ptr<double[]> a_slices(new double[static_cast<std::size_t>(na_max) * block * k]);
  std::unique_ptr<double[]> product(new double[block * n]);
  std::unique_ptr<std::int64_t[]> levels(new std::int64_t[static_cast<std::size_t>(most_levels) * block * n]);
  const double one = 1.0, zero = 0.0;
  const int ni = static_cast<int>(n), ki = static_cast<int>(k);
  for (std::size_t i0 = 0; i0 < m; i0 += block) {
    const std::size_t mb = std::min(block, m - i0);
    int na = 0;
    for (std::size_t i = i0; i < i0 + mb; ++i) na = std::max(na, rows[i].digits);
    const int level_count = na > 0 && nb > 0 ? na + nb - 1 : 0;
#pragma omp parallel for schedule(static) if (parallel)
    for (std::size_t ii = 0; ii < mb; ++ii)
      for (std::size_t p = 0; p < k; ++p) {
        double* out = &a_slices[ii * k + p];
        const int digits = rows[i0 + ii].digits;
        digits_of(a[(i0 + ii) * a_row + p * a_col].backend().data(), rows[i0 + ii].e.top, s, digits, out, mb * k);
        for (int t = digits; t < na; ++t) out[t * mb * k] = 0;
      }
    const int mbi = static_cast<int>(mb);
    for (int t = 0; t < na; ++t)
      for (int u = 0; u < nb; ++u) {
        // row-major product[mb, n] = A_t[mb, k] · B_u[k, n], i.e. column-major product^T = B_u^T · A_t^T
        dgemm_("N", "N", &ni, &mbi, &ki, &one, &b_slices[static_cast<std::size_t>(u) * k * n], &ni,
               &a_slices[static_cast<std::size_t>(t) * mb * k], &ki, &zero, product.get(), &ni);
        std::int64_t* level = &levels[static_cast<std::size_t>(t + u) * mb * n];
        // In loop order, (t, u) is the first pair of its level t+u when t = 0 or u = nb - 1.
        if (t == 0 || u == nb - 1) {
#pragma omp parallel for schedule(static) if (parallel)
          for (std::size_t q = 0; q < mb * n; ++q) level[q] = static_cast<std::int64_t>(product[q]);
        } else {
#pragma omp parallel for schedule(static) if (parallel)
          for (std::size_t q = 0; q < mb * n; ++q) level[q] += static_cast<std::int64_t>(product[q]);
        }
      }

    // Each output: the levels into one integer (Horner in two's complement, base 2^s), rounded once.
    const long width_bits = static_cast<long>(s) * std::max(level_count - 1, 0) + 2 * GMP_NUMB_BITS;
    const std::size_t nl = static_cast<std::size_t>(width_bits / GMP_NUMB_BITS + 1);
#pragma omp parallel if (parallel)
    {
      std::vector<mp_limb_t> acc(nl);
      mpfr_t exact;
      mpfr_init2(exact, static_cast<mpfr_prec_t>(nl * GMP_NUMB_BITS));
#pragma omp for schedule(static)
      for (std::size_t ii = 0; ii < mb; ++ii) {
        const plan_line& row = rows[i0 + ii];
        for (std::size_t j = 0; j < n; ++j) {
          mpfr_ptr out = c[(i0 + ii) * n + j].backend().data();
          const plan_line& col = cols[j];
          if (row.plain || col.plain) {
            if (!accumulate) mpfr_set_zero(out, 1);
            fma_dot(out, a + (i0 + ii) * a_row, a_col, b + j * b_col, b_row, k);
            continue;
          }
          std::fill(acc.begin(), acc.end(), 0);
          for (int l = 0; l < level_count; ++l) {
            mpn_lshift(acc.data(), acc.data(), static_cast<mp_size_t>(nl), s);
            const std::int64_t v = levels[(static_cast<std::size_t>(l) * mb + ii) * n + j];
            if (v >= 0) mpn_add_1(acc.data(), acc.data(), static_cast<mp_size_t>(nl), static_cast<mp_limb_t>(v));
            else mpn_sub_1(acc.data(), acc.data(), static_cast<mp_size_t>(nl), static_cast<mp_limb_t>(-(v + 1)) + 1);
          }
          const bool negative = acc[nl - 1] >> (GMP_NUMB_BITS - 1);
          if (negative) mpn_neg(acc.data(), acc.data(), static_cast<mp_size_t>(nl));
          mp_size_t size = static_cast<mp_size_t>(nl);
          while (size > 0 && acc[size - 1] == 0) --size;
          mpz_t z;
          mpz_roinit_n(z, acc.data(), negative ? -size : size);
          // value = acc * 2^(E_i + F_j - s(levels + 1)): digit t of row i weighs 2^(E_i - s(t+1)).
          const long scale = size == 0 ? 0 : row.e.top + col.e.top - static_cast<long>(s) * (level_count + 1);
          if (accumulate) {
            mpfr_set_z_2exp(exact, z, scale, MPFR_RNDN); // exact: nl limbs of precision
            mpfr_add(out, out, exact, MPFR_RNDN);
          } else {
            mpfr_set_z_2exp(out, z, scale, MPFR_RNDN);
          }
        }
      }
      mpfr_clear(exact);
    }
  }
  return true;
}

} // namespace gradspec::reference
