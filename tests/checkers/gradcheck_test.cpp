// The gradient check of a candidate against its own forward pass, on candidates written here as C++
// lambdas with known derivatives (x³, softmax, LayerNorm, relu, an embedding lookup), in double and
// in float: correct backward passes pass (also where the step must be far below |x|, and where a
// true gradient is exactly zero), wrong ones fail, kinks and jumps are inconclusive.
#include "gradspec/checkers/gradcheck.hpp"
#include "gradspec/errors.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <vector>

using namespace gradspec;
using namespace gradspec::checkers;

namespace {

// A case from JSON text (one case; cotangents given, so nothing is generated from the reference).
cases::test_case make_case(const std::string& case_json) {
  const std::string text = R"({"format": "gradspec-cases/1", "cases": [)" + case_json + "]}";
  return cases::parse_case_file(cases::parse_json_text(text, "t"), "t").cases.at(0);
}

template <class T> std::vector<T> values(const cases::test_case& c, const std::string& name, bool cotangent = false) {
  const auto& t = (cotangent ? c.cotangents : c.inputs).at(name);
  std::vector<T> out;
  for (const auto& v : t.values) out.push_back(static_cast<T>(std::strtod(v.c_str(), nullptr)));
  return out;
}

template <class T> candidate_tensor tensor(const cases::raw_tensor& like, const std::vector<T>& v) {
  return {like.shape, std::vector<double>(v.begin(), v.end())};
}

// y = x³ elementwise (under the name of an elementwise op), dL/dx = 3x²·dy times (1 + relative).
template <class T> candidate_fn cube(double relative = 0) {
  return [relative](const cases::test_case& c) {
    const auto x = values<T>(c, "x"), dy = values<T>(c, "y", true);
    std::vector<T> y(x.size()), dx(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      y[i] = x[i] * x[i] * x[i];
      dx[i] = static_cast<T>(3 * x[i] * x[i] * dy[i] * (1 + relative));
    }
    candidate_result r;
    r.tensors["outputs.y"] = tensor(c.inputs.at("x"), y);
    r.tensors["gradients.x"] = tensor(c.inputs.at("x"), dx);
    return r;
  };
}

// Softmax over rows of the last axis; `missing_term` drops -y·<dy, y> from the backward pass.
template <class T> candidate_fn softmax(bool missing_term = false) {
  return [missing_term](const cases::test_case& c) {
    const auto x = values<T>(c, "x"), dy = values<T>(c, "y", true);
    const std::size_t n = static_cast<std::size_t>(c.inputs.at("x").shape.back());
    std::vector<T> y(x.size()), dx(x.size());
    for (std::size_t r0 = 0; r0 < x.size(); r0 += n) {
      T m = x[r0], sum = 0, dot = 0;
      for (std::size_t i = r0; i < r0 + n; ++i) m = std::max(m, x[i]);
      for (std::size_t i = r0; i < r0 + n; ++i) sum += y[i] = std::exp(x[i] - m);
      for (std::size_t i = r0; i < r0 + n; ++i) dot += dy[i] * (y[i] /= sum);
      for (std::size_t i = r0; i < r0 + n; ++i) dx[i] = y[i] * (dy[i] - (missing_term ? 0 : dot));
    }
    candidate_result r;
    r.tensors["outputs.y"] = tensor(c.inputs.at("x"), y);
    r.tensors["gradients.x"] = tensor(c.inputs.at("x"), dx);
    return r;
  };
}

// LayerNorm over rows (two-pass mean and variance, eps 1e-5); `drop_mean` leaves the
// -mean(dxhat) term out of dx.
template <class T> candidate_fn layer_norm(bool drop_mean = false) {
  return [drop_mean](const cases::test_case& c) {
    const auto x = values<T>(c, "x"), gamma = values<T>(c, "gamma"), beta = values<T>(c, "beta"), dy = values<T>(c, "y", true);
    const std::size_t n = gamma.size();
    std::vector<T> y(x.size()), dx(x.size()), dgamma(n, 0), dbeta(n, 0);
    for (std::size_t r0 = 0; r0 < x.size(); r0 += n) {
      T mean = 0, var = 0;
      for (std::size_t i = 0; i < n; ++i) mean += x[r0 + i];
      mean /= static_cast<T>(n);
      for (std::size_t i = 0; i < n; ++i) var += (x[r0 + i] - mean) * (x[r0 + i] - mean);
      const T rstd = 1 / std::sqrt(var / static_cast<T>(n) + static_cast<T>(1e-5));
      std::vector<T> xhat(n), g(n);
      T mean_g = 0, mean_gx = 0;
      for (std::size_t i = 0; i < n; ++i) {
        xhat[i] = (x[r0 + i] - mean) * rstd;
        y[r0 + i] = xhat[i] * gamma[i] + beta[i];
        g[i] = dy[r0 + i] * gamma[i];
        mean_g += g[i] / static_cast<T>(n);
        mean_gx += g[i] * xhat[i] / static_cast<T>(n);
        dgamma[i] += dy[r0 + i] * xhat[i];
        dbeta[i] += dy[r0 + i];
      }
      for (std::size_t i = 0; i < n; ++i) dx[r0 + i] = rstd * (g[i] - (drop_mean ? 0 : mean_g) - xhat[i] * mean_gx);
    }
    candidate_result r;
    r.tensors["outputs.y"] = tensor(c.inputs.at("x"), y);
    r.tensors["gradients.x"] = tensor(c.inputs.at("x"), dx);
    r.tensors["gradients.gamma"] = tensor(c.inputs.at("gamma"), dgamma);
    r.tensors["gradients.beta"] = tensor(c.inputs.at("beta"), dbeta);
    return r;
  };
}

// relu with relu'(0) = 0.
candidate_fn relu() {
  return [](const cases::test_case& c) {
    const auto x = values<double>(c, "x"), dy = values<double>(c, "y", true);
    std::vector<double> y(x.size()), dx(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      y[i] = std::max(x[i], 0.0);
      dx[i] = x[i] > 0 ? dy[i] : 0;
    }
    candidate_result r;
    r.tensors["outputs.y"] = tensor(c.inputs.at("x"), y);
    r.tensors["gradients.x"] = tensor(c.inputs.at("x"), dx);
    return r;
  };
}

// y = table[ids]; the table's gradient accumulates over repeated ids, or (`overwrite`) assigns.
candidate_fn embedding(bool overwrite = false) {
  return [overwrite](const cases::test_case& c) {
    const auto& ids = c.inputs.at("ids").ints;
    const auto table = values<double>(c, "table"), dy = values<double>(c, "y", true);
    const std::size_t width = static_cast<std::size_t>(c.inputs.at("table").shape.back());
    std::vector<double> y, dtable(table.size(), 0);
    for (std::size_t i = 0; i < ids.size(); ++i)
      for (std::size_t j = 0; j < width; ++j) {
        const std::size_t at = static_cast<std::size_t>(ids[i]) * width + j;
        y.push_back(table[at]);
        dtable[at] = (overwrite ? 0 : dtable[at]) + dy[i * width + j];
      }
    candidate_result r;
    r.tensors["outputs.y"] = {{static_cast<std::int64_t>(ids.size()), static_cast<std::int64_t>(width)}, y};
    r.tensors["gradients.table"] = tensor(c.inputs.at("table"), dtable);
    return r;
  };
}

// Under the name "linear" (x [2, 3], w [3, 2], b [2]): y[r] = softmax(x[r]·w + b[r]), the bias
// shifting a whole row, which softmax does not see: dL/db is exactly zero (computed as a sum of
// dz that rounds to ~1e-17). `softmax_blind` claims db[r] = sum dy[r] instead.
candidate_fn row_shift_softmax(bool softmax_blind = false) {
  return [softmax_blind](const cases::test_case& c) {
    const auto x = values<double>(c, "x"), w = values<double>(c, "w"), b = values<double>(c, "b"), dy = values<double>(c, "y", true);
    std::vector<double> y(4), dz(4), dx(6, 0), dw(6, 0), db(2, 0);
    for (std::size_t r = 0; r < 2; ++r) {
      double z[2], m, sum = 0, dot = 0;
      for (std::size_t j = 0; j < 2; ++j) z[j] = x[3 * r] * w[j] + x[3 * r + 1] * w[2 + j] + x[3 * r + 2] * w[4 + j] + b[r];
      m = std::max(z[0], z[1]);
      for (std::size_t j = 0; j < 2; ++j) sum += y[2 * r + j] = std::exp(z[j] - m);
      for (std::size_t j = 0; j < 2; ++j) dot += dy[2 * r + j] * (y[2 * r + j] /= sum);
      for (std::size_t j = 0; j < 2; ++j) {
        dz[2 * r + j] = y[2 * r + j] * (dy[2 * r + j] - dot);
        db[r] += softmax_blind ? dy[2 * r + j] : dz[2 * r + j];
        for (std::size_t k = 0; k < 3; ++k) {
          dx[3 * r + k] += dz[2 * r + j] * w[2 * k + j];
          dw[2 * k + j] += dz[2 * r + j] * x[3 * r + k];
        }
      }
    }
    candidate_result r;
    r.tensors["outputs.y"] = {{2, 2}, y};
    r.tensors["gradients.x"] = tensor(c.inputs.at("x"), dx);
    r.tensors["gradients.w"] = tensor(c.inputs.at("w"), dw);
    r.tensors["gradients.b"] = tensor(c.inputs.at("b"), db);
    return r;
  };
}

const char* exact = R"("exact_in": ["float32", "float64"])";

cases::test_case cube_case() {
  return make_case(std::string(R"({"id": "cube", "op": "gelu", "params": {},
    "inputs": {"x": {"shape": [2, 3], "values": [0.5, -1.25, 2, 0.75, 3, -0.375]}},
    "cotangents": {"y": {"shape": [2, 3], "values": [0.25, -0.5, 1, 0.75, -0.125, 0.5]}}, )") + exact + "}");
}

cases::test_case softmax_case() {
  return make_case(std::string(R"({"id": "softmax", "op": "softmax", "params": {},
    "inputs": {"x": {"shape": [2, 4], "values": [0.5, -1.25, 2, 0.75, 3, -0.375, 0.125, 1]}},
    "cotangents": {"y": {"shape": [2, 4], "values": [0.25, -0.5, 1, 0.75, -0.125, 0.5, 0.375, -1]}}, )") + exact + "}");
}

// A LayerNorm case whose two rows are `row0` and `row1` (8 values each, JSON text).
cases::test_case layer_norm_case(const std::string& row0, const std::string& row1, const std::string& exact_in = exact) {
  return make_case(R"({"id": "ln", "op": "layer_norm", "params": {},
    "inputs": {"x": {"shape": [2, 8], "values": [)" + row0 + ", " + row1 + R"(]},
               "gamma": {"shape": [8], "values": [1, 0.5, -0.75, 2, 1.25, 0.25, 1, -1]},
               "beta": {"shape": [8], "values": [0, 0.5, -0.5, 0.25, 0, 1, -1, 0.125]}},
    "cotangents": {"y": {"shape": [2, 8], "values": [0.25, -0.5, 1, 0.75, -0.125, 0.5, 0.375, -1,
                                                     1, 0.5, -0.25, 0.125, -0.75, 0.25, 0.5, -0.5]}}, )" + exact_in + "}");
}

const std::string plain_row0 = "0.5, -1.25, 2, 0.75, 3, -0.375, 0.125, 1", plain_row1 = "1, 2, -3, 0.5, 0.25, -1, 4, -2";

// 1e8 + k/1024: exact in float64, spread 7/1024, far narrower than 1e-6·|x|.
std::string offset_row() {
  std::string row;
  for (int k = 0; k < 8; ++k) row += (k ? ", " : "") + std::string("\"100000000.") + std::to_string(10000000000LL + k * 9765625LL).substr(1) + "\"";
  return row;
}

candidate_gradcheck_options in(const std::string& dtype) {
  candidate_gradcheck_options o;
  o.dtype = dtype;
  return o;
}

} // namespace

BOOST_AUTO_TEST_SUITE(gradcheck_test)

BOOST_AUTO_TEST_CASE(correct_candidates_pass_in_float64_and_float32) {
  BOOST_TEST(candidate_gradcheck(cube_case(), cube<double>()).verdict == "pass");
  BOOST_TEST(candidate_gradcheck(cube_case(), cube<float>(), in("float32")).verdict == "pass");
  BOOST_TEST(candidate_gradcheck(softmax_case(), softmax<double>()).verdict == "pass");
  BOOST_TEST(candidate_gradcheck(softmax_case(), softmax<float>(), in("float32")).verdict == "pass");
  const auto ln = layer_norm_case(plain_row0, plain_row1);
  auto r = candidate_gradcheck(ln, layer_norm<double>());
  BOOST_TEST(r.verdict == "pass", r.reason);
  BOOST_TEST(r.directions == 3u + 16u); // 16 of the 32 elements (x 16, gamma 8, beta 8) alone
  candidate_gradcheck_options every;
  every.max_element_directions = 100;
  r = candidate_gradcheck(ln, layer_norm<double>(), every);
  BOOST_TEST(r.verdict == "pass", r.reason);
  BOOST_TEST(r.directions == 3u + 16u + 8u + 8u);
  BOOST_TEST(r.failed == 0u);
  BOOST_TEST(candidate_gradcheck(ln, layer_norm<float>(), in("float32")).verdict == "pass");
}

BOOST_AUTO_TEST_CASE(wrong_backward_passes_fail) {
  auto r = candidate_gradcheck(softmax_case(), softmax<double>(true));
  BOOST_TEST(r.verdict == "fail");
  BOOST_TEST(r.worst_units > 1e3);
  BOOST_TEST(candidate_gradcheck(softmax_case(), softmax<float>(true), in("float32")).verdict == "fail");
  const auto ln = layer_norm_case(plain_row0, plain_row1);
  BOOST_TEST(candidate_gradcheck(ln, layer_norm<double>(true)).verdict == "fail");
  BOOST_TEST(candidate_gradcheck(ln, layer_norm<float>(true), in("float32")).verdict == "fail");
}

// The estimate scales with the dtype: a derivative off by one part in 10^6 is far outside what
// float64 rounding explains and inside what float32 rounding does; one part in 100 fails both.
BOOST_AUTO_TEST_CASE(the_estimate_follows_the_dtype) {
  BOOST_TEST(candidate_gradcheck(cube_case(), cube<double>(1e-6)).verdict == "fail");
  BOOST_TEST(candidate_gradcheck(cube_case(), cube<float>(1e-6), in("float32")).verdict == "pass");
  BOOST_TEST(candidate_gradcheck(cube_case(), cube<float>(1e-2), in("float32")).verdict == "fail");
  const auto r = candidate_gradcheck(cube_case(), cube<double>());
  BOOST_TEST(r.worst_units < 1.0); // a correct candidate sits well inside its estimate
  BOOST_TEST(r.worst_estimate > 0);
}

BOOST_AUTO_TEST_CASE(layer_norm_on_a_row_offset_by_1e8_passes_and_its_bug_still_fails) {
  const auto ln = layer_norm_case(offset_row(), plain_row1, R"("exact_in": ["float64"])");
  BOOST_TEST(ln.inputs.at("x").values[1] == "100000000.0009765625");
  auto r = candidate_gradcheck(ln, layer_norm<double>());
  BOOST_TEST(r.verdict == "pass", r.reason);
  BOOST_TEST(r.failed == 0u);
  BOOST_TEST(candidate_gradcheck(ln, layer_norm<double>(true)).verdict == "fail");
}

// The moved inputs: every moved value differs from x, by far less than the spread of its row (a
// step of 1e-6·|x| = 100 would be 10^4 times the spread of the 1e8 row), and in float32 every
// value sent is a float.
BOOST_AUTO_TEST_CASE(steps_follow_the_spread_of_the_row_and_the_dtype) {
  for (const char* dtype : {"float64", "float32"}) {
    const bool f32 = std::string(dtype) == "float32";
    const auto ln = f32 ? layer_norm_case("16384, 16384.5, 16385, 16385.5, 16386, 16386.5, 16387, 16387.5", plain_row1)
                        : layer_norm_case(offset_row(), plain_row1, R"("exact_in": ["float64"])");
    const auto x0 = values<double>(ln, "x");
    const double spread = f32 ? 3.5 : 7.0 / 1024;
    double widest = 0;
    std::size_t unmoved = 0, not_float = 0, requests = 0;
    const auto inner = f32 ? layer_norm<float>() : layer_norm<double>();
    candidate_fn spy = [&](const cases::test_case& c) {
      const auto x = values<double>(c, "x");
      if (++requests > 1) {
        bool moved_any = false;
        for (std::size_t i = 0; i < 8; ++i) { // the offset row
          moved_any = moved_any || x[i] != x0[i];
          widest = std::max(widest, std::fabs(x[i] - x0[i]));
          if (static_cast<double>(static_cast<float>(x[i])) != x[i]) ++not_float;
        }
        if (!moved_any) ++unmoved;
      }
      return inner(c);
    };
    candidate_gradcheck_options o = in(dtype);
    o.per_element = 0; // random directions only: each moves every element
    const auto r = candidate_gradcheck(ln, spy, o);
    BOOST_TEST(r.verdict == "pass", dtype << ": " << r.reason);
    BOOST_TEST(requests == r.evaluations);
    BOOST_TEST(requests >= 1u + 3u * 6u);
    BOOST_TEST(unmoved == 0u, dtype);
    BOOST_TEST(widest > 0);
    BOOST_TEST(widest < spread / 8, dtype << ": moved by " << widest);
    if (f32) BOOST_TEST(not_float == 0u);
  }
}

BOOST_AUTO_TEST_CASE(relu_at_exactly_zero_is_inconclusive_not_failed) {
  const auto at_zero = make_case(std::string(R"({"id": "relu0", "op": "relu", "params": {},
    "inputs": {"x": {"shape": [4], "values": [-1, 0, 0.5, 2]}},
    "cotangents": {"y": {"shape": [4], "values": [0.25, -0.5, 1, 0.75]}}, )") + exact + "}");
  auto r = candidate_gradcheck(at_zero, relu());
  BOOST_TEST(r.verdict == "inconclusive", r.reason);
  BOOST_TEST(r.failed == 0u);
  BOOST_TEST(r.inconclusive >= 1u);
  BOOST_TEST(r.passed >= 3u); // x[0], x[2], x[3] alone are smooth
  BOOST_TEST(r.reason.find("kink") != std::string::npos, r.reason);
  const auto away = make_case(std::string(R"({"id": "relu1", "op": "relu", "params": {},
    "inputs": {"x": {"shape": [4], "values": [-1, 0.25, 0.5, 2]}},
    "cotangents": {"y": {"shape": [4], "values": [0.25, -0.5, 1, 0.75]}}, )") + exact + "}");
  BOOST_TEST(candidate_gradcheck(away, relu()).verdict == "pass");
}

// y = x + [x >= 1/4]: a jump at x[1]; claimed dy/dx = 1 everywhere. Not a failure either.
BOOST_AUTO_TEST_CASE(a_jump_is_inconclusive) {
  const auto c = make_case(std::string(R"({"id": "jump", "op": "gelu", "params": {},
    "inputs": {"x": {"shape": [3], "values": [-1, 0.25, 2]}},
    "cotangents": {"y": {"shape": [3], "values": [0.5, 1, -0.25]}}, )") + exact + "}");
  candidate_fn step = [](const cases::test_case& m) {
    const auto x = values<double>(m, "x"), dy = values<double>(m, "y", true);
    std::vector<double> y(3);
    for (std::size_t i = 0; i < 3; ++i) y[i] = x[i] + (x[i] >= 0.25 ? 1 : 0);
    candidate_result r;
    r.tensors["outputs.y"] = tensor(m.inputs.at("x"), y);
    r.tensors["gradients.x"] = tensor(m.inputs.at("x"), dy);
    return r;
  };
  const auto r = candidate_gradcheck(c, step);
  BOOST_TEST(r.verdict == "inconclusive", r.reason);
  BOOST_TEST(r.failed == 0u);
}

BOOST_AUTO_TEST_CASE(embedding_gradient_must_accumulate_over_repeated_ids) {
  const auto c = make_case(std::string(R"({"id": "emb", "op": "embedding", "params": {},
    "inputs": {"ids": {"shape": [4], "dtype": "int64", "values": [1, 3, 1, 0]},
               "table": {"shape": [4, 3], "values": [0.5, -1, 2, 0.25, 1.5, -0.5, 3, 0.125, -2, 1, 0.75, -0.25]}},
    "cotangents": {"y": {"shape": [4, 3], "values": [0.25, -0.5, 1, 0.75, -0.125, 0.5, 0.375, -1, 1, 0.5, -0.25, 0.125]}}, )") +
                           exact + "}");
  BOOST_TEST(candidate_gradcheck(c, embedding()).verdict == "pass");
  const auto r = candidate_gradcheck(c, embedding(true));
  BOOST_TEST(r.verdict == "fail");
  BOOST_TEST(!r.worst.empty());
}

BOOST_AUTO_TEST_CASE(a_nan_or_inf_gradient_always_fails) {
  for (double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    candidate_fn nan_at_1 = [bad](const cases::test_case& c) {
      auto r = cube<double>()(c);
      r.tensors["gradients.x"].values[1] = bad;
      return r;
    };
    const auto r = candidate_gradcheck(cube_case(), nan_at_1);
    BOOST_TEST(r.verdict == "fail");
    BOOST_TEST(std::isinf(r.worst_units));
    BOOST_TEST(r.reason.find("gradients.x[1]") != std::string::npos, r.reason);
  }
}

// A forward that is NaN itself (PyTorch 1.13 on a NaN in a masked value) cannot be differenced: its
// NaN gradient is not judged wrong, and not passed either.
BOOST_AUTO_TEST_CASE(a_nan_gradient_of_a_nan_forward_is_inconclusive) {
  candidate_fn all_nan = [](const cases::test_case& c) {
    auto r = cube<double>()(c);
    for (auto& v : r.tensors["outputs.y"].values) v = std::numeric_limits<double>::quiet_NaN();
    for (auto& v : r.tensors["gradients.x"].values) v = std::numeric_limits<double>::quiet_NaN();
    return r;
  };
  const auto r = candidate_gradcheck(cube_case(), all_nan);
  BOOST_TEST(r.verdict == "inconclusive", r.reason);
  BOOST_TEST(r.failed == 0u);
}

BOOST_AUTO_TEST_CASE(an_exactly_zero_gradient_passes_and_a_wrong_one_fails) {
  const auto c = make_case(std::string(R"({"id": "shift", "op": "linear", "params": {},
    "inputs": {"x": {"shape": [2, 3], "values": [0.5, -1.25, 2, 0.75, 3, -0.375]},
               "w": {"shape": [3, 2], "values": [1, -0.5, 0.25, 2, -1.5, 0.75]},
               "b": {"shape": [2], "values": [0.3125, -2.5]}},
    "cotangents": {"y": {"shape": [2, 2], "values": [0.25, -0.5, 1, 0.75]}}, )") + exact + "}");
  // The claimed db is rounding noise around 0, not 0: a relative comparison would fail it.
  const auto claimed = row_shift_softmax()(c).tensors.at("gradients.b").values;
  BOOST_TEST(std::fabs(claimed[0]) + std::fabs(claimed[1]) > 0);
  auto r = candidate_gradcheck(c, row_shift_softmax());
  BOOST_TEST(r.verdict == "pass", r.reason);
  BOOST_TEST(r.failed == 0u);
  r = candidate_gradcheck(c, row_shift_softmax(true));
  BOOST_TEST(r.verdict == "fail");
  BOOST_TEST(r.failed >= 1u, r.worst);
}

BOOST_AUTO_TEST_CASE(skipped_and_error_cases) {
  // Inputs not exact in float32 (0.1), and a spec-like case without exact_in: decided from the values.
  auto c = make_case(R"({"id": "inexact", "op": "gelu", "params": {}, "inputs": {"x": {"shape": [2], "values": ["0.1", 1]}},
    "cotangents": {"y": {"shape": [2], "values": [1, 1]}}})");
  auto r = candidate_gradcheck(c, cube<float>(), in("float32"));
  BOOST_TEST(r.verdict == "skipped");
  BOOST_TEST(r.reason == "inputs not exact in float32");
  BOOST_TEST(r.evaluations == 0u);
  c = make_case(R"({"id": "exact", "op": "gelu", "params": {}, "inputs": {"x": {"shape": [2], "values": [0.5, 1]}},
    "cotangents": {"y": {"shape": [2], "values": [1, 1]}}})");
  BOOST_TEST(candidate_gradcheck(c, cube<float>(), in("float32")).verdict == "pass");
  // The candidate fails, or leaves a gradient out: error, not pass.
  candidate_fn failing = [](const cases::test_case&) {
    candidate_result r;
    r.error = "not implemented";
    return r;
  };
  r = candidate_gradcheck(c, failing);
  BOOST_TEST(r.verdict == "error");
  BOOST_TEST(r.reason.find("not implemented") != std::string::npos, r.reason);
  candidate_fn forward_only = [](const cases::test_case& m) {
    auto r = cube<double>()(m);
    r.tensors.erase("gradients.x");
    return r;
  };
  r = candidate_gradcheck(c, forward_only);
  BOOST_TEST(r.verdict == "error");
  BOOST_TEST(r.reason.find("no gradient for x") != std::string::npos, r.reason);
  BOOST_CHECK_THROW(candidate_gradcheck(c, cube<double>(), in("bfloat16")), bad_input);
}

BOOST_AUTO_TEST_CASE(directions_are_deterministic) {
  const auto a = candidate_gradcheck(softmax_case(), softmax<double>());
  const auto b = candidate_gradcheck(softmax_case(), softmax<double>());
  BOOST_TEST(a.worst == b.worst);
  BOOST_TEST(a.worst_units == b.worst_units);
  BOOST_TEST(a.evaluations == b.evaluations);
}

BOOST_AUTO_TEST_SUITE_END()
