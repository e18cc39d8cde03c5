// multi_head_attention: gradients against finite differences (self and cross, 1, 2 and 4 heads, masks,
// causal), the output against projections + the attention op per head (the contiguous
// head split), fully masked rows, NaN in a padded memory row, mha_params_from / store_gradients with a
// prefix, and bad inputs.
#include "gradspec/reference/ops/multi_head_attention.hpp"
#include "gradspec/errors.hpp"
#include "support/finite_difference.hpp"
#include "support/tensor_checks.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <map>
#include <string>

using namespace gradspec::reference;
using namespace gradspec::testing;

namespace {

const char* const weight_names[] = {"w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_o", "b_o"};

shape_t with_tail(shape_t s, std::int64_t a, std::int64_t b) {
  s.push_back(a);
  s.push_back(b);
  return s;
}

// x [batch..., Tq, C], memory [batch..., Tk, C] when Tk > 0 (cross-attention), all weights.
template <class T>
op_args<T> mha_args(const shape_t& batch, std::int64_t Tq, std::int64_t Tk, std::int64_t C,
                    const std::map<std::string, std::string>& given, std::uint64_t seed, const std::string& prefix = "") {
  op_args<T> a;
  a.params = params("multi_head_attention", given);
  a.inputs["x"] = grid_tensor<T>(with_tail(batch, Tq, C), seed);
  if (Tk > 0) a.inputs["memory"] = grid_tensor<T>(with_tail(batch, Tk, C), seed + 1);
  std::uint64_t s = seed + 2;
  for (const char* w : weight_names)
    a.inputs[prefix + w] = grid_tensor<T>(w[0] == 'w' ? shape_t{C, C} : shape_t{C}, s++);
  return a;
}

template <class T> op_result<T> run(const std::string& op, const op_args<T>& a, bool backward) {
  return evaluate(*find_op(op), a, backward);
}




// y = x·w + b written out in the test (rows of x times columns of w), independent of linear_forward.
tensor<mp_real> affine(const tensor<mp_real>& x, const tensor<mp_real>& w, const tensor<mp_real>& b) {
  const std::size_t rows = x.rows(), in = x.cols(), out = static_cast<std::size_t>(w.shape[1]);
  shape_t s = x.shape;
  s.back() = static_cast<std::int64_t>(out);
  tensor<mp_real> y(s);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t o = 0; o < out; ++o) {
      mp_real acc = b.data[o];
      for (std::size_t i = 0; i < in; ++i) acc += x.data[r * in + i] * w.data[i * out + o];
      y.data[r * out + o] = acc;
    }
  return y;
}

// Columns [c0, c0 + n) of t [..., C].
tensor<mp_real> columns(const tensor<mp_real>& t, std::size_t c0, std::size_t n) {
  shape_t s = t.shape;
  s.back() = static_cast<std::int64_t>(n);
  tensor<mp_real> out(s);
  for (std::size_t r = 0; r < t.rows(); ++r)
    for (std::size_t c = 0; c < n; ++c) out.data[r * n + c] = t.data[r * t.cols() + c0 + c];
  return out;
}

bool throws_at(const op_args<double>& a, const std::string& path) {
  try {
    run("multi_head_attention", a, false);
  } catch (const gradspec::bad_input& e) {
    BOOST_TEST_MESSAGE("bad_input: " << e.what());
    return e.path() == path;
  }
  return false;
}

} // namespace

BOOST_AUTO_TEST_SUITE(multi_head_attention_test)

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  precision_guard bits(256);
  struct variant {
    const char* what;
    shape_t batch;
    std::int64_t Tq, Tk; // Tk 0: self-attention
    std::string heads;
    bool causal;
    int mask; // 0 none, 1 finite, 2 finite with -inf entries
  };
  // Self-attention with 2 heads, batch axes and causal are in catalogue_test; here other head counts,
  // masks and cross-attention.
  const variant variants[] = {
      {"self, 1 head, no batch", {}, 3, 0, "1", false, 0},
      {"self, 4 heads", {2}, 3, 0, "4", false, 0},
      {"self, 4 heads, causal, mask with -inf", {2}, 3, 0, "4", true, 2},
      {"self, 2 heads, two batch axes, finite mask", {2, 1}, 3, 0, "2", false, 1},
      {"cross, 1 head", {2}, 3, 5, "1", false, 0},
      {"cross, 2 heads, mask with -inf", {2}, 3, 5, "2", false, 2},
      {"cross, 4 heads, no batch, finite mask", {}, 2, 4, "4", false, 1},
      {"cross, 2 heads, causal (Tq == Tk)", {1}, 3, 3, "2", true, 0},
  };
  const std::int64_t C = 4;
  std::uint64_t seed = 100;
  for (const auto& v : variants) {
    BOOST_TEST_CONTEXT(v.what) {
      auto a = mha_args<mp_real>(v.batch, v.Tq, v.Tk, C, {{"heads", v.heads}, {"causal", v.causal ? "true" : "false"}}, seed);
      const std::int64_t Tk = v.Tk ? v.Tk : v.Tq;
      if (v.mask) {
        auto mask = grid_tensor<mp_real>({v.Tq, Tk}, seed + 50, 2.0);
        if (v.mask == 2) {
          mask.data[0 * Tk + 1] = -infinity<mp_real>();
          mask.data[2 * Tk + 0] = -infinity<mp_real>();
        }
        a.inputs["mask"] = mask;
      }
      fill_cotangents("multi_head_attention", a, seed + 60);
      auto agreement = check_gradients("multi_head_attention", a);
      std::size_t expected = 0;
      for (const auto& [name, t] : a.inputs)
        if (name != "mask") expected += t.size(); // b_k included: its exact gradient 0 agrees at the noise floor
      BOOST_TEST(agreement.checked == expected);
      BOOST_TEST(agreement.min_digits >= 30, agreement.worst);
      BOOST_TEST_MESSAGE(v.what << ": min digits " << agreement.min_digits);
      seed += 100;
    }
  }
}

// heads = 1: y = attention(x·w_q + b_q, m·w_k + b_k, m·w_v + b_v)·w_o + b_o with the attention op;
// heads = 2: the same per contiguous column block, blocks side by side.
BOOST_AUTO_TEST_CASE(equals_projections_and_the_attention_op_per_head) {
  precision_guard bits(256);
  const std::int64_t C = 4;
  for (const char* heads : {"1", "2", "4"})
    for (bool cross : {false, true}) {
      BOOST_TEST_CONTEXT("heads " << heads << (cross ? " cross" : " self")) {
        auto a = mha_args<mp_real>({2}, 3, cross ? 4 : 0, C, {{"heads", heads}}, 7);
        tensor<mp_real> mask = grid_tensor<mp_real>({3, cross ? 4 : 3}, 8);
        mask.data[1] = -infinity<mp_real>();
        a.inputs["mask"] = mask;
        const auto r = run("multi_head_attention", a, false);
        const auto& x = a.inputs["x"];
        const auto& m = cross ? a.inputs["memory"] : x;
        const auto q = affine(x, a.inputs["w_q"], a.inputs["b_q"]);
        const auto k = affine(m, a.inputs["w_k"], a.inputs["b_k"]);
        const auto v = affine(m, a.inputs["w_v"], a.inputs["b_v"]);
        const std::size_t H = std::stoul(heads), dh = C / H;
        tensor<mp_real> concat(x.shape);
        for (std::size_t h = 0; h < H; ++h) {
          op_args<mp_real> at;
          at.params = params("attention"); // default scale 1/sqrt(dh)
          at.inputs["q"] = columns(q, h * dh, dh);
          at.inputs["k"] = columns(k, h * dh, dh);
          at.inputs["v"] = columns(v, h * dh, dh);
          at.inputs["mask"] = mask;
          const auto o = run("attention", at, false).outputs.at("out");
          for (std::size_t row = 0; row < o.rows(); ++row)
            for (std::size_t c = 0; c < dh; ++c) concat.data[row * C + h * dh + c] = o.data[row * dh + c];
        }
        const auto y = affine(concat, a.inputs["w_o"], a.inputs["b_o"]);
        BOOST_TEST(max_rel_diff(r.outputs.at("y"), y) < 1e-70);
        BOOST_TEST(max_rel_diff(r.intermediates.at("concat"), concat) < 1e-70);
        BOOST_TEST(r.intermediates.at("weights").shape == (shape_t{2, static_cast<std::int64_t>(H), 3, cross ? 4 : 3}));
      }
    }
}

BOOST_AUTO_TEST_CASE(fully_masked_row_gives_bias_output_and_finite_gradients) {
  precision_guard bits(256);
  for (bool cross : {false, true}) {
    auto a = mha_args<mp_real>({2}, 3, cross ? 4 : 0, 4, {{"heads", "2"}}, 9);
    const std::int64_t Tk = cross ? 4 : 3;
    tensor<mp_real> mask({3, Tk});
    for (std::int64_t j = 0; j < Tk; ++j) mask.data[1 * Tk + j] = -infinity<mp_real>();
    a.inputs["mask"] = mask;
    fill_cotangents("multi_head_attention", a, 10);
    const auto r = run("multi_head_attention", a, true);
    const auto& y = r.outputs.at("y");
    const auto& concat = r.intermediates.at("concat");
    for (std::size_t b = 0; b < 2; ++b)
      for (std::size_t c = 0; c < 4; ++c) {
        BOOST_TEST(concat.data[(b * 3 + 1) * 4 + c] == 0);
        BOOST_TEST(y.data[(b * 3 + 1) * 4 + c] == a.inputs["b_o"].data[c]);
      }
    for (const auto& [name, g] : r.gradients) BOOST_TEST(all_finite(g), name);
    auto agreement = check_gradients("multi_head_attention", a);
    BOOST_TEST(agreement.min_digits >= 30, agreement.worst);
  }
}

// A padded memory row (a key every query has masked) holding NaN or 1e10: y, the weights and every
// gradient equal those with an ordinary value there; the gradient of that memory row is 0.
template <class T> void check_padded_memory() {
  auto base = mha_args<T>({2}, 3, 4, 4, {{"heads", "2"}}, 11);
  tensor<T> mask({3, 4});
  for (std::size_t i = 0; i < 3; ++i) mask.data[i * 4 + 3] = -infinity<T>();
  base.inputs["mask"] = mask;
  base.cotangents["y"] = grid_tensor<T>({2, 3, 4}, 12);
  const auto want = run("multi_head_attention", base, true);
  for (const T& bad : {quiet_nan<T>(), T(1e10)}) {
    BOOST_TEST_CONTEXT("memory row = " << to_double(bad)) {
      auto a = base;
      for (std::size_t b = 0; b < 2; ++b)
        for (std::size_t c = 0; c < 4; ++c) a.inputs["memory"].data[(b * 4 + 3) * 4 + c] = bad;
      const auto got = run("multi_head_attention", a, true);
      BOOST_TEST(same(got.outputs.at("y"), want.outputs.at("y")));
      BOOST_TEST(same(got.intermediates.at("weights"), want.intermediates.at("weights")));
      for (const auto& [name, g] : want.gradients) BOOST_TEST(same(got.gradients.at(name), g), name);
      const auto& dm = got.gradients.at("memory");
      for (std::size_t b = 0; b < 2; ++b)
        for (std::size_t c = 0; c < 4; ++c) BOOST_TEST(dm.data[(b * 4 + 3) * 4 + c] == 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(nan_in_a_padded_memory_row_changes_nothing) {
  check_padded_memory<double>();
  precision_guard bits(256);
  check_padded_memory<mp_real>();
}

BOOST_AUTO_TEST_CASE(self_attention_dx_includes_the_key_and_value_paths) {
  // Self-attention equals cross-attention with memory = x, and dx(self) = dx(cross) + dmemory(cross).
  precision_guard bits(256);
  auto self = mha_args<mp_real>({2}, 3, 0, 4, {{"heads", "2"}, {"causal", "true"}}, 13);
  self.cotangents["y"] = grid_tensor<mp_real>({2, 3, 4}, 14);
  auto cross = self;
  cross.inputs["memory"] = self.inputs["x"];
  const auto rs = run("multi_head_attention", self, true), rc = run("multi_head_attention", cross, true);
  BOOST_TEST(same(rs.outputs.at("y"), rc.outputs.at("y")));
  BOOST_TEST(rs.gradients.count("memory") == 0);
  auto dx = rc.gradients.at("x");
  add_into(dx, rc.gradients.at("memory"));
  BOOST_TEST(max_rel_diff(rs.gradients.at("x"), dx) < 1e-70);
  for (const char* w : weight_names) BOOST_TEST(same(rs.gradients.at(w), rc.gradients.at(w)), w);
}

BOOST_AUTO_TEST_CASE(params_from_and_store_gradients_use_the_prefix) {
  auto a = mha_args<double>({}, 2, 0, 4, {{"heads", "2"}}, 15, "attn.");
  const auto p = mha_params_from(a, "attn.", 4);
  BOOST_TEST(&p.w_k == &a.inputs.at("attn.w_k"));
  BOOST_TEST(&p.b_o == &a.inputs.at("attn.b_o"));
  auto bad = a;
  bad.inputs["attn.w_v"] = tensor<double>({4, 3});
  try {
    mha_params_from(bad, "attn.", 4);
    BOOST_FAIL("expected bad_input");
  } catch (const gradspec::bad_input& e) {
    BOOST_TEST(e.path() == "inputs/attn.w_v");
  }
  bad = a;
  bad.inputs["attn.b_q"] = tensor<double>({3});
  BOOST_CHECK_EXCEPTION(mha_params_from(bad, "attn.", 4), gradspec::bad_input,
                        [](const gradspec::bad_input& e) { return e.path() == "inputs/attn.b_q"; });
  mha_cache<double> cache;
  const auto& x = a.inputs.at("x");
  const tensor<double>* none = nullptr;
  const auto y = multi_head_attention_forward(x, none, p, none, std::int64_t{2}, false, cache);
  auto g = multi_head_attention_backward(grid_tensor<double>(y.shape, 16), x, none, p, std::int64_t{2}, cache);
  BOOST_TEST(g.dmemory.size() == 0u);
  op_result<double> result;
  store_gradients(result, "attn.", std::move(g));
  BOOST_TEST(result.gradients.size() == 8u);
  for (const char* w : weight_names) {
    BOOST_TEST(result.gradients.count(std::string("attn.") + w) == 1u, w);
    BOOST_TEST(result.gradients.at(std::string("attn.") + w).shape == a.inputs.at(std::string("attn.") + w).shape, w);
  }
}

BOOST_AUTO_TEST_CASE(rejects_bad_inputs) {
  const auto ok = mha_args<double>({2}, 3, 0, 4, {{"heads", "2"}}, 17);
  BOOST_CHECK_NO_THROW(run("multi_head_attention", ok, false));
  {
    auto a = ok; // 3 heads do not divide C = 4
    a.params = params("multi_head_attention", {{"heads", "3"}});
    BOOST_TEST(throws_at(a, "params/heads"));
  }
  {
    auto a = ok;
    a.params = params("multi_head_attention", {{"heads", "0"}});
    BOOST_TEST(throws_at(a, "params/heads"));
  }
  {
    auto a = ok;
    a.params = params("multi_head_attention", {{"heads", "-2"}});
    BOOST_TEST(throws_at(a, "params/heads"));
  }
  // heads is required (no default)
  BOOST_CHECK_THROW(params("multi_head_attention"), gradspec::bad_input);
  {
    auto a = ok; // memory of another width
    a.inputs["memory"] = tensor<double>({2, 5, 3});
    BOOST_TEST(throws_at(a, "inputs/memory"));
  }
  {
    auto a = ok; // memory with other leading axes
    a.inputs["memory"] = tensor<double>({1, 5, 4});
    BOOST_TEST(throws_at(a, "inputs/memory"));
  }
  {
    auto a = ok; // causal cross-attention with Tq != Tk
    a.params = params("multi_head_attention", {{"heads", "2"}, {"causal", "true"}});
    a.inputs["memory"] = tensor<double>({2, 5, 4});
    BOOST_TEST(throws_at(a, "params/causal"));
  }
  {
    auto a = ok;
    a.inputs["w_k"] = tensor<double>({4, 2});
    BOOST_TEST(throws_at(a, "inputs/w_k"));
  }
  {
    auto a = ok; // mask [Tq, Tk] with Tk = 3 for self-attention
    a.inputs["mask"] = tensor<double>({3, 4});
    BOOST_TEST(throws_at(a, "inputs/mask"));
  }
  {
    auto a = ok;
    a.inputs["x"] = tensor<double>({4});
    BOOST_TEST(throws_at(a, "inputs/x"));
  }
}

BOOST_AUTO_TEST_CASE(mask_is_an_additive_mask) {
  for (const auto& in : find_op("multi_head_attention")->inputs(params("multi_head_attention", {{"heads", "1"}})))
    BOOST_TEST((in.role == (in.name == "mask" ? tensor_role::additive_mask : tensor_role::plain)), in.name);
}

BOOST_AUTO_TEST_SUITE_END()
