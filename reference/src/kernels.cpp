#include "gradspec/reference/kernels.hpp"

namespace gradspec::reference {

namespace {

// acc = sum_p a[p*sa] * b[p*sb] (+ acc), one MPFR fma per term, no allocation.
inline void fma_dot(mpfr_ptr acc, const mp_real* a, std::ptrdiff_t sa, const mp_real* b, std::ptrdiff_t sb,
                    std::size_t n) {
  for (std::size_t p = 0; p < n; ++p)
    mpfr_fma(acc, a[p * sa].backend().data(), b[p * sb].backend().data(), acc, MPFR_RNDN);
}

inline void plain_dot(double& acc, const double* a, std::ptrdiff_t sa, const double* b, std::ptrdiff_t sb,
                      std::size_t n) {
  for (std::size_t p = 0; p < n; ++p) acc += a[p * sa] * b[p * sb];
}

} // namespace

template <>
void gemm<mp_real>(std::size_t m, std::size_t n, std::size_t k, const mp_real* a, std::ptrdiff_t a_row,
                   std::ptrdiff_t a_col, const mp_real* b, std::ptrdiff_t b_row, std::ptrdiff_t b_col,
                   mp_real* c, bool accumulate) {
  const bool parallel = m * n * k >= parallel_threshold && m > 1;
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      mpfr_ptr acc = c[i * n + j].backend().data();
      if (!accumulate) mpfr_set_zero(acc, 1);
      fma_dot(acc, a + i * a_row, a_col, b + j * b_col, b_row, k);
    }
  }
}

template <>
void gemm<double>(std::size_t m, std::size_t n, std::size_t k, const double* a, std::ptrdiff_t a_row,
                  std::ptrdiff_t a_col, const double* b, std::ptrdiff_t b_row, std::ptrdiff_t b_col, double* c,
                  bool accumulate) {
  const bool parallel = m * n * k >= 64 * parallel_threshold && m > 1;
#pragma omp parallel for schedule(static) if (parallel)
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      double acc = accumulate ? c[i * n + j] : 0.0;
      plain_dot(acc, a + i * a_row, a_col, b + j * b_col, b_row, k);
      c[i * n + j] = acc;
    }
  }
}

template <> mp_real dot<mp_real>(const mp_real* a, std::ptrdiff_t sa, const mp_real* b, std::ptrdiff_t sb, std::size_t n) {
  mp_real acc = 0;
  fma_dot(acc.backend().data(), a, sa, b, sb, n);
  return acc;
}

template <> double dot<double>(const double* a, std::ptrdiff_t sa, const double* b, std::ptrdiff_t sb, std::size_t n) {
  double acc = 0;
  plain_dot(acc, a, sa, b, sb, n);
  return acc;
}

} // namespace gradspec::reference
