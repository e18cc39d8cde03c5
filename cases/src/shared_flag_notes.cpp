// What the flags of several ops mean (an op's own flags are explained in its file,
// cases/generators/X.cpp): the trap each sets, what goes wrong in real code, and what a correct
// implementation does (Wycheproof's `notes`). Written into each suite file for the flags it uses.
#include "gradspec/cases/suite_builder.hpp"

namespace gradspec::cases {

namespace {

void shared_flag_notes(flag_notes_builder& n) {
  n.add("fully_masked_row", "edge_case",
        "Every key of some query row is masked (-inf). Naive softmax computes 0/0 and returns NaN, which then leaks "
        "into dq, dk and dv. Correct (safe softmax, as current PyTorch SDPA and FlashAttention): that output row is "
        "0 and every gradient is finite (zero through that row).");
  n.acceptable("fully_masked_row", "nan_from_plain_softmax", "nan", {"outputs", "gradients", "intermediates"},
               "NaN in the fully masked row and in the gradients it reaches: a plain softmax computes 0/0 there, as "
               "ONNX Softmax, torch.softmax and PyTorch < 2.5 nn.MultiheadAttention define it.");
  n.add("causal", "edge_case",
        "Causal masking: query i sees key j iff j <= i. The diagonal is where off-by-one bugs (j < i) show, and "
        "masking after the softmax instead of before leaves rows that do not sum to 1.");
  n.add("kv_cache_decode", "edge_case",
        "Decoding with a KV cache: Tq = 1 or 3 queries at the end of Tk = 17 keys, causal. Queries align "
        "bottom-right (query i sits at position Tk - Tq + i and sees keys j <= Tk - Tq + i, FlashAttention >= 2.1); "
        "PyTorch SDPA's is_causal and a tril(ones(Tq, Tk)) mask align top-left and hide all but the first keys. "
        "Each decode row equals the matching row of the full causal pass.");
  n.add("wide_spread", "edge_case",
        "Rows whose entries spread over 5 to 640: the small probabilities underflow; they must come out as tiny "
        "positive numbers or 0, never NaN, and the large ones must stay accurate.");
  n.add("long_row", "edge_case",
        "Thousands of entries in one softmax row or key axis: accumulation order and precision of the sums "
        "matter; naive float32 summation loses digits in proportion to the length.");
  n.add("large_magnitude", "edge_case",
        "Activations far in their tails (|x| up to 40): erf, tanh and exp saturate; results must be exact limits "
        "or tiny, never NaN.");
  n.add("float64_conditioned", "edge_case",
        "Inputs exact in float64 only (rows 1e8 + k/1024, logits 1e6 + k/1024, a common score offset near 1e4): "
        "on small integer inputs float64's 53 bits hide one-pass variance E[x^2] - E[x]^2, float32 accumulation "
        "inside a float64 path and a lost common offset; here each of them fails in float64. Other dtypes skip "
        "these cases (see exact_in).");
  n.add("slide_exercise", "worked_example",
        "A worked exercise of the seed lecture slides, with the slide's inputs; the slides' printed numbers "
        "are in cases/slides_results.json.");
}

} // namespace

const json& flag_notes() {
  static const json notes = [] {
    json n;
    flag_notes_builder b(n);
    shared_flag_notes(b);
    for (const auto& g : op_generators())
      if (g.notes) g.notes(b);
    return n;
  }();
  return notes;
}

} // namespace gradspec::cases
