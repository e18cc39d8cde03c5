#!/usr/bin/python3
"""The gradspec bug zoo: a numpy implementation of 18 catalogue ops, correct or with one planted bug.

    zoo_adapter.py --bug NAME        NAME: none, or one of BUGS below (--list prints them)

Speaks the adapter protocol ("gradspec-adapter/1") over stdin/stdout through the Python kit
(adapters/python/gradspec_adapter.py); the handshake names the implementation "zoo", version NAME,
dtypes float64 and float32, and every catalogue op (docs/ops.json) this file has a function
op_<name> for. Which inputs are integer comes from the catalogue.

Every op runs forward and backward in numpy, in the requested dtype (float64 or float32 arrays
throughout; erf/erfc, which numpy lacks, come from libm in double and are rounded once to the
dtype, as a correctly rounded erff would). Gradients are hand-written vector-Jacobian products of
the request's cotangents. Nothing here is autograd: each backward pass is written next to its
forward pass, and a bug that changes the forward pass changes the backward pass consistently (the
buggy code is differentiated as written), except for the bugs that live in the backward pass itself.

The correct code (--bug none) follows the contract: y = x·W + b with W [in, out]; any leading batch
axes; attention scores = q·kᵀ·scale (softcap c·tanh(s/c)) + mask with masked_fill semantics for -inf
entries, causal masking aligned bottom-right (row i at position p = Tk - Tq + i sees j <= p) and the
sliding window (j > p - W), safe softmax (fully masked row -> zero output and gradients), lse
max-shifted; grouped-query attention reads kv head h // (Hq/Hkv) and sums dk, dv over each group; MHA heads are
contiguous column blocks, scale 1/sqrt(C/H); LayerNorm with biased variance and eps inside the
root; relu'(0) = 0; cross-entropy with PyTorch semantics. The composites llama_block and llama are
built from the same pieces (rms_norm, linear, split_heads, rope, grouped-query attention, the gated
feed-forward, embedding, cross-entropy), so a bug in a piece shows in them too; tied embeddings add
the lookup's scatter-add and the output projection's gradient.

float32 accuracy of the correct code: LayerNorm shifts each row by its first element before the
two-pass mean and variance (the "shifted data" algorithm), which keeps rows like 1e7 + i exact in
float32; everything else is the textbook formula in the dtype.

Each bug is a small, realistic edit of the correct code; see BUGS and tests/zoo/README.md.
"""

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "adapters", "python"))
from gradspec_adapter import BadRequest, catalogue, catalogue_input, real_param, round_to_bfloat16, serve  # noqa: E402

DTYPES = ["float64", "float32"]
CATALOGUE = catalogue()  # docs/ops.json

BUGS = {
    "softmax_overflow": "softmax/attention exponentiate without subtracting the row max (exp overflows)",
    "one_pass_variance": "LayerNorm variance as E[x^2] - E[x]^2 in the dtype (catastrophic cancellation)",
    "unbiased_variance": "LayerNorm divides the variance by C - 1",
    "eps_outside_sqrt": "LayerNorm uses 1 / (sqrt(var) + eps)",
    "causal_off_by_one": "causal mask lets query i see keys j < i only",
    "scale_1_over_d": "attention's default scale 1/D instead of 1/sqrt(D)",
    "nan_fully_masked": "plain softmax on fully masked attention rows (0/0 -> NaN)",
    "gelu_tanh_for_erf": "gelu approximate='none' computed with the tanh formula",
    "label_smoothing_counts_ignored": "cross_entropy's smoothing term includes ignored targets",
    "relu_grad_at_zero_one": "relu'(0) = 1",
    "embedding_grad_overwrite": "embedding backward assigns dtable[ids] = dy instead of adding",
    "softmax_backward_missing_term": "softmax backward returns y * dy (drops - y <dy, y>)",
    "interleaved_heads": "MHA head h uses columns h, h+H, h+2H, ... instead of a contiguous block",
    "bf16_matmul_in_fp32": "in float32, matmuls (linear, q.k^T) round their inputs to bfloat16",
    "mask_after_softmax": "attention zeroes masked weights after the softmax, without renormalising",
    "rope_float32_angles": "rope forms inv_freq and p·inv_freq in float32 (long-context phase drift)",
    "rope_style_swapped": "rope rotates halves (i, i + R/2) when interleaved pairs are asked, and the reverse",
    "rope_frequencies_over_d": "partial rope takes its frequencies over the head dimension D instead of R",
    "rms_norm_without_offset": "RMSNorm ignores gamma_offset (Gemma weights in a LLaMA RMSNorm)",
    "glu_gate_up_swapped": "gated_feed_forward applies the activation to x·w_up and multiplies x·w_gate (LLaMA w1/w3 swapped)",
    "gqa_head_modulo": "grouped_query_attention: query head h reads key/value head h % H_kv instead of h // (H_q/H_kv)",
    "gqa_dkv_not_summed": "grouped_query_attention: dk, dv of a key/value head taken from one query head of its group (the last) instead of summed",
    "causal_top_left": "causal attention with T_q < T_k aligned top-left (query i sees keys j <= i, as SDPA's is_causal) instead of bottom-right",
    "window_off_by_one": "sliding window lets query p see W + 1 keys (p - W <= j <= p)",
    "softcap_after_mask": "softcap applied after the mask: c·tanh of the masked scores (a hidden key's -inf becomes -c)",
    "lse_without_max_shift": "lse = log(sum(exp(s))) without subtracting the row max (exp overflows)",
    "tied_embeddings_grad": "llama with tie_embeddings: embed's gradient is the lookup's scatter-add alone (the output projection's part is dropped)",
    "llama_logit_softcap_missing": "llama ignores logit_softcap: logits and loss uncapped (a LLaMA head run on Gemma 2 settings)",
}


class Ctx:
    """The dtype and the bug in force for one request."""

    def __init__(self, dt, bug):
        self.dt = dt
        self.bug = bug

    def c(self, v):
        """A constant in the dtype."""
        return self.dt(v)


class Request:
    """One request: the kit's numpy arrays (in the requested dtype; int64 for integer inputs) and params."""

    def __init__(self, op, inputs, params, cotangents, dtype, bug):
        self.op = op
        self.entry = CATALOGUE[op]
        self.ctx = Ctx(dtype.type, bug)
        self.params = params
        self.inputs = inputs
        self.cots = cotangents

    def input(self, name, optional=False):
        if name not in self.inputs:
            if optional:
                return None
            raise BadRequest(f"inputs/{name}: missing")
        t = self.inputs[name]
        spec = catalogue_input(self.entry, name)
        integer = spec is not None and spec["dtype"] == "int64"
        if integer != (t.dtype == np.int64):
            raise BadRequest(f"inputs/{name}: expected {'an integer' if integer else 'a real'} tensor")
        return t

    def cot(self, name, like):
        """The cotangent of output `name` (zeros if the request gives none)."""
        c = self.cots.get(name)
        if c is None:
            return np.zeros_like(like)
        if c.shape != like.shape:
            raise BadRequest(f"cotangents/{name}: shape {list(c.shape)}, the output is {list(like.shape)}")
        return c

    def real(self, name, default):
        return real_param(self.params, name, default)

    def integer(self, name, default):
        v = self.params.get(name, default)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v):
            raise BadRequest(f"params/{name}: expected an integer")
        return int(v)

    def boolean(self, name, default):
        v = self.params.get(name, default)
        if not isinstance(v, bool):
            raise BadRequest(f"params/{name}: expected true or false")
        return v

    def choice(self, name, choices, default):
        v = self.params.get(name, default)
        if v not in choices:
            raise BadRequest(f"params/{name}: expected one of {choices}, got {v!r}")
        return v


# ------------------------------------------------------------------------------------------------
# Shared pieces
# ------------------------------------------------------------------------------------------------

def fwd_matmul(ctx, a, b):
    """The forward matmul of linear and of attention's q·kᵀ."""
    if ctx.bug == "bf16_matmul_in_fp32" and ctx.dt == np.float32:
        a, b = round_to_bfloat16(a), round_to_bfloat16(b)
    return np.matmul(a, b)


def unbroadcast(g, shape):
    """Sum a broadcast gradient back to `shape`."""
    shape = tuple(shape)
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, n in enumerate(shape):
        if n == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g


def linear_fwd(ctx, x, w, b, wname="w"):
    if w.ndim != 2:
        raise BadRequest(f"inputs/{wname}: expected a matrix [in, out]")
    if x.ndim < 1 or x.shape[-1] != w.shape[0]:
        raise BadRequest(f"inputs/{wname}: shape {list(w.shape)} does not fit x's last axis {list(x.shape)}")
    if b is not None and tuple(b.shape) != (w.shape[1],):
        raise BadRequest(f"bias: expected shape [{w.shape[1]}], got {list(b.shape)}")
    y = fwd_matmul(ctx, x, w)
    return y + b if b is not None else y


def linear_bwd(x, w, dy):
    """-> dx, dw, db for y = x·w + b."""
    x2 = x.reshape(-1, w.shape[0])
    dy2 = dy.reshape(-1, w.shape[1])
    dx = np.matmul(dy, w.T)
    dw = np.matmul(x2.T, dy2)
    db = dy2.sum(axis=0)
    return dx, dw, db


def sigmoid_pair(x):
    """(sigmoid(x), sigmoid(-x)) = (s, 1 - s), both without cancellation."""
    e = np.exp(-np.abs(x))
    one = x.dtype.type(1)
    big, small = one / (one + e), e / (one + e)
    pos = x >= 0
    return np.where(pos, big, small), np.where(pos, small, big)


_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def gelu_erf(ctx, x):
    """-> y, dy/dx of x·Φ(x), Φ(x) = erfc(-x/√2)/2 (libm in double, rounded once to the dtype)."""
    phi_cdf = (0.5 * _erfc(-x.astype(np.float64) / math.sqrt(2.0))).astype(ctx.dt)
    density = np.exp(-(x * x) * ctx.c(0.5)) * ctx.c(1.0 / math.sqrt(2.0 * math.pi))
    return x * phi_cdf, phi_cdf + x * density


def gelu_tanh(ctx, x):
    """-> y, dy/dx of 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))."""
    k, a = ctx.c(math.sqrt(2.0 / math.pi)), ctx.c(0.044715)
    half, one, three = ctx.c(0.5), ctx.c(1.0), ctx.c(3.0)
    t = np.tanh(k * (x + a * x * x * x))
    y = half * x * (one + t)
    dydx = half * (one + t) + half * x * (one - t * t) * k * (one + three * a * x * x)
    return y, dydx


def activation(ctx, name, x):
    """-> y, dy/dx for relu, gelu (erf), gelu_tanh, silu."""
    if name == "relu":
        y = np.maximum(x, ctx.c(0))
        if ctx.bug == "relu_grad_at_zero_one":
            return y, (x >= 0).astype(ctx.dt)
        return y, (x > 0).astype(ctx.dt)
    if name == "gelu":
        if ctx.bug == "gelu_tanh_for_erf":
            return gelu_tanh(ctx, x)
        return gelu_erf(ctx, x)
    if name == "gelu_tanh":
        return gelu_tanh(ctx, x)
    if name == "silu":
        s, sc = sigmoid_pair(x)
        return x * s, s * (ctx.c(1) + x * sc)
    raise BadRequest(f"unknown activation {name}")


def softmax_fwd(ctx, x):
    """Row softmax over the last axis; an all -inf row gives zeros."""
    m = np.max(x, axis=-1, keepdims=True)
    dead = np.isneginf(m)
    if ctx.bug == "softmax_overflow":
        e = np.exp(x)
    else:
        e = np.exp(x - np.where(dead, ctx.c(0), m))
    s = np.sum(e, axis=-1, keepdims=True)
    y = e / np.where(dead, ctx.c(1), s)
    return np.where(dead, ctx.c(0), y)


def softmax_bwd(ctx, y, dy):
    """dx = y (dy - <dy, y>); entries with y = 0 get 0 (also when dy is not finite).

    Written as dx = y (t - <t, y>) with t = dy - dy[argmax y] (equal, as sum y = 1): when one entry
    dominates (y ≈ 1) its gradient y·(dy_m - <dy, y>) is a difference of nearly equal numbers; with
    the shift it is the small sum of the other entries' terms, accurate in float32."""
    live = y != 0
    dyl = np.where(live, dy, ctx.c(0))
    if ctx.bug == "softmax_backward_missing_term":
        return np.where(live, y * dyl, ctx.c(0))
    top = np.take_along_axis(dyl, np.argmax(y, axis=-1)[..., None], axis=-1)
    t = dyl - top
    inner = np.sum(t * y, axis=-1, keepdims=True)
    return np.where(live, y * (t - inner), ctx.c(0))


# ------------------------------------------------------------------------------------------------
# Attention
# ------------------------------------------------------------------------------------------------

def masked_matmul(a, b, hidden):
    """a [..., Tq, Tk] · b [..., Tk, D] skipping the pairs (i, j) that `hidden` [Tq, Tk] masks, so that
    a NaN or inf in a masked key or value never meets its zero weight (masked_fill semantics)."""
    if np.all(np.isfinite(b)) or not np.any(hidden):
        return np.matmul(a, b)
    terms = a[..., :, :, None] * b[..., None, :, :]
    terms = np.where(hidden[:, :, None], a.dtype.type(0), terms)
    return terms.sum(axis=-2)


def hidden_keys(ctx, mask, causal, window, tq, tk):
    """[Tq, Tk] bool, True where query i may not see key j: the mask is -inf, causality hides it
    (query row i sits at position p = Tk - Tq + i, aligned bottom-right as with a KV cache, and sees
    j <= p), or the sliding window does (j <= p - W: W keys, itself included).
    Bugs: causal_off_by_one hides j >= p; causal_top_left puts row i at position i (what SDPA's
    is_causal does: a decode step sees too few keys); window_off_by_one hides only j < p - W (W + 1 keys)."""
    hidden = np.zeros((tq, tk), dtype=bool)
    if mask is not None:
        if tuple(mask.shape) != (tq, tk):
            raise BadRequest(f"inputs/mask: expected shape [{tq}, {tk}], got {list(mask.shape)}")
        hidden = np.isneginf(mask)
    if causal:
        if tq > tk:
            raise BadRequest(f"params/causal: needs T_q <= T_k, got {tq} and {tk}")
        shift = 0 if ctx.bug == "causal_top_left" else tk - tq
        p = np.arange(tq)[:, None] + shift
        j = np.arange(tk)[None, :]
        hidden = hidden | ((j >= p) if ctx.bug == "causal_off_by_one" else (j > p))
        if window is not None:
            hidden = hidden | ((j < p - window) if ctx.bug == "window_off_by_one" else (j <= p - window))
    elif window is not None:
        raise BadRequest("params/window: needs causal")
    return hidden


def softcap_fwd(ctx, s, cap):
    """-> c·tanh(s/c) and its derivative sech²(s/c), the latter as 4e^(-2|u|)/(1 + e^(-2|u|))², which
    keeps its digits where tanh saturates (1 - tanh² cancels there); 0 at s = ±inf."""
    c = ctx.c(cap)
    u = s / c
    e = np.exp(ctx.c(-2) * np.abs(u))
    return c * np.tanh(u), ctx.c(4) * e / ((ctx.c(1) + e) * (ctx.c(1) + e))


def attention_core(ctx, q, k, v, mask, causal, scale, window=None, softcap=None, want_lse=False):
    """-> out, lse (None unless want_lse), backward(dout, dlse=None) -> (dq, dk, dv), hidden.
    q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv].

    scores = q·kᵀ·scale, then softcap c·tanh(s/c), then the finite mask added and hidden keys set to
    -inf (masked_fill); weights = safe softmax; out = weights·v; lse = m + log(sum exp(s - m)), m the
    row max (-inf for a row with every key hidden). The lse cotangent reaches the scores as
    dlse_i·weights_ij. Bugs: softcap_after_mask caps the masked scores (-inf becomes -c: hidden keys
    get weight); lse_without_max_shift sums exp(s) unshifted (overflow)."""
    dt = ctx.dt
    tq, tk = q.shape[-2], k.shape[-2]
    if k.shape[-1] != q.shape[-1] or v.shape[-2] != tk:
        raise BadRequest(f"inputs: q {list(q.shape)}, k {list(k.shape)}, v {list(v.shape)} do not fit")
    sc = ctx.c(scale)
    raw = fwd_matmul(ctx, q, np.swapaxes(k, -1, -2)) * sc
    hidden = hidden_keys(ctx, mask, causal, window, tq, tk)
    cap_late = softcap is not None and ctx.bug == "softcap_after_mask"
    scores, dcap = raw, None
    if softcap is not None and not cap_late:
        scores, dcap = softcap_fwd(ctx, raw, softcap)
    if mask is not None:
        scores = scores + np.where(np.isneginf(mask), dt(0), mask)
    if cap_late:
        with np.errstate(invalid="ignore"):
            scores, dcap = softcap_fwd(ctx, np.where(hidden, dt(-np.inf), scores), softcap)
        hidden = np.zeros((tq, tk), dtype=bool)  # nothing is -inf any more: every key takes part

    if ctx.bug == "mask_after_softmax":
        p = softmax_fwd(ctx, scores)
        weights = np.where(hidden, dt(0), p)
        masked = np.where(hidden, dt(-np.inf), scores)
    else:
        masked = np.where(hidden, dt(-np.inf), scores)
        if ctx.bug == "nan_fully_masked":
            m = np.max(masked, axis=-1, keepdims=True)
            e = np.exp(masked - m)  # a dead row: -inf - (-inf) = NaN
            weights = e / np.sum(e, axis=-1, keepdims=True)
        else:
            weights = softmax_fwd(ctx, masked)
    out = masked_matmul(weights, v, hidden)

    lse, lse_weights = None, weights
    if want_lse:
        m = np.max(masked, axis=-1, keepdims=True)
        dead = np.isneginf(m)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            if ctx.bug == "lse_without_max_shift":
                e = np.exp(masked)
                total = np.sum(e, axis=-1, keepdims=True)
                lse = np.log(total)[..., 0]
                lse_weights = e / total  # the VJP of the unshifted formula: inf/inf = NaN once it overflows
            else:
                m0 = np.where(dead, dt(0), m)
                lse = np.where(dead, dt(-np.inf), m0 + np.log(np.sum(np.exp(masked - m0), axis=-1, keepdims=True)))[..., 0]

    def backward(dout, dlse=None):
        dv = np.matmul(np.swapaxes(weights, -1, -2), dout)
        dw = np.where(hidden, dt(0), np.matmul(dout, np.swapaxes(v, -1, -2)))
        if ctx.bug == "mask_after_softmax":
            ds = softmax_bwd(ctx, p, dw)
        else:  # (nan_fully_masked: the NaN weights of a dead row flow on into dq, dk, dv)
            ds = softmax_bwd(ctx, weights, dw)
        if dlse is not None:
            ds = ds + np.where(lse_weights != 0, dlse[..., None] * lse_weights, dt(0))
        if dcap is not None:  # (a NaN score behind the mask has a NaN dcap: it must not meet ds = 0)
            ds = np.where(hidden | (dcap == 0), dt(0), ds * dcap)
        dq = masked_matmul(ds, k, hidden) * sc
        dk = np.matmul(np.swapaxes(ds, -1, -2), q) * sc
        return unbroadcast(dq, q.shape), unbroadcast(dk, k.shape), unbroadcast(dv, v.shape)

    return out, lse, backward, hidden


def default_scale(ctx, d):
    if ctx.bug == "scale_1_over_d":
        return 1.0 / d
    return 1.0 / math.sqrt(d)


def attention_params(r):
    """causal, scale (None: default), window, softcap, return_lse (the last three: catalogue v2)."""
    window = r.integer("window", None)
    if window is not None and window < 1:
        raise BadRequest(f"params/window: must be at least 1, got {window}")
    softcap = r.real("softcap", None)
    if softcap is not None and not softcap > 0:
        raise BadRequest(f"params/softcap: must be positive, got {softcap}")
    return r.boolean("causal", False), r.real("scale", None), window, softcap, r.boolean("return_lse", False)


def attention_answer(r, q, k, v, mask, params):
    """Runs attention_core with the request's params and cotangents -> outputs, (dq, dk, dv)."""
    causal, scale, window, softcap, return_lse = params
    if scale is None:
        scale = default_scale(r.ctx, q.shape[-1])
    out, lse, backward, _ = attention_core(r.ctx, q, k, v, mask, causal, scale, window, softcap, return_lse)
    outputs = {"out": out}
    if return_lse:
        outputs["lse"] = lse
    return outputs, backward(r.cot("out", out), r.cot("lse", lse) if return_lse else None)


def op_attention(r):
    q, k, v = r.input("q"), r.input("k"), r.input("v")
    mask = r.input("mask", optional=True)
    params = attention_params(r)
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise BadRequest("inputs: q, k, v must be [..., T, D]")
    outputs, (dq, dk, dv) = attention_answer(r, q, k, v, mask, params)
    return outputs, {"q": dq, "k": dk, "v": dv}


def gqa_core(ctx, q, k, v, mask, causal, scale, window=None, softcap=None, want_lse=False):
    """Grouped-query attention on q [..., Hq, Tq, D], k [..., Hkv, Tk, D], v [..., Hkv, Tk, Dv]
    -> out, lse, backward(dout, dlse=None) -> (dq, dk, dv).

    Query head h reads key/value head h // G, G = Hq/Hkv (the kv heads repeated G times in place,
    as repeat_kv); dk, dv of a kv head are the sums over its G query heads.
    Bugs: gqa_head_modulo reads kv head h % Hkv; gqa_dkv_not_summed assigns each query head's dk,
    dv to its kv head in turn (the last head of the group wins) instead of adding them."""
    hq, hkv = q.shape[-3], k.shape[-3]
    group = hq // hkv
    src = [h % hkv if ctx.bug == "gqa_head_modulo" else h // group for h in range(hq)]
    out, lse, att_bwd, _ = attention_core(ctx, q, np.take(k, src, axis=-3), np.take(v, src, axis=-3), mask, causal,
                                          scale, window, softcap, want_lse)

    def backward(dout, dlse=None):
        dq, dkx, dvx = att_bwd(dout, dlse)
        dk, dv = np.zeros_like(k), np.zeros_like(v)
        for h, g in enumerate(src):
            if ctx.bug == "gqa_dkv_not_summed":
                dk[..., g, :, :], dv[..., g, :, :] = dkx[..., h, :, :], dvx[..., h, :, :]
            else:
                dk[..., g, :, :] += dkx[..., h, :, :]
                dv[..., g, :, :] += dvx[..., h, :, :]
        return dq, dk, dv

    return out, lse, backward


def op_grouped_query_attention(r):
    q, k, v = r.input("q"), r.input("k"), r.input("v")
    mask = r.input("mask", optional=True)
    causal, scale, window, softcap, return_lse = attention_params(r)
    if q.ndim < 3 or k.ndim < 3 or v.ndim < 3:
        raise BadRequest("inputs: q, k, v must be [..., H, T, D]")
    if k.shape[:-3] != q.shape[:-3] or v.shape[:-3] != q.shape[:-3]:
        raise BadRequest(f"inputs: batch axes of q {list(q.shape)}, k {list(k.shape)}, v {list(v.shape)} differ")
    hq, hkv = q.shape[-3], k.shape[-3]
    if v.shape[-3] != hkv or hkv < 1 or hq % hkv:
        raise BadRequest(f"inputs: H_q = {hq} must be a multiple of H_kv = {hkv} (k and v alike)")
    if scale is None:
        scale = default_scale(r.ctx, q.shape[-1])
    out, lse, backward = gqa_core(r.ctx, q, k, v, mask, causal, scale, window, softcap, return_lse)
    outputs = {"out": out}
    if return_lse:
        outputs["lse"] = lse
    dq, dk, dv = backward(r.cot("out", out), r.cot("lse", lse) if return_lse else None)
    return outputs, {"q": dq, "k": dk, "v": dv}


def split_heads(ctx, t, heads):
    """[..., T, C] -> [..., H, T, C/H]: head h = columns [h·C/H, (h+1)·C/H) (interleaved bug: h, h+H, ...)."""
    *lead, T, C = t.shape
    d = C // heads
    if ctx.bug == "interleaved_heads":
        return np.swapaxes(np.swapaxes(t.reshape(*lead, T, d, heads), -1, -2), -2, -3)
    return np.swapaxes(t.reshape(*lead, T, heads, d), -2, -3)


def merge_heads(ctx, t):
    """Inverse of split_heads: [..., H, T, d] -> [..., T, C]."""
    *lead, H, T, d = t.shape
    t = np.swapaxes(t, -2, -3)  # [..., T, H, d]
    if ctx.bug == "interleaved_heads":
        t = np.swapaxes(t, -1, -2)  # [..., T, d, H]
    return np.ascontiguousarray(t).reshape(*lead, T, H * d)


def clean_rows(t, dead_rows):
    """Rows of t [..., T, C] that no score can see, with NaN/inf in them, set to 0 (they do not enter)."""
    bad = dead_rows[:, None] & ~np.all(np.isfinite(t), axis=-1, keepdims=True)
    return np.where(bad, t.dtype.type(0), t) if np.any(bad) else t


def op_multi_head_attention(r):
    ctx = r.ctx
    x = r.input("x")
    memory = r.input("memory", optional=True)
    w = {n: r.input(n) for n in ("w_q", "b_q", "w_k", "b_k", "w_v", "b_v", "w_o", "b_o")}
    mask = r.input("mask", optional=True)
    heads = r.integer("heads", None)
    causal = r.boolean("causal", False)
    if heads is None or heads < 1:
        raise BadRequest("params/heads: a positive integer is required")
    if x.ndim < 2:
        raise BadRequest("inputs/x: expected [..., T, C]")
    C = x.shape[-1]
    if C % heads:
        raise BadRequest(f"params/heads: {heads} does not divide C = {C}")
    src = x if memory is None else memory
    if memory is not None and (memory.ndim != x.ndim or memory.shape[:-2] != x.shape[:-2] or memory.shape[-1] != C):
        raise BadRequest(f"inputs/memory: shape {list(memory.shape)} does not fit x {list(x.shape)}")
    tq, tk = x.shape[-2], src.shape[-2]
    if causal and tq != tk:
        raise BadRequest(f"params/causal: needs T_q == T_k, got {tq} and {tk}")

    # Which query rows / key rows nothing can see (for NaN hygiene only).
    hid = np.zeros((tq, tk), dtype=bool)
    if mask is not None and tuple(mask.shape) == (tq, tk):
        hid = np.isneginf(mask)
    if causal and tq == tk:
        hid = hid | np.triu(np.ones((tq, tk), dtype=bool), 1)
    xq = clean_rows(x, np.all(hid, axis=1))
    xkv = clean_rows(src, np.all(hid, axis=0))

    q = linear_fwd(ctx, xq, w["w_q"], w["b_q"], "w_q")
    k = linear_fwd(ctx, xkv, w["w_k"], w["b_k"], "w_k")
    v = linear_fwd(ctx, xkv, w["w_v"], w["b_v"], "w_v")
    qh, kh, vh = (split_heads(ctx, t, heads) for t in (q, k, v))
    att, _, att_bwd, _ = attention_core(ctx, qh, kh, vh, mask, causal, default_scale(ctx, C // heads))
    concat = merge_heads(ctx, att)
    y = linear_fwd(ctx, concat, w["w_o"], w["b_o"], "w_o")

    dy = r.cot("y", y)
    dconcat, dw_o, db_o = linear_bwd(concat, w["w_o"], dy)
    dqh, dkh, dvh = att_bwd(split_heads(ctx, dconcat, heads))
    dq, dk, dv = (merge_heads(ctx, t) for t in (dqh, dkh, dvh))
    dxq, dw_q, db_q = linear_bwd(xq, w["w_q"], dq)
    dxk, dw_k, db_k = linear_bwd(xkv, w["w_k"], dk)
    dxv, dw_v, db_v = linear_bwd(xkv, w["w_v"], dv)
    grads = {"w_q": dw_q, "b_q": db_q, "w_k": dw_k, "b_k": db_k, "w_v": dw_v, "b_v": db_v, "w_o": dw_o, "b_o": db_o}
    if memory is None:
        grads["x"] = dxq + dxk + dxv
    else:
        grads["x"] = dxq
        grads["memory"] = dxk + dxv
    return {"y": y}, grads


# ------------------------------------------------------------------------------------------------
# The other ops
# ------------------------------------------------------------------------------------------------

def op_linear(r):
    x, w, b = r.input("x"), r.input("w"), r.input("b")
    y = linear_fwd(r.ctx, x, w, b)
    dx, dw, db = linear_bwd(x, w, r.cot("y", y))
    return {"y": y}, {"x": dx, "w": dw, "b": db}


def embedding_bwd(ctx, table, ids, dy):
    """The gradient of table[ids] for cotangent dy [..., C]: a fresh table with dy scatter-added on the
    rows of ids (bug embedding_grad_overwrite: assigned, so the last of repeated ids wins)."""
    dtable = np.zeros_like(table)
    flat = ids.reshape(-1)
    dy = dy.reshape(-1, table.shape[1])
    if ctx.bug == "embedding_grad_overwrite":
        dtable[flat] = dy
    else:
        np.add.at(dtable, flat, dy)
    return dtable


def op_embedding(r):
    ctx = r.ctx
    ids, table = r.input("ids"), r.input("table")
    scale = r.choice("scale", ["none", "sqrt_d"], "none")
    if table.ndim != 2:
        raise BadRequest("inputs/table: expected [V, C]")
    V, C = table.shape
    if ids.size and (ids.min() < 0 or ids.max() >= V):
        raise BadRequest(f"inputs/ids: ids must lie in [0, {V})")
    s = ctx.c(math.sqrt(C)) if scale == "sqrt_d" else None
    y = table[ids]
    if s is not None:
        y = y * s
    dy = r.cot("y", y)
    if s is not None:
        dy = dy * s
    return {"y": y}, {"table": embedding_bwd(ctx, table, ids, dy)}


def op_softmax(r):
    x = r.input("x")
    y = softmax_fwd(r.ctx, x)
    return {"y": y}, {"x": softmax_bwd(r.ctx, y, r.cot("y", y))}


def op_log_softmax(r):
    ctx = r.ctx
    x = r.input("x")
    m = np.max(x, axis=-1, keepdims=True)
    dead = np.isneginf(m)
    sh = x - np.where(dead, ctx.c(0), m)
    lse = np.log(np.sum(np.exp(sh), axis=-1, keepdims=True))
    y = np.where(dead, ctx.c(-np.inf), sh - lse)
    dy = r.cot("y", y)
    dx = dy - np.exp(y) * np.sum(dy, axis=-1, keepdims=True)
    return {"y": y}, {"x": np.where(dead, ctx.c(0), dx)}


def op_relu(r):
    x = r.input("x")
    y, d = activation(r.ctx, "relu", x)
    return {"y": y}, {"x": r.cot("y", y) * d}


def op_gelu(r):
    x = r.input("x")
    approx = r.choice("approximate", ["none", "tanh"], "none")
    y, d = activation(r.ctx, "gelu" if approx == "none" else "gelu_tanh", x)
    return {"y": y}, {"x": r.cot("y", y) * d}


def op_silu(r):
    x = r.input("x")
    y, d = activation(r.ctx, "silu", x)
    return {"y": y}, {"x": r.cot("y", y) * d}


def op_layer_norm(r):
    ctx = r.ctx
    x, gamma, beta = r.input("x"), r.input("gamma"), r.input("beta")
    eps = ctx.c(r.real("eps", 1e-5))
    if x.ndim < 1 or gamma.shape != x.shape[-1:] or beta.shape != x.shape[-1:]:
        raise BadRequest(f"inputs: gamma, beta must be [C] with C = x's last axis {list(x.shape)}")
    C = x.shape[-1]
    n = ctx.c(C)
    n_var = ctx.c(C - 1) if ctx.bug == "unbiased_variance" else n
    if ctx.bug == "one_pass_variance":
        mean = np.sum(x, axis=-1, keepdims=True) / n
        var = np.sum(x * x, axis=-1, keepdims=True) / n - mean * mean
        var = np.maximum(var, ctx.c(0))
        d = x - mean
    else:
        shift = x[..., :1]  # shifted two-pass: exact for rows like 1e7 + i
        xs = x - shift
        mean_s = np.sum(xs, axis=-1, keepdims=True) / n
        d = xs - mean_s
        var = np.sum(d * d, axis=-1, keepdims=True) / n_var
    if ctx.bug == "eps_outside_sqrt":
        sd = np.sqrt(var)
        rstd = ctx.c(1) / (sd + eps)
        drdv = -(rstd * rstd) / (ctx.c(2) * sd)
    else:
        rstd = ctx.c(1) / np.sqrt(var + eps)
        drdv = ctx.c(-0.5) * rstd * rstd * rstd
    xhat = d * rstd
    y = xhat * gamma + beta

    dy = r.cot("y", y)
    g = dy * gamma
    lead = tuple(range(x.ndim - 1))
    dgamma = np.sum(dy * xhat, axis=lead)
    dbeta = np.sum(dy, axis=lead)
    # dx_j = rstd (g_j - mean g) + (2 / n_var) · drstd/dvar · d_j · sum_i g_i d_i
    dx = rstd * (g - np.sum(g, axis=-1, keepdims=True) / n) \
        + (ctx.c(2) / n_var) * drdv * d * np.sum(g * d, axis=-1, keepdims=True)
    return {"y": y}, {"x": dx, "gamma": dgamma, "beta": dbeta}


def rms_norm_fwd(ctx, x, gamma, eps, offset):
    """y = x·rstd·(offset + gamma), rstd = 1/sqrt(mean(x²) + eps) -> y, backward(dy) -> (dx, dgamma).
    Bug rms_norm_without_offset: the scale is gamma alone."""
    n = ctx.c(x.shape[-1])
    ms = np.sum(x * x, axis=-1, keepdims=True) / n
    rstd = ctx.c(1) / np.sqrt(ms + ctx.c(eps))
    xhat = x * rstd
    scale = gamma if ctx.bug == "rms_norm_without_offset" else ctx.c(offset) + gamma

    def backward(dy):
        g = dy * scale
        dgamma = np.sum(dy * xhat, axis=tuple(range(x.ndim - 1)))
        dx = rstd * (g - xhat * (np.sum(g * xhat, axis=-1, keepdims=True) / n))
        return dx, dgamma

    return xhat * scale, backward


def op_rms_norm(r):
    x, gamma = r.input("x"), r.input("gamma")
    if x.ndim < 1 or gamma.shape != x.shape[-1:]:
        raise BadRequest("inputs/gamma: must be [C] with C = x's last axis")
    y, backward = rms_norm_fwd(r.ctx, x, gamma, r.real("eps", 1e-6), r.real("gamma_offset", 0))
    dx, dgamma = backward(r.cot("y", y))
    return {"y": y}, {"x": dx, "gamma": dgamma}


def op_feed_forward(r):
    ctx = r.ctx
    x, w1, b1, w2, b2 = (r.input(n) for n in ("x", "w1", "b1", "w2", "b2"))
    act = r.choice("activation", ["relu", "gelu", "gelu_tanh", "silu"], "relu")
    pre = linear_fwd(ctx, x, w1, b1, "w1")
    hidden, dact = activation(ctx, act, pre)
    y = linear_fwd(ctx, hidden, w2, b2, "w2")
    dhidden, dw2, db2 = linear_bwd(hidden, w2, r.cot("y", y))
    dx, dw1, db1 = linear_bwd(x, w1, dhidden * dact)
    return {"y": y}, {"x": dx, "w1": dw1, "b1": db1, "w2": dw2, "b2": db2}


def check_gated_shapes(x, w_gate, w_up, w_down, prefix=""):
    """w_gate [C, F] with C = x's last axis, w_up [C, F], w_down [F, C]; input names under `prefix`."""
    if w_gate.ndim != 2 or x.ndim < 1 or w_gate.shape[0] != x.shape[-1]:
        raise BadRequest(f"inputs/{prefix}w_gate: expected [C, F] with C = x's last axis, got {list(w_gate.shape)}")
    c, f = w_gate.shape
    if tuple(w_up.shape) != (c, f):
        raise BadRequest(f"inputs/{prefix}w_up: expected [{c}, {f}], got {list(w_up.shape)}")
    if tuple(w_down.shape) != (f, c):
        raise BadRequest(f"inputs/{prefix}w_down: expected [{f}, {c}], got {list(w_down.shape)}")


def gated_ffn_fwd(ctx, x, w_gate, w_up, w_down, act):
    """y = (act(x·w_gate) ⊙ x·w_up)·w_down, no biases -> y, backward(dy) -> (dx, dw_gate, dw_up, dw_down).
    VJP: dhidden = dy·w_downᵀ, dup = act(gate) ⊙ dhidden, dgate = act'(gate) ⊙ up ⊙ dhidden,
    dx = dgate·w_gateᵀ + dup·w_upᵀ.
    Bug glu_gate_up_swapped: the activation goes on x·w_up and multiplies x·w_gate."""
    swapped = ctx.bug == "glu_gate_up_swapped"
    w_a, w_b = (w_up, w_gate) if swapped else (w_gate, w_up)
    gate = linear_fwd(ctx, x, w_a, None, "w_up" if swapped else "w_gate")
    up = linear_fwd(ctx, x, w_b, None, "w_gate" if swapped else "w_up")
    a, dact = activation(ctx, act, gate)
    hidden = a * up
    y = linear_fwd(ctx, hidden, w_down, None, "w_down")

    def backward(dy):
        dhidden, dw_down, _ = linear_bwd(hidden, w_down, dy)
        dx_a, dw_a, _ = linear_bwd(x, w_a, dact * up * dhidden)
        dx_b, dw_b, _ = linear_bwd(x, w_b, a * dhidden)
        dw_gate, dw_up = (dw_b, dw_a) if swapped else (dw_a, dw_b)
        return dx_a + dx_b, dw_gate, dw_up, dw_down

    return y, backward


def op_gated_feed_forward(r):
    x, w_gate, w_up, w_down = (r.input(n) for n in ("x", "w_gate", "w_up", "w_down"))
    act = r.choice("activation", ["silu", "gelu", "gelu_tanh"], "silu")
    check_gated_shapes(x, w_gate, w_up, w_down)
    y, backward = gated_ffn_fwd(r.ctx, x, w_gate, w_up, w_down, act)
    dx, dw_gate, dw_up, dw_down = backward(r.cot("y", y))
    return {"y": y}, {"x": dx, "w_gate": dw_gate, "w_up": dw_up, "w_down": dw_down}


def cross_entropy_fwd(ctx, logits, targets, reduction, ignore_index, eps):
    """PyTorch's cross_entropy of logits [..., V] against targets [...] -> loss, backward(cot) -> dlogits.
    mean over non-ignored targets, smoothing skips ignored targets, every target ignored with mean:
    NaN loss and zero gradient. Bug label_smoothing_counts_ignored: the smoothing term sums (and
    mean divides) over every row."""
    dt = ctx.dt
    V = logits.shape[-1]
    z = logits.reshape(-1, V)
    t = targets.reshape(-1)
    N = t.shape[0]
    valid = np.ones(N, dtype=bool) if ignore_index is None else t != ignore_index
    if np.any(valid & ((t < 0) | (t >= V))):
        raise BadRequest(f"inputs/targets: targets must lie in [0, {V}) or equal ignore_index")
    tc = np.where(valid, t, 0)
    # log_softmax, max-subtracted
    m = np.max(z, axis=-1, keepdims=True)
    sh = z - m
    lse = np.log(np.sum(np.exp(sh), axis=-1, keepdims=True))
    lsm = sh - lse
    p = np.exp(lsm)
    nll = -lsm[np.arange(N), tc]
    smooth = -np.sum(lsm, axis=-1) / dt(V)
    e = dt(eps)
    one = dt(1)
    zero = dt(0)
    smooth_all = ctx.bug == "label_smoothing_counts_ignored"
    nll_i = np.where(valid, nll, zero)
    sm_i = smooth if smooth_all else np.where(valid, smooth, zero)
    n_valid = int(valid.sum())
    if reduction == "none":
        loss = ((one - e) * nll_i + e * sm_i).reshape(targets.shape)
    else:
        if reduction == "sum":
            nll_red, sm_red = np.sum(nll_i), np.sum(sm_i)
        else:
            with np.errstate(all="ignore"):
                nll_red = np.sum(nll_i) / dt(n_valid)  # 0/0 = NaN when every target is ignored
                sm_red = np.sum(sm_i) / dt(N if smooth_all else n_valid)
        loss = np.asarray((one - e) * nll_red + e * sm_red, dtype=dt)

    def backward(cot):
        if reduction == "none":
            cot = cot.reshape(-1)
            g_nll = np.where(valid, cot, zero)
            g_sm = cot if smooth_all else g_nll
        else:
            c = cot.reshape(())
            if reduction == "sum":
                g_nll = np.where(valid, c, zero)
                g_sm = np.full(N, c, dtype=dt) if smooth_all else g_nll
            else:
                g_nll = np.where(valid, c / dt(max(n_valid, 1)), zero) if n_valid else np.zeros(N, dtype=dt)
                g_sm = np.full(N, c / dt(max(N, 1)), dtype=dt) if smooth_all else g_nll
        onehot = np.zeros_like(z)
        onehot[np.arange(N), tc] = one
        # d nll/dz = p - onehot;  d smooth/dz = p - 1/V
        dz = ((one - e) * g_nll)[:, None] * (p - onehot) + (e * g_sm)[:, None] * (p - one / dt(V))
        return dz.reshape(logits.shape)

    return loss, backward


def op_cross_entropy(r):
    logits, targets = r.input("logits"), r.input("targets")
    reduction = r.choice("reduction", ["mean", "sum", "none"], "mean")
    ignore_index = r.integer("ignore_index", None)
    eps = r.real("label_smoothing", 0.0)
    if logits.ndim < 1 or targets.shape != logits.shape[:-1]:
        raise BadRequest(f"inputs/targets: shape {list(targets.shape)} must be logits' {list(logits.shape)} without the last axis")
    loss, backward = cross_entropy_fwd(r.ctx, logits, targets, reduction, ignore_index, eps)
    return {"loss": loss}, {"logits": backward(r.cot("loss", loss))}


def rope_cos_sin(ctx, length, rotary_dim, d, base, offset):
    """cos θ, sin θ [T, R/2] for θ = (offset + t)·base^(-2i/R), formed in float64 and rounded to the
    dtype (bug rope_float32_angles: formed in float32; bug rope_frequencies_over_d: base^(-2i/D))."""
    work = np.float32 if ctx.bug == "rope_float32_angles" else np.float64
    width = d if ctx.bug == "rope_frequencies_over_d" else rotary_dim
    inv_freq = (work(1) / np.power(work(base), np.arange(0, rotary_dim, 2, dtype=work) / work(width))).astype(work)
    angle = np.outer((np.arange(length) + offset).astype(work), inv_freq).astype(work)
    return np.cos(angle).astype(ctx.dt), np.sin(angle).astype(ctx.dt)


def rope_turn(x, cos, sin, rotary_dim, interleaved):
    """Turns the pairs of x [..., T, D] by the angles (cos, sin): (a, b) -> (a·c - b·s, b·c + a·s)."""
    y = x.copy()
    half = rotary_dim // 2
    ia = np.arange(0, rotary_dim, 2) if interleaved else np.arange(half)
    ib = ia + 1 if interleaved else ia + half
    a, b = x[..., ia], x[..., ib]
    y[..., ia] = a * cos - b * sin
    y[..., ib] = b * cos + a * sin
    return y


def op_rope(r):
    # y = rotation of each pair by θ; dx = rotation of dy by -θ (the map is orthogonal).
    x = r.input("x")
    if x.ndim < 2:
        raise BadRequest(f"inputs/x: expected [..., T, D], got shape {list(x.shape)}")
    length, d = x.shape[-2], x.shape[-1]
    rotary_dim = r.integer("rotary_dim", None)
    rotary_dim = d if rotary_dim is None else rotary_dim
    if rotary_dim < 0 or rotary_dim % 2 or rotary_dim > d:
        raise BadRequest(f"params/rotary_dim: must be even and at most D = {d}, got {rotary_dim}")
    offset = r.integer("offset", 0)
    if offset < 0:
        raise BadRequest(f"params/offset: must be >= 0, got {offset}")
    interleaved = rope_interleaved(r.ctx, r.choice("style", ["half", "interleaved"], "half"))
    cos, sin = rope_cos_sin(r.ctx, length, rotary_dim, d, float(r.real("base", 10000)), offset)
    y = rope_turn(x, cos, sin, rotary_dim, interleaved)
    return {"y": y}, {"x": rope_turn(r.cot("y", y), cos, -sin, rotary_dim, interleaved)}


def rope_interleaved(ctx, style):
    """Whether rope turns the pairs (2i, 2i+1) (bug rope_style_swapped: the other style's pairs)."""
    return (style == "interleaved") != (ctx.bug == "rope_style_swapped")


# ------------------------------------------------------------------------------------------------
# The decoder-only composites (catalogue v2): llama_block and llama
# ------------------------------------------------------------------------------------------------

LLAMA_BLOCK_WEIGHTS = ("attn_norm.gamma", "attn.w_q", "attn.w_k", "attn.w_v", "attn.w_o",
                       "ffn_norm.gamma", "ffn.w_gate", "ffn.w_up", "ffn.w_down")


def llama_block_options(r, c):
    """The llama_block params (shared with llama) for model width c -> dict."""
    heads = r.integer("heads", None)
    if heads is None or heads < 1:
        raise BadRequest("params/heads: a positive integer is required")
    kv_heads = r.integer("kv_heads", None)
    kv_heads = heads if kv_heads is None else kv_heads
    if kv_heads < 1 or heads % kv_heads:
        raise BadRequest(f"params/kv_heads: heads = {heads} must be a multiple of kv_heads = {kv_heads}")
    head_dim = r.integer("head_dim", None)
    if head_dim is None:
        if c % heads or (c // heads) % 2:
            raise BadRequest(f"params/heads: C/heads must be an even integer, C = {c}, heads = {heads}")
        head_dim = c // heads
    if head_dim < 2 or head_dim % 2:
        raise BadRequest(f"params/head_dim: must be even and positive (RoPE turns the whole head), got {head_dim}")
    base = r.real("rope_base", 10000)
    if not base > 0:
        raise BadRequest(f"params/rope_base: must be positive, got {base}")
    eps = r.real("eps", 1e-6)
    if not eps >= 0:
        raise BadRequest(f"params/eps: must be >= 0, got {eps}")
    window = r.integer("window", None)
    if window is not None and window < 1:
        raise BadRequest(f"params/window: must be at least 1, got {window}")
    softcap = r.real("softcap", None)
    if softcap is not None and not softcap > 0:
        raise BadRequest(f"params/softcap: must be positive, got {softcap}")
    offset = r.integer("offset", 0)
    if offset < 0:
        raise BadRequest(f"params/offset: must be >= 0, got {offset}")
    return dict(heads=heads, kv_heads=kv_heads, head_dim=head_dim, base=float(base),
                style=r.choice("rope_style", ["half", "interleaved"], "half"), eps=eps, window=window,
                softcap=softcap, act=r.choice("activation", ["silu", "gelu", "gelu_tanh"], "silu"), offset=offset)


def llama_block_weights(r, prefix, c, o):
    """The nine weights of one block (input names prefix + LLAMA_BLOCK_WEIGHTS), shapes checked."""
    w = {n: r.input(prefix + n) for n in LLAMA_BLOCK_WEIGHTS}
    qd, kvd = o["heads"] * o["head_dim"], o["kv_heads"] * o["head_dim"]
    for n, want in (("attn_norm.gamma", (c,)), ("attn.w_q", (c, qd)), ("attn.w_k", (c, kvd)), ("attn.w_v", (c, kvd)),
                    ("attn.w_o", (qd, c)), ("ffn_norm.gamma", (c,))):
        if tuple(w[n].shape) != want:
            raise BadRequest(f"inputs/{prefix}{n}: expected shape {list(want)}, got {list(w[n].shape)}")
    check_gated_shapes(np.zeros((c,)), w["ffn.w_gate"], w["ffn.w_up"], w["ffn.w_down"], prefix + "ffn.")
    return w


def llama_block_fwd(ctx, x, w, o):
    """One pre-norm block on x [..., T, C] -> y, backward(dy) -> (dx, {weight name: gradient}).

    a = rms_norm(x); q, k, v = a·w_q, a·w_k, a·w_v split into heads (split_heads: contiguous
    column blocks); rope on q and k (positions offset + t, the whole head); o = grouped-query
    attention (causal, window, softcap, scale 1/sqrt(D)); h = x + merge(o)·w_o;
    y = h + gated_ffn(rms_norm(h)). Every step is the zoo's own piece, bugs included."""
    hq, hkv, d = o["heads"], o["kv_heads"], o["head_dim"]
    interleaved = rope_interleaved(ctx, o["style"])
    cos, sin = rope_cos_sin(ctx, x.shape[-2], d, d, o["base"], o["offset"])
    a, a_bwd = rms_norm_fwd(ctx, x, w["attn_norm.gamma"], o["eps"], 0)
    q = rope_turn(split_heads(ctx, linear_fwd(ctx, a, w["attn.w_q"], None), hq), cos, sin, d, interleaved)
    k = rope_turn(split_heads(ctx, linear_fwd(ctx, a, w["attn.w_k"], None), hkv), cos, sin, d, interleaved)
    v = split_heads(ctx, linear_fwd(ctx, a, w["attn.w_v"], None), hkv)
    att, _, att_bwd = gqa_core(ctx, q, k, v, None, True, default_scale(ctx, d), o["window"], o["softcap"])
    attn_out = merge_heads(ctx, att)
    h = x + linear_fwd(ctx, attn_out, w["attn.w_o"], None)
    b, b_bwd = rms_norm_fwd(ctx, h, w["ffn_norm.gamma"], o["eps"], 0)
    f, f_bwd = gated_ffn_fwd(ctx, b, w["ffn.w_gate"], w["ffn.w_up"], w["ffn.w_down"], o["act"])
    y = h + f

    def backward(dy):
        g = {}
        db, g["ffn.w_gate"], g["ffn.w_up"], g["ffn.w_down"] = f_bwd(dy)
        dbh, g["ffn_norm.gamma"] = b_bwd(db)
        dh = dy + dbh  # the residual and the feed-forward path
        datt, g["attn.w_o"], _ = linear_bwd(attn_out, w["attn.w_o"], dh)
        dq, dk, dv = att_bwd(split_heads(ctx, datt, hq))
        dq = rope_turn(dq, cos, -sin, d, interleaved)  # the rotation is orthogonal: turn back by -θ
        dk = rope_turn(dk, cos, -sin, d, interleaved)
        da_q, g["attn.w_q"], _ = linear_bwd(a, w["attn.w_q"], merge_heads(ctx, dq))
        da_k, g["attn.w_k"], _ = linear_bwd(a, w["attn.w_k"], merge_heads(ctx, dk))
        da_v, g["attn.w_v"], _ = linear_bwd(a, w["attn.w_v"], merge_heads(ctx, dv))
        dxa, g["attn_norm.gamma"] = a_bwd(da_q + da_k + da_v)
        return dh + dxa, g

    return y, backward


def op_llama_block(r):
    x = r.input("x")
    if x.ndim < 2 or x.shape[-1] < 1:
        raise BadRequest(f"inputs/x: expected [..., T, C] with C >= 1, got shape {list(x.shape)}")
    o = llama_block_options(r, x.shape[-1])
    w = llama_block_weights(r, "", x.shape[-1], o)
    y, backward = llama_block_fwd(r.ctx, x, w, o)
    dx, grads = backward(r.cot("y", y))
    return {"y": y}, dict(grads, x=dx)


def op_llama(r):
    # h = embed[ids]; `layers` blocks; hidden = rms_norm(h, norm.gamma); logits = hidden·lm_head or,
    # tied, hidden·embedᵀ; logit_softcap c·tanh(logits/c) (the logits output is the capped one);
    # loss = mean cross-entropy over every non-ignored position of all batch axes.
    # Backward: dlogits = cot_logits + CEᵀ cot_loss, through the cap's sech², the projection (dW),
    # the final norm, the blocks in reverse, the lookup's scatter-add; tied, embed's gradient is the
    # scatter-add plus dWᵀ. Bugs: tied_embeddings_grad keeps the scatter-add alone (dWᵀ dropped);
    # llama_logit_softcap_missing never caps (logits and loss uncapped).
    ctx = r.ctx
    ids, labels, embed = r.input("ids"), r.input("labels"), r.input("embed")
    if embed.ndim != 2:
        raise BadRequest(f"inputs/embed: expected [V, C], got shape {list(embed.shape)}")
    V, C = embed.shape
    layers = r.integer("layers", None)
    if layers is None or not 1 <= layers <= 4096:
        raise BadRequest(f"params/layers: must be in [1, 4096], got {layers}")
    tied = r.boolean("tie_embeddings", False)
    cap = r.real("logit_softcap", None)
    if cap is not None and not cap > 0:
        raise BadRequest(f"params/logit_softcap: must be positive, got {cap}")
    ignore_index = r.integer("ignore_index", None)
    o = llama_block_options(r, C)
    if ids.ndim < 1 or (ids.size and (ids.min() < 0 or ids.max() >= V)):
        raise BadRequest(f"inputs/ids: expected [..., T] with ids in [0, {V})")
    if labels.shape != ids.shape:
        raise BadRequest(f"inputs/labels: shape {list(labels.shape)} must equal ids' {list(ids.shape)}")
    lm_head = r.input("lm_head", optional=True)
    if tied and lm_head is not None:
        raise BadRequest("inputs/lm_head: must be absent with tie_embeddings")
    if not tied and lm_head is None:
        raise BadRequest("inputs: lm_head missing (tie_embeddings is false)")
    if lm_head is not None and tuple(lm_head.shape) != (C, V):
        raise BadRequest(f"inputs/lm_head: expected shape [{C}, {V}], got {list(lm_head.shape)}")
    norm_gamma = r.input("norm.gamma")
    if tuple(norm_gamma.shape) != (C,):
        raise BadRequest(f"inputs/norm.gamma: expected shape [{C}], got {list(norm_gamma.shape)}")
    blocks = [llama_block_weights(r, f"blocks.{i}.", C, o) for i in range(layers)]

    h = embed[ids]
    block_bwds = []
    for w in blocks:
        h, bwd = llama_block_fwd(ctx, h, w, o)
        block_bwds.append(bwd)
    hidden, norm_bwd = rms_norm_fwd(ctx, h, norm_gamma, o["eps"], 0)
    proj = embed.T if tied else lm_head  # tied: the embedding read transposed
    raw = linear_fwd(ctx, hidden, proj, None, "embed" if tied else "lm_head")
    logits, dcap = raw, None
    if cap is not None and ctx.bug != "llama_logit_softcap_missing":
        logits, dcap = softcap_fwd(ctx, raw, cap)
    loss, ce_bwd = cross_entropy_fwd(ctx, logits, labels, "mean", ignore_index, 0.0)

    dlogits = r.cot("logits", logits) + ce_bwd(r.cot("loss", loss))
    draw = dlogits if dcap is None else dlogits * dcap
    dhidden, dproj, _ = linear_bwd(hidden, proj, draw)
    dh, grads = norm_bwd(dhidden)
    grads = {"norm.gamma": grads}
    for i in reversed(range(layers)):
        dh, g = block_bwds[i](dh)
        grads.update({f"blocks.{i}.{n}": t for n, t in g.items()})
    dembed = embedding_bwd(ctx, embed, ids, dh)
    if tied:
        if ctx.bug != "tied_embeddings_grad":
            dembed = dembed + dproj.T  # both uses of the one tensor
    else:
        grads["lm_head"] = dproj
    grads["embed"] = dembed
    return {"loss": loss, "logits": logits}, grads


# Every catalogue op this file has a function op_<name> for.
HANDLERS = {name: globals()[f"op_{name}"] for name in CATALOGUE if f"op_{name}" in globals()}


def kit_op(name, fn, bug):
    """op_X(r) -> (outputs, gradients) as the kit's f(inputs, params, cotangents, dtype)."""
    def run(inputs, params, cotangents, dtype):
        outputs, grads = fn(Request(name, inputs, params, cotangents, dtype, bug))
        return {"outputs": outputs, "gradients": grads}
    return run


def main():
    ap = argparse.ArgumentParser(description="gradspec bug zoo adapter (gradspec-adapter/1 over stdin/stdout)")
    ap.add_argument("--bug", default="none", help="none, or one of: " + ", ".join(BUGS))
    ap.add_argument("--list", action="store_true", help="list the bugs and exit")
    args = ap.parse_args()
    if args.list:
        for name, what in BUGS.items():
            print(f"{name:32s} {what}")
        return 0
    if args.bug != "none" and args.bug not in BUGS:
        print(f"zoo_adapter.py: unknown bug \"{args.bug}\" (none, {', '.join(BUGS)})", file=sys.stderr)
        return 2
    return serve("zoo", args.bug, DTYPES, {n: kit_op(n, f, args.bug) for n, f in HANDLERS.items()},
                 echo_dtype=False)


if __name__ == "__main__":
    sys.exit(main())
