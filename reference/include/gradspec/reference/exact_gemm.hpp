// Exact inner products for large mp_real gemms, by error-free splitting into float64 slices
// multiplied with BLAS (Ozaki's scheme, here without truncation).
//
// Each row i of opA is scaled by its largest power of two 2^E_i and cut into signed integer digits of
// s bits: a(i,p) = sum_t A_t(i,p) 2^(E_i - s(t+1)), as many digits as the row needs to hold every
// bit of every element (its width: from the top bit of the largest element to the lowest set bit of
// any). Columns of opB the same with 2^F_j. With s = floor((53 - ceil(log2 k)) / 2) every product of
// two digits and every partial sum of k of them is an integer below 2^53, so each slice product
// A_t·B_u computed by dgemm is exact whatever order, blocking or FMA the BLAS uses (and so the same
// on every machine). The slice products are summed exactly in int64 per level t+u and the levels
// into one big integer, which is rounded once to C's precision: every C(i,j) is the exact inner
// product (plus C(i,j) itself when accumulating), correctly rounded to nearest.
//
// That differs from the plain kernel (one mpfr_fma per term, each rounded) in the last bits only, and
// is never less accurate. Rows or columns too wide for slicing (elements spread over more than
// precision + 64 bits) keep the plain kernel for their outputs; non-finite elements anywhere,
// k > 2^21, or lines needing more than 32 digits (precisions above about 500 bits, where the slice
// products would cost more than the plain loop) leave the whole product to the plain kernel
// (exact_gemm returns false).
#pragma once

#include "gradspec/reference/scalar.hpp"

#include <cstddef>

namespace gradspec::reference {

// As gemm<mp_real> (kernels.hpp): C[m,n] = (accumulate ? C : 0) + opA·opB, opA(i,p) =
// a[i*a_row + p*a_col], opB(p,j) = b[p*b_row + j*b_col]. Returns false, with C untouched, when the
// product does not qualify (see above).
bool exact_gemm(std::size_t m, std::size_t n, std::size_t k, const mp_real* a, std::ptrdiff_t a_row,
                std::ptrdiff_t a_col, const mp_real* b, std::ptrdiff_t b_row, std::ptrdiff_t b_col, mp_real* c,
                bool accumulate);

// gemm<mp_real> takes the exact path at and above this many multiply-adds (m·n·k). Below it, the
// plain kernel: the committed suites' cases are all smaller, so their bytes stay those of the plain
// kernel. A variable, not a constant, so that tests can move it.
extern std::size_t exact_gemm_threshold;

} // namespace gradspec::reference
