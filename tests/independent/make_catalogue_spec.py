#!/usr/bin/python3
"""Writes cases/specs/catalogue.json: a gradspec spec file (no "expected") covering catalogue v1 and v2.

Deterministic: every case draws from its own random.Random(seed). All real inputs lie on the
bfloat16 ∩ float16 grid (k/2^m with at most 8 significant bits), written as exact decimal strings.
Cotangents are omitted: `gradspec gen --from` derives them from the case id.

Usage: /usr/bin/python3 tests/independent/make_catalogue_spec.py [OUT]   (default cases/specs/catalogue.json)
"""
import json
import os
import sys
from decimal import Decimal
from fractions import Fraction
from random import Random

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(ROOT, "cases", "specs", "catalogue.json")


def dec(q):
    """Exact decimal string of a dyadic rational (or the strings inf/-inf)."""
    if isinstance(q, str):
        return q
    q = Fraction(q)
    if q == 0:
        return "0"
    d = q.denominator
    assert d & (d - 1) == 0, "only dyadic rationals"
    text = format(Decimal(q.numerator) / Decimal(d), "f")  # exact: 2^-m has m decimal digits
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def grid(rng, shape, kmax=64, denom=64, zeros_ok=True):
    """A real tensor of values k/denom, k uniform in [-kmax, kmax]."""
    vals = []
    for _ in range(numel(shape)):
        k = rng.randint(-kmax, kmax)
        while not zeros_ok and k == 0:
            k = rng.randint(-kmax, kmax)
        vals.append(Fraction(k, denom))
    return vals


def tensor(shape, vals):
    return {"shape": list(shape), "values": [dec(v) for v in vals]}


def ints(shape, vals):
    assert len(vals) == numel(shape)
    return {"shape": list(shape), "dtype": "int64", "values": [int(v) for v in vals]}


def weight(rng, shape, kmax=48):
    """Weights: k/128, |k| <= kmax (so at most 0.375 by default)."""
    return grid(rng, shape, kmax=kmax, denom=128)


def positive_gamma(rng, c):
    """LayerNorm/RMSNorm gains around 1: 1 + k/64, |k| <= 24."""
    return [1 + Fraction(rng.randint(-24, 24), 64) for _ in range(c)]


def mha_weights(rng, c, prefix=""):
    out = {}
    for n in ("q", "k", "v", "o"):
        out[prefix + "w_" + n] = tensor([c, c], weight(rng, [c, c], kmax=64))
        out[prefix + "b_" + n] = tensor([c], weight(rng, [c], kmax=16))
    return out


def ln_weights(rng, c, prefix):
    return {prefix + "gamma": tensor([c], positive_gamma(rng, c)),
            prefix + "beta": tensor([c], grid(rng, [c], kmax=16))}


def ffn_weights(rng, c, f, prefix):
    return {prefix + "w1": tensor([c, f], weight(rng, [c, f], kmax=64)),
            prefix + "b1": tensor([f], weight(rng, [f], kmax=16)),
            prefix + "w2": tensor([f, c], weight(rng, [f, c], kmax=64)),
            prefix + "b2": tensor([c], weight(rng, [c], kmax=16))}


def encoder_weights(rng, c, f, prefix=""):
    w = {}
    w.update(mha_weights(rng, c, prefix + "attn."))
    w.update(ln_weights(rng, c, prefix + "ln1."))
    w.update(ffn_weights(rng, c, f, prefix + "ffn."))
    w.update(ln_weights(rng, c, prefix + "ln2."))
    return w


def decoder_weights(rng, c, f, prefix=""):
    w = {}
    w.update(mha_weights(rng, c, prefix + "self_attn."))
    w.update(ln_weights(rng, c, prefix + "ln1."))
    w.update(mha_weights(rng, c, prefix + "cross_attn."))
    w.update(ln_weights(rng, c, prefix + "ln2."))
    w.update(ffn_weights(rng, c, f, prefix + "ffn."))
    w.update(ln_weights(rng, c, prefix + "ln3."))
    return w


def relu_safe_ffn(rng, x, c, f, prefix, tries=1000):
    """FFN weights whose pre-activations x·w1 + b1 are never exactly 0 (relu's kink), so that
    finite differences of a relu FFN are well defined."""
    rows = [x[i:i + c] for i in range(0, len(x), c)]
    for _ in range(tries):
        w = ffn_weights(rng, c, f, prefix)
        w1 = [Fraction(v) for v in w[prefix + "w1"]["values"]]
        b1 = [Fraction(v) for v in w[prefix + "b1"]["values"]]
        if all(sum(r[i] * w1[i * f + j] for i in range(c)) + b1[j] != 0
               for r in rows for j in range(f)):
            return w
    raise RuntimeError("no relu-safe FFN weights found")


def build_cases():
    cases = []

    def add(cid, op, comment, params, inputs, flags=None):
        case = {"id": cid, "op": op, "comment": comment, "params": params, "inputs": inputs}
        if flags:
            case["flags"] = flags
        cases.append(case)

    # ---- linear
    r = Random(101)
    add("linear/batch2/0", "linear", "y = x·W + b with a leading batch axis: x[2,3,4], W[4,3] (W stored [in,out])",
        {}, {"x": tensor([2, 3, 4], grid(r, [2, 3, 4])),
             "w": tensor([4, 3], weight(r, [4, 3], kmax=64)),
             "b": tensor([3], weight(r, [3], kmax=32))})
    r = Random(102)
    add("linear/plain/0", "linear", "no batch axis, a single row: x[1,5], W[5,2]",
        {}, {"x": tensor([1, 5], grid(r, [1, 5])),
             "w": tensor([5, 2], weight(r, [5, 2], kmax=64)),
             "b": tensor([2], weight(r, [2], kmax=32))})

    # ---- embedding
    r = Random(201)
    add("embedding/scale_none/0", "embedding", "scale none; ids repeat (1 three times, 3 twice) so the table gradient scatter-adds",
        {"scale": "none"}, {"ids": ints([6], [1, 3, 1, 0, 3, 1]),
                            "table": tensor([4, 3], grid(r, [4, 3]))})
    r = Random(202)
    add("embedding/scale_sqrt_d/0", "embedding", "scale sqrt_d (C = 5, irrational factor), ids [2,3] with repeats, row 4 never used",
        {"scale": "sqrt_d"}, {"ids": ints([2, 3], [2, 0, 2, 1, 3, 0]),
                              "table": tensor([5, 5], grid(r, [5, 5]))})

    # ---- positional_encoding
    add("positional_encoding/odd_offset/0", "positional_encoding",
        "odd d_model (last column is a sin column) and offset 3", {"length": 4, "d_model": 5, "offset": 3}, {})
    add("positional_encoding/default/0", "positional_encoding", "defaults: base 10000, offset 0",
        {"length": 3, "d_model": 6}, {})
    add("positional_encoding/base100/0", "positional_encoding", "base 100 given as a decimal string, offset 1",
        {"length": 2, "d_model": 4, "base": "100", "offset": 1}, {})

    # ---- softmax / log_softmax
    r = Random(301)
    add("softmax/plain/0", "softmax", "two rows of five", {}, {"x": tensor([2, 5], grid(r, [2, 5]))})
    r = Random(302)
    xs = grid(r, [3, 4])
    xs[1] = "-inf"
    xs[8:12] = ["-inf"] * 4
    add("softmax/neg_inf/0", "softmax",
        "row 0 has one -inf entry (probability 0); row 2 is all -inf (safe softmax: zeros, zero gradient)",
        {}, {"x": tensor([3, 4], xs)})
    r = Random(303)
    add("log_softmax/batch/0", "log_softmax", "x[2,2,4], a leading batch axis", {},
        {"x": tensor([2, 2, 4], grid(r, [2, 2, 4]))})

    # ---- elementwise activations (wider range k/32, |k| <= 96: still on the bf16∩f16 grid)
    r = Random(401)
    xr = grid(r, [3, 4], kmax=96, denom=32)
    xr[2] = Fraction(0)
    xr[7] = Fraction(0)
    add("relu/with_zeros/0", "relu", "values in [-3,3] including two exact zeros (relu'(0) = 0)", {},
        {"x": tensor([3, 4], xr)})
    r = Random(402)
    add("gelu/none/0", "gelu", "exact erf form, values in [-3,3]", {"approximate": "none"},
        {"x": tensor([2, 5], grid(r, [2, 5], kmax=96, denom=32))})
    r = Random(403)
    add("gelu/tanh/0", "gelu", "tanh approximation, values in [-3,3]", {"approximate": "tanh"},
        {"x": tensor([2, 5], grid(r, [2, 5], kmax=96, denom=32))})
    r = Random(404)
    add("silu/plain/0", "silu", "values in [-3,3]", {}, {"x": tensor([2, 2, 3], grid(r, [2, 2, 3], kmax=96, denom=32))})

    # ---- norms
    r = Random(501)
    add("layer_norm/batch/0", "layer_norm", "x[2,2,4], default eps 1e-5", {},
        {"x": tensor([2, 2, 4], grid(r, [2, 2, 4])), "gamma": tensor([4], positive_gamma(r, 4)),
         "beta": tensor([4], grid(r, [4], kmax=16))})
    r = Random(502)
    add("layer_norm/eps/0", "layer_norm", "eps 0.01 given as a decimal string; one row is nearly constant", {"eps": "0.01"},
        {"x": tensor([2, 5], grid(r, [5]) + [Fraction(1, 4)] * 4 + [Fraction(17, 64)]),
         "gamma": tensor([5], positive_gamma(r, 5)), "beta": tensor([5], grid(r, [5], kmax=16))})
    r = Random(503)
    add("rms_norm/plain/0", "rms_norm", "x[3,4], default eps 1e-6", {},
        {"x": tensor([3, 4], grid(r, [3, 4])), "gamma": tensor([4], positive_gamma(r, 4))})
    r = Random(504)
    add("rms_norm/gamma_offset/0", "rms_norm", "v2: gamma_offset 1 (Gemma) with gamma near 0, eps 1e-6 as a string, batch [2]",
        {"gamma_offset": 1, "eps": "1e-6"}, {"x": tensor([2, 2, 5], grid(r, [2, 2, 5])), "gamma": tensor([5], grid(r, [5], kmax=16))})

    # ---- attention
    r = Random(601)
    add("attention/plain/0", "attention", "batch 2, Tq 2 != Tk 3, D 3, Dv 2, default scale 1/sqrt(3)", {},
        {"q": tensor([2, 2, 3], grid(r, [2, 2, 3])), "k": tensor([2, 3, 3], grid(r, [2, 3, 3])),
         "v": tensor([2, 3, 2], grid(r, [2, 3, 2]))})
    r = Random(602)
    add("attention/causal/0", "attention", "causal self-attention T 4, D 3 (scale 1/sqrt(3))", {"causal": True},
        {"q": tensor([4, 3], grid(r, [4, 3])), "k": tensor([4, 3], grid(r, [4, 3])),
         "v": tensor([4, 2], grid(r, [4, 2]))})
    r = Random(603)
    mask = ["0", "-inf", "-0.5", "0",
            "-inf", "-inf", "-inf", "-inf",
            "0.25", "0", "-inf", "-1"]
    add("attention/mask_neg_inf/0", "attention",
        "additive mask [3,4] with -inf entries and finite offsets; row 1 is fully masked (zero output row, zero q gradient)",
        {}, {"q": tensor([3, 2], grid(r, [3, 2])), "k": tensor([4, 2], grid(r, [4, 2])),
             "v": tensor([4, 2], grid(r, [4, 2])), "mask": {"shape": [3, 4], "values": mask}})
    r = Random(604)
    add("attention/scale/0", "attention", "custom scale 0.75 (a JSON number) instead of 1/sqrt(D)", {"scale": 0.75},
        {"q": tensor([2, 3], grid(r, [2, 3])), "k": tensor([3, 3], grid(r, [3, 3])),
         "v": tensor([3, 2], grid(r, [3, 2]))})
    r = Random(605)
    mask2 = ["0", "-inf", "-inf",
             "-0.25", "0", "-inf",
             "0.5", "-inf", "-0.75"]
    add("attention/causal_mask/0", "attention", "causal together with an additive mask; the mask also hides key 1 from query 2",
        {"causal": True}, {"q": tensor([3, 2], grid(r, [3, 2])), "k": tensor([3, 2], grid(r, [3, 2])),
                           "v": tensor([3, 2], grid(r, [3, 2])), "mask": {"shape": [3, 3], "values": mask2}})

    # ---- multi_head_attention
    r = Random(701)
    inputs = {"x": tensor([2, 2, 4], grid(r, [2, 2, 4]))}
    inputs.update(mha_weights(r, 4))
    add("multi_head_attention/self_heads2/0", "multi_head_attention", "self-attention, batch 2, T 2, C 4, 2 heads of 2 columns",
        {"heads": 2}, inputs)
    r = Random(702)
    inputs = {"x": tensor([2, 4], grid(r, [2, 4])), "memory": tensor([3, 4], grid(r, [3, 4]))}
    inputs.update(mha_weights(r, 4))
    add("multi_head_attention/cross_heads2/0", "multi_head_attention", "cross-attention: queries x[2,4], keys/values from memory[3,4], 2 heads",
        {"heads": 2}, inputs)
    r = Random(703)
    inputs = {"x": tensor([3, 4], grid(r, [3, 4]))}
    inputs.update(mha_weights(r, 4))
    add("multi_head_attention/causal_heads2/0", "multi_head_attention", "causal self-attention, T 3, C 4, 2 heads",
        {"heads": 2, "causal": True}, inputs)
    r = Random(704)
    inputs = {"x": tensor([3, 2], grid(r, [3, 2]))}
    inputs.update(mha_weights(r, 2))
    inputs["mask"] = {"shape": [3, 3], "values": ["0", "-inf", "0.5", "-0.5", "0", "-inf", "-inf", "0.25", "0"]}
    add("multi_head_attention/mask_heads2/0", "multi_head_attention", "C 2, 2 heads of one column, additive mask with -inf entries shared by both heads",
        {"heads": 2}, inputs)

    # ---- feed_forward, one case per activation
    for i, act in enumerate(("relu", "gelu", "gelu_tanh", "silu")):
        r = Random(801 + i)
        x = grid(r, [2, 3])
        inputs = {"x": tensor([2, 3], x)}
        inputs.update(relu_safe_ffn(r, x, 3, 4, ""))
        add(f"feed_forward/{act}/0", "feed_forward", f"x[2,3], C 3, F 4, activation {act}", {"activation": act}, inputs)

    # ---- cross_entropy
    def ce(cid, comment, params, seed, targets, shape=(3,), v=4):
        r = Random(seed)
        add(cid, "cross_entropy", comment, params,
            {"logits": tensor(list(shape) + [v], grid(r, list(shape) + [v], kmax=96, denom=32)),
             "targets": ints(list(shape), targets)})
    ce("cross_entropy/mean/0", "reduction mean (default)", {"reduction": "mean"}, 901, [0, 3, 2])
    ce("cross_entropy/sum/0", "reduction sum", {"reduction": "sum"}, 902, [3, 3, 1])
    ce("cross_entropy/none/0", "reduction none: loss[3]", {"reduction": "none"}, 903, [2, 1, 0])
    ce("cross_entropy/ignore_index/0", "ignore_index 2: targets 0 and 2 are ignored, mean over the other 2",
       {"ignore_index": 2}, 904, [2, 0, 2, 3], shape=(4,))
    ce("cross_entropy/smoothing_ignore/0",
       "label_smoothing 0.1 with ignore_index 1 (mean over the 2 non-ignored rows, smoothing term skips the ignored row)",
       {"label_smoothing": "0.1", "ignore_index": 1}, 905, [3, 1, 0])
    ce("cross_entropy/smoothing_ignore_none/0", "label_smoothing 0.1 (JSON number), ignore_index 0, reduction none (ignored row: 0)",
       {"label_smoothing": 0.1, "ignore_index": 0, "reduction": "none"}, 906, [0, 2, 3])
    ce("cross_entropy/smoothing_sum/0", "label_smoothing 0.2, reduction sum, logits [2,2,4] (a leading batch axis)",
       {"label_smoothing": "0.2", "reduction": "sum"}, 907, [1, 0, 3, 2], shape=(2, 2))

    # ---- encoder_layer
    for norm_first, seed in ((False, 1001), (True, 1002)):
        r = Random(seed)
        inputs = {"x": tensor([3, 4], grid(r, [3, 4]))}
        inputs.update(encoder_weights(r, 4, 2))
        tag = "pre_ln" if norm_first else "post_ln"
        add(f"encoder_layer/{tag}/0", "encoder_layer",
            f"{'pre-LN' if norm_first else 'post-LN'} encoder layer, T 3, C 4, F 2, 2 heads, relu",
            {"heads": 2, "norm_first": norm_first}, inputs)
    r = Random(1003)
    inputs = {"x": tensor([3, 2], grid(r, [3, 2]))}
    inputs.update(encoder_weights(r, 2, 2))
    add("encoder_layer/causal_gelu/0", "encoder_layer", "post-LN, causal self-attention, gelu FFN, eps 1e-3, C 2, 2 heads",
        {"heads": 2, "causal": True, "activation": "gelu", "eps": "0.001"}, inputs)

    # ---- decoder_layer
    for norm_first, seed in ((False, 1101), (True, 1102)):
        r = Random(seed)
        inputs = {"x": tensor([2, 4], grid(r, [2, 4])), "memory": tensor([2, 4], grid(r, [2, 4]))}
        inputs.update(decoder_weights(r, 4, 2))
        tag = "pre_ln" if norm_first else "post_ln"
        add(f"decoder_layer/{tag}/0", "decoder_layer",
            f"{'pre-LN' if norm_first else 'post-LN'} decoder layer, T 2, memory S 2, C 4, F 2, 2 heads, relu",
            {"heads": 2, "norm_first": norm_first}, inputs)

    # ---- transformer
    for norm_first, seed in ((False, 1201), (True, 1202)):
        r = Random(seed)
        c, f, v = 4, 8, 5
        inputs = {"src_ids": ints([3], [r.randrange(v) for _ in range(3)]),
                  "tgt_ids": ints([3], [r.randrange(v) for _ in range(3)])}
        labels = [r.randrange(v) for _ in range(3)]
        params = {"layers": 1, "heads": 2, "norm_first": norm_first}
        if norm_first:
            labels[1] = 0
            params.update({"label_smoothing": "0.1", "ignore_index": 0})
            if labels[0] == 0 and labels[2] == 0:
                labels[2] = 3
        inputs["labels"] = ints([3], labels)
        inputs["src_embed"] = tensor([v, c], grid(r, [v, c]))
        inputs["tgt_embed"] = tensor([v, c], grid(r, [v, c]))
        inputs.update(encoder_weights(r, c, f, "enc.0."))
        inputs.update(decoder_weights(r, c, f, "dec.0."))
        inputs.update(ln_weights(r, c, "enc_norm."))
        inputs.update(ln_weights(r, c, "dec_norm."))
        inputs["out.w"] = tensor([c, v], weight(r, [c, v], kmax=64))
        inputs["out.b"] = tensor([v], weight(r, [v], kmax=16))
        if norm_first:
            add("transformer/pre_ln_smoothing/0", "transformer",
                "1 layer, 2 heads, C 4, F 8, vocab 5, S 3, T 3, pre-LN, label_smoothing 0.1, ignore_index 0 (label 1 ignored)",
                params, inputs)
        else:
            add("transformer/post_ln/0", "transformer", "1 layer, 2 heads, C 4, F 8, vocab 5, S 3, T 3, post-LN", params, inputs)

    # ---- rope (catalogue v2)
    r = Random(1501)
    add("rope/half/0", "rope", "style half (rotate_half), batch [2] of x[3, 8], defaults base 10000, offset 0",
        {}, {"x": tensor([2, 3, 8], grid(r, [2, 3, 8]))})
    r = Random(1502)
    add("rope/interleaved_offset/0", "rope", "style interleaved, offset 5, base 500000 as a decimal string",
        {"style": "interleaved", "offset": 5, "base": "500000"}, {"x": tensor([4, 6], grid(r, [4, 6]))})
    r = Random(1503)
    add("rope/partial/0", "rope", "partial rotary: R = 4 of D = 10 (features 4..9 pass through), offset 131072",
        {"rotary_dim": 4, "offset": 131072}, {"x": tensor([2, 2, 10], grid(r, [2, 2, 10]))})
    r = Random(1504)
    add("rope/large_position/0", "rope", "positions 10^6 and 10^6 + 1, interleaved, R = 2",
        {"style": "interleaved", "rotary_dim": 2, "offset": 1000000}, {"x": tensor([2, 4], grid(r, [2, 4]))})

    # ---- gated_feed_forward (catalogue v2): SwiGLU / GeGLU, no biases
    def gff(cid, comment, params, seed, xshape, c, f, gate_kmax=48):
        r = Random(seed)
        add(cid, "gated_feed_forward", comment, params,
            {"x": tensor(xshape, grid(r, xshape)), "w_gate": tensor([c, f], weight(r, [c, f], kmax=gate_kmax)),
             "w_up": tensor([c, f], weight(r, [c, f])), "w_down": tensor([f, c], weight(r, [f, c]))})
    gff("gated_feed_forward/silu/0", "SwiGLU (default activation), x[3,4], C 4, F 6", {}, 1601, [3, 4], 4, 6)
    gff("gated_feed_forward/gelu/0", "GeGLU erf form, batch [2] of x[2,4], C 4, F 5, gate weights up to 1",
        {"activation": "gelu"}, 1602, [2, 2, 4], 4, 5, gate_kmax=128)
    gff("gated_feed_forward/gelu_tanh/0", "GeGLU tanh form (Gemma), x[2,3], C 3, F 4, gate weights up to 1",
        {"activation": "gelu_tanh"}, 1603, [2, 3], 3, 4, gate_kmax=128)
    gff("gated_feed_forward/silu_batch/0", "SwiGLU, explicit activation, batch axes [2, 2] of x[2,3], C 3, F 8",
        {"activation": "silu"}, 1604, [2, 2, 2, 3], 3, 8)

    # ---- attention, catalogue v2 params: causal with a KV cache (Tq < Tk, aligned bottom-right),
    # sliding window, softcap, return_lse
    def att(cid, comment, params, seed, lead, tq, tk, d, dv, mask=None, flags=None, qk=(64, 64)):
        """q, k values k/denom with |k| <= kmax (qk = (kmax, denom)); v, as always, in [-1, 1]."""
        r = Random(seed)
        inputs = {"q": tensor(lead + [tq, d], grid(r, lead + [tq, d], *qk)),
                  "k": tensor(lead + [tk, d], grid(r, lead + [tk, d], *qk)),
                  "v": tensor(lead + [tk, dv], grid(r, lead + [tk, dv]))}
        if mask is not None:
            inputs["mask"] = {"shape": [tq, tk], "values": mask}
        add(cid, "attention", comment, params, inputs, flags)
    att("attention/causal_decode/0", "v2: one decode step with a KV cache, Tq 1 of Tk 5, causal (sees all 5 keys), return_lse, batch [2]",
        {"causal": True, "return_lse": True}, 1701, [2], 1, 5, 4, 3)
    att("attention/causal_bottom_right/0",
        "v2: causal Tq 3 < Tk 7 aligned bottom-right (row i sees keys 0..4 + i; top-left would see 0..i), with an additive mask",
        {"causal": True}, 1702, [], 3, 7, 4, 3,
        mask=["0", "-0.5", "0", "0.25", "0", "-inf", "-inf",
              "-inf", "0", "0", "0", "-1", "0", "-inf",
              "0.5", "0", "-inf", "0", "0", "0", "0"])
    att("attention/window/0", "v2: sliding window 3 (p - 3 < j <= p), causal, T 6, batch [2]",
        {"causal": True, "window": 3}, 1703, [2], 6, 6, 4, 2)
    att("attention/window_1/0", "v2: window 1 (each query sees only itself: out = v, lse = the diagonal score), return_lse",
        {"causal": True, "window": 1, "return_lse": True}, 1704, [], 4, 4, 3, 2)
    att("attention/window_ge_t/0", "v2: window 5 >= T 4 (no effect: plain causal), return_lse",
        {"causal": True, "window": 5, "return_lse": True}, 1705, [], 4, 4, 3, 2)
    att("attention/window_decode/0", "v2: window 3 with a KV cache, Tq 2 of Tk 6 (row 0 at position 4 sees keys 2..4, row 1 sees 3..5)",
        {"causal": True, "window": 3}, 1706, [], 2, 6, 4, 2)
    att("attention/softcap/0",
        "v2: softcap 2.5 (a decimal string) on scores of a few units, before a finite additive mask and causal; return_lse",
        {"causal": True, "softcap": "2.5", "return_lse": True}, 1707, [], 4, 4, 4, 3,
        mask=["0", "-inf", "-inf", "-inf",
              "1", "0", "-inf", "-inf",
              "-0.5", "0", "0.75", "-inf",
              "0", "-inf", "0", "-2"], qk=(48, 16))
    att("attention/softcap_large/0", "v2: scores near 1e4 capped at 50 (tanh saturates: q and k gradients ~ 0), return_lse, batch [2]",
        {"softcap": 50, "return_lse": True}, 1708, [2], 3, 4, 2, 2, qk=(96, 1))
    att("attention/lse_masked_row/0",
        "v2: return_lse with row 1 fully masked (lse -inf, zero gradient) and masked keys elsewhere",
        {"return_lse": True}, 1709, [], 3, 4, 3, 2,
        mask=["0", "-inf", "0.5", "0",
              "-inf", "-inf", "-inf", "-inf",
              "-inf", "0", "0", "-0.25"], flags=["fully_masked_row"])
    att("attention/lse_large/0", "v2: return_lse of scores near 1e4 without softcap (lse ~ 1e4: overflows unless max-shifted)",
        {"return_lse": True, "causal": True}, 1710, [], 3, 3, 2, 2, qk=(96, 1))

    # ---- grouped_query_attention (catalogue v2): query head h reads key/value head h // (Hq/Hkv)
    def gqa(cid, comment, params, seed, lead, hq, hkv, tq, tk, d, dv, mask=None, flags=None, qk=(64, 64)):
        r = Random(seed)
        inputs = {"q": tensor(lead + [hq, tq, d], grid(r, lead + [hq, tq, d], *qk)),
                  "k": tensor(lead + [hkv, tk, d], grid(r, lead + [hkv, tk, d], *qk)),
                  "v": tensor(lead + [hkv, tk, dv], grid(r, lead + [hkv, tk, dv]))}
        if mask is not None:
            inputs["mask"] = {"shape": [tq, tk], "values": mask}
        add(cid, "grouped_query_attention", comment, params, inputs, flags)
    gqa("grouped_query_attention/mqa/0", "multi-query: Hkv 1 of Hq 4, T 3, D 4, batch [2], default params",
        {}, 1801, [2], 4, 1, 3, 3, 4, 4)
    gqa("grouped_query_attention/hkv2_causal_decode/0",
        "Hkv 2 of Hq 4 (heads 0,1 read kv 0; 2,3 read kv 1: h % Hkv would differ), causal Tq 2 of Tk 5, return_lse, batch [2], Dv 3",
        {"causal": True, "return_lse": True}, 1802, [2], 4, 2, 2, 5, 4, 3)
    gqa("grouped_query_attention/window_softcap_mask/0",
        "Hkv 2 of Hq 4, causal, window 2, softcap 1.5, a mask whose row 0 is fully masked, return_lse, no batch axes",
        {"causal": True, "window": 2, "softcap": "1.5", "return_lse": True}, 1803, [], 4, 2, 3, 3, 4, 2,
        mask=["-inf", "-inf", "-inf",
              "0", "0.5", "-inf",
              "0", "-0.25", "0"], flags=["fully_masked_row"], qk=(48, 16))
    gqa("grouped_query_attention/hkv_eq_hq/0", "Hkv = Hq = 2 (plain multi-head), batch axes [2, 2], scale 0.5, finite mask, Tq 2 != Tk 3",
        {"scale": 0.5}, 1804, [2, 2], 2, 2, 2, 3, 2, 2, mask=["0", "-0.5", "0.25", "1", "0", "-1"])

    # ---- llama_block and llama (catalogue v2): RMSNorm, RoPE'd causal grouped-query attention, w_o
    # residual, RMSNorm, gated feed-forward residual; llama adds the embedding, the final norm, the
    # projection (tied or not), logit soft-capping and the mean cross-entropy
    def block_weights(r, c, f, hq, hkv, d, prefix=""):
        return {prefix + "attn_norm.gamma": tensor([c], positive_gamma(r, c)),
                prefix + "attn.w_q": tensor([c, hq * d], weight(r, [c, hq * d], kmax=64)),
                prefix + "attn.w_k": tensor([c, hkv * d], weight(r, [c, hkv * d], kmax=64)),
                prefix + "attn.w_v": tensor([c, hkv * d], weight(r, [c, hkv * d], kmax=64)),
                prefix + "attn.w_o": tensor([hq * d, c], weight(r, [hq * d, c], kmax=64)),
                prefix + "ffn_norm.gamma": tensor([c], positive_gamma(r, c)),
                prefix + "ffn.w_gate": tensor([c, f], weight(r, [c, f], kmax=64)),
                prefix + "ffn.w_up": tensor([c, f], weight(r, [c, f])),
                prefix + "ffn.w_down": tensor([f, c], weight(r, [f, c]))}

    r = Random(1901)
    inputs = {"x": tensor([2, 4, 8], grid(r, [2, 4, 8]))}
    inputs.update(block_weights(r, 8, 6, 4, 2, 2))
    add("llama_block/gqa_window_softcap/0", "llama_block",
        "Hkv 2 of Hq 4 (D 2), window 2, softcap 1.5, interleaved RoPE at positions 3..6, batch [2] of T 4, C 8, F 6",
        {"heads": 4, "kv_heads": 2, "window": 2, "softcap": "1.5", "rope_style": "interleaved", "offset": 3}, inputs)
    r = Random(1902)
    inputs = {"x": tensor([3, 4], grid(r, [3, 4]))}
    inputs.update(block_weights(r, 4, 4, 2, 1, 4))
    add("llama_block/mqa_head_dim/0", "llama_block",
        "multi-query, head_dim 4 with 2 heads on C 4 (Hq·D != C), GeGLU tanh, rope_base 500000, eps 0.001, T 3",
        {"heads": 2, "kv_heads": 1, "head_dim": 4, "activation": "gelu_tanh", "rope_base": "500000", "eps": "0.001"},
        inputs)

    r = Random(2001)
    c, f, v = 4, 4, 5
    labels = [r.randrange(v) for _ in range(6)]
    labels[4] = -100
    inputs = {"ids": ints([2, 3], [r.randrange(v) for _ in range(6)]), "labels": ints([2, 3], labels),
              "embed": tensor([v, c], grid(r, [v, c]))}
    inputs.update(block_weights(r, c, f, 2, 2, 2, "blocks.0."))
    inputs["norm.gamma"] = tensor([c], positive_gamma(r, c))
    add("llama/tied_softcap_ignore/0", "llama",
        "1 block, tied embeddings (embed's gradient: lookup plus projection), logit_softcap 2, ignore_index -100 on 1 of "
        "6 labels, batch [2] of T 3, C 4, F 4, vocab 5, 2 heads",
        {"layers": 1, "heads": 2, "tie_embeddings": True, "logit_softcap": "2", "ignore_index": -100}, inputs)
    r = Random(2002)
    inputs = {"ids": ints([3], [r.randrange(v) for _ in range(3)]), "labels": ints([3], [r.randrange(v) for _ in range(3)]),
              "embed": tensor([v, c], grid(r, [v, c]))}
    for layer in range(2):
        inputs.update(block_weights(r, c, f, 2, 1, 2, f"blocks.{layer}."))
    inputs["norm.gamma"] = tensor([c], positive_gamma(r, c))
    inputs["lm_head"] = tensor([c, v], weight(r, [c, v], kmax=64))
    add("llama/two_blocks_mqa/0", "llama", "2 blocks, multi-query (Hkv 1 of Hq 2), window 2, untied lm_head, T 3, C 4, F 4, vocab 5",
        {"layers": 2, "heads": 2, "kv_heads": 1, "window": 2}, inputs)

    return cases


def pretty(obj, level=0, depth=3):
    """JSON with objects down to `depth` levels spread over lines and everything deeper (tensors,
    value lists) kept on one line."""
    pad = "  " * level
    if isinstance(obj, dict) and level < depth and obj:
        items = [f'{pad}  {json.dumps(k, ensure_ascii=False)}: {pretty(v, level + 1, depth).lstrip()}'
                 for k, v in obj.items()]
        return pad + "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and level < depth and obj and all(isinstance(v, dict) for v in obj):
        return pad + "[\n" + ",\n".join(pretty(v, level + 1, depth) for v in obj) + "\n" + pad + "]"
    return pad + json.dumps(obj, ensure_ascii=False)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    cases = build_cases()
    ids = [c["id"] for c in cases]
    assert len(ids) == len(set(ids)), "duplicate ids"
    doc = {"format": "gradspec-cases/1", "cases": cases}
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(pretty(doc, depth=4) + "\n")
    os.replace(tmp, out)
    total = sum(len(t["values"]) for c in cases for t in c["inputs"].values())
    print(f"wrote {out}: {len(cases)} cases, {total} input values")


if __name__ == "__main__":
    main()
