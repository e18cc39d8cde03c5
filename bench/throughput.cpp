// Throughput of the reference against what MPFR itself can do on this machine, measured in the same
// run: raw mpfr_fma (one thread and all threads), the reference gemm with the plain loop and with
// exact inner products (exact_gemm.hpp) from 8^3 to 512^3, and whole ops through the registry (an
// encoder layer forward + backward). Multiply-adds per second; higher is better.
//
//   gradspec_bench [--bits N] [--size N]
//   gradspec_bench --raw --bits N     only the raw mpfr_fma rates, as "raw_fma_1 RATE" and
//                                     "raw_fma_all RATE THREADS" lines (bench/figures.sh reads them)
#include "gradspec/reference/exact_gemm.hpp"
#include "gradspec/reference/kernels.hpp"
#include "gradspec/reference/registry.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace gradspec::reference;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

tensor<mp_real> filled(shape_t shape, int seed) {
  tensor<mp_real> t(std::move(shape));
  for (std::size_t i = 0; i < t.size(); ++i) t.data[i] = mp_real(static_cast<double>((i * 37 + seed * 11) % 129) / 64.0 - 1.0);
  return t;
}

// Raw MPFR: n fused multiply-adds per thread into one accumulator, no allocation.
double raw_fma_rate(unsigned bits, std::size_t n, int threads) {
  auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
  {
    mpfr_t acc, a, b;
    mpfr_inits2(bits, acc, a, b, (mpfr_ptr)0);
    mpfr_set_d(a, 0.7071067811865476, MPFR_RNDN);
    mpfr_set_d(b, 1.0000001, MPFR_RNDN);
    mpfr_set_zero(acc, 1);
    for (std::size_t i = 0; i < n; ++i) mpfr_fma(acc, a, b, acc, MPFR_RNDN);
    mpfr_clears(acc, a, b, (mpfr_ptr)0);
  }
  return static_cast<double>(n) * threads / seconds_since(t0);
}

// The reference gemm on size^3, with the plain kernel (one mpfr_fma per term) or the exact one
// (exact_gemm.hpp). Operands with full mantissas (k/64 divided by 3), as activations have: values
// exact in a short dtype would need one float64 slice and flatter the exact kernel.
double gemm_rate(std::size_t size, int threads, bool exact) {
  omp_set_num_threads(threads);
  auto a = filled({(std::int64_t)size, (std::int64_t)size}, 1), b = filled({(std::int64_t)size, (std::int64_t)size}, 2);
  for (auto* t : {&a, &b})
    for (auto& v : t->data) v /= 3;
  tensor<mp_real> c({(std::int64_t)size, (std::int64_t)size});
  const std::size_t saved = exact_gemm_threshold;
  exact_gemm_threshold = exact ? 0 : static_cast<std::size_t>(-1);
  auto t0 = std::chrono::steady_clock::now();
  matmul_nn(a.data.data(), b.data.data(), c.data.data(), size, size, size);
  const double rate = static_cast<double>(size * size * size) / seconds_since(t0);
  exact_gemm_threshold = saved;
  return rate;
}

// One encoder layer (post-LN, relu), forward and backward through the registry.
void encoder_layer_rate(std::int64_t T, std::int64_t C, std::int64_t F, std::int64_t H) {
  const op_info* op = find_op("encoder_layer");
  op_args<mp_real> args;
  std::map<std::string, param_value> given = {{"heads", param_from_text(std::to_string(H))}};
  try {
    args.params = validate_params(op->params, given);
  } catch (const std::exception& e) {
    fmt::print("encoder_layer: skipped ({})\n", e.what());
    return;
  }
  int seed = 3;
  args.inputs["x"] = filled({1, T, C}, seed++);
  for (const char* w : {"w_q", "w_k", "w_v", "w_o"}) args.inputs[std::string("attn.") + w] = filled({C, C}, seed++);
  for (const char* b : {"b_q", "b_k", "b_v", "b_o"}) args.inputs[std::string("attn.") + b] = filled({C}, seed++);
  for (const char* ln : {"ln1.", "ln2."}) {
    args.inputs[std::string(ln) + "gamma"] = filled({C}, seed++);
    args.inputs[std::string(ln) + "beta"] = filled({C}, seed++);
  }
  args.inputs["ffn.w1"] = filled({C, F}, seed++);
  args.inputs["ffn.b1"] = filled({F}, seed++);
  args.inputs["ffn.w2"] = filled({F, C}, seed++);
  args.inputs["ffn.b2"] = filled({C}, seed++);
  args.cotangents["y"] = filled({1, T, C}, seed++);
  try {
    auto t0 = std::chrono::steady_clock::now();
    evaluate(*op, args, true);
    const double s = seconds_since(t0);
    // forward: 4 projections T·C·C, scores and weights·v 2·T·T·C, FFN 2·T·C·F; backward about twice that.
    const double madds = 3.0 * (4.0 * T * C * C + 2.0 * T * T * C + 2.0 * T * C * F);
    fmt::print("{:<44} {:>10.3f} s {:>12.3g} madd/s\n", fmt::format("encoder_layer fwd+bwd T={} C={} F={} H={}", T, C, F, H), s, madds / s);
  } catch (const std::exception& e) {
    fmt::print("encoder_layer: skipped ({})\n", e.what());
  }
}

} // namespace

int main(int argc, char** argv) {
  unsigned bits = 256;
  std::size_t size = 128;
  bool raw_only = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--raw")) raw_only = true;
    else if (i + 1 < argc && !std::strcmp(argv[i], "--bits")) bits = static_cast<unsigned>(std::atoi(argv[++i]));
    else if (i + 1 < argc && !std::strcmp(argv[i], "--size")) size = static_cast<std::size_t>(std::atoi(argv[++i]));
  }
  if (raw_only) {
    const unsigned effective = set_precision_bits(bits);
    const int threads = omp_get_max_threads();
    fmt::print("raw_fma_1 {:.6g}\nraw_fma_all {:.6g} {}\n", raw_fma_rate(effective, 8'000'000, 1),
               raw_fma_rate(effective, 8'000'000, threads), threads);
    return 0;
  }
  const unsigned effective = set_precision_bits(bits);
  const int threads = omp_get_max_threads();
  fmt::print("gradspec bench: {} bits (effective {}), {} threads\n", bits, effective, threads);
  const double raw1 = raw_fma_rate(effective, 4'000'000, 1), rawn = raw_fma_rate(effective, 4'000'000, threads);
  fmt::print("{:<44} {:>25.3g} madd/s\n", "raw mpfr_fma, 1 thread", raw1);
  fmt::print("{:<44} {:>25.3g} madd/s\n", fmt::format("raw mpfr_fma, {} threads", threads), rawn);
  const double g1 = gemm_rate(size, 1, false), gn = gemm_rate(size, threads, false);
  fmt::print("{:<44} {:>25.3g} madd/s  ({:.0f}% of raw)\n", fmt::format("plain gemm {}^3, 1 thread", size), g1, 100 * g1 / raw1);
  fmt::print("{:<44} {:>25.3g} madd/s  ({:.0f}% of raw)\n", fmt::format("plain gemm {}^3, {} threads", size, threads), gn, 100 * gn / rawn);
  // Where the exact kernel overtakes the plain one (exact_gemm_threshold is set from this).
  for (std::size_t n : {8, 16, 32, 64, 128, 256, 512}) {
    const double plain = n <= 256 ? gemm_rate(n, threads, false) : 0, exact = gemm_rate(n, threads, true);
    fmt::print("{:<44} {:>12.3g} madd/s  {:>12.3g} madd/s exact ({:.1f}x raw)\n", fmt::format("gemm {}^3 plain, exact, {} threads", n, threads),
               plain, exact, exact / rawn);
  }
  omp_set_num_threads(threads);
  encoder_layer_rate(64, 64, 256, 4);
  return 0;
}
