// What every flag of the suites means: the trap it sets, what goes wrong in real code, and what a
// correct implementation does (Wycheproof's `notes`). Written into each file for the flags it uses.
#include "gradspec/cases/suite_builder.hpp"

namespace gradspec::cases {

const json& flag_notes() {
  static const json notes = [] {
    json n;
    flag_notes_builder b(n);
    b.add("fully_masked_row", "edge_case",
        "Every key of some query row is masked (-inf). Naive softmax computes 0/0 and returns NaN, which then leaks "
        "into dq, dk and dv. Correct (safe softmax, as current PyTorch SDPA and FlashAttention): that output row is "
        "0 and every gradient is finite (zero through that row).");
    b.add("causal", "edge_case",
        "Causal masking: query i sees key j iff j <= i. The diagonal is where off-by-one bugs (j < i) show, and "
        "masking after the softmax instead of before leaves rows that do not sum to 1.");
    b.add("masked_nan", "edge_case",
        "A masked key and value hold NaN. Masking must replace the score (masked_fill), not add -inf to it "
        "(NaN + -inf = NaN), and the masked value must not be multiplied in (0 · NaN = NaN). Output and the "
        "gradients of unmasked positions are unchanged; gradients of the masked key and value are 0.");
    b.add("masked_huge", "edge_case",
        "A masked key and value hold 1e10: the output must not change (an additive finite mask such as -1e9 "
        "is overwhelmed by q·k of that size).");
    b.add("large_logits", "edge_case",
        "Logits around 1e4: exp without subtracting the row maximum overflows to inf and gives NaN. Correct: "
        "max-subtracted softmax, identical to the result for the logits minus 1e4.");
    b.add("wide_spread", "edge_case",
        "Rows whose entries spread over 5 to 640: the small probabilities underflow; they must come out as tiny "
        "positive numbers or 0, never NaN, and the large ones must stay accurate.");
    b.add("long_row", "edge_case",
        "Thousands of entries in one softmax row or key axis: accumulation order and precision of the sums "
        "matter; naive float32 summation loses digits in proportion to the length.");
    b.add("scaled_inputs", "edge_case",
        "Queries and keys scaled by 8, so scores spread across exponents and the softmax is nearly one-hot.");
    b.add("head_dim_256", "edge_case", "Head dimension 256: long inner products in the backward pass (dq, dk).");
    b.add("default_scale", "edge_case",
        "The default scale is 1/sqrt(D); using 1/D (or no scale) changes the result at this D.");
    b.add("softmax_axis", "edge_case",
        "Tq != Tk: a softmax over the query axis instead of the key axis gives a different (and wrongly shaped "
        "under transposition) result.");
    b.add("large_mean", "edge_case",
        "LayerNorm rows with a large mean and a small spread ([80000, 80001, 80002, 80003], 1e7 + i). One-pass "
        "variance E[x^2] - E[x]^2 cancels catastrophically (even to negative variance). Correct: two-pass (or "
        "Welford) variance. The problem itself is ill-conditioned: a correct float32 result is off by about "
        "1e-3 relative, so judge against the element's conditioning, not a fixed rtol.");
    b.add("constant_row", "edge_case",
        "A constant row has variance 0: the output is beta and the gradient is finite; eps decides everything.");
    b.add("biased_variance", "edge_case",
        "LayerNorm divides by C (biased variance), not C - 1; at C = 2 the two differ by a factor of 2.");
    b.add("eps_inside_sqrt", "edge_case",
        "eps goes inside the square root: 1/sqrt(var + eps), not 1/(sqrt(var) + eps). A large eps makes the "
        "difference visible.");
    b.add("fp16_square_overflow", "edge_case",
        "RMSNorm of values near 1000: x^2 = 1e6 overflows float16 (max 65504) if squared in float16. Correct "
        "implementations accumulate in float32.");
    b.add("small_std", "edge_case",
        "Rows with a small standard deviation relative to their mean: bfloat16's 8-bit significand keeps few "
        "digits of x - mean.");
    b.add("label_smoothing_ignored", "edge_case",
        "label_smoothing together with ignore_index: the smoothing term must skip ignored targets and the mean "
        "divides by the number of non-ignored targets (PyTorch once counted ignored targets in the smoothing "
        "term).");
    b.add("ignore_valid_class", "edge_case",
        "ignore_index names a real class: rows with that target are ignored, other rows still see that class in "
        "their softmax and smoothing term.");
    b.add("all_ignored", "edge_case",
        "Every target is ignored with reduction mean: 0/0. As PyTorch, the loss is NaN and the gradient is 0.");
    b.add("large_logit_gap", "edge_case",
        "Logits 1e4 apart: log(softmax) computed as log of an underflowed probability is -inf; log_softmax "
        "computed as x - max - log(sum exp(x - max)) stays finite.");
    b.add("gelu_approximation", "edge_case",
        "GELU's erf form and its tanh approximation differ by up to about 5e-4 around |x| = 2: using one for "
        "the other is a real error in float32 and float64.");
    b.add("large_magnitude", "edge_case",
        "Activations far in their tails (|x| up to 40): erf, tanh and exp saturate; results must be exact limits "
        "or tiny, never NaN.");
    b.add("relu_at_zero", "edge_case", "relu'(0) = 0 by convention (PyTorch, JAX); some code uses 1 or 0.5.");
    b.add("silu_large_negative", "edge_case",
        "silu(x) = x·sigmoid(x) for x down to -1000: computing sigmoid as 1/(1 + exp(-x)) overflows exp; the "
        "result must be a tiny negative number or -0, and the gradient ~0, not NaN.");
    b.add("large_position", "edge_case",
        "Positional encoding at positions in the thousands: angles pos/base^(2i/d) must be formed in enough "
        "precision; float32 angles near 1e4 have an absolute error of about 1e-3.");
    b.add("odd_d_model", "edge_case",
          "Odd d_model: the last column is a sin column; implementations that assume even widths index out of "
          "range or drop it.");
    b.add("repeated_ids", "edge_case",
        "Repeated token ids: the embedding gradient must add the contributions of every occurrence (a scatter "
        "that overwrites keeps only one).");
    b.add("float64_conditioned", "edge_case",
        "Inputs exact in float64 only (rows 1e8 + k/1024, logits 1e6 + k/1024, a common score offset near 1e4): "
        "on small integer inputs float64's 53 bits hide one-pass variance E[x^2] - E[x]^2, float32 accumulation "
        "inside a float64 path and a lost common offset; here each of them fails in float64. Other dtypes skip "
        "these cases (see exact_in).");
    b.add("slide_exercise", "worked_example",
        "A worked exercise of the seed lecture slides, with the slide's inputs; the slides' printed numbers "
        "are in cases/slides_results.json.");

    b.acceptable("fully_masked_row", "nan_from_plain_softmax", "nan", {"outputs", "gradients", "intermediates"},
                 "NaN in the fully masked row and in the gradients it reaches: a plain softmax computes 0/0 there, as "
                 "ONNX Softmax, torch.softmax and PyTorch < 2.5 nn.MultiheadAttention define it.");
    b.acceptable("masked_nan", "nan_times_zero_weight", "nan", {"outputs", "gradients", "intermediates"},
                 "NaN from 0 * NaN: the masked value still enters weights @ v with weight 0 (and its score enters the "
                 "softmax backward), as in every implementation built from matmul (PyTorch, ONNX Runtime, TensorFlow.js).");
    b.acceptable("all_ignored", "nan_gradient_all_ignored", "nan", {"gradients"},
                 "NaN gradient: the 0/0 of the mean over zero targets flows back (TensorFlow.js's weighted mean).");
    b.acceptable("all_ignored", "zero_loss_all_ignored", "zero", {"outputs"},
                 "Loss 0 instead of NaN: the mean over zero targets is defined as 0 (a guarded division, as TensorFlow's "
                 "div_no_nan).");
    return n;
  }();
  return notes;
}

} // namespace gradspec::cases
