// The attention examples of the seed slides (/work/shared/seeds/000_8096e364c08da48c.txt, "Cross-
// Attention - NO Residual & NO LayerNorm"), run through the reference at 256 bits and compared with
// (a) what the slide prints, rounded to its 3 decimals, and (b) the closed form computed here by hand
// in double, independently of the op code: s_ij = (q_i·k_j)/sqrt(2), w_ij = e^{s_ij} / sum_l e^{s_il}
// over the visible keys, out_i = sum_j w_ij v_j.
//
// Findings (checked below, each number re-derived by hand):
//   Encoder self-attention exercise (Q = K = V = [[0.37 0.5] [0.409 0.628] [0.222 0.403]]):
//     scores  printed [0.274 0.329 0.201; 0.329 0.397 0.243; 0.201 0.243 0.150]: all right.
//     weights printed [0.335 0.354 0.311; 0.332 0.357 0.311; 0.333 0.356 0.311]: row 1 right; rows
//             2 and 3 wrong in every entry. True: [0.335 0.354 0.311; 0.335 0.358 0.307;
//             0.334 0.349 0.317] (0.33483 0.35392 0.31125 / 0.33465 0.35824 0.30711 /
//             0.33401 0.34855 0.31744).
//     output  printed [0.338 0.515; 0.339 0.516; 0.338 0.516]: rows 1 and 2 right; row 3 wrong.
//             True row 3: [0.337 0.514] (0.336612, 0.513822).
//   Decoder masked self-attention (Q = K = V = [[0.405 0.56] [0.431 0.635]], mask [[0 -inf] [0 0]]):
//     scores  printed [0.341 0.395; 0.395 0.421] (and after masking [0.341 -inf; 0.395 0.421]): all
//             wrong. By hand: 0.405² + 0.56² = 0.477625, /sqrt(2) = 0.337732; 0.405·0.431 + 0.56·0.635
//             = 0.530155, /sqrt(2) = 0.374876; 0.431² + 0.635² = 0.588986, /sqrt(2) = 0.416476.
//             True: [0.338 0.375; 0.375 0.416].
//     "Sum ≈ 2.884" printed for row 2: wrong both for the slide's own scores (e^0.395 + e^0.421 =
//             3.008) and for the true ones (e^0.374876 + e^0.416476 = 2.971).
//     weights printed [1 0; 0.494 0.506]: row 1 right (query 1 sees only key 1); row 2 is the softmax
//             of the wrong scores. True row 2: [0.490 0.510] (0.489602, 0.510398).
//     output  printed [0.405 0.56; 0.418 0.598]: right at 3 decimals (0.418270, 0.598280) even though
//             the weights are off: the two value rows are close, so the error stays below 0.0005.
#include "gradspec/reference/registry.hpp"
#include "support/test_inputs.hpp"

#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

using namespace gradspec::reference;
using namespace gradspec::testing;

namespace {

using matrix = std::vector<std::vector<double>>;
const double minus_inf = -std::numeric_limits<double>::infinity();

// The slide's decimal text, read exactly into mp_real.
tensor<mp_real> from_text(const std::vector<std::vector<const char*>>& rows) {
  tensor<mp_real> t({static_cast<std::int64_t>(rows.size()), static_cast<std::int64_t>(rows[0].size())});
  for (std::size_t i = 0; i < rows.size(); ++i)
    for (std::size_t j = 0; j < rows[i].size(); ++j) t.data[i * rows[i].size() + j] = parse_scalar<mp_real>(rows[i][j]);
  return t;
}

matrix to_matrix(const tensor<mp_real>& t) {
  matrix m(t.rows(), std::vector<double>(t.cols()));
  for (std::size_t i = 0; i < t.rows(); ++i)
    for (std::size_t j = 0; j < t.cols(); ++j) m[i][j] = to_double(t.data[i * t.cols() + j]);
  return m;
}

double round3(double x) { return std::round(x * 1000) / 1000; }
bool prints_as(double x, double printed) { return std::abs(round3(x) - printed) < 1e-9; }

// The closed form by hand, in double: scores, weights (masked where mask is -inf) and outputs.
struct hand_result {
  matrix scores, weights, out;
};
hand_result by_hand(const matrix& q, const matrix& mask) {
  const std::size_t n = q.size(), d = q[0].size();
  hand_result r{matrix(n, std::vector<double>(n)), matrix(n, std::vector<double>(n)), matrix(n, std::vector<double>(d))};
  for (std::size_t i = 0; i < n; ++i) {
    double sum = 0;
    for (std::size_t j = 0; j < n; ++j) {
      double dot = 0;
      for (std::size_t c = 0; c < d; ++c) dot += q[i][c] * q[j][c];
      r.scores[i][j] = mask[i][j] == minus_inf ? minus_inf : dot / std::sqrt(2.0);
      sum += std::exp(r.scores[i][j]);
    }
    for (std::size_t j = 0; j < n; ++j) r.weights[i][j] = std::exp(r.scores[i][j]) / sum;
    for (std::size_t c = 0; c < d; ++c)
      for (std::size_t j = 0; j < n; ++j) r.out[i][c] += r.weights[i][j] * q[j][c];
  }
  return r;
}

struct reference_result {
  matrix scores, weights, out;
};
// The attention op at 256 bits with K = V = Q, default scale (1/sqrt(2) for D = 2).
reference_result run_reference(const tensor<mp_real>& q, const tensor<mp_real>* mask, bool causal) {
  op_args<mp_real> a;
  a.params = params("attention", {{"causal", causal ? "true" : "false"}});
  a.inputs["q"] = q;
  a.inputs["k"] = q;
  a.inputs["v"] = q;
  if (mask) a.inputs["mask"] = *mask;
  const auto r = evaluate(*find_op("attention"), a, false);
  return {to_matrix(r.intermediates.at("scores")), to_matrix(r.intermediates.at("weights")), to_matrix(r.outputs.at("out"))};
}

void check_close(const matrix& got, const matrix& want, double tol) {
  for (std::size_t i = 0; i < want.size(); ++i)
    for (std::size_t j = 0; j < want[i].size(); ++j) {
      if (std::isinf(want[i][j])) {
        BOOST_TEST(got[i][j] == want[i][j]);
        continue;
      }
      BOOST_TEST(std::abs(got[i][j] - want[i][j]) < tol, "[" << i << "][" << j << "] " << got[i][j] << " vs " << want[i][j]);
    }
}

// For each entry, whether the slide's printed value is the true value rounded to 3 decimals.
void check_printed(const matrix& truth, const matrix& printed, const std::vector<std::vector<bool>>& right) {
  for (std::size_t i = 0; i < printed.size(); ++i)
    for (std::size_t j = 0; j < printed[i].size(); ++j)
      BOOST_TEST(prints_as(truth[i][j], printed[i][j]) == right[i][j],
                 "[" << i << "][" << j << "] true " << truth[i][j] << ", printed " << printed[i][j]
                     << (right[i][j] ? " (expected right)" : " (expected wrong)"));
}

const matrix encoder_q = {{0.37, 0.5}, {0.409, 0.628}, {0.222, 0.403}};
const matrix no_mask3 = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
const matrix decoder_q = {{0.405, 0.56}, {0.431, 0.635}};
const matrix decoder_mask = {{0, minus_inf}, {0, 0}};

} // namespace

BOOST_AUTO_TEST_SUITE(seed_slides_attention_test)

BOOST_AUTO_TEST_CASE(encoder_exercise_scores_are_right) {
  precision_guard bits(256);
  const auto ref = run_reference(from_text({{"0.37", "0.5"}, {"0.409", "0.628"}, {"0.222", "0.403"}}), nullptr, false);
  const auto hand = by_hand(encoder_q, no_mask3);
  check_close(ref.scores, hand.scores, 1e-14);
  // Printed on the slide; every entry is right at 3 decimals.
  const matrix printed = {{0.274, 0.329, 0.201}, {0.329, 0.397, 0.243}, {0.201, 0.243, 0.150}};
  check_printed(ref.scores, printed, {{true, true, true}, {true, true, true}, {true, true, true}});
  // A few by hand: (0.37² + 0.5²)/sqrt2 = 0.3869/sqrt2; (0.222² + 0.403²)/sqrt2 = 0.211693/sqrt2.
  BOOST_TEST(std::abs(ref.scores[0][0] - 0.3869 / std::sqrt(2.0)) < 1e-14);
  BOOST_TEST(std::abs(ref.scores[2][2] - 0.211693 / std::sqrt(2.0)) < 1e-14);
}

BOOST_AUTO_TEST_CASE(encoder_exercise_weights_rows_2_and_3_are_wrong) {
  precision_guard bits(256);
  const auto ref = run_reference(from_text({{"0.37", "0.5"}, {"0.409", "0.628"}, {"0.222", "0.403"}}), nullptr, false);
  const auto hand = by_hand(encoder_q, no_mask3);
  check_close(ref.weights, hand.weights, 1e-14);
  const matrix printed = {{0.335, 0.354, 0.311}, {0.332, 0.357, 0.311}, {0.333, 0.356, 0.311}};
  check_printed(ref.weights, printed, {{true, true, true}, {false, false, false}, {false, false, false}});
  // The true values at 3 decimals.
  const matrix truth = {{0.335, 0.354, 0.311}, {0.335, 0.358, 0.307}, {0.334, 0.349, 0.317}};
  check_printed(ref.weights, truth, {{true, true, true}, {true, true, true}, {true, true, true}});
}

BOOST_AUTO_TEST_CASE(encoder_exercise_output_row_3_is_wrong) {
  precision_guard bits(256);
  const auto ref = run_reference(from_text({{"0.37", "0.5"}, {"0.409", "0.628"}, {"0.222", "0.403"}}), nullptr, false);
  const auto hand = by_hand(encoder_q, no_mask3);
  check_close(ref.out, hand.out, 1e-14);
  const matrix printed = {{0.338, 0.515}, {0.339, 0.516}, {0.338, 0.516}};
  check_printed(ref.out, printed, {{true, true}, {true, true}, {false, false}});
  const matrix truth = {{0.338, 0.515}, {0.339, 0.516}, {0.337, 0.514}};
  check_printed(ref.out, truth, {{true, true}, {true, true}, {true, true}});
}

BOOST_AUTO_TEST_CASE(decoder_masked_scores_on_the_slide_are_wrong) {
  precision_guard bits(256);
  const auto q = from_text({{"0.405", "0.56"}, {"0.431", "0.635"}});
  const auto mask = from_text({{"0", "-inf"}, {"0", "0"}});
  const auto ref = run_reference(q, &mask, false);
  // Independent hand arithmetic: the dot products written out.
  const double s00 = (0.405 * 0.405 + 0.56 * 0.56) / std::sqrt(2.0);   // 0.477625 / sqrt2
  const double s10 = (0.431 * 0.405 + 0.635 * 0.56) / std::sqrt(2.0);  // 0.530155 / sqrt2
  const double s11 = (0.431 * 0.431 + 0.635 * 0.635) / std::sqrt(2.0); // 0.588986 / sqrt2
  BOOST_TEST(std::abs(0.405 * 0.405 + 0.56 * 0.56 - 0.477625) < 1e-15);
  BOOST_TEST(std::abs(s00 - 0.33773187636) < 1e-10);
  check_close(ref.scores, {{s00, minus_inf}, {s10, s11}}, 1e-14);
  check_close(ref.scores, by_hand(decoder_q, decoder_mask).scores, 1e-14);
  // The slide prints [0.341 0.395; 0.395 0.421] before the mask and [0.341 -inf; 0.395 0.421] after:
  // every finite entry disagrees with the truth [0.338 -inf; 0.375 0.416].
  const matrix printed = {{0.341, minus_inf}, {0.395, 0.421}};
  BOOST_TEST(!prints_as(ref.scores[0][0], printed[0][0]));
  BOOST_TEST(!prints_as(ref.scores[1][0], printed[1][0]));
  BOOST_TEST(!prints_as(ref.scores[1][1], printed[1][1]));
  BOOST_TEST(ref.scores[0][1] == minus_inf);
  BOOST_TEST(prints_as(ref.scores[0][0], 0.338));
  BOOST_TEST(prints_as(ref.scores[1][0], 0.375));
  BOOST_TEST(prints_as(ref.scores[1][1], 0.416));
  // The unmasked score (0, 1) the slide prints before masking (0.395) is wrong too: q0·q1/sqrt2 = s10.
  BOOST_TEST(!prints_as(s10, 0.395));
  // causal: true is the same as this mask.
  const auto causal = run_reference(q, nullptr, true);
  BOOST_TEST((causal.scores == ref.scores));
  BOOST_TEST((causal.weights == ref.weights));
  BOOST_TEST((causal.out == ref.out));
}

BOOST_AUTO_TEST_CASE(decoder_masked_weights_are_wrong_and_the_output_right_at_3_decimals) {
  precision_guard bits(256);
  const auto q = from_text({{"0.405", "0.56"}, {"0.431", "0.635"}});
  const auto mask = from_text({{"0", "-inf"}, {"0", "0"}});
  const auto ref = run_reference(q, &mask, false);
  const auto hand = by_hand(decoder_q, decoder_mask);
  check_close(ref.weights, hand.weights, 1e-14);
  check_close(ref.out, hand.out, 1e-14);
  // Row 1 sees only key 1: weight exactly 1, output exactly q_0.
  BOOST_TEST(ref.weights[0][0] == 1.0);
  BOOST_TEST(ref.weights[0][1] == 0.0);
  // The slide's "Sum ≈ 2.884" is neither e^0.395 + e^0.421 (its own scores) nor the true sum.
  const double true_sum = std::exp(hand.scores[1][0]) + std::exp(hand.scores[1][1]);
  BOOST_TEST(std::abs(std::exp(0.395) + std::exp(0.421) - 3.008) < 5e-4);
  BOOST_TEST(std::abs(true_sum - 2.971) < 5e-4);
  BOOST_TEST(std::abs(true_sum - 2.884) > 0.05);
  // Weights printed [1 0; 0.494 0.506]: row 2 is the softmax of the wrong scores
  // (1 / (1 + e^{0.421 - 0.395}) = 0.4935); the truth is [0.490 0.510].
  check_printed(ref.weights, {{1, 0}, {0.494, 0.506}}, {{true, true}, {false, false}});
  check_printed(ref.weights, {{1, 0}, {0.490, 0.510}}, {{true, true}, {true, true}});
  BOOST_TEST(prints_as(1 / (1 + std::exp(0.421 - 0.395)), 0.494));
  // Output printed [0.405 0.56; 0.418 0.598]: right at 3 decimals (0.41827, 0.59828).
  check_printed(ref.out, {{0.405, 0.56}, {0.418, 0.598}}, {{true, true}, {true, true}});
  BOOST_TEST(ref.out[0][0] == 0.405);
  BOOST_TEST(ref.out[0][1] == 0.56);
}

BOOST_AUTO_TEST_SUITE_END()
