// llama: ids and labels [batch..., seq] in [0, vocab), embed [vocab, d_model], `layers` blocks (default
// 1), norm.gamma, lm_head unless tie_embeddings; heads 2. With ignore_index set, every label at a flat
// index i with i % 3 == 1 is replaced by it (uneven counts per batch row).
#include "common.hpp"

namespace gradspec::cases {

namespace {

void standard(suite_builder& s) {
  s.random("llama", {{"seq", "3"}, {"vocab", "5"}, {"d_model", "8"}, {"d_ff", "16"}}, {{"layers", "1"}, {"heads", "2"}}, {0, 1},
           "tiny, one block, untied");
  s.random("llama", {{"seq", "4"}, {"vocab", "6"}, {"d_model", "8"}, {"d_ff", "16"}},
           {{"layers", "1"}, {"heads", "2"}, {"tie_embeddings", "true"}, {"logit_softcap", "30"}}, {0},
           "tied embeddings, logit_softcap 30");
  s.random("llama", {{"batch", "2"}, {"seq", "4"}, {"vocab", "6"}, {"d_model", "8"}, {"d_ff", "16"}},
           {{"layers", "1"}, {"heads", "2"}, {"ignore_index", "-100"}}, {0},
           "ignore_index -100 on 3 of 8 labels: the mean runs over the 5 others, both batch rows together");
  s.random("llama", {{"batch", "2"}, {"seq", "6"}, {"vocab", "16"}, {"d_model", "16"}, {"d_ff", "32"}},
           {{"layers", "2"}, {"heads", "4"}, {"kv_heads", "2"}, {"window", "4"}}, {0},
           "two blocks, 4 query heads on 2 key/value heads, window 4 (Mistral)");
  s.random("llama", {{"seq", "4"}, {"vocab", "8"}, {"d_model", "8"}, {"d_ff", "16"}},
           {{"layers", "1"}, {"heads", "2"}, {"kv_heads", "1"}, {"head_dim", "8"}, {"activation", "gelu_tanh"}, {"softcap", "50"},
            {"logit_softcap", "30"}, {"tie_embeddings", "true"}},
           {0}, "Gemma-2-like: tied, multi-query, head_dim 8 on C = 8, GeGLU (tanh), softcaps 50 and 30");
  s.random("llama", {{"seq", "32"}, {"vocab", "32"}, {"d_model", "32"}, {"d_ff", "48"}},
           {{"layers", "2"}, {"heads", "4"}, {"kv_heads", "2"}, {"rope_style", "interleaved"}}, {0},
           "realistic: two blocks, T = 32, V = 32, C = 32, F = 48, 4 query heads on 2 key/value heads, interleaved RoPE");
}

void edge(suite_builder& s) {
  s.random("llama", {{"batch", "2"}, {"seq", "4"}, {"vocab", "6"}, {"d_model", "8"}, {"d_ff", "16"}},
           {{"layers", "1"}, {"heads", "2"}, {"tie_embeddings", "true"}}, {0},
           "tied: embed is the lookup table and the output projection; its gradient is the sum of both", "tied",
           {"tied_embeddings"});
  s.random("llama", {{"batch", "2"}, {"seq", "4"}, {"vocab", "6"}, {"d_model", "8"}, {"d_ff", "16"}},
           {{"layers", "1"}, {"heads", "2"}, {"ignore_index", "-100"}}, {0},
           "ignored labels 1 of 4 in row 0, 2 of 4 in row 1: one mean over the 5 counted positions, not a mean of row means",
           "loss_mean", {"llama_loss_mean"});
  s.random("llama", {{"seq", "4"}, {"vocab", "6"}, {"d_model", "8"}, {"d_ff", "16"}}, {{"layers", "1"}, {"heads", "2"}, {"logit_softcap", "1"}},
           {0}, "logit_softcap 1: logits of order 1 are visibly bent; the output and the loss use the capped logits",
           "logit_softcap", {"llama_logit_softcap"});
}

void notes(flag_notes_builder& n) {
  n.add("tied_embeddings", "edge_case",
        "Tied input and output embeddings (tie_embeddings: logits = hidden·embedᵀ, no lm_head; Gemma, small LLaMA 3.2 "
        "and Qwen models): embed's gradient is the sum of the lookup's scatter-add and the output projection's "
        "gradient (dW)ᵀ. Keeping only one of them, or letting one overwrite the other when the tensors are shared, "
        "is wrong.");
  n.add("llama_loss_mean", "edge_case",
        "The loss is one mean over every non-ignored position of all batch axes (F.cross_entropy over the flattened "
        "logits). With uneven numbers of ignored labels per sequence, averaging each sequence first and then the "
        "sequences gives another value and other gradients.");
  n.add("llama_logit_softcap", "edge_case",
        "Final logit soft-capping c (Gemma 2): logits = c·tanh(logits/c) before the loss, and the logits output is the "
        "capped one. Capping only the returned logits, only the loss's input, or not at all fails; the gradient "
        "carries the factor 1 - tanh²(logits/c).");
}

} // namespace

op_generator llama_generator() {
  op_generator g{
      "llama",
      {{"seq", 4, "T"}, {"vocab", 7, "V"}, {"d_model", 8, "C"}, {"d_ff", 16, "F, feed-forward width"}},
      [](const case_shape& s) { return s.label({"seq", "vocab", "d_model", "d_ff"}); },
      [](test_case& c, const case_shape& s, value_source& v) {
        const auto C = s["d_model"], V = s["vocab"], F = s["d_ff"];
        const std::int64_t Hq = std::max<std::int64_t>(c.params.integer("heads"), 1);
        const std::int64_t Hkv = std::max<std::int64_t>(c.params.optional_integer("kv_heads").value_or(Hq), 1);
        const std::int64_t D = std::max<std::int64_t>(c.params.optional_integer("head_dim").value_or(C / Hq), 1);
        c.inputs["ids"] = v.integers(s.with_batch({"seq"}), 0, V - 1);
        c.inputs["labels"] = v.integers(s.with_batch({"seq"}), 0, V - 1);
        if (const auto ignored = c.params.optional_integer("ignore_index"))
          for (std::size_t i = 1; i < c.inputs["labels"].ints.size(); i += 3) c.inputs["labels"].ints[i] = *ignored;
        c.inputs["embed"] = v.grid({V, C});
        for (std::int64_t i = 0; i < c.params.integer("layers"); ++i)
          generators::llama_block_weights(c, "blocks." + std::to_string(i) + ".", C, F, Hq, Hkv, D, v);
        c.inputs["norm.gamma"] = v.around({C}, 1.0, 0.5, 7);
        if (!c.params.boolean("tie_embeddings")) c.inputs["lm_head"] = generators::weight(v, {C, V}, C);
      }};
  g.implied_params = [](const case_shape&) {
    return std::map<std::string, std::string>{{"heads", "2"}, {"layers", "1"}};
  };
  g.standard = standard;
  g.edge = edge;
  g.notes = notes;
  return g;
}

} // namespace gradspec::cases
