// grouped_query_attention: equal to attention over key/value heads repeated by hand (h reads
// h / (Hq/Hkv)), dk and dv the sums over each group, GQA gradients against finite differences with the
// v2 options, and bad inputs. (The decode identity is in attention_test.)
#include "gradspec/errors.hpp"
#include "gradspec/reference/registry.hpp"
#include "support/finite_difference.hpp"
#include "support/tensor_checks.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <map>
#include <string>

using namespace gradspec::reference;
using namespace gradspec::testing;

namespace {

// k [B, Hkv, T, E] -> [B, Hq, T, E], head h a copy of head h / (Hq / Hkv), written out element by element.
tensor<mp_real> repeat_by_hand(const tensor<mp_real>& k, std::int64_t Hq) {
  const std::int64_t B = k.shape[0], Hkv = k.shape[1], T = k.shape[2], E = k.shape[3];
  tensor<mp_real> out({B, Hq, T, E});
  for (std::int64_t b = 0; b < B; ++b)
    for (std::int64_t h = 0; h < Hq; ++h)
      for (std::int64_t t = 0; t < T; ++t)
        for (std::int64_t e = 0; e < E; ++e)
          out.data[static_cast<std::size_t>(((b * Hq + h) * T + t) * E + e)] =
              k.data[static_cast<std::size_t>(((b * Hkv + h / (Hq / Hkv)) * T + t) * E + e)];
  return out;
}

op_args<mp_real> gqa_args(std::int64_t Hq, std::int64_t Hkv, std::int64_t Tq, std::int64_t Tk,
                          const std::map<std::string, std::string>& given, std::uint64_t seed) {
  op_args<mp_real> a;
  a.params = params("grouped_query_attention", given);
  a.inputs["q"] = grid_tensor<mp_real>({2, Hq, Tq, 3}, seed);
  a.inputs["k"] = grid_tensor<mp_real>({2, Hkv, Tk, 3}, seed + 1);
  a.inputs["v"] = grid_tensor<mp_real>({2, Hkv, Tk, 2}, seed + 2);
  return a;
}

bool throws_at(const op_args<double>& a, const std::string& path) {
  try {
    evaluate(*find_op("grouped_query_attention"), a, false);
  } catch (const gradspec::bad_input& e) {
    BOOST_TEST_MESSAGE("bad_input: " << e.what());
    return e.path() == path;
  }
  return false;
}

} // namespace

BOOST_AUTO_TEST_SUITE(grouped_query_attention_test)

BOOST_AUTO_TEST_CASE(equals_attention_over_repeated_heads_with_group_sums) {
  precision_guard bits(256);
  for (const auto& [Hq, Hkv] : {std::pair<std::int64_t, std::int64_t>{6, 3}, {4, 1}, {2, 2}}) {
    BOOST_TEST_CONTEXT("Hq " << Hq << ", Hkv " << Hkv) {
      const std::map<std::string, std::string> given{{"causal", "true"}, {"softcap", "1.5"}, {"return_lse", "true"}};
      auto g = gqa_args(Hq, Hkv, 3, 5, given, 200);
      g.inputs["mask"] = grid_tensor<mp_real>({3, 5}, 205);
      fill_cotangents("grouped_query_attention", g, 206);
      op_args<mp_real> a = g;
      a.params = params("attention", given);
      a.inputs["k"] = repeat_by_hand(g.inputs["k"], Hq);
      a.inputs["v"] = repeat_by_hand(g.inputs["v"], Hq);
      auto rg = evaluate(*find_op("grouped_query_attention"), g, true);
      auto ra = evaluate(*find_op("attention"), a, true);
      for (const char* o : {"out", "lse"}) BOOST_TEST(same(rg.outputs.at(o), ra.outputs.at(o)), o);
      BOOST_TEST(same(rg.intermediates.at("weights"), ra.intermediates.at("weights")));
      BOOST_TEST(same(rg.gradients.at("q"), ra.gradients.at("q")));
      // dk, dv: the repeated heads' gradients summed over each group.
      for (const char* name : {"k", "v"}) {
        const auto& full = ra.gradients.at(name);
        tensor<mp_real> want(g.inputs[name].shape);
        const std::int64_t T = full.shape[2], E = full.shape[3];
        for (std::int64_t b = 0; b < 2; ++b)
          for (std::int64_t h = 0; h < Hq; ++h)
            for (std::int64_t i = 0; i < T * E; ++i)
              want.data[static_cast<std::size_t>((b * Hkv + h / (Hq / Hkv)) * T * E + i)] +=
                  full.data[static_cast<std::size_t>((b * Hq + h) * T * E + i)];
        BOOST_TEST(max_abs_diff(rg.gradients.at(name), want) < 1e-70, name);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(head_h_reads_kv_head_h_over_the_group_size) {
  // Hq = 4, Hkv = 2: heads 0, 1 read kv head 0 and heads 2, 3 kv head 1 (not h % 2). With all queries
  // zero each output row is the mean of its kv head's values.
  op_args<double> a;
  a.params = params("grouped_query_attention");
  a.inputs["q"] = tensor<double>({4, 1, 1});
  a.inputs["k"] = tensor<double>({2, 2, 1}, {1, 2, 3, 4});
  a.inputs["v"] = tensor<double>({2, 2, 1}, {10, 20, 30, 50});
  const auto out = evaluate(*find_op("grouped_query_attention"), a, false).outputs.at("out");
  BOOST_TEST(out.shape == (shape_t{4, 1, 1}));
  for (std::size_t h = 0; h < 4; ++h) BOOST_TEST(out.data[h] == (h < 2 ? 15.0 : 40.0), h);
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  precision_guard bits(256);
  const std::map<std::string, std::string> variants[] = {
      {{"causal", "true"}, {"window", "2"}},
      {{"softcap", "0.6"}, {"return_lse", "true"}, {"scale", "0.7"}},
  };
  std::uint64_t seed = 210;
  for (const auto& given : variants) {
    auto a = gqa_args(4, 1, 2, 4, given, seed);
    fill_cotangents("grouped_query_attention", a, seed + 5);
    auto agreement = check_gradients("grouped_query_attention", a);
    BOOST_TEST(agreement.min_digits >= 30, agreement.worst);
    BOOST_TEST(agreement.checked == a.inputs["q"].size() + a.inputs["k"].size() + a.inputs["v"].size());
    seed += 10;
  }
}

BOOST_AUTO_TEST_CASE(rejects_bad_inputs) {
  op_args<double> ok;
  ok.params = params("grouped_query_attention");
  ok.inputs["q"] = tensor<double>({2, 4, 3, 2});
  ok.inputs["k"] = tensor<double>({2, 2, 5, 2});
  ok.inputs["v"] = tensor<double>({2, 2, 5, 3});
  BOOST_CHECK_NO_THROW(evaluate(*find_op("grouped_query_attention"), ok, false));
  {
    auto a = ok; // Hq = 4 not a multiple of Hkv = 3
    a.inputs["k"] = tensor<double>({2, 3, 5, 2});
    a.inputs["v"] = tensor<double>({2, 3, 5, 3});
    BOOST_TEST(throws_at(a, "inputs/k"));
  }
  {
    auto a = ok; // batch axes of k differ from q's
    a.inputs["k"] = tensor<double>({1, 2, 5, 2});
    BOOST_TEST(throws_at(a, "inputs/k"));
  }
  {
    auto a = ok; // v with other heads than k
    a.inputs["v"] = tensor<double>({2, 1, 5, 3});
    BOOST_TEST(throws_at(a, "inputs/v"));
  }
  {
    auto a = ok; // batch axes of v differ
    a.inputs["v"] = tensor<double>({3, 2, 5, 3});
    BOOST_TEST(throws_at(a, "inputs/v"));
  }
  {
    auto a = ok; // rank 2 q: no heads axis
    a.inputs["q"] = tensor<double>({3, 2});
    BOOST_TEST(throws_at(a, "inputs/q"));
  }
  {
    auto a = ok; // causal with Tq = 6 > Tk = 5
    a.inputs["q"] = tensor<double>({2, 4, 6, 2});
    a.params = params("grouped_query_attention", {{"causal", "true"}});
    BOOST_TEST(throws_at(a, "params/causal"));
  }
  {
    auto a = ok; // window < 1
    a.params = params("grouped_query_attention", {{"causal", "true"}, {"window", "0"}});
    BOOST_TEST(throws_at(a, "params/window"));
  }
}

BOOST_AUTO_TEST_SUITE_END()
