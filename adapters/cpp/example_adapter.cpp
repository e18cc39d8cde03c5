// Example gradspec adapter built on gradspec_adapter.hpp: softmax and layer_norm, forward and
// backward (hand-written vector-Jacobian products), computed in float or double as the request asks.
//
//   gradspec run --suite cases/standard/softmax.json --adapter build/tests/kits/gradspec_cpp_example_adapter --dtype float32
//
// GRADSPEC_EXAMPLE_BUG plants failures for the kit's tests (tests/kits/check_kit.py): "1" makes
// softmax backward drop the "- <dy, y>" term (gradspec must report each case), "throw" makes
// layer_norm throw std::invalid_argument and "unsupported" makes it throw gradspec::adapter::unsupported.
#include "gradspec_adapter.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace ga = gradspec::adapter;

namespace {

std::string bug() {
  const char* b = std::getenv("GRADSPEC_EXAMPLE_BUG");
  return b ? b : "";
}

// y = softmax(x) over the last axis, rows of N; an all -inf row gives zeros (the catalogue's safe
// softmax). dx = y (dy - <dy, y>). x, y, dy, dx: [..., N].
template <class T>
ga::answer softmax(const ga::request& r) {
  const ga::tensor& xt = r.input("x");
  const std::vector<T> x = ga::as<T>(xt), dy = ga::as<T>(r.cotangent("y"));
  const std::size_t n = static_cast<std::size_t>(xt.last()), rows = n ? x.size() / n : 0;
  std::vector<T> y(x.size()), dx(x.size());
  for (std::size_t row = 0; row < rows; ++row) {
    const T* xr = &x[row * n];
    T* yr = &y[row * n];
    T m = xr[0];
    for (std::size_t j = 1; j < n; ++j) m = xr[j] > m ? xr[j] : m;  // any NaN reaches every y through sum
    if (m == -std::numeric_limits<T>::infinity()) continue;            // all -inf: zeros
    T sum = 0;
    for (std::size_t j = 0; j < n; ++j) sum += yr[j] = std::exp(xr[j] - m);  // max subtracted: no overflow
    for (std::size_t j = 0; j < n; ++j) yr[j] /= sum;
    T dot = 0;
    for (std::size_t j = 0; j < n; ++j) dot += dy[row * n + j] * yr[j];
    if (bug() == "1") dot = 0;
    for (std::size_t j = 0; j < n; ++j) dx[row * n + j] = yr[j] * (dy[row * n + j] - dot);
  }
  return {{{"y", {xt.shape, y}}}, {{"x", {xt.shape, dx}}}};
}

// y = (x - mean) · rstd · gamma + beta over the last axis (C), biased variance,
// rstd = 1/sqrt(var + eps), two passes (never E[x²] - E[x]², which cancels).
// dx = rstd · (g - mean(g) - xhat · mean(g · xhat)) with g = dy · gamma.
// x, y: [..., C]; gamma, beta: [C]; intermediates mean, rstd: [...].
template <class T>
ga::answer layer_norm(const ga::request& r) {
  if (bug() == "throw") throw std::invalid_argument("planted failure");
  if (bug() == "unsupported") throw ga::unsupported("planted: layer_norm declined");
  const ga::tensor& xt = r.input("x");
  const std::vector<T> x = ga::as<T>(xt), gamma = ga::as<T>(r.input("gamma")), beta = ga::as<T>(r.input("beta"));
  const std::vector<T> dy = ga::as<T>(r.cotangent("y"));
  const T eps = static_cast<T>(r.real_param("eps", 1e-5));
  const std::size_t c = static_cast<std::size_t>(xt.last()), rows = c ? x.size() / c : 0;
  if (gamma.size() != c || beta.size() != c) throw std::invalid_argument("gamma and beta must be [C]");
  const T n = static_cast<T>(c);
  std::vector<T> y(x.size()), dx(x.size()), dgamma(c, T(0)), dbeta(c, T(0)), mean(rows), rstd(rows), xhat(c);
  for (std::size_t row = 0; row < rows; ++row) {
    const T* xr = &x[row * c];
    const T* dyr = &dy[row * c];
    T sum = 0, sq = 0;
    for (std::size_t j = 0; j < c; ++j) sum += xr[j];
    const T mu = sum / n;
    for (std::size_t j = 0; j < c; ++j) sq += (xr[j] - mu) * (xr[j] - mu);
    const T rs = T(1) / std::sqrt(sq / n + eps);
    T gsum = 0, gxsum = 0;
    for (std::size_t j = 0; j < c; ++j) {
      xhat[j] = (xr[j] - mu) * rs;
      y[row * c + j] = xhat[j] * gamma[j] + beta[j];
      const T g = dyr[j] * gamma[j];
      gsum += g;
      gxsum += g * xhat[j];
      dgamma[j] += dyr[j] * xhat[j];
      dbeta[j] += dyr[j];
    }
    for (std::size_t j = 0; j < c; ++j) dx[row * c + j] = rs * (dyr[j] * gamma[j] - gsum / n - xhat[j] * (gxsum / n));
    mean[row] = mu;
    rstd[row] = rs;
  }
  const std::vector<std::int64_t> lead(xt.shape.begin(), xt.shape.end() - (xt.shape.empty() ? 0 : 1));
  const std::vector<std::int64_t> channels{static_cast<std::int64_t>(c)};
  return {{{"y", {xt.shape, y}}},
          {{"x", {xt.shape, dx}}, {"gamma", {channels, dgamma}}, {"beta", {channels, dbeta}}},
          {{"mean", {lead, mean}}, {"rstd", {lead, rstd}}}};
}

// One function per op; the request's dtype picks the instantiation.
template <ga::answer (*F32)(const ga::request&), ga::answer (*F64)(const ga::request&)>
ga::answer by_dtype(const ga::request& r) {
  return r.float32() ? F32(r) : F64(r);
}

}  // namespace

int main() {
  return ga::serve({"example-cpp", "1.0", {"float64", "float32"}},
                   {{"softmax", by_dtype<softmax<float>, softmax<double>>},
                    {"layer_norm", by_dtype<layer_norm<float>, layer_norm<double>>}});
}
