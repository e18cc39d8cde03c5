#include "gradspec/cases/suites.hpp"

#include "gradspec/cases/suite_builder.hpp"
#include "gradspec/errors.hpp"

#include <tuple>

namespace gradspec::cases {

namespace {

// ---------------------------------------------------------------------------------------- standard

std::vector<suite_file> standard_suite() {
  suite_builder s;
  s.random("linear", {{"n", "2"}, {"in_features", "3"}, {"out_features", "2"}}, {}, {0, 1}, "tiny, readable");
  s.random("linear", {{"batch", "2"}, {"n", "3"}, {"in_features", "4"}, {"out_features", "5"}}, {}, {0}, "one batch axis");
  s.random("linear", {{"batch", "2x2"}, {"n", "2"}, {"in_features", "3"}, {"out_features", "3"}}, {}, {0}, "two batch axes");
  s.random("linear", {{"n", "16"}, {"in_features", "64"}, {"out_features", "64"}}, {}, {0}, "realistic width");

  s.random("embedding", {{"seq", "3"}, {"vocab", "5"}, {"d_model", "4"}}, {}, {0, 1}, "tiny, readable");
  s.random("embedding", {{"batch", "2"}, {"seq", "6"}, {"vocab", "8"}, {"d_model", "8"}}, {{"scale", "sqrt_d"}}, {0}, "scaled by sqrt(d_model)");
  s.random("embedding", {{"batch", "2x2"}, {"seq", "4"}, {"vocab", "10"}, {"d_model", "16"}}, {}, {0}, "two batch axes");

  s.random("positional_encoding", {{"seq", "4"}, {"d_model", "4"}}, {}, {0}, "tiny, readable");
  s.random("positional_encoding", {{"seq", "64"}, {"d_model", "16"}}, {}, {0}, "realistic length");
  s.random("positional_encoding", {{"seq", "8"}, {"d_model", "6"}}, {{"offset", "10"}}, {0}, "positions from an offset");
  s.random("positional_encoding", {{"seq", "8"}, {"d_model", "8"}}, {{"base", "100"}}, {0}, "another base");

  for (const char* op : {"softmax", "log_softmax"}) {
    s.random(op, {{"seq", "1"}, {"n", "3"}}, {}, {0, 1}, "tiny, readable");
    s.random(op, {{"batch", "2"}, {"seq", "3"}, {"n", "8"}}, {}, {0}, "one batch axis");
    s.random(op, {{"batch", "2x2"}, {"seq", "2"}, {"n", "5"}}, {}, {0}, "two batch axes");
    s.random(op, {{"seq", "4"}, {"n", "64"}}, {}, {0}, "realistic row length");
  }
  for (const char* op : {"relu", "gelu", "silu"}) {
    s.random(op, {{"seq", "1"}, {"features", "4"}}, {}, {0, 1}, "tiny, readable");
    s.random(op, {{"batch", "2"}, {"seq", "3"}, {"features", "8"}}, {}, {0}, "one batch axis");
  }
  s.random("gelu", {{"seq", "2"}, {"features", "8"}}, {{"approximate", "tanh"}}, {0, 1}, "tanh approximation");
  s.random("gelu", {{"batch", "2x2"}, {"seq", "2"}, {"features", "4"}}, {{"approximate", "tanh"}}, {0}, "tanh, two batch axes");

  for (const char* op : {"layer_norm", "rms_norm"}) {
    s.random(op, {{"seq", "2"}, {"d_model", "4"}}, {}, {0, 1}, "tiny, readable");
    s.random(op, {{"batch", "2"}, {"seq", "3"}, {"d_model", "8"}}, {}, {0}, "one batch axis");
    s.random(op, {{"batch", "2x2"}, {"seq", "2"}, {"d_model", "6"}}, {}, {0}, "two batch axes");
    s.random(op, {{"seq", "4"}, {"d_model", "64"}}, {}, {0}, "realistic width");
    s.random(op, {{"seq", "2"}, {"d_model", "8"}}, {{"eps", "0.001"}}, {0}, "another eps");
  }

  s.random("attention", {{"seq", "3"}, {"d_k", "2"}}, {}, {0, 1}, "tiny, readable");
  s.random("attention", {{"seq", "4"}, {"d_k", "4"}}, {{"causal", "true"}}, {0}, "causal", "", {"causal"});
  s.random("attention", {{"seq", "3"}, {"seq_kv", "5"}, {"d_k", "4"}, {"d_v", "3"}}, {}, {0}, "cross: Tq != Tk, D != Dv");
  s.random("attention", {{"seq", "4"}, {"d_k", "4"}}, {{"scale", "0.25"}}, {0}, "custom scale");
  s.random("attention", {{"batch", "2"}, {"seq", "4"}, {"seq_kv", "6"}, {"d_k", "4"}}, {}, {0}, "additive mask with -inf entries", "mask");
  s.last().inputs["mask"] = partial_mask(4, 6, 11);
  s.random("attention", {{"batch", "2x2"}, {"seq", "3"}, {"d_k", "4"}}, {{"causal", "true"}}, {0}, "causal, two batch axes", "", {"causal"});
  s.random("attention", {{"seq", "64"}, {"d_k", "16"}}, {}, {0}, "realistic: T = 64");
  s.random("attention", {{"seq", "64"}, {"d_k", "16"}}, {{"causal", "true"}}, {0}, "realistic causal: T = 64", "", {"causal"});

  s.random("multi_head_attention", {{"seq", "3"}, {"d_model", "4"}}, {{"heads", "1"}}, {0}, "tiny, one head");
  s.random("multi_head_attention", {{"seq", "4"}, {"d_model", "8"}}, {{"heads", "2"}}, {0, 1}, "self-attention, 2 heads");
  s.random("multi_head_attention", {{"batch", "2"}, {"seq", "3"}, {"seq_kv", "5"}, {"d_model", "8"}}, {{"heads", "2"}}, {0}, "cross-attention");
  s.random("multi_head_attention", {{"seq", "4"}, {"d_model", "8"}}, {{"heads", "4"}, {"causal", "true"}}, {0}, "causal, 4 heads", "", {"causal"});
  s.random("multi_head_attention", {{"seq", "4"}, {"d_model", "8"}}, {{"heads", "2"}}, {0}, "additive mask", "mask");
  s.last().inputs["mask"] = partial_mask(4, 4, 12);
  s.random("multi_head_attention", {{"seq", "16"}, {"d_model", "64"}}, {{"heads", "4"}}, {0}, "realistic: C = 64, 4 heads");

  for (const char* act : {"relu", "gelu", "gelu_tanh", "silu"})
    s.random("feed_forward", {{"seq", "2"}, {"d_model", "4"}, {"d_ff", "8"}}, {{"activation", act}}, {0}, std::string("tiny, ") + act);
  s.random("feed_forward", {{"batch", "2"}, {"seq", "3"}, {"d_model", "8"}, {"d_ff", "16"}}, {{"activation", "gelu"}}, {0}, "one batch axis");
  s.random("feed_forward", {{"seq", "8"}, {"d_model", "64"}, {"d_ff", "256"}}, {{"activation", "relu"}}, {0}, "realistic width");

  for (const char* red : {"mean", "sum", "none"})
    s.random("cross_entropy", {{"n", "3"}, {"vocab", "4"}}, {{"reduction", red}}, {0, 1}, std::string("reduction ") + red);
  s.random("cross_entropy", {{"n", "6"}, {"vocab", "5"}}, {{"ignore_index", "2"}}, {0}, "ignore_index");
  s.random("cross_entropy", {{"n", "6"}, {"vocab", "5"}}, {{"label_smoothing", "0.1"}}, {0}, "label smoothing");
  s.random("cross_entropy", {{"n", "6"}, {"vocab", "5"}}, {{"label_smoothing", "0.1"}, {"ignore_index", "1"}}, {0}, "label smoothing and ignore_index");
  s.random("cross_entropy", {{"batch", "2"}, {"n", "3"}, {"vocab", "6"}}, {{"reduction", "sum"}}, {0}, "leading axis");
  s.random("cross_entropy", {{"n", "32"}, {"vocab", "100"}}, {}, {0}, "realistic vocabulary");

  s.random("encoder_layer", {{"seq", "3"}, {"d_model", "4"}, {"d_ff", "8"}}, {{"heads", "2"}}, {0}, "tiny, post-LN");
  s.random("encoder_layer", {{"seq", "3"}, {"d_model", "4"}, {"d_ff", "8"}}, {{"heads", "2"}, {"norm_first", "true"}}, {0}, "tiny, pre-LN");
  s.random("encoder_layer", {{"batch", "2"}, {"seq", "4"}, {"d_model", "8"}, {"d_ff", "16"}}, {{"heads", "2"}, {"activation", "gelu"}}, {0}, "gelu, batch");
  s.random("encoder_layer", {{"seq", "4"}, {"d_model", "8"}, {"d_ff", "16"}}, {{"heads", "2"}, {"causal", "true"}, {"activation", "silu"}}, {0}, "causal, silu", "", {"causal"});
  s.random("encoder_layer", {{"seq", "16"}, {"d_model", "32"}, {"d_ff", "64"}}, {{"heads", "4"}, {"norm_first", "true"}}, {0}, "realistic, pre-LN");

  s.random("decoder_layer", {{"seq", "3"}, {"seq_kv", "4"}, {"d_model", "4"}, {"d_ff", "8"}}, {{"heads", "2"}}, {0}, "tiny, post-LN");
  s.random("decoder_layer", {{"seq", "3"}, {"seq_kv", "4"}, {"d_model", "4"}, {"d_ff", "8"}}, {{"heads", "2"}, {"norm_first", "true"}}, {0}, "tiny, pre-LN");
  s.random("decoder_layer", {{"batch", "2"}, {"seq", "4"}, {"seq_kv", "5"}, {"d_model", "8"}, {"d_ff", "16"}}, {{"heads", "2"}, {"activation", "gelu_tanh"}}, {0}, "gelu_tanh, batch");
  s.random("decoder_layer", {{"seq", "12"}, {"seq_kv", "16"}, {"d_model", "32"}, {"d_ff", "64"}}, {{"heads", "4"}}, {0}, "realistic");

  s.random("transformer", {{"seq", "3"}, {"seq_kv", "4"}, {"vocab", "5"}, {"d_model", "4"}, {"d_ff", "8"}}, {{"layers", "1"}, {"heads", "2"}}, {0}, "tiny, one layer");
  s.random("transformer", {{"seq", "3"}, {"seq_kv", "4"}, {"vocab", "5"}, {"d_model", "4"}, {"d_ff", "8"}},
           {{"layers", "1"}, {"heads", "2"}, {"norm_first", "true"}, {"label_smoothing", "0.1"}, {"ignore_index", "0"}}, {0}, "pre-LN, smoothing, ignore_index");
  s.random("transformer", {{"batch", "2"}, {"seq", "8"}, {"seq_kv", "10"}, {"vocab", "20"}, {"d_model", "16"}, {"d_ff", "32"}},
           {{"layers", "2"}, {"heads", "4"}}, {0}, "realistic: two layers");
  return s.finish();
}

// -------------------------------------------------------------------------------------------- edge

std::vector<suite_file> edge_suite() {
  suite_builder s;
  const std::string inf = "-inf";
  value_source v(0x5eed);

  // Masking.
  s.random("attention", {{"seq", "4"}, {"d_k", "4"}}, {}, {0}, "query row 1 has every key masked (additive -inf)", "fully_masked_row", {"fully_masked_row"});
  s.last().inputs["mask"] = real({4, 4}, {"0", "0", "-0.5", "0", inf, inf, inf, inf, "0", "0", "0", inf, "0", "-1", "0", "0"});
  s.random("attention", {{"seq", "4"}, {"d_k", "4"}}, {{"causal", "true"}}, {0},
           "causal plus padding of key 0: query 0 sees only key 0, which is masked", "fully_masked_row_causal", {"fully_masked_row", "causal"});
  s.last().inputs["mask"] = real({4, 4}, {inf, "0", "0", "0", inf, "0", "0", "0", inf, "0", "0", "0", inf, "0", "0", "0"});
  s.random("multi_head_attention", {{"seq", "3"}, {"d_model", "8"}}, {{"heads", "2"}}, {0}, "query row 2 fully masked in every head", "fully_masked_row", {"fully_masked_row"});
  s.last().inputs["mask"] = real({3, 3}, {"0", inf, "0", "0", "0", "0", inf, inf, inf});
  for (const auto& [name, value, flag] : {std::tuple{"masked_nan", "nan", "masked_nan"}, std::tuple{"masked_huge", "1e10", "masked_huge"}}) {
    s.random("attention", {{"seq", "3"}, {"seq_kv", "4"}, {"d_k", "4"}}, {}, {0},
             std::string("key 3 is masked for every query and its key and value hold ") + value, name, {flag});
    auto& c = s.last();
    c.inputs["mask"] = real({3, 4}, {"0", "0", "0", inf, "0", "0", "0", inf, "0", "0", "0", inf});
    for (int d = 0; d < 4; ++d) c.inputs["k"].values[12 + d] = c.inputs["v"].values[12 + d] = value;
  }
  s.random("attention", {{"seq", "6"}, {"d_k", "4"}}, {{"causal", "true"}}, {0}, "causal: the diagonal decides (catches j < i and masking after softmax)", "causal_boundary", {"causal"});

  // Softmax and attention.
  s.exact("softmax/large_logits/0", "softmax", {},
          {{"x", real({2, 4}, text_values({10000, 10001, 9999.5, 10000.25, -10000, -10001, -9999.5, -10000.25}))}},
          "logits around 1e4 (and -1e4)", {"large_logits"});
  s.exact("softmax/wide_spread/0", "softmax", {}, {{"x", real({3, 4}, text_values({0, -5, 5, 1, 0, -640, 640, 1, 320, -320, 0, 160}))}},
          "rows spreading over 5 to 640", {"wide_spread"});
  s.exact("log_softmax/wide_spread/0", "log_softmax", {}, {{"x", real({2, 4}, text_values({0, -5, 5, 1, 0, -640, 640, 1}))}},
          "rows spreading over 5 to 640", {"wide_spread"});
  s.random("softmax", {{"seq", "1"}, {"n", "4096"}}, {}, {0}, "one row of 4096 logits", "long_row", {"long_row"});
  s.random("attention", {{"seq", "2"}, {"seq_kv", "2048"}, {"d_k", "8"}}, {}, {0}, "2048 keys", "long_row", {"long_row"});
  s.random("attention", {{"seq", "4"}, {"d_k", "8"}}, {}, {0}, "queries and keys scaled by 8", "scaled_inputs", {"scaled_inputs"});
  for (auto* t : {&s.last().inputs["q"], &s.last().inputs["k"]})
    for (auto& x : t->values) x = reference::format_scalar(std::stod(x) * 8, 17);
  s.random("attention", {{"seq", "4"}, {"d_k", "256"}}, {}, {0}, "head dimension 256", "head_dim_256", {"head_dim_256"});
  s.random("attention", {{"seq", "3"}, {"d_k", "16"}}, {}, {0}, "default scale 1/sqrt(16) = 0.25, not 1/16", "default_scale", {"default_scale"});
  s.random("attention", {{"seq", "2"}, {"seq_kv", "5"}, {"d_k", "4"}}, {}, {0}, "Tq = 2, Tk = 5: the softmax runs over keys", "softmax_axis", {"softmax_axis"});

  // Normalisation.
  s.exact("layer_norm/large_mean/0", "layer_norm", {},
          {{"x", real({2, 4}, text_values({80000, 80001, 80002, 80003, -80000, -80003, -80001, -80002}))},
           {"gamma", real({4}, text_values({1, 1, 1, 1}))}, {"beta", real({4}, text_values({0, 0, 0, 0}))}},
          "rows [80000, 80001, 80002, 80003]", {"large_mean"});
  {
    std::vector<std::string> row;
    for (int i = 0; i < 4096; ++i) row.push_back(std::to_string(10000000 + i));
    s.exact("layer_norm/large_mean/1", "layer_norm", {},
            {{"x", real({1, 4096}, row)}, {"gamma", v.around({4096}, 1.0, 0.5, 7)}, {"beta", v.grid({4096}, 0.5, 7)}},
            "1e7 + i, C = 4096", {"large_mean"});
  }
  s.exact("layer_norm/constant_row/0", "layer_norm", {},
          {{"x", real({2, 4}, text_values({3, 3, 3, 3, -0.5, -0.5, -0.5, -0.5}))}, {"gamma", real({4}, text_values({1, 0.5, 2, -1}))},
           {"beta", real({4}, text_values({0.25, 0, -0.5, 1}))}},
          "constant rows: variance 0, output beta", {"constant_row"});
  s.exact("layer_norm/biased_variance/0", "layer_norm", {{"eps", "0.5"}},
          {{"x", real({3, 2}, text_values({1, -1, 0.5, 2, -3, 0.25}))}, {"gamma", real({2}, text_values({1, 1}))},
           {"beta", real({2}, text_values({0, 0}))}},
          "C = 2 and eps = 0.5: divide by C, eps inside the root", {"biased_variance", "eps_inside_sqrt"});
  s.random("layer_norm", {{"seq", "2"}, {"d_model", "16"}}, {}, {0}, "mean 100, spread 1/4: few digits of x - mean survive bfloat16", "small_std", {"small_std"});
  for (auto& x : s.last().inputs["x"].values) x = reference::format_scalar(100 + std::stod(x) / 8, 17);
  s.exact("rms_norm/fp16_square_overflow/0", "rms_norm", {},
          {{"x", real({2, 4}, text_values({1000, -992, 1008, 960, 512, 1024, -768, 896}))}, {"gamma", real({4}, text_values({1, 1, 0.5, 2}))}},
          "values near 1000: x^2 overflows float16", {"fp16_square_overflow"});

  // Loss.
  for (const char* red : {"mean", "sum"})
    s.exact(std::string("cross_entropy/label_smoothing_ignored/") + red, "cross_entropy",
            {{"reduction", red}, {"ignore_index", "3"}, {"label_smoothing", "0.2"}},
            {{"logits", v.grid({5, 4}, 4, 4)}, {"targets", ints({5}, {0, 3, 2, 3, 1})}},
            std::string("label smoothing 0.2 with two ignored targets, reduction ") + red, {"label_smoothing_ignored"});
  s.exact("cross_entropy/ignore_valid_class/0", "cross_entropy", {{"ignore_index", "1"}},
          {{"logits", v.grid({4, 3}, 4, 4)}, {"targets", ints({4}, {1, 0, 2, 1})}}, "ignore_index 1 is a real class", {"ignore_valid_class"});
  s.exact("cross_entropy/all_ignored/0", "cross_entropy", {{"ignore_index", "0"}},
          {{"logits", v.grid({3, 4}, 4, 4)}, {"targets", ints({3}, {0, 0, 0})}}, "every target ignored, reduction mean", {"all_ignored"});
  s.exact("cross_entropy/large_logit_gap/0", "cross_entropy", {{"reduction", "sum"}},
          {{"logits", real({2, 3}, text_values({10000, 0, -10000, 0, 10000, 5}))}, {"targets", ints({2}, {2, 0})}},
          "logits 1e4 apart; the targets are the unlikely classes", {"large_logit_gap"});

  // Activations and positions.
  const auto gelu_x = text_values({-3, -2.5, -2, -1.5, -1, 1, 1.5, 2, 2.5, 3});
  s.exact("gelu/gelu_approximation/0", "gelu", {}, {{"x", real({10}, gelu_x)}}, "where erf and tanh forms differ most", {"gelu_approximation"});
  s.exact("gelu/gelu_approximation/1", "gelu", {{"approximate", "tanh"}}, {{"x", real({10}, gelu_x)}}, "the same points, tanh form", {"gelu_approximation"});
  const auto tails = text_values({-40, -20, -10, -6, 6, 10, 20, 40});
  for (const char* op : {"gelu", "silu"}) s.exact(std::string(op) + "/large_magnitude/0", op, {}, {{"x", real({8}, tails)}}, "far tails", {"large_magnitude"});
  s.exact("relu/relu_at_zero/0", "relu", {}, {{"x", real({6}, text_values({0, -0.5, 0, 0.5, -0.0, 2}))}}, "exact zeros: relu'(0) = 0", {"relu_at_zero"});
  s.exact("silu/silu_large_negative/0", "silu", {}, {{"x", real({5}, text_values({-1000, -100, -50, -745, -20}))}},
          "large negative x", {"silu_large_negative"});
  s.exact("positional_encoding/large_position/0", "positional_encoding", {{"length", "4"}, {"d_model", "8"}, {"offset", "10000"}}, {},
          "positions 10000 to 10003", {"large_position"});
  s.exact("positional_encoding/large_position/1", "positional_encoding", {{"length", "2"}, {"d_model", "16"}, {"offset", "4095"}}, {},
          "positions 4095, 4096", {"large_position"});
  s.exact("positional_encoding/odd_d_model/0", "positional_encoding", {{"length", "5"}, {"d_model", "7"}}, {}, "d_model = 7", {"odd_d_model"});
  s.exact("embedding/repeated_ids/0", "embedding", {},
          {{"ids", ints({2, 4}, {1, 3, 1, 1, 0, 3, 2, 1})}, {"table", v.grid({4, 3})}}, "id 1 four times, id 3 twice", {"repeated_ids"});

  // Conditioned for float64: inputs exact in float64 only, where float64's 53 bits no longer hide
  // one-pass variance, float32 accumulation inside a float64 path or a lost common offset.
  value_source w(0xf64c);
  s.exact("layer_norm/float64_conditioned/0", "layer_norm", {},
          {{"x", offset_grid(w, {2, 64}, 1e8, 0.5, 10)}, {"gamma", w.around({64}, 1.0, 0.5, 6)}, {"beta", w.grid({64}, 0.5, 6)}},
          "rows 1e8 + k/1024, |k| <= 512: one-pass variance loses every digit in float64", {"float64_conditioned", "large_mean"});
  s.exact("rms_norm/float64_conditioned/0", "rms_norm", {},
          {{"x", offset_grid(w, {2, 64}, 1e8, 0.5, 10)}, {"gamma", w.around({64}, 1.0, 0.5, 6)}},
          "rows 1e8 + k/1024: squares summed in float32 are off by 1e-7", {"float64_conditioned"});
  for (const char* op : {"softmax", "log_softmax"})
    s.exact(std::string(op) + "/float64_conditioned/0", op, {}, {{"x", offset_grid(w, {2, 32}, 1e6, 4, 10)}},
            "logits 1e6 + k/1024, |k| <= 4096: the fractional parts decide", {"float64_conditioned"});
  s.random("attention", {{"seq", "4"}, {"seq_kv", "6"}, {"d_k", "8"}}, {}, {0},
           "key feature 0 is 1e5 + k/1024 for every key: a common score offset of up to 3.5e4 per query row",
           "float64_conditioned", {"float64_conditioned"});
  {
    const raw_tensor offsets = offset_grid(w, {6}, 1e5, 1, 10);
    for (std::size_t j = 0; j < 6; ++j) s.last().inputs["k"].values[j * 8] = offsets.values[j];
  }
  return s.finish();
}

// ---------------------------------------------------------------------------------------- examples

// The worked exercises of ../shared/seeds/000_8096e364c08da48c.txt, with the slides' inputs.
std::vector<suite_file> examples_suite() {
  suite_builder s;
  const std::vector<std::string> flags = {"slide_exercise"};
  const auto enc_q = real({3, 2}, {"0.37", "0.5", "0.409", "0.628", "0.222", "0.403"});
  s.exact("examples/encoder_self_attention", "attention", {}, {{"q", enc_q}, {"k", enc_q}, {"v", enc_q}},
          "Slide 3: encoder self-attention on the given Q with K = V = Q, scores = Q·Kᵀ/sqrt(2)", flags);
  s.exact("examples/encoder_ffn", "feed_forward", {{"activation", "relu"}},
          {{"x", real({3, 2}, {"0.338", "0.515", "0.339", "0.516", "0.338", "0.516"})},
           {"w1", real({2, 2}, {"0.5", "0.6", "0.7", "0.8"})},
           {"b1", real({2}, {"0.1", "0.2"})},
           {"w2", real({2, 2}, {"0.9", "1.0", "1.1", "1.2"})},
           {"b2", real({2}, {"0.3", "0.4"})}},
          "Slide 4 part 1: FFN(x) = ReLU(x·W1 + b1)·W2 + b2 on the slide's encoder outputs", flags);
  const auto dec_q = real({2, 2}, {"0.405", "0.56", "0.431", "0.635"});
  s.exact("examples/masked_decoder_self_attention", "attention", {},
          {{"q", dec_q}, {"k", dec_q}, {"v", dec_q}, {"mask", real({2, 2}, {"0", "-inf", "0", "0"})}},
          "Slide 4 part 2: masked decoder self-attention, mask [[0, -inf], [0, 0]]", flags);
  s.exact("examples/softmax", "softmax", {}, {{"x", real({3}, {"0.2", "0.6", "0.1"})}},
          "Slide 5: softmax of the decoder output [0.2, 0.6, 0.1]", flags);
  s.exact("examples/cross_entropy_gradient", "cross_entropy", {{"reduction", "sum"}},
          {{"logits", real({1, 3}, {"0.2", "0.6", "0.1"})}, {"targets", ints({1}, {1})}},
          "Slide 5: the cross-entropy gradient through softmax is ŷ - y (target class 1 assumed: the slide does "
          "not say); with cotangent 1 the logits gradient is softmax - onehot",
          flags);
  s.last().cotangents["loss"] = real({}, {"1"});
  return s.finish();
}

// ------------------------------------------------------------------------------------------- sweep

std::vector<suite_file> sweep_suite() {
  suite_builder s;
  for (int n : {16, 64, 256, 1024, 4096, 16384, 32768})
    s.random("softmax", {{"seq", "1"}, {"n", std::to_string(n)}}, {}, {0}, "row length sweep");
  for (int t : {16, 64, 256, 1024})
    s.random("attention", {{"seq", std::to_string(t)}, {"d_k", "16"}}, {{"causal", "true"}}, {0}, "sequence length sweep");
  for (int c : {16, 64, 256, 1024, 4096, 8192})
    s.random("layer_norm", {{"seq", "2"}, {"d_model", std::to_string(c)}}, {}, {0}, "width sweep");
  return s.finish();
}

} // namespace

const std::vector<std::string>& suite_names() {
  static const std::vector<std::string> names = {"standard", "edge", "examples", "sweep"};
  return names;
}

std::vector<suite_file> build_suite(const std::string& name) {
  if (name == "standard") return standard_suite();
  if (name == "edge") return edge_suite();
  if (name == "examples") return examples_suite();
  if (name == "sweep") return sweep_suite();
  throw bad_input("--suite", "unknown suite \"" + name + "\" (standard, edge, examples, sweep)");
}

} // namespace gradspec::cases
