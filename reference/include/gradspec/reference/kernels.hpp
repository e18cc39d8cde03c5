// The hot loops. Inner products over mp_real run in place on preallocated MPFR numbers with
// mpfr_fma (no temporaries), rows in parallel with OpenMP. Every output element is computed by one
// thread in a fixed order, so results do not depend on the number of threads. Large mp_real gemms
// are exact instead, correctly rounded (exact_gemm.hpp).
#pragma once

#include "gradspec/reference/scalar.hpp"
#include "gradspec/reference/tensor.hpp"

#include <cstddef>

namespace gradspec::reference {

// C[m,n] = (accumulate ? C : 0) + opA·opB, with opA(i,p) = a[i*a_row + p*a_col] and
// opB(p,j) = b[p*b_row + j*b_col]; C is contiguous row-major. Strides express transposes.
template <class T>
void gemm(std::size_t m, std::size_t n, std::size_t k, const T* a, std::ptrdiff_t a_row,
          std::ptrdiff_t a_col, const T* b, std::ptrdiff_t b_row, std::ptrdiff_t b_col, T* c,
          bool accumulate);

// Plain shapes: A[m,k]·B[k,n]; A[m,k]·B[n,k]^T; A[k,m]^T·B[k,n].
template <class T> void matmul_nn(const T* a, const T* b, T* c, std::size_t m, std::size_t k, std::size_t n, bool accumulate = false) {
  gemm<T>(m, n, k, a, k, 1, b, n, 1, c, accumulate);
}
template <class T> void matmul_nt(const T* a, const T* b, T* c, std::size_t m, std::size_t k, std::size_t n, bool accumulate = false) {
  gemm<T>(m, n, k, a, k, 1, b, 1, k, c, accumulate);
}
template <class T> void matmul_tn(const T* a, const T* b, T* c, std::size_t m, std::size_t k, std::size_t n, bool accumulate = false) {
  gemm<T>(m, n, k, a, 1, m, b, n, 1, c, accumulate);
}

// acc = acc + sum_p a[p*sa] * b[p*sb], one mpfr_fma per term in order, no allocation: the plain
// kernel's inner product (exact_gemm's too, for the lines it does not slice).
void fma_dot(mpfr_ptr acc, const mp_real* a, std::ptrdiff_t sa, const mp_real* b, std::ptrdiff_t sb, std::size_t n);

// sum_i a[i*sa] * b[i*sb]
template <class T> T dot(const T* a, std::ptrdiff_t sa, const T* b, std::ptrdiff_t sb, std::size_t n);

// Work (multiply-adds) above which a loop is split over threads.
inline constexpr std::size_t parallel_threshold = 1 << 12;

template <> void gemm<double>(std::size_t, std::size_t, std::size_t, const double*, std::ptrdiff_t, std::ptrdiff_t,
                                  const double*, std::ptrdiff_t, std::ptrdiff_t, double*, bool);
template <> void gemm<mp_real>(std::size_t, std::size_t, std::size_t, const mp_real*, std::ptrdiff_t, std::ptrdiff_t,
                                   const mp_real*, std::ptrdiff_t, std::ptrdiff_t, mp_real*, bool);
template <> void gemm<float>(std::size_t, std::size_t, std::size_t, const float*, std::ptrdiff_t, std::ptrdiff_t,
                                 const float*, std::ptrdiff_t, std::ptrdiff_t, float*, bool);
template <> float dot<float>(const float*, std::ptrdiff_t, const float*, std::ptrdiff_t, std::size_t);
template <> double dot<double>(const double*, std::ptrdiff_t, const double*, std::ptrdiff_t, std::size_t);
template <> mp_real dot<mp_real>(const mp_real*, std::ptrdiff_t, const mp_real*, std::ptrdiff_t, std::size_t);

} // namespace gradspec::reference
