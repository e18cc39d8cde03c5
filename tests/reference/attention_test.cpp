// attention: gradients against finite differences (Tq != Tk, D != Dv, scale, finite and -inf
// masks, with causal), closed forms (identical keys, fully masked rows, default scale, causal as an
// explicit mask, a hand-computed 1x2 case), masked_fill semantics for NaN and 1e10 in masked keys and
// values, and bad inputs.
#include "gradspec/reference/ops/attention.hpp"
#include "gradspec/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/tensor_checks.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

using namespace gradspec::reference;
using namespace gradspec::testing;

namespace {

struct attention_shape {
  shape_t batch;
  std::int64_t Tq, Tk, D, Dv;
};

shape_t with_tail(shape_t s, std::int64_t a, std::int64_t b) {
  s.push_back(a);
  s.push_back(b);
  return s;
}

template <class T>
op_args<T> attention_args(const attention_shape& s, const std::map<std::string, std::string>& given, std::uint64_t seed) {
  op_args<T> a;
  a.params = params("attention", given);
  a.inputs["q"] = grid_tensor<T>(with_tail(s.batch, s.Tq, s.D), seed);
  a.inputs["k"] = grid_tensor<T>(with_tail(s.batch, s.Tk, s.D), seed + 1);
  a.inputs["v"] = grid_tensor<T>(with_tail(s.batch, s.Tk, s.Dv), seed + 2);
  return a;
}

template <class T> op_result<T> run(const op_args<T>& a, bool backward) { return evaluate(*find_op("attention"), a, backward); }

// Cotangent for `out` as a grid tensor (T = double or mp_real).
template <class T> void set_cotangent(op_args<T>& a, std::uint64_t seed) {
  auto r = run(a, false);
  a.cotangents["out"] = grid_tensor<T>(r.outputs.at("out").shape, seed);
}




bool throws_at(const op_args<double>& a, const std::string& path) {
  try {
    run(a, false);
  } catch (const gradspec::bad_input& e) {
    BOOST_TEST_MESSAGE("bad_input: " << e.what());
    return e.path() == path;
  }
  return false;
}

} // namespace

BOOST_AUTO_TEST_SUITE(attention_test)

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  precision_guard bits(256);
  struct variant {
    const char* what;
    attention_shape shape;
    std::map<std::string, std::string> params;
    int mask; // 0 none, 1 finite additive, 2 finite with -inf entries
  };
  // Batch axes, the default scale and causal alone are in catalogue_test; here other shapes, scales
  // and masks.
  const variant variants[] = {
      {"one batch axis, Tq != Tk, D != Dv", {{2}, 3, 4, 3, 2}, {}, 0},
      {"Tq > Tk", {{1}, 4, 2, 3, 3}, {}, 0},
      {"custom scale", {{2}, 3, 4, 2, 3}, {{"scale", "0.3"}}, 0},
      {"additive finite mask", {{2}, 3, 4, 3, 2}, {}, 1},
      {"mask with -inf entries", {{2}, 3, 4, 3, 2}, {}, 2},
      {"causal, mask and scale", {{2}, 3, 3, 2, 2}, {{"causal", "true"}, {"scale", "-1.25"}}, 2},
      // Catalogue v2 params (catalogue_test covers return_lse alone, a boolean).
      {"causal with a cache (Tq < Tk)", {{2}, 3, 5, 3, 2}, {{"causal", "true"}}, 1},
      {"sliding window 2 with a cache", {{2}, 3, 5, 3, 2}, {{"causal", "true"}, {"window", "2"}}, 0},
      {"softcap 0.7 and a mask with -inf", {{2}, 3, 4, 3, 2}, {{"softcap", "0.7"}}, 2},
      {"lse and a mask with -inf", {{2}, 3, 4, 3, 2}, {{"return_lse", "true"}}, 2},
      {"cache, window, softcap, lse, scale", {{2}, 3, 6, 3, 2},
       {{"causal", "true"}, {"window", "3"}, {"softcap", "1.3"}, {"return_lse", "true"}, {"scale", "0.8"}}, 1},
  };
  std::uint64_t seed = 10;
  for (const auto& v : variants) {
    BOOST_TEST_CONTEXT(v.what) {
      auto a = attention_args<mp_real>(v.shape, v.params, seed);
      if (v.mask) {
        auto mask = grid_tensor<mp_real>({v.shape.Tq, v.shape.Tk}, seed + 5, 2.0);
        if (v.mask == 2) {
          mask.data[0 * v.shape.Tk + 1] = -infinity<mp_real>();
          mask.data[2 * v.shape.Tk + 0] = -infinity<mp_real>();
        }
        a.inputs["mask"] = mask;
      }
      fill_cotangents("attention", a, seed + 7);
      auto agreement = check_gradients("attention", a);
      BOOST_TEST(agreement.checked == a.inputs["q"].size() + a.inputs["k"].size() + a.inputs["v"].size());
      BOOST_TEST(agreement.min_digits >= 30, agreement.worst);
      BOOST_TEST_MESSAGE(v.what << ": min digits " << agreement.min_digits);
      seed += 10;
    }
  }
}

BOOST_AUTO_TEST_CASE(known_values_by_hand) {
  // q = [1 0], k = [[1 0] [0 1]], v = [[1 2] [3 4]], scale 1/sqrt(2): scores [1/sqrt2, 0],
  // weights [e^a, 1] / (e^a + 1) with a = 1/sqrt2, out = w0·[1 2] + w1·[3 4].
  op_args<double> a;
  a.params = params("attention");
  a.inputs["q"] = tensor<double>({1, 2}, {1, 0});
  a.inputs["k"] = tensor<double>({2, 2}, {1, 0, 0, 1});
  a.inputs["v"] = tensor<double>({2, 2}, {1, 2, 3, 4});
  auto r = run(a, false);
  const double s0 = 1 / std::sqrt(2.0), w0 = std::exp(s0) / (std::exp(s0) + 1), w1 = 1 / (std::exp(s0) + 1);
  BOOST_TEST(r.intermediates.at("scores").data[0] == s0, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(r.intermediates.at("scores").data[1] == 0.0);
  BOOST_TEST(r.intermediates.at("weights").data[0] == w0, boost::test_tools::tolerance(1e-14));
  BOOST_TEST(r.intermediates.at("weights").data[1] == w1, boost::test_tools::tolerance(1e-14));
  BOOST_TEST(r.outputs.at("out").shape == (shape_t{1, 2}));
  BOOST_TEST(r.outputs.at("out").data[0] == w0 * 1 + w1 * 3, boost::test_tools::tolerance(1e-14));
  BOOST_TEST(r.outputs.at("out").data[1] == w0 * 2 + w1 * 4, boost::test_tools::tolerance(1e-14));
}

BOOST_AUTO_TEST_CASE(identical_keys_give_the_mean_of_the_values) {
  precision_guard bits(256);
  for (std::int64_t Tk : {4, 3}) {
    auto a = attention_args<mp_real>({{2}, 3, Tk, 3, 2}, {}, 40);
    auto& k = a.inputs["k"];
    for (std::size_t b = 0; b < 2; ++b)
      for (std::int64_t j = 1; j < Tk; ++j)
        for (std::size_t d = 0; d < 3; ++d) k.data[(b * Tk + j) * 3 + d] = k.data[(b * Tk) * 3 + d];
    auto out = run(a, false).outputs.at("out");
    const auto& v = a.inputs["v"];
    tensor<mp_real> mean({2, 3, 2});
    for (std::size_t b = 0; b < 2; ++b)
      for (std::size_t d = 0; d < 2; ++d) {
        mp_real s = 0;
        for (std::int64_t j = 0; j < Tk; ++j) s += v.data[(b * Tk + j) * 2 + d];
        s /= Tk;
        for (std::size_t i = 0; i < 3; ++i) mean.data[(b * 3 + i) * 2 + d] = s;
      }
    if (Tk == 4) {
      // Every weight is exactly 1/4 and the grid values sum exactly at 256 bits.
      BOOST_TEST(same(out, mean));
    } else {
      BOOST_TEST(max_rel_diff(out, mean) < 1e-70);
    }
  }
}

BOOST_AUTO_TEST_CASE(fully_masked_rows_give_zero_output_and_zero_gradients) {
  precision_guard bits(256);
  // (a) a mask row of -inf; (b) causal with mask[0][0] = -inf (query 0 sees only key 0).
  for (bool causal : {false, true}) {
    BOOST_TEST_CONTEXT("causal " << causal) {
      auto a = attention_args<mp_real>({{2}, 3, 3, 2, 3}, {{"causal", causal ? "true" : "false"}}, 50);
      tensor<mp_real> mask({3, 3});
      const std::size_t row = causal ? 0 : 1;
      if (causal)
        mask.data[0] = -infinity<mp_real>();
      else
        for (std::size_t j = 0; j < 3; ++j) mask.data[row * 3 + j] = -infinity<mp_real>();
      a.inputs["mask"] = mask;
      fill_cotangents("attention", a, 51);
      auto r = run(a, true);
      const auto& out = r.outputs.at("out");
      BOOST_TEST(all_finite(out));
      for (std::size_t b = 0; b < 2; ++b)
        for (std::size_t d = 0; d < 3; ++d) BOOST_TEST(out.data[(b * 3 + row) * 3 + d] == 0);
      for (const auto& [name, g] : r.gradients) BOOST_TEST(all_finite(g), name);
      const auto& dq = r.gradients.at("q");
      for (std::size_t b = 0; b < 2; ++b)
        for (std::size_t d = 0; d < 2; ++d) BOOST_TEST(dq.data[(b * 3 + row) * 2 + d] == 0);
      const auto& w = r.intermediates.at("weights");
      const auto& s = r.intermediates.at("scores");
      for (std::size_t b = 0; b < 2; ++b)
        for (std::size_t j = 0; j < 3; ++j) {
          BOOST_TEST(w.data[(b * 3 + row) * 3 + j] == 0);
          BOOST_TEST((is_inf(s.data[(b * 3 + row) * 3 + j]) && s.data[(b * 3 + row) * 3 + j] < 0));
        }
      auto agreement = check_gradients("attention", a);
      BOOST_TEST(agreement.min_digits >= 30, agreement.worst);
      // The same in double.
      op_args<double> ad;
      ad.params = a.params;
      for (const auto& [name, t] : a.inputs) ad.inputs[name] = tensor_cast<double>(t);
      ad.cotangents["out"] = tensor_cast<double>(a.cotangents.at("out"));
      auto rd = run(ad, true);
      BOOST_TEST(all_finite(rd.outputs.at("out")));
      for (const auto& [name, g] : rd.gradients) BOOST_TEST(all_finite(g), name);
    }
  }
}

// NaN or 1e10 in a key/value that the mask hides from every query: out, weights and every gradient
// are exactly those of the same case with an ordinary value there (masked_fill semantics).
template <class T> void check_masked_garbage() {
  const T bad_values[] = {quiet_nan<T>(), T(1e10), T(-1e10), infinity<T>()};
  auto base = attention_args<T>({{2}, 3, 4, 3, 2}, {}, 60);
  tensor<T> mask = grid_tensor<T>({3, 4}, 61);
  for (std::size_t i = 0; i < 3; ++i) mask.data[i * 4 + 2] = -infinity<T>(); // key 2 masked everywhere
  base.inputs["mask"] = mask;
  set_cotangent(base, 62);
  const auto want = run(base, true);
  for (const T& bad : bad_values)
    for (const char* which : {"k", "v"}) {
      BOOST_TEST_CONTEXT(which << " = " << to_double(bad)) {
        auto a = base;
        auto& t = a.inputs[which];
        const std::size_t d = t.cols();
        for (std::size_t b = 0; b < 2; ++b)
          for (std::size_t c = 0; c < d; ++c) t.data[(b * 4 + 2) * d + c] = bad;
        const auto got = run(a, true);
        BOOST_TEST(same(got.outputs.at("out"), want.outputs.at("out")));
        BOOST_TEST(same(got.intermediates.at("weights"), want.intermediates.at("weights")));
        BOOST_TEST(same(got.intermediates.at("scores"), want.intermediates.at("scores")));
        for (const char* g : {"q", "k", "v"}) BOOST_TEST(same(got.gradients.at(g), want.gradients.at(g)), g);
      }
    }
}

BOOST_AUTO_TEST_CASE(nan_and_huge_values_in_masked_keys_and_values_change_nothing) {
  check_masked_garbage<double>();
  precision_guard bits(256);
  check_masked_garbage<mp_real>();
}

BOOST_AUTO_TEST_CASE(nan_in_a_key_reaches_only_the_queries_that_see_it) {
  // Causal: the last key is seen by the last query only. NaN in that key and value leaves rows
  // 0..T-2 of out as they were (and their dq finite) and makes row T-1 NaN.
  auto base = attention_args<double>({{}, 4, 4, 2, 3}, {{"causal", "true"}}, 70);
  set_cotangent(base, 71);
  const auto want = run(base, false).outputs.at("out");
  auto a = base;
  a.inputs["v"].data[3 * 3 + 1] = quiet_nan<double>();
  a.inputs["k"].data[3 * 2 + 0] = quiet_nan<double>();
  const auto got = run(a, true);
  const auto& out = got.outputs.at("out");
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t d = 0; d < 3; ++d) BOOST_TEST(out.data[i * 3 + d] == want.data[i * 3 + d]);
  for (std::size_t d = 0; d < 3; ++d) BOOST_TEST(is_nan(out.data[3 * 3 + d]));
  // dq of rows 0..2 depend only on keys 0..2 and are finite.
  const auto& dq = got.gradients.at("q");
  for (std::size_t i = 0; i < 3 * 2; ++i) BOOST_TEST(is_finite(dq.data[i]));
}

BOOST_AUTO_TEST_CASE(default_scale_is_one_over_sqrt_d) {
  precision_guard bits(256);
  for (auto [D, text] : {std::pair<std::int64_t, const char*>{4, "0.5"}, {16, "0.25"}, {1, "1"}}) {
    auto a = attention_args<mp_real>({{2}, 3, 4, D, 2}, {}, 80);
    fill_cotangents("attention", a, 81);
    auto b = a;
    b.params = params("attention", {{"scale", text}});
    auto ra = run(a, true), rb = run(b, true);
    BOOST_TEST(same(ra.outputs.at("out"), rb.outputs.at("out")));
    BOOST_TEST(same(ra.intermediates.at("scores"), rb.intermediates.at("scores")));
    for (const char* g : {"q", "k", "v"}) BOOST_TEST(same(ra.gradients.at(g), rb.gradients.at(g)), g);
  }
  // D = 3: scores[0][0] is q0·k0 / sqrt(3), computed here directly.
  auto a = attention_args<mp_real>({{}, 2, 2, 3, 1}, {}, 82);
  auto s = run(a, false).intermediates.at("scores");
  mp_real want = 0;
  for (std::size_t d = 0; d < 3; ++d) want += a.inputs["q"].data[d] * a.inputs["k"].data[d];
  want /= sqrt(mp_real(3));
  BOOST_TEST(to_double(abs(s.data[0] - want)) < 1e-70);
}

BOOST_AUTO_TEST_CASE(causal_equals_an_explicit_upper_triangular_minus_inf_mask) {
  precision_guard bits(256);
  auto a = attention_args<mp_real>({{2, 1}, 4, 4, 3, 2}, {{"causal", "true"}}, 90);
  fill_cotangents("attention", a, 91);
  auto b = a;
  b.params = params("attention");
  tensor<mp_real> mask({4, 4});
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = i + 1; j < 4; ++j) mask.data[i * 4 + j] = -infinity<mp_real>();
  b.inputs["mask"] = mask;
  auto ra = run(a, true), rb = run(b, true);
  BOOST_TEST(same(ra.outputs.at("out"), rb.outputs.at("out")));
  BOOST_TEST(same(ra.intermediates.at("weights"), rb.intermediates.at("weights")));
  for (const char* g : {"q", "k", "v"}) BOOST_TEST(same(ra.gradients.at(g), rb.gradients.at(g)), g);
  // j <= i: the diagonal is visible (no off-by-one), the strict upper triangle is not.
  const auto& w = ra.intermediates.at("weights");
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t j = 0; j < 4; ++j) BOOST_TEST((w.data[i * 4 + j] > 0) == (j <= i));
  BOOST_TEST(w.data[0] == 1); // query 0 sees key 0 alone
}

BOOST_AUTO_TEST_CASE(rejects_bad_inputs) {
  auto ok = attention_args<double>({{2}, 3, 4, 3, 2}, {}, 1);
  BOOST_CHECK_NO_THROW(run(ok, false));
  {
    auto a = ok; // mismatched D
    a.inputs["k"] = tensor<double>({2, 4, 2});
    BOOST_TEST(throws_at(a, "inputs/k"));
  }
  {
    auto a = ok; // causal with Tq > Tk (Tq = 3 < Tk = 4 is a cache and fine)
    a.params = params("attention", {{"causal", "true"}});
    BOOST_CHECK_NO_THROW(run(a, false));
    a.inputs["q"] = tensor<double>({2, 5, 3});
    BOOST_TEST(throws_at(a, "params/causal"));
  }
  for (const auto& [given, path] : std::vector<std::pair<std::map<std::string, std::string>, std::string>>{
           {{{"causal", "true"}, {"window", "0"}}, "params/window"},   // window < 1
           {{{"causal", "true"}, {"window", "-2"}}, "params/window"},  // window < 1
           {{{"window", "2"}}, "params/window"},                       // window without causal
           {{{"softcap", "0"}}, "params/softcap"},                     // c = 0 divides by 0
           {{{"softcap", "-1"}}, "params/softcap"}}) {
    auto a = ok;
    a.params = params("attention", given);
    BOOST_TEST(throws_at(a, path), path);
  }
  {
    auto a = ok; // lse's cotangent is required with return_lse, with lse's shape
    a.params = params("attention", {{"return_lse", "true"}});
    a.cotangents["out"] = tensor<double>({2, 3, 2});
    BOOST_CHECK_THROW(run(a, true), gradspec::bad_input);
    a.cotangents["lse"] = tensor<double>({2, 3});
    BOOST_CHECK_NO_THROW(run(a, true));
    a.cotangents["lse"] = tensor<double>({2, 4});
    BOOST_CHECK_THROW(run(a, true), gradspec::bad_input);
  }
  {
    auto a = ok; // v with another Tk
    a.inputs["v"] = tensor<double>({2, 3, 2});
    BOOST_TEST(throws_at(a, "inputs/v"));
  }
  {
    auto a = ok; // leading axes differ (no broadcasting)
    a.inputs["k"] = tensor<double>({1, 4, 3});
    BOOST_TEST(throws_at(a, "inputs/k"));
  }
  {
    auto a = ok; // mask [Tk, Tq]
    a.inputs["mask"] = tensor<double>({4, 3});
    BOOST_TEST(throws_at(a, "inputs/mask"));
  }
  {
    auto a = ok; // rank 1
    a.inputs["q"] = tensor<double>({3});
    BOOST_TEST(throws_at(a, "inputs/q"));
  }
  {
    auto a = ok; // scale must be a number
    std::map<std::string, param_value> raw{{"scale", param_from_text("\"big\"")}};
    raw["scale"].type = param_value::kind::string;
    raw["scale"].text = "big";
    BOOST_CHECK_THROW(validate_params(find_op("attention")->params, raw), gradspec::bad_input);
  }
  {
    auto a = ok; // cotangent of the wrong shape
    a.cotangents["out"] = tensor<double>({2, 3, 3});
    BOOST_CHECK_THROW(run(a, true), gradspec::bad_input);
  }
}

BOOST_AUTO_TEST_CASE(roles_of_mask_and_scores) {
  // What generic code reads instead of names: the mask is an additive mask, the scores intermediate
  // holds the softmax logits; q, k, v are plain.
  const auto& op = *find_op("attention");
  for (const auto& in : op.inputs(params("attention")))
    BOOST_TEST((in.role == (in.name == "mask" ? tensor_role::additive_mask : tensor_role::plain)), in.name);
  for (const auto& i : op.intermediates)
    BOOST_TEST((i.role == (i.name == "scores" ? tensor_role::softmax_logits : tensor_role::plain)), i.name);
}

// Catalogue v2.

// The explicit -inf mask of bottom-right causal attention with a window: query i (at p = Tk - Tq + i)
// sees j iff p - W < j <= p, written out here from the contract's sentence.
static tensor<mp_real> visibility_mask(std::int64_t Tq, std::int64_t Tk, std::int64_t window) {
  tensor<mp_real> mask({Tq, Tk});
  for (std::int64_t i = 0; i < Tq; ++i)
    for (std::int64_t j = 0; j < Tk; ++j) {
      const std::int64_t p = Tk - Tq + i;
      if (j > p || j <= p - window) mask.data[static_cast<std::size_t>(i * Tk + j)] = -infinity<mp_real>();
    }
  return mask;
}

BOOST_AUTO_TEST_CASE(causal_cache_and_window_equal_their_explicit_masks) {
  precision_guard bits(256);
  for (const auto& [Tq, Tk, W] : {std::tuple{3, 7, 0}, std::tuple{3, 7, 2}, std::tuple{5, 5, 1}, std::tuple{1, 6, 4}, std::tuple{4, 6, 9}}) {
    BOOST_TEST_CONTEXT("Tq " << Tq << ", Tk " << Tk << ", window " << W) {
      std::map<std::string, std::string> given{{"causal", "true"}};
      if (W) given["window"] = std::to_string(W);
      auto a = attention_args<mp_real>({{2}, Tq, Tk, 3, 2}, given, 120);
      fill_cotangents("attention", a, 121);
      auto b = a;
      b.params = params("attention");
      b.inputs["mask"] = visibility_mask(Tq, Tk, W ? W : Tk + 1);
      auto ra = run(a, true), rb = run(b, true);
      BOOST_TEST(same(ra.outputs.at("out"), rb.outputs.at("out")));
      BOOST_TEST(same(ra.intermediates.at("scores"), rb.intermediates.at("scores")));
      for (const char* g : {"q", "k", "v"}) BOOST_TEST(same(ra.gradients.at(g), rb.gradients.at(g)), g);
      // Keys seen per row: min(W, p + 1), the last of them key p (bottom-right alignment).
      const auto& w = ra.intermediates.at("weights");
      for (std::int64_t i = 0; i < Tq; ++i) {
        int seen = 0;
        for (std::int64_t j = 0; j < Tk; ++j) seen += w.data[static_cast<std::size_t>(i * Tk + j)] > 0;
        const std::int64_t p = Tk - Tq + i;
        BOOST_TEST(seen == std::min<std::int64_t>(W ? W : Tk, p + 1));
        BOOST_TEST(w.data[static_cast<std::size_t>(i * Tk + p)] > 0);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(window_of_one_returns_the_value_at_the_same_position) {
  precision_guard bits(256);
  auto a = attention_args<mp_real>({{}, 3, 5, 2, 3}, {{"causal", "true"}, {"window", "1"}}, 130);
  const auto out = run(a, false).outputs.at("out");
  for (std::size_t i = 0; i < 3; ++i)
    for (std::size_t e = 0; e < 3; ++e) BOOST_TEST(out.data[i * 3 + e] == a.inputs["v"].data[(2 + i) * 3 + e]);
}

// A decode step (the last Tq queries against every key) equals the last Tq rows of the full causal
// pass, forward and backward: with the full pass's cotangent zero outside those rows, dk and dv agree
// too. Also with a window and softcap, and for grouped_query_attention.
BOOST_AUTO_TEST_CASE(decode_rows_equal_the_matching_rows_of_the_full_pass) {
  precision_guard bits(256);
  const std::int64_t T = 17, D = 4;
  for (const std::string op : {"attention", "grouped_query_attention"})
    for (const auto& extra : {std::map<std::string, std::string>{},
                              std::map<std::string, std::string>{{"window", "5"}, {"softcap", "0.9"}}})
      for (std::int64_t Tq : {1, 3}) {
        BOOST_TEST_CONTEXT(op << ", Tq " << Tq << ", " << extra.size() << " extra params") {
          const bool gqa = op == "grouped_query_attention";
          const shape_t heads = gqa ? shape_t{2} : shape_t{};
          const shape_t kv_heads = gqa ? shape_t{1} : shape_t{};
          auto with = [](shape_t s, std::int64_t a, std::int64_t b) { s.push_back(a); s.push_back(b); return s; };
          std::map<std::string, std::string> given = extra;
          given["causal"] = "true";
          given["return_lse"] = "true";
          op_args<mp_real> full;
          full.params = params(op, given);
          full.inputs["q"] = grid_tensor<mp_real>(with(heads, T, D), 140);
          full.inputs["k"] = grid_tensor<mp_real>(with(kv_heads, T, D), 141);
          full.inputs["v"] = grid_tensor<mp_real>(with(kv_heads, T, D), 142);
          const std::size_t H = gqa ? 2 : 1;
          op_args<mp_real> step = full;
          step.inputs["q"] = tensor<mp_real>(with(heads, Tq, D));
          step.cotangents["out"] = grid_tensor<mp_real>(with(heads, Tq, D), 143);
          step.cotangents["lse"] = grid_tensor<mp_real>(gqa ? shape_t{2, Tq} : shape_t{Tq}, 144);
          full.cotangents["out"] = tensor<mp_real>(with(heads, T, D));
          full.cotangents["lse"] = tensor<mp_real>(gqa ? shape_t{2, T} : shape_t{T});
          // Row r of the step is row T - Tq + r of the full pass, per head.
          for (std::size_t h = 0; h < H; ++h)
            for (std::int64_t r = 0; r < Tq; ++r) {
              const std::size_t fr = h * T + static_cast<std::size_t>(T - Tq + r), sr = h * Tq + static_cast<std::size_t>(r);
              for (std::int64_t e = 0; e < D; ++e) {
                step.inputs["q"].data[sr * D + e] = full.inputs["q"].data[fr * D + e];
                full.cotangents["out"].data[fr * D + e] = step.cotangents["out"].data[sr * D + e];
              }
              full.cotangents["lse"].data[fr] = step.cotangents["lse"].data[sr];
            }
          const auto& info = *find_op(op);
          auto rf = evaluate(info, full, true), rs = evaluate(info, step, true);
          for (std::size_t h = 0; h < H; ++h)
            for (std::int64_t r = 0; r < Tq; ++r) {
              const std::size_t fr = h * T + static_cast<std::size_t>(T - Tq + r), sr = h * Tq + static_cast<std::size_t>(r);
              BOOST_TEST(rs.outputs.at("lse").data[sr] == rf.outputs.at("lse").data[fr]);
              for (std::int64_t e = 0; e < D; ++e) {
                BOOST_TEST(rs.outputs.at("out").data[sr * D + e] == rf.outputs.at("out").data[fr * D + e]);
                BOOST_TEST(rs.gradients.at("q").data[sr * D + e] == rf.gradients.at("q").data[fr * D + e]);
              }
            }
          BOOST_TEST(max_abs_diff(rs.gradients.at("k"), rf.gradients.at("k")) < 1e-70);
          BOOST_TEST(max_abs_diff(rs.gradients.at("v"), rf.gradients.at("v")) < 1e-70);
        }
      }
}

BOOST_AUTO_TEST_CASE(softcap_by_hand_and_its_limits) {
  // q = [1 0], k = [[1 0] [0 1]], v = [[1 2] [3 4]], scale 1, c = 0.5: scores [c·tanh(1/c), 0].
  op_args<double> a;
  a.params = params("attention", {{"softcap", "0.5"}, {"scale", "1"}, {"return_lse", "true"}});
  a.inputs["q"] = tensor<double>({1, 2}, {1, 0});
  a.inputs["k"] = tensor<double>({2, 2}, {1, 0, 0, 1});
  a.inputs["v"] = tensor<double>({2, 2}, {1, 2, 3, 4});
  a.inputs["mask"] = tensor<double>({1, 2}, {0, 0.25}); // added after capping: not capped itself
  a.cotangents["out"] = tensor<double>({1, 2}, {0, 0});
  a.cotangents["lse"] = tensor<double>({1}, {1});
  auto r = run(a, true);
  const double s0 = 0.5 * std::tanh(2.0), s1 = 0.25;
  BOOST_TEST(r.intermediates.at("scores").data[0] == s0, boost::test_tools::tolerance(1e-15));
  BOOST_TEST(r.intermediates.at("scores").data[1] == s1);
  const double lse = std::log(std::exp(s0) + std::exp(s1)), w0 = std::exp(s0 - lse);
  BOOST_TEST(r.outputs.at("lse").data[0] == lse, boost::test_tools::tolerance(1e-15));
  // d lse / d q = sum_j w_j · slope_j · k_j: q_0 gets w0 · (1 - tanh²(2)) · k_00 and q_1 gets w1 · 1 · k_11
  // (the second score is q_1 = 0 before capping, where the slope is 1).
  const double th = std::tanh(2.0);
  BOOST_TEST(r.gradients.at("q").data[0] == w0 * (1 - th * th), boost::test_tools::tolerance(1e-14));
  BOOST_TEST(r.gradients.at("q").data[1] == 1 - w0, boost::test_tools::tolerance(1e-14));
  // A cap far above every score changes them by about s^3/(3c^2): 1e30 is no cap to 60 digits.
  precision_guard bits(256);
  auto b = attention_args<mp_real>({{2}, 3, 4, 3, 2}, {{"softcap", "1e30"}}, 150);
  fill_cotangents("attention", b, 151);
  auto c = b;
  c.params = params("attention");
  auto rb = run(b, true), rc = run(c, true);
  BOOST_TEST(max_rel_diff(rb.outputs.at("out"), rc.outputs.at("out")) < 1e-55);
  for (const char* g : {"q", "k", "v"}) BOOST_TEST(max_rel_diff(rb.gradients.at(g), rc.gradients.at(g)) < 1e-55, g);
}

BOOST_AUTO_TEST_CASE(saturated_softcap_keeps_a_tiny_nonzero_slope) {
  // Scores of 1e4 against c = 30: d(c·tanh(s/c))/ds = 1/cosh²(s/c) ~ 1e-289 is not 0 at 256 bits
  // (1 - tanh² would round to 0), and it is finite and non-NaN in double.
  precision_guard bits(256);
  op_args<mp_real> a;
  a.params = params("attention", {{"softcap", "30"}, {"scale", "1"}});
  a.inputs["q"] = tensor<mp_real>({1, 1}, {mp_real(1)});
  a.inputs["k"] = tensor<mp_real>({2, 1}, {mp_real(10000), mp_real(-10000)});
  a.inputs["v"] = tensor<mp_real>({2, 1}, {mp_real(1), mp_real(2)});
  a.cotangents["out"] = tensor<mp_real>({1, 1}, {mp_real(1)});
  auto r = run(a, true);
  using boost::multiprecision::cosh;
  using boost::multiprecision::exp;
  using boost::multiprecision::tanh;
  const mp_real c = 30, u = mp_real(10000) / c, w1 = 1 / (1 + exp(2 * c * tanh(u)));
  // dq = sum_j ds_j · k_j with ds_j = w_j (dp_j - sum_l w_l dp_l) / cosh²(u_j)
  const mp_real w0 = 1 - w1, row = w0 * 1 + w1 * 2, slope = 1 / (cosh(u) * cosh(u));
  const mp_real want = w0 * (1 - row) * slope * 10000 + w1 * (2 - row) * slope * -10000;
  BOOST_TEST(want != 0);
  BOOST_TEST(to_double(abs(r.gradients.at("q").data[0] / want - 1)) < 1e-60);
}

BOOST_AUTO_TEST_CASE(lse_is_the_logsumexp_of_the_scores_and_minus_inf_when_fully_masked) {
  precision_guard bits(256);
  auto a = attention_args<mp_real>({{2}, 3, 4, 3, 2}, {{"return_lse", "true"}, {"causal", "true"}, {"softcap", "2"}}, 160);
  tensor<mp_real> mask({3, 4});
  for (std::size_t j = 0; j < 4; ++j) mask.data[4 + j] = -infinity<mp_real>(); // row 1 fully masked
  mask.data[0] = mp_real("0.5");
  a.inputs["mask"] = mask;
  fill_cotangents("attention", a, 161);
  a.cotangents["lse"].data[1] = a.cotangents["lse"].data[4] = mp_real(7); // on the fully masked rows
  auto r = run(a, true);
  const auto &s = r.intermediates.at("scores"), &lse = r.outputs.at("lse"), &w = r.intermediates.at("weights");
  using boost::multiprecision::exp;
  using boost::multiprecision::log;
  for (std::size_t row = 0; row < 6; ++row) {
    if (row % 3 == 1) {
      BOOST_TEST((is_inf(lse.data[row]) && lse.data[row] < 0));
      continue;
    }
    mp_real sum = 0;
    for (std::size_t j = 0; j < 4; ++j)
      if (!is_inf(s.data[row * 4 + j])) sum += exp(s.data[row * 4 + j]);
    BOOST_TEST(to_double(abs(lse.data[row] - log(sum))) < 1e-70);
    for (std::size_t j = 0; j < 4; ++j)
      if (!is_inf(s.data[row * 4 + j])) BOOST_TEST(to_double(abs(w.data[row * 4 + j] - exp(s.data[row * 4 + j] - lse.data[row]))) < 1e-70);
  }
  for (const char* g : {"q", "k", "v"}) BOOST_TEST(all_finite(r.gradients.at(g)), g);
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t e = 0; e < 3; ++e) BOOST_TEST(r.gradients.at("q").data[(b * 3 + 1) * 3 + e] == 0);
  // The lse cotangent alone: dq_i = scale · sum_j cot_i w_ij · slope_ij · k_j, so doubling it doubles dq.
  auto b2 = a;
  b2.cotangents["out"] = tensor<mp_real>(a.cotangents["out"].shape);
  auto r1 = run(b2, true);
  for (auto& x : b2.cotangents["lse"].data) x *= 2;
  auto r2 = run(b2, true);
  for (std::size_t i = 0; i < r1.gradients.at("q").size(); ++i)
    BOOST_TEST(to_double(abs(r2.gradients.at("q").data[i] - 2 * r1.gradients.at("q").data[i])) < 1e-70);
}

BOOST_AUTO_TEST_SUITE_END()
