#!/usr/bin/python3
"""Independent forward pass of every gradspec catalogue op (v1 and v2), in mpmath at mp.dps = 80.

Written from ../../shared/design/CONTRACT.md only (not from the C++ reference), as a cross-check.
Run with Debian's /usr/bin/python3 (python3-mpmath).

Tensors are (shape, values): shape a list of ints, values a flat row-major list of mpf (real
tensors) or ints (int64 tensors). The entry point is

    forward(op, params, inputs) -> {output name: (shape, values)}

with `inputs` a dict name -> (shape, values) and `params` the case's params (missing ones take the
contract's defaults). `differentiable_inputs(op, inputs)` and `differentiable_outputs(op)` say
which tensors carry gradients / cotangents: that is read from the catalogue, docs/ops.json (the
committed output of `gradspec ops --json`), not derived here.

Conventions (CONTRACT.md):
  * row-major, last axis = features, leading batch axes allowed where an op says "...";
  * linear: y = x·W + b, W [in, out];
  * attention: scores = q·kᵀ·scale + mask, softmax over keys, out = weights·v; masked_fill
    semantics: a key whose additive mask entry is -inf, or which causality hides (j > i), is
    excluded; a query row with no visible key gives a zero output row;
  * attention v2: causal with Tq <= Tk aligned bottom-right (row i at position Tk - Tq + i),
    sliding window (p - W < j <= p), softcap c·tanh(s/c) between the scale and the mask, lse output
    (log-sum-exp of the final scores, -inf for a fully masked row); grouped_query_attention: query
    head h reads key/value head floor(h / (Hq/Hkv));
  * multi-head: head h uses columns [h·C/H, (h+1)·C/H) of the projections, scale 1/sqrt(C/H),
    heads concatenated in order, then ·w_o + b_o;
  * LayerNorm: biased variance, eps inside the square root; RMSNorm x/sqrt(mean(x²)+eps)·gamma;
  * gelu "none": 0.5x(1+erf(x/√2)); "tanh": 0.5x(1+tanh(√(2/π)(x+0.044715x³)));
  * cross_entropy: PyTorch semantics (log_softmax, ignore_index, label_smoothing, reduction);
  * post-LN: h = LN1(x + SA(x)); y = LN2(h + FFN(h)); pre-LN: h = x + SA(LN1(x)); y = h + FFN(LN2(h));
    decoder: causal self-attention, cross-attention block with LN2, FFN block with LN3;
  * transformer: embed·sqrt(C) + PE, encoder layers, enc_norm, decoder layers reading the normed
    encoder output, dec_norm, logits = dec·out.w + out.b, loss = cross_entropy(logits, labels);
  * llama_block: a = RMSNorm(x), q/k/v = a·w_q/w_k/w_v in heads of D columns, q and k turned by RoPE
    (whole head, positions offset + t), causal grouped-query attention (window, softcap, 1/sqrt(D)),
    h = x + concat·w_o, y = h + gated FFN(RMSNorm(h)); llama: embed[ids], the blocks, RMSNorm,
    logits = ·lm_head or ·embedᵀ (tied), c·tanh(logits/c) with logit_softcap, mean cross-entropy.
"""
import json
import os

from mpmath import mp, mpf

mp.dps = 80

# The op catalogue: {op name: entry with "inputs"/"outputs" and their "differentiable"}.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "docs", "ops.json"),
          encoding="utf-8") as _fh:
    CATALOGUE = {op["name"]: op for op in json.load(_fh)["ops"]}

NEG_INF = mpf("-inf")

# ----------------------------------------------------------------------------- helpers


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def real(p, default=None):
    """A real-valued param: JSON number (read as text where possible) or decimal string."""
    if p is None:
        return default
    if isinstance(p, bool):
        raise ValueError("boolean where a real param was expected")
    return mpf(str(p))


def rows_of(values, n):
    return [values[i:i + n] for i in range(0, len(values), n)]


def flat(rows):
    return [v for r in rows for v in r]


def dot(a, b):
    s = mpf(0)
    for x, y in zip(a, b):
        s += x * y
    return s


def lin_rows(xrows, w, wshape, b):
    """rows of x·W + b, W [in, out] flat row-major."""
    i_dim, o_dim = wshape
    out = []
    for r in xrows:
        assert len(r) == i_dim, "linear: input width mismatch"
        y = [mpf(0) if b is None else b[j] for j in range(o_dim)]
        for i in range(i_dim):
            xi = r[i]
            if xi == 0:
                continue
            base = i * o_dim
            for j in range(o_dim):
                y[j] += xi * w[base + j]
        out.append(y)
    return out


def is_neg_inf(v):
    return mp.isinf(v) and v < 0


def softmax_list(xs):
    """Safe softmax of a list; an all -inf list gives zeros."""
    finite_or_pos = [x for x in xs if not is_neg_inf(x)]
    if not finite_or_pos:
        return [mpf(0)] * len(xs)
    m = max(finite_or_pos)
    es = [mpf(0) if is_neg_inf(x) else mp.exp(x - m) for x in xs]
    s = sum(es)
    return [e / s for e in es]


def log_softmax_list(xs):
    finite_or_pos = [x for x in xs if not is_neg_inf(x)]
    if not finite_or_pos:
        return [NEG_INF] * len(xs)
    m = max(finite_or_pos)
    s = sum(mpf(0) if is_neg_inf(x) else mp.exp(x - m) for x in xs)
    ls = mp.log(s)
    return [NEG_INF if is_neg_inf(x) else (x - m) - ls for x in xs]


def relu_s(x):
    return x if x > 0 else mpf(0)


_C_TANH = mpf("0.044715")


def gelu_s(x, approximate="none"):
    if approximate == "none":
        return x * (1 + mp.erf(x / mp.sqrt(2))) / 2
    if approximate == "tanh":
        k = mp.sqrt(2 / mp.pi)
        return x * (1 + mp.tanh(k * (x + _C_TANH * x ** 3))) / 2
    raise ValueError(f"gelu: unknown approximate {approximate!r}")


def silu_s(x):
    return x / (1 + mp.exp(-x))


def layer_norm_rows(rows, gamma, beta, eps, rec=None):
    out = []
    for r in rows:
        c = len(r)
        mean = sum(r) / c
        var = sum((v - mean) ** 2 for v in r) / c
        rstd = 1 / mp.sqrt(var + eps)
        if rec is not None:
            rec.setdefault("mean", []).append(mean)
            rec.setdefault("rstd", []).append(rstd)
        out.append([(r[i] - mean) * rstd * gamma[i] + beta[i] for i in range(c)])
    return out


def rms_norm_rows(rows, gamma, eps, rec=None):
    out = []
    for r in rows:
        c = len(r)
        ms = sum(v * v for v in r) / c
        rstd = 1 / mp.sqrt(ms + eps)
        if rec is not None:
            rec.setdefault("rstd", []).append(rstd)
        out.append([r[i] * rstd * gamma[i] for i in range(c)])
    return out


def attention_2d(q, k, v, mask=None, causal=False, scale=None, rec=None, window=None, softcap=None, lse=None):
    """q: Tq rows of D, k: Tk rows of D, v: Tk rows of Dv, mask: Tq rows of Tk (or None).
    rec (optional dict) receives "scores" (rows of Tk, -inf where a key is hidden) and "weights".

    Catalogue v2 (CONTRACT.md): with a KV cache the queries are the last Tq of Tk positions, so
    query row i sits at position p = Tk - Tq + i; causal lets it see key j iff j <= p (v1's j <= i
    when Tq == Tk), a sliding window of W keys (with causal) also needs j > p - W. softcap c maps
    the scaled score s to c·tanh(s/c) before the mask is added. lse (optional list) receives each
    row's log(sum_j exp(s_ij)) over the visible keys, -inf for a row without one."""
    tq, tk = len(q), len(k)
    dv = len(v[0]) if v else 0
    if causal and tq > tk:
        raise ValueError("causal attention needs Tq <= Tk")
    if window is not None and (not causal or window < 1):
        raise ValueError("window needs causal and W >= 1")
    if scale is None:
        scale = 1 / mp.sqrt(len(q[0]))
    out = []
    for i in range(tq):
        pos = tk - tq + i
        keys, scores = [], []
        srow = [NEG_INF] * tk
        for j in range(tk):
            if causal and j > pos:
                continue
            if window is not None and j <= pos - window:
                continue
            if mask is not None and is_neg_inf(mask[i][j]):
                continue  # masked_fill: key excluded, whatever q·k is
            s = dot(q[i], k[j]) * scale
            if softcap is not None:
                s = softcap * mp.tanh(s / softcap)
            if mask is not None:
                s = s + mask[i][j]
            keys.append(j)
            scores.append(s)
            srow[j] = s
        row = [mpf(0)] * dv
        wrow = [mpf(0)] * tk
        if keys:
            w = softmax_list(scores)
            for wj, j in zip(w, keys):
                wrow[j] = wj
                for c in range(dv):
                    row[c] += wj * v[j][c]
        if lse is not None:
            # at 80 digits exp of a score near 1e4 is an ordinary number: no shift needed here
            lse.append(mp.log(sum(mp.exp(x) for x in scores)) if keys else NEG_INF)
        out.append(row)
        if rec is not None:
            rec.setdefault("scores", []).extend(srow)
            rec.setdefault("weights", []).extend(wrow)
    return out


def mha_2d(x, mem, W, heads, causal=False, mask=None, prefix="", rec=None):
    """x: Tq rows of C, mem: Tk rows of C (self-attention when mem is x).
    rec (optional dict) receives "weights" ([H, Tq, Tk], heads outermost) and "concat"."""
    c = len(x[0])
    if c % heads:
        raise ValueError("multi_head_attention: C not divisible by heads")
    dh = c // heads
    cc = [c, c]
    q = lin_rows(x, W[prefix + "w_q"], cc, W[prefix + "b_q"])
    k = lin_rows(mem, W[prefix + "w_k"], cc, W[prefix + "b_k"])
    v = lin_rows(mem, W[prefix + "w_v"], cc, W[prefix + "b_v"])
    scale = 1 / mp.sqrt(dh)
    concat = [[None] * c for _ in x]
    for h in range(heads):
        lo, hi = h * dh, (h + 1) * dh
        hrec = {} if rec is not None else None
        o = attention_2d([r[lo:hi] for r in q], [r[lo:hi] for r in k], [r[lo:hi] for r in v],
                         mask=mask, causal=causal, scale=scale, rec=hrec)
        if rec is not None:
            rec.setdefault("weights", []).extend(hrec["weights"])
        for i, r in enumerate(o):
            concat[i][lo:hi] = r
    if rec is not None:
        rec.setdefault("concat", []).extend(flat(concat))
    return lin_rows(concat, W[prefix + "w_o"], cc, W[prefix + "b_o"])


ACTIVATIONS = {
    "relu": relu_s,
    "gelu": lambda x: gelu_s(x, "none"),
    "gelu_tanh": lambda x: gelu_s(x, "tanh"),
    "silu": silu_s,
}


def ffn_rows(x, W, prefix, activation, rec=None):
    act = ACTIVATIONS[activation]
    c = len(x[0])
    f = len(W[prefix + "b1"])
    h = lin_rows(x, W[prefix + "w1"], [c, f], W[prefix + "b1"])
    if rec is not None:
        rec.setdefault("pre_activation", []).extend(flat(h))
    h = [[act(v) for v in r] for r in h]
    if rec is not None:
        rec.setdefault("hidden", []).extend(flat(h))
    return lin_rows(h, W[prefix + "w2"], [f, c], W[prefix + "b2"])


def add_rows(a, b):
    return [[x + y for x, y in zip(ra, rb)] for ra, rb in zip(a, b)]


def encoder_layer_2d(x, W, prefix, heads, norm_first, eps, activation, causal=False, mask=None, rec=None):
    p = prefix
    ln1 = lambda r: layer_norm_rows(r, W[p + "ln1.gamma"], W[p + "ln1.beta"], eps)
    ln2 = lambda r: layer_norm_rows(r, W[p + "ln2.gamma"], W[p + "ln2.beta"], eps)
    sa = lambda r: mha_2d(r, r, W, heads, causal=causal, mask=mask, prefix=p + "attn.")
    ff = lambda r: ffn_rows(r, W, p + "ffn.", activation)
    if norm_first:
        h = add_rows(x, sa(ln1(x)))
    else:
        h = ln1(add_rows(x, sa(x)))
    if rec is not None:
        rec.setdefault("h", []).extend(flat(h))
    if norm_first:
        return add_rows(h, ff(ln2(h)))
    return ln2(add_rows(h, ff(h)))


def decoder_layer_2d(x, mem, W, prefix, heads, norm_first, eps, activation, rec=None):
    p = prefix
    ln = lambda n, r: layer_norm_rows(r, W[p + n + ".gamma"], W[p + n + ".beta"], eps)
    sa = lambda r: mha_2d(r, r, W, heads, causal=True, prefix=p + "self_attn.")
    ca = lambda r: mha_2d(r, mem, W, heads, causal=False, prefix=p + "cross_attn.")
    ff = lambda r: ffn_rows(r, W, p + "ffn.", activation)
    if norm_first:
        h1 = add_rows(x, sa(ln("ln1", x)))
        h2 = add_rows(h1, ca(ln("ln2", h1)))
        y = add_rows(h2, ff(ln("ln3", h2)))
    else:
        h1 = ln("ln1", add_rows(x, sa(x)))
        h2 = ln("ln2", add_rows(h1, ca(h1)))
        y = ln("ln3", add_rows(h2, ff(h2)))
    if rec is not None:
        rec.setdefault("h1", []).extend(flat(h1))
        rec.setdefault("h2", []).extend(flat(h2))
    return y


def pe_rows(length, d_model, base=mpf(10000), offset=0):
    out = []
    for r in range(length):
        pos = mpf(offset + r)
        row = []
        for c in range(d_model):
            i2 = c - (c % 2)  # 2i
            ang = pos / mp.power(base, mpf(i2) / d_model)
            row.append(mp.sin(ang) if c % 2 == 0 else mp.cos(ang))
        out.append(row)
    return out


def cross_entropy_rows(logit_rows, targets, reduction="mean", ignore_index=None, label_smoothing=mpf(0), rec=None):
    """Returns the list of per-row losses (reduction none) or a scalar; rec gets "log_probs"."""
    eps = label_smoothing
    losses, count = [], 0
    smooth_sum, nll_sum = mpf(0), mpf(0)
    for r, t in zip(logit_rows, targets):
        v = len(r)
        if rec is not None:
            rec.setdefault("log_probs", []).extend(log_softmax_list(r))
        ignored = ignore_index is not None and t == ignore_index
        if ignored:
            losses.append(mpf(0))
            continue
        if not (0 <= t < v):
            raise ValueError(f"cross_entropy: target {t} out of range [0, {v})")
        lp = log_softmax_list(r)
        nll = -lp[t]
        smooth = -sum(lp)
        count += 1
        nll_sum += nll
        smooth_sum += smooth
        losses.append((1 - eps) * nll + eps / v * smooth)
    if reduction == "none":
        return losses
    total = sum(losses) if losses else mpf(0)
    if reduction == "sum":
        return total
    if reduction == "mean":
        return total / count if count else mpf("nan")
    raise ValueError(f"cross_entropy: unknown reduction {reduction!r}")


# ----------------------------------------------------------------------------- ops


def op_linear(P, I, rec=None):
    xs, x = I["x"]
    ws, w = I["w"]
    _, b = I["b"]
    y = lin_rows(rows_of(x, ws[0]), w, ws, b)
    return {"y": (xs[:-1] + [ws[1]], flat(y))}


def op_embedding(P, I, rec=None):
    ids_s, ids = I["ids"]
    ts, table = I["table"]
    v, c = ts
    scale = P.get("scale", "none") or "none"
    s = mpf(1) if scale == "none" else mp.sqrt(c) if scale == "sqrt_d" else None
    if s is None:
        raise ValueError(f"embedding: unknown scale {scale!r}")
    out = []
    for i in ids:
        if not (0 <= i < v):
            raise ValueError("embedding: id out of range")
        out.extend(table[i * c + j] * s for j in range(c))
    return {"y": (list(ids_s) + [c], out)}


def op_positional_encoding(P, I, rec=None):
    length, d = int(P["length"]), int(P["d_model"])
    base = real(P.get("base"), mpf(10000))
    offset = int(P.get("offset", 0) or 0)
    return {"pe": ([length, d], flat(pe_rows(length, d, base, offset)))}


def _flatten_rowwise(fn):
    def op(P, I, rec=None):
        xs, x = I["x"]
        n = xs[-1] if xs else 1
        out = []
        for r in rows_of(x, n):
            out.extend(fn(r))
        return {"y": (list(xs), out)}
    return op


op_softmax = _flatten_rowwise(softmax_list)
op_log_softmax = _flatten_rowwise(log_softmax_list)


def op_relu(P, I, rec=None):
    xs, x = I["x"]
    return {"y": (list(xs), [relu_s(v) for v in x])}


def op_gelu(P, I, rec=None):
    xs, x = I["x"]
    a = P.get("approximate", "none") or "none"
    return {"y": (list(xs), [gelu_s(v, a) for v in x])}


def op_silu(P, I, rec=None):
    xs, x = I["x"]
    return {"y": (list(xs), [silu_s(v) for v in x])}


def op_layer_norm(P, I, rec=None):
    xs, x = I["x"]
    eps = real(P.get("eps"), mpf("1e-5"))
    y = layer_norm_rows(rows_of(x, xs[-1]), I["gamma"][1], I["beta"][1], eps, rec=rec)
    return {"y": (list(xs), flat(y))}


def op_rms_norm(P, I, rec=None):
    xs, x = I["x"]
    eps = real(P.get("eps"), mpf("1e-6"))
    offset = real(P.get("gamma_offset"), mpf(0))  # v2: Gemma's scale is 1 + gamma
    y = rms_norm_rows(rows_of(x, xs[-1]), [offset + g for g in I["gamma"][1]], eps, rec=rec)
    return {"y": (list(xs), flat(y))}


def _mask_rows(I):
    if "mask" not in I or I["mask"] is None:
        return None
    ms, m = I["mask"]
    return rows_of(m, ms[-1])


def _attention_params(P):
    """causal, scale, window, softcap, return_lse (v2 adds the last three)."""
    window = P.get("window")
    return dict(causal=bool(P.get("causal", False)), scale=real(P.get("scale"), None),
                window=None if window is None else int(window), softcap=real(P.get("softcap"), None)), \
        bool(P.get("return_lse", False))


def op_attention(P, I, rec=None):
    qs, q = I["q"]
    ks, k = I["k"]
    vs, v = I["v"]
    tq, d = qs[-2], qs[-1]
    tk, dv = ks[-2], vs[-1]
    nb = numel(qs[:-2])
    assert numel(ks[:-2]) == nb and numel(vs[:-2]) == nb, "attention: batch mismatch"
    opts, return_lse = _attention_params(P)
    mask = _mask_rows(I)
    out, lse = [], []
    for b in range(nb):
        qb = rows_of(q[b * tq * d:(b + 1) * tq * d], d)
        kb = rows_of(k[b * tk * d:(b + 1) * tk * d], d)
        vb = rows_of(v[b * tk * dv:(b + 1) * tk * dv], dv)
        out.extend(flat(attention_2d(qb, kb, vb, mask=mask, rec=rec, lse=lse, **opts)))
    res = {"out": (qs[:-1] + [dv], out)}
    if return_lse:
        res["lse"] = (qs[:-1], lse)
    return res


def op_grouped_query_attention(P, I, rec=None):
    """grouped_query_attention (v2): q [..., Hq, Tq, D], k [..., Hkv, Tk, D], v [..., Hkv, Tk, Dv];
    the Hq query heads fall into Hkv consecutive groups of G = Hq/Hkv, and every head of group g
    attends to key/value head g (multi-query when Hkv = 1). Per head, the attention of op_attention
    with the same params and the shared [Tq, Tk] mask."""
    qs, q = I["q"]
    ks, k = I["k"]
    vs, v = I["v"]
    hq, tq, d = qs[-3:]
    hkv, tk = ks[-3], ks[-2]
    dv = vs[-1]
    if qs[:-3] != ks[:-3] or qs[:-3] != vs[:-3] or vs[-3] != hkv or vs[-2] != tk or ks[-1] != d:
        raise ValueError("grouped_query_attention: shapes of q, k, v do not fit")
    if hkv < 1 or hq % hkv:
        raise ValueError("grouped_query_attention: Hq must be a multiple of Hkv")
    group = hq // hkv
    opts, return_lse = _attention_params(P)
    mask = _mask_rows(I)
    out, lse = [], []
    for b in range(numel(qs[:-3])):
        for h in range(hq):
            g = h // group  # the key/value head of query head h
            qo = (b * hq + h) * tq * d
            ko = (b * hkv + g) * tk * d
            vo = (b * hkv + g) * tk * dv
            o = attention_2d(rows_of(q[qo:qo + tq * d], d), rows_of(k[ko:ko + tk * d], d),
                             rows_of(v[vo:vo + tk * dv], dv), mask=mask, rec=rec, lse=lse, **opts)
            out.extend(flat(o))
    res = {"out": (qs[:-1] + [dv], out)}
    if return_lse:
        res["lse"] = (qs[:-1], lse)
    return res


def _weights(I):
    return {n: t[1] for n, t in I.items()}


def _per_batch_2d(shape, values):
    t, c = shape[-2], shape[-1]
    return [rows_of(values[b * t * c:(b + 1) * t * c], c) for b in range(numel(shape[:-2]))]


def op_multi_head_attention(P, I, rec=None):
    xs, x = I["x"]
    heads = int(P["heads"])
    causal = bool(P.get("causal", False))
    mask = _mask_rows(I)
    W = _weights(I)
    xb = _per_batch_2d(xs, x)
    mb = _per_batch_2d(*I["memory"]) if I.get("memory") is not None else xb
    out = []
    for xr, mr in zip(xb, mb):
        out.extend(flat(mha_2d(xr, mr, W, heads, causal=causal, mask=mask, rec=rec)))
    return {"y": (list(xs), out)}


def op_feed_forward(P, I, rec=None):
    xs, x = I["x"]
    act = P.get("activation", "relu") or "relu"
    y = ffn_rows(rows_of(x, xs[-1]), _weights(I), "", act, rec=rec)
    return {"y": (list(xs), flat(y))}


def op_cross_entropy(P, I, rec=None):
    ls, logits = I["logits"]
    ts, targets = I["targets"]
    reduction = P.get("reduction", "mean") or "mean"
    ignore_index = P.get("ignore_index")
    eps = real(P.get("label_smoothing"), mpf(0))
    res = cross_entropy_rows(rows_of(logits, ls[-1]), targets, reduction, ignore_index, eps, rec=rec)
    if reduction == "none":
        return {"loss": (list(ts), res)}
    return {"loss": ([], [res])}


def _common_layer_params(P):
    return (int(P["heads"]), bool(P.get("norm_first", False)), real(P.get("eps"), mpf("1e-5")),
            P.get("activation", "relu") or "relu")


def op_encoder_layer(P, I, rec=None):
    xs, x = I["x"]
    heads, norm_first, eps, act = _common_layer_params(P)
    causal = bool(P.get("causal", False))
    mask = _mask_rows(I)
    W = _weights(I)
    out = []
    for xr in _per_batch_2d(xs, x):
        out.extend(flat(encoder_layer_2d(xr, W, "", heads, norm_first, eps, act, causal=causal, mask=mask, rec=rec)))
    return {"y": (list(xs), out)}


def op_decoder_layer(P, I, rec=None):
    xs, x = I["x"]
    heads, norm_first, eps, act = _common_layer_params(P)
    W = _weights(I)
    out = []
    for xr, mr in zip(_per_batch_2d(xs, x), _per_batch_2d(*I["memory"])):
        out.extend(flat(decoder_layer_2d(xr, mr, W, "", heads, norm_first, eps, act, rec=rec)))
    return {"y": (list(xs), out)}


def op_transformer(P, I, rec=None):
    layers = int(P["layers"])
    heads, norm_first, eps, act = _common_layer_params(P)
    embed_scale = P.get("embed_scale", "sqrt_d") or "sqrt_d"
    ls = real(P.get("label_smoothing"), mpf(0))
    ignore_index = P.get("ignore_index")
    W = _weights(I)
    ss, src = I["src_ids"]
    ts, tgt = I["tgt_ids"]
    _, labels = I["labels"]
    c = I["src_embed"][0][1]
    if embed_scale == "sqrt_d":
        s = mp.sqrt(c)
    elif embed_scale == "none":
        s = mpf(1)
    else:
        raise ValueError(f"transformer: unknown embed_scale {embed_scale!r}")

    def embed(ids, table, t):
        pe = pe_rows(t, c)
        rows = []
        for p, i in enumerate(ids):
            rows.append([table[i * c + j] * s + pe[p % t][j] for j in range(c)])
        return rows

    S, T = ss[-1], ts[-1]
    nb = numel(ss[:-1])
    assert numel(ts[:-1]) == nb
    logits_all = []
    for b in range(nb):
        x = embed(src[b * S:(b + 1) * S], W["src_embed"], S)
        for l in range(layers):
            x = encoder_layer_2d(x, W, f"enc.{l}.", heads, norm_first, eps, act)
        mem = layer_norm_rows(x, W["enc_norm.gamma"], W["enc_norm.beta"], eps)
        if rec is not None:
            rec.setdefault("memory", []).extend(flat(mem))
        y = embed(tgt[b * T:(b + 1) * T], W["tgt_embed"], T)
        for l in range(layers):
            y = decoder_layer_2d(y, mem, W, f"dec.{l}.", heads, norm_first, eps, act)
        y = layer_norm_rows(y, W["dec_norm.gamma"], W["dec_norm.beta"], eps)
        logits_all.extend(lin_rows(y, W["out.w"], [c, I["out.w"][0][1]], W["out.b"]))
    v_out = I["out.w"][0][1]
    loss = cross_entropy_rows(logits_all, labels, "mean", ignore_index, ls)
    return {"loss": ([], [loss]), "logits": (list(ts) + [v_out], flat(logits_all))}


def op_rope(P, I, rec=None):
    """rope (v2): row t of the T axis at position p = offset + t; pair i (features (i, i + R/2) for
    style "half", (2i, 2i + 1) for "interleaved") read as the complex number a + ib and multiplied by
    exp(iθ), θ = p·base^(-2i/R) (RoFormer's complex form, Meta's view_as_complex); features from R
    on pass through."""
    xs, x = I["x"]
    T, D = xs[-2], xs[-1]
    R = D if P.get("rotary_dim") is None else int(P["rotary_dim"])
    if R % 2 or R > D or R < 0:
        raise ValueError("rope: rotary_dim must be even and <= D")
    base = real(P.get("base"), mpf(10000))
    offset = int(P.get("offset", 0) or 0)
    style = P.get("style", "half") or "half"
    out = list(x)
    for r in range(numel(xs) // D):
        p = offset + r % T
        for i in range(R // 2):
            ia, ib = (i, i + R // 2) if style == "half" else (2 * i, 2 * i + 1)
            z = mp.mpc(x[r * D + ia], x[r * D + ib]) * mp.expj(p * mp.power(base, mpf(-2 * i) / R))
            out[r * D + ia], out[r * D + ib] = z.real, z.imag
    return {"y": (list(xs), out)}


def gated_ffn_rows(rows, wg, wu, wd, c, f, act, rec=None):
    """(act(x·w_gate) ⊙ (x·w_up))·w_down for each row x of C; weights [in, out] flat row-major."""
    out = []
    for r in rows:
        gate = [dot(r, [wg[i * f + j] for i in range(c)]) for j in range(f)]
        up = [dot(r, [wu[i * f + j] for i in range(c)]) for j in range(f)]
        hidden = [act(g) * u for g, u in zip(gate, up)]
        if rec is not None:
            rec.setdefault("gate", []).extend(gate)
            rec.setdefault("up", []).extend(up)
            rec.setdefault("hidden", []).extend(hidden)
        out.append([dot(hidden, [wd[j * c + k] for j in range(f)]) for k in range(c)])
    return out


def op_gated_feed_forward(P, I, rec=None):
    """gated_feed_forward (v2): SwiGLU/GeGLU (Shazeer 2020), no biases, weights [in, out]:
    y = (act(x·w_gate) ⊙ (x·w_up))·w_down; act silu (default), gelu (erf) or gelu_tanh, applied to
    the gate only."""
    xs, x = I["x"]
    act = ACTIVATIONS[P.get("activation", "silu") or "silu"]
    c = xs[-1]
    gs, wg = I["w_gate"]
    y = gated_ffn_rows(rows_of(x, c), wg, I["w_up"][1], I["w_down"][1], c, gs[1], act, rec=rec)
    return {"y": (list(xs), flat(y))}


def rope_head(vec, p, base, style):
    """One head's features (all D of them) turned at position p: pair i ((i, i + D/2) for "half",
    (2i, 2i + 1) for "interleaved") read as a + ib and multiplied by exp(i·p·base^(-2i/D))."""
    d = len(vec)
    out = list(vec)
    for i in range(d // 2):
        ia, ib = (i, i + d // 2) if style == "half" else (2 * i, 2 * i + 1)
        z = mp.mpc(vec[ia], vec[ib]) * mp.expj(p * mp.power(base, mpf(-2 * i) / d))
        out[ia], out[ib] = z.real, z.imag
    return out


def llama_block_options(P, c):
    """The llama_block params of CONTRACT.md v2 with their defaults, for model width c."""
    hq = int(P["heads"])
    hkv = hq if P.get("kv_heads") is None else int(P["kv_heads"])
    if P.get("head_dim") is None:
        if c % hq:
            raise ValueError("llama_block: heads must divide C when head_dim is not given")
        d = c // hq
    else:
        d = int(P["head_dim"])
    if hkv < 1 or hq % hkv:
        raise ValueError("llama_block: heads must be a multiple of kv_heads")
    if d % 2:
        raise ValueError("llama_block: RoPE turns the whole head: head_dim must be even")
    window = P.get("window")
    if window is not None and int(window) < 1:
        raise ValueError("llama_block: window must be >= 1")
    return dict(hq=hq, hkv=hkv, d=d, base=real(P.get("rope_base"), mpf(10000)),
                style=P.get("rope_style", "half") or "half", eps=real(P.get("eps"), mpf("1e-6")),
                window=None if window is None else int(window), softcap=real(P.get("softcap"), None),
                act=ACTIVATIONS[P.get("activation", "silu") or "silu"], offset=int(P.get("offset", 0) or 0))


def llama_block_2d(x, W, prefix, o, rec=None):
    """One llama_block on x (T rows of C), weights W[prefix + name], options o (llama_block_options):
    a = RMSNorm(x); q, k, v = a·w_q, a·w_k, a·w_v split into heads of D columns; q and k turned by
    RoPE at positions offset + t; query head h attends causally (window, softcap, scale 1/sqrt(D))
    to key/value head h // (Hq/Hkv); h = x + concat·w_o; y = h + SwiGLU/GeGLU(RMSNorm(h)).
    rec receives q and k after RoPE ([Hq, T, D], [Hkv, T, D]), attn_out [T, Hq·D] and h [T, C]."""
    t_len, c = len(x), len(x[0])
    hq, hkv, d = o["hq"], o["hkv"], o["d"]
    a = rms_norm_rows(x, W[prefix + "attn_norm.gamma"], o["eps"])
    q = lin_rows(a, W[prefix + "attn.w_q"], [c, hq * d], None)
    k = lin_rows(a, W[prefix + "attn.w_k"], [c, hkv * d], None)
    v = lin_rows(a, W[prefix + "attn.w_v"], [c, hkv * d], None)

    def head(rows, h, turn):
        cols = [r[h * d:(h + 1) * d] for r in rows]
        return [rope_head(col, o["offset"] + t, o["base"], o["style"]) for t, col in enumerate(cols)] if turn else cols
    qh = [head(q, h, True) for h in range(hq)]
    kh = [head(k, g, True) for g in range(hkv)]
    vh = [head(v, g, False) for g in range(hkv)]
    group = hq // hkv
    outs = [attention_2d(qh[h], kh[h // group], vh[h // group], causal=True, scale=1 / mp.sqrt(d),
                         window=o["window"], softcap=o["softcap"]) for h in range(hq)]
    concat = [flat(outs[h][t] for h in range(hq)) for t in range(t_len)]
    hrows = add_rows(x, lin_rows(concat, W[prefix + "attn.w_o"], [hq * d, c], None))
    b = rms_norm_rows(hrows, W[prefix + "ffn_norm.gamma"], o["eps"])
    f = len(W[prefix + "ffn.w_gate"]) // c
    y = add_rows(hrows, gated_ffn_rows(b, W[prefix + "ffn.w_gate"], W[prefix + "ffn.w_up"], W[prefix + "ffn.w_down"],
                                       c, f, o["act"]))
    if rec is not None:
        rec.setdefault("q", []).extend(flat(flat(qh[h]) for h in range(hq)))
        rec.setdefault("k", []).extend(flat(flat(kh[g]) for g in range(hkv)))
        rec.setdefault("attn_out", []).extend(flat(concat))
        rec.setdefault("h", []).extend(flat(hrows))
    return y


def op_llama_block(P, I, rec=None):
    """llama_block (v2): the pre-norm decoder-only block of LLaMA/Mistral/Qwen, no biases, no cache."""
    xs, x = I["x"]
    o = llama_block_options(P, xs[-1])
    W = _weights(I)
    out = []
    for xr in _per_batch_2d(xs, x):
        out.extend(flat(llama_block_2d(xr, W, "", o, rec=rec)))
    return {"y": (list(xs), out)}


def op_llama(P, I, rec=None):
    """llama (v2): h = embed[ids]; `layers` llama_blocks (blocks.{i}.*); RMSNorm(norm.gamma);
    logits = h·lm_head, or h·embedᵀ when tie_embeddings (then lm_head must be absent); logits =
    c·tanh(logits/c) with logit_softcap c; loss = mean cross-entropy over every position of every
    batch axis whose label is not ignore_index. rec receives hidden (the final norm's output)."""
    ids_s, ids = I["ids"]
    _, labels = I["labels"]
    (v, c), embed = I["embed"]
    layers = int(P["layers"])
    tied = bool(P.get("tie_embeddings", False))
    if tied and I.get("lm_head") is not None:
        raise ValueError("llama: lm_head given with tie_embeddings")
    cap = real(P.get("logit_softcap"), None)
    o = llama_block_options(P, c)
    W = _weights(I)
    # the projection [C, V]: element (i, j) is embed[j, i] when tied
    proj = [embed[j * c + i] for i in range(c) for j in range(v)] if tied else W["lm_head"]
    t_len = ids_s[-1]
    logits_all = []
    for b in range(numel(ids_s[:-1])):
        h = [[embed[i * c + j] for j in range(c)] for i in ids[b * t_len:(b + 1) * t_len]]
        for layer in range(layers):
            h = llama_block_2d(h, W, f"blocks.{layer}.", o)
        hidden = rms_norm_rows(h, W["norm.gamma"], o["eps"])
        if rec is not None:
            rec.setdefault("hidden", []).extend(flat(hidden))
        lg = lin_rows(hidden, proj, [c, v], None)
        if cap is not None:
            lg = [[cap * mp.tanh(z / cap) for z in r] for r in lg]
        logits_all.extend(lg)
    loss = cross_entropy_rows(logits_all, labels, "mean", P.get("ignore_index"), mpf(0))
    return {"loss": ([], [loss]), "logits": (list(ids_s) + [v], flat(logits_all))}


OPS = {
    "linear": op_linear,
    "embedding": op_embedding,
    "positional_encoding": op_positional_encoding,
    "softmax": op_softmax,
    "log_softmax": op_log_softmax,
    "relu": op_relu,
    "gelu": op_gelu,
    "silu": op_silu,
    "layer_norm": op_layer_norm,
    "rms_norm": op_rms_norm,
    "attention": op_attention,
    "grouped_query_attention": op_grouped_query_attention,
    "multi_head_attention": op_multi_head_attention,
    "feed_forward": op_feed_forward,
    "cross_entropy": op_cross_entropy,
    "encoder_layer": op_encoder_layer,
    "decoder_layer": op_decoder_layer,
    "transformer": op_transformer,
    "rope": op_rope,
    "gated_feed_forward": op_gated_feed_forward,
    "llama_block": op_llama_block,
    "llama": op_llama,
}


def _catalogue_tensor(op, group, name):
    """The catalogue's entry for input or output `name` of `op`; the composite ops list their
    per-layer inputs for layer 0 (enc.0.attn.w_q describes enc.3.attn.w_q)."""
    layer0 = ".".join("0" if part.isdigit() else part for part in name.split("."))
    for spec in CATALOGUE[op][group]:
        if spec["name"] in (name, layer0):
            return spec
    raise KeyError(f"docs/ops.json: {op} has no {group[:-1]} {name!r}")


def forward(op, params, inputs, rec=None):
    """rec: an optional dict that receives the op's intermediates as flat row-major lists
    (layer_norm mean/rstd, rms_norm rstd, attention and grouped_query_attention scores/weights, multi_head_attention
    weights [.., H, Tq, Tk]/concat, feed_forward pre_activation/hidden,
    gated_feed_forward gate/up/hidden, cross_entropy log_probs, llama_block q/k (after RoPE)/attn_out/h,
    llama hidden,
    encoder_layer h, decoder_layer h1/h2, transformer memory = the normed encoder output)."""
    if op not in OPS:
        raise KeyError(f"unknown op {op!r}")
    return OPS[op](params or {}, inputs, rec=rec)


def differentiable_inputs(op, inputs, dtypes):
    """names of the real inputs that get a gradient; dtypes: name -> 'int64' or 'real'."""
    return [n for n in inputs if dtypes.get(n) != "int64" and _catalogue_tensor(op, "inputs", n)["differentiable"]]


def differentiable_outputs(op, outputs):
    return [n for n in outputs if _catalogue_tensor(op, "outputs", n)["differentiable"]]


if __name__ == "__main__":
    # tiny smoke test
    print(forward("softmax", {}, {"x": ([2, 2], [mpf(0), mpf(0), mpf(1), NEG_INF])}))
    print(forward("positional_encoding", {"length": 2, "d_model": 3}, {}))
