#include "gradspec/reference/kernels.hpp"

#include "gradspec/reference/exact_gemm.hpp"

namespace gradspec::reference {

void fma_dot(mpfr_ptr acc, const mp_real* a, std::ptrdiff_t sa, const mp_real* b, std::ptrdiff_t sb, std::size_t n) {
  for (std::size_t p = 0; p < n; ++p)
    mpfr_fma(acc, a[p * sa].backend().data(), b[p * sb].backend().data(), acc, MPFR_RNDN);
}

namespace {

// In F itself (float accumulates in float, as an honest same-dtype implementation does).
template <class F> inline void plain_dot(F& acc, const F* a, std::ptrdiff_t sa, const F* b, std::ptrdiff_t sb, std::size_t n) {
  for (std::size_t p = 0; p < n; ++p) acc += a[p * sa] * b[p * sb];
}

template <class F>
void plain_gemm(std::size_t m, std::size_t n, std::size_t k, const F* a, std::ptrdiff_t a_row, std::ptrdiff_t a_col, const F* b,
                std::ptrdiff_t b_row, std::ptrdiff_t b_col, F* c, bool accumulate) {
  const bool parallel = m * n * k >= 64 * parallel_threshold && m > 1;
#pragma omp parallel for schedule(static) if (parallel)
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      F acc = accumulate ? c[i * n + j] : F(0);
      plain_dot(acc, a + i * a_row, a_col, b + j * b_col, b_row, k);
      c[i * n + j] = acc;
    }
  }
}

} // namespace

template <>
void gemm<mp_real>(std::size_t m, std::size_t n, std::size_t k, const mp_real* a, std::ptrdiff_t a_row,
                   std::ptrdiff_t a_col, const mp_real* b, std::ptrdiff_t b_row, std::ptrdiff_t b_col,
                   mp_real* c, bool accumulate) {
  // Large products: exact inner products through float64 slices and BLAS (exact_gemm.hpp), correctly
  // rounded; it declines inputs it cannot slice (non-finite values) and the plain loop runs.
  if (m * n * k >= exact_gemm_threshold && exact_gemm(m, n, k, a, a_row, a_col, b, b_row, b_col, c, accumulate)) return;
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
  plain_gemm(m, n, k, a, a_row, a_col, b, b_row, b_col, c, accumulate);
}

template <>
void gemm<float>(std::size_t m, std::size_t n, std::size_t k, const float* a, std::ptrdiff_t a_row, std::ptrdiff_t a_col,
                 const float* b, std::ptrdiff_t b_row, std::ptrdiff_t b_col, float* c, bool accumulate) {
  plain_gemm(m, n, k, a, a_row, a_col, b, b_row, b_col, c, accumulate);
}

template <> mp_real dot<mp_real>(const mp_real* a, std::ptrdiff_t sa, const mp_real* b, std::ptrdiff_t sb, std::size_t n) {
  mp_real acc = 0;
  fma_dot(acc.backend().data(), a, sa, b, sb, n);
  return acc;
}

template <> float dot<float>(const float* a, std::ptrdiff_t sa, const float* b, std::ptrdiff_t sb, std::size_t n) {
  float acc = 0;
  plain_dot(acc, a, sa, b, sb, n);
  return acc;
}

template <> double dot<double>(const double* a, std::ptrdiff_t sa, const double* b, std::ptrdiff_t sb, std::size_t n) {
  double acc = 0;
  plain_dot(acc, a, sa, b, sb, n);
  return acc;
}

} // namespace gradspec::reference
