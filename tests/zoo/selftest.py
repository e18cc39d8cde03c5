#!/usr/bin/python3
"""Self-test of the bug zoo adapter (tests/zoo/zoo_adapter.py), talking to it as gradspec does.

    /usr/bin/python3 tests/zoo/selftest.py [-v]

1. Protocol: handshake, ids echoed, shapes of replies, errors answered (not crashed on).
2. Known values computed by hand (float64): linear, softmax, LayerNorm, gelu, silu, attention,
   cross-entropy, embedding, masking; llama_block with w_o = w_down = 0 is the identity, grouped-query
   equals multi-head on repeated kv columns, a tied llama equals the untied one with lm_head = embedᵀ.
3. Gradients of --bug none against central finite differences (float64, h = 1e-6, rtol 1e-5)
   for every op it lists, including masked, causal, cross and batched attention, the catalogue v2
   attention params (causal Tq < Tk, window, softcap, lse), grouped-query attention, llama_block
   and llama.
4. Every planted bug shows its symptom on a small probe where --bug none does not.
5. float32 requests come back with float32 values.

Prints one line per failure (and per check with -v), then "N passed, M failed"; exit 1 on failure.
"""

import json
import math
import os
import re
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ADAPTER = os.path.join(HERE, "zoo_adapter.py")
# The op catalogue (docs/ops.json, the committed output of `gradspec ops --json`): {op: entry}.
with open(os.path.join(HERE, os.pardir, os.pardir, "docs", "ops.json"), encoding="utf-8") as _fh:
    CATALOGUE = {op["name"]: op for op in json.load(_fh)["ops"]}
FD_CHECKED = set()  # the ops test_finite_differences covered


def differentiable(op, name):
    """Whether the catalogue gives input `name` of `op` a gradient (a composite's per-layer inputs,
    blocks.1.attn.w_q, as the catalogue's layer-0 entry)."""
    layer0 = re.sub(r"(?<=\.)[0-9]+(?=\.)", "0", name)
    return next(spec["differentiable"] for spec in CATALOGUE[op]["inputs"] if spec["name"] in (name, layer0))
VERBOSE = "-v" in sys.argv[1:]

passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
        if VERBOSE:
            print(f"ok    {what}")
    else:
        failed += 1
        print(f"FAIL  {what}")
    return cond


# ------------------------------------------------------------------------------------------------
# Talking to the adapter
# ------------------------------------------------------------------------------------------------

class Adapter:
    def __init__(self, bug):
        self.bug = bug
        self.proc = subprocess.Popen([sys.executable, ADAPTER, "--bug", bug], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.handshake = json.loads(self.proc.stdout.readline())
        self.n = 0

    def send_raw(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def ask(self, op, inputs, params=None, cotangents=None, dtype="float64", rid=None):
        self.n += 1
        rid = rid or f"{op}/{self.n}"
        msg = {"id": rid, "op": op, "params": params or {}, "inputs": {k: enc(v) for k, v in inputs.items()},
               "cotangents": {k: enc(v) for k, v in (cotangents or {}).items()}, "dtype": dtype}
        reply = self.send_raw(json.dumps(msg))
        if reply.get("id") != rid:
            raise RuntimeError(f"reply id {reply.get('id')!r} for request {rid!r}")
        return reply

    def close(self):
        self.proc.stdin.close()
        rc = self.proc.wait(timeout=10)
        return rc


class Ints:
    """An integer tensor for a request."""

    def __init__(self, values):
        self.a = np.asarray(values, dtype=np.int64)


def enc(v):
    if isinstance(v, Ints):
        return {"shape": list(v.a.shape), "dtype": "int64", "values": v.a.ravel().tolist()}
    a = np.asarray(v, dtype=np.float64)
    vals = []
    for x in a.ravel().tolist():
        vals.append(x if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")))
    return {"shape": list(a.shape), "values": vals}


def dec(t):
    vals = [float(x) for x in t["values"]]
    return np.array(vals, dtype=np.float64).reshape(t["shape"])


def outputs(reply):
    if "error" in reply:
        raise RuntimeError(f"adapter error: {reply['error']}")
    return {k: dec(v) for k, v in reply["outputs"].items()}


def gradients(reply):
    if "error" in reply:
        raise RuntimeError(f"adapter error: {reply['error']}")
    return {k: dec(v) for k, v in reply["gradients"].items()}


def close(a, b, tol=1e-12):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= tol * (1 + np.abs(b))))


# ------------------------------------------------------------------------------------------------
# 1. Protocol
# ------------------------------------------------------------------------------------------------

def test_protocol(ad):
    h = ad.handshake
    check(h.get("adapter") == "gradspec-adapter/1", "handshake: protocol gradspec-adapter/1")
    check(h.get("implementation") == {"name": "zoo", "version": "none"}, "handshake: implementation zoo / none")
    check(h.get("dtypes") == ["float64", "float32"], "handshake: dtypes float64, float32")
    check(set(h.get("ops", [])) <= set(CATALOGUE) and len(h.get("ops", [])) == 18,
          f"handshake: 18 ops of the catalogue: {h.get('ops')}")
    r = ad.send_raw("this is not json")
    check("error" in r, "garbage line: answered with an error")
    r = ad.ask("transformer", {}, rid="unsupported")
    check(r.get("id") == "unsupported" and "error" in r, "unsupported op: error with the request's id")
    r = ad.ask("linear", {"x": [[1.0, 2.0]], "w": [[1.0, 2.0]], "b": [0.0]}, rid="badshape")
    check("error" in r, "mismatched shapes: error, not a crash")
    r = ad.ask("linear", {"x": [1.0, 2.0], "w": [[1.0], [2.0]], "b": [0.0]}, dtype="float16", rid="baddtype")
    check("error" in r, "unsupported dtype: error")
    r = ad.ask("embedding", {"ids": Ints([7]), "table": np.zeros((3, 2))}, rid="badid")
    check("error" in r, "embedding id out of range: error")
    r = ad.ask("softmax", {"x": [["inf", 1.0]]}, rid="infinput")
    check("outputs" in r, "non-finite input: answered")
    r = ad.ask("linear", {"x": [[1.0, 2.0]], "w": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], "b": [0.5, 0.0, -1.0]},
               cotangents={"y": [[1.0, 1.0, 1.0]]}, rid="alive")
    check(r.get("id") == "alive" and "outputs" in r, "still answering after errors")
    check(set(r) == {"id", "outputs", "gradients"}, "reply keys: id, outputs, gradients")
    check(r["outputs"]["y"]["shape"] == [1, 3], "reply y shape [1, 3]")
    check(set(r["gradients"]) == {"x", "w", "b"} and r["gradients"]["w"]["shape"] == [2, 3],
          "linear gradients x, w [2, 3], b")
    r = ad.ask("softmax", {"x": [["-inf", "-inf"]]}, cotangents={"y": [[1.0, 2.0]]}, rid="deadrow")
    check(r["outputs"]["y"]["values"] == [0.0, 0.0] and r["gradients"]["x"]["values"] == [0.0, 0.0],
          "softmax of an all -inf row: zeros, zero gradient")
    r = ad.ask("cross_entropy", {"logits": [[0.0, 1.0], [2.0, 0.0]], "targets": Ints([0, 0])},
               params={"reduction": "mean", "ignore_index": 0}, cotangents={"loss": 1.0}, rid="allignored")
    check(r["outputs"]["loss"]["shape"] == [] and r["outputs"]["loss"]["values"] == ["nan"],
          "every target ignored, mean: loss \"nan\" (shape [])")
    check(all(v == 0 for v in r["gradients"]["logits"]["values"]), "every target ignored: zero gradient")


# ------------------------------------------------------------------------------------------------
# 2. Known values
# ------------------------------------------------------------------------------------------------

def test_known_values(ad):
    y = outputs(ad.ask("linear", {"x": [[1.0, 2.0]], "w": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], "b": [0.5, 0.0, -1.0]}))["y"]
    check(close(y, [[9.5, 12.0, 14.0]]), "linear [1,2]·[[1,2,3],[4,5,6]] + [0.5,0,-1] = [9.5,12,14]")
    r = ad.ask("linear", {"x": [[[1.0, 2.0]], [[3.0, 4.0]]], "w": [[1.0, 0.0], [0.0, 1.0]], "b": [0.0, 1.0]},
               cotangents={"y": [[[1.0, 0.0]], [[1.0, 0.0]]]})
    check(close(outputs(r)["y"], [[[1.0, 3.0]], [[3.0, 5.0]]]), "linear with a leading batch axis")
    check(close(gradients(r)["w"], [[4.0, 0.0], [6.0, 0.0]]) and close(gradients(r)["b"], [2.0, 0.0]),
          "linear dw = xᵀ·dy, db = sum dy over batch rows")

    x = np.array([[0.0, math.log(2.0)], [1.0, 1.0], [10000.0, 10001.0]])
    y = outputs(ad.ask("softmax", {"x": x}))["y"]
    check(close(y.sum(axis=-1), [1.0, 1.0, 1.0]), "softmax rows sum to 1")
    check(close(y[0], [1 / 3, 2 / 3]) and close(y[1], [0.5, 0.5]), "softmax([0, ln 2]) = [1/3, 2/3]")
    e = math.exp(1.0)
    check(close(y[2], [1 / (1 + e), e / (1 + e)]), "softmax of logits around 1e4: no overflow")
    y = outputs(ad.ask("log_softmax", {"x": [[0.0, 0.0, 0.0, 0.0]]}))["y"]
    check(close(y, [[-math.log(4.0)] * 4]), "log_softmax of zeros = -ln 4")

    y = outputs(ad.ask("layer_norm", {"x": [1.0, 2.0, 3.0, 4.0], "gamma": [1.0] * 4, "beta": [0.0] * 4}, {"eps": 0}))["y"]
    check(close(y, [-1.3416407864998738, -0.4472135954999579, 0.4472135954999579, 1.3416407864998738]),
          "layer_norm [1,2,3,4], eps 0 = [-1.3416, -0.4472, 0.4472, 1.3416]")
    y = outputs(ad.ask("layer_norm", {"x": [[80000.0, 80001.0, 80002.0, 80003.0]], "gamma": [1.0] * 4,
                                      "beta": [0.0] * 4}, {"eps": 0}, dtype="float32"))["y"]
    check(close(y, [[-1.3416407864998738, -0.4472135954999579, 0.4472135954999579, 1.3416407864998738]], 1e-6),
          "layer_norm [80000..80003] in float32: no cancellation")
    y = outputs(ad.ask("layer_norm", {"x": [1.0, -1.0], "gamma": [2.0, 2.0], "beta": [0.5, 0.5]}, {"eps": 0.5}))["y"]
    check(close(y, [0.5 + 2 / math.sqrt(1.5), 0.5 - 2 / math.sqrt(1.5)]), "layer_norm eps inside the root, biased")
    r = ad.ask("layer_norm", {"x": [3.0, 3.0, 3.0, 3.0], "gamma": [1.0, 0.5, 2.0, -1.0], "beta": [0.25, 0.0, -0.5, 1.0]},
               cotangents={"y": [1.0, 2.0, 3.0, 4.0]})
    check(close(outputs(r)["y"], [0.25, 0.0, -0.5, 1.0]) and bool(np.all(np.isfinite(gradients(r)["x"]))),
          "layer_norm constant row: output beta, finite gradient")
    y = outputs(ad.ask("rms_norm", {"x": [3.0, 4.0], "gamma": [1.0, 2.0]}, {"eps": 0}))["y"]
    check(close(y, [3 / math.sqrt(12.5), 8 / math.sqrt(12.5)]), "rms_norm [3, 4] = x / sqrt(12.5) · gamma")

    r = ad.ask("relu", {"x": [-1.0, 0.0, 2.0, -0.0]}, cotangents={"y": [1.0, 1.0, 1.0, 1.0]})
    check(close(outputs(r)["y"], [0.0, 0.0, 2.0, 0.0]) and close(gradients(r)["x"], [0.0, 0.0, 1.0, 0.0]),
          "relu and relu'(0) = 0")
    y = outputs(ad.ask("gelu", {"x": [1.0, -1.0]}, {"approximate": "none"}))["y"]
    check(close(y, [0.8413447460685429, -0.15865525393145707]), "gelu(±1), erf form")
    y = outputs(ad.ask("gelu", {"x": [1.0]}, {"approximate": "tanh"}))["y"]
    check(close(y, [0.8411919906082768]), "gelu(1), tanh form")
    y = outputs(ad.ask("silu", {"x": [1.0, -1000.0]}))["y"]
    check(close(y, [0.7310585786300049, 0.0]), "silu(1), silu(-1000)")

    v = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]])
    out = outputs(ad.ask("attention", {"q": np.zeros((2, 2)), "k": np.ones((3, 2)), "v": v}))["out"]
    check(close(out, [[3.0, 5.0], [3.0, 5.0]]), "attention with equal scores: mean of v")
    out = outputs(ad.ask("attention", {"q": np.zeros((2, 2)), "k": np.ones((2, 2)), "v": v[:2]}, {"causal": True}))["out"]
    check(close(out, [[1.0, 2.0], [2.0, 3.0]]), "causal attention: query 0 sees key 0 only (j <= i)")
    q = np.array([[1.0, 0.0]])
    k = np.array([[1.0, 0.0], [0.0, 0.0]])
    out = outputs(ad.ask("attention", {"q": q, "k": k, "v": [[1.0], [0.0]]}, {"scale": None}))["out"]
    w0 = 1 / (1 + math.exp(-1 / math.sqrt(2)))
    check(close(out, [[w0]]), "attention default scale 1/sqrt(D)")
    mask = [[0.0, "-inf", 0.0], ["-inf", "-inf", "-inf"]]
    kk = np.array([[0.0, 0.0], ["nan", "nan"], [0.0, 0.0]], dtype=float)
    vv = np.array([[1.0, 2.0], ["nan", 1e10], [3.0, 4.0]], dtype=float)
    r = ad.ask("attention", {"q": np.ones((2, 2)), "k": kk, "v": vv, "mask": mask}, cotangents={"out": np.ones((2, 2))})
    out, g = outputs(r)["out"], gradients(r)
    check(close(out, [[2.0, 3.0], [0.0, 0.0]]), "attention: NaN in a masked key/value ignored; fully masked row -> 0")
    check(all(bool(np.all(np.isfinite(t))) for t in g.values()), "attention: gradients finite with masked NaN")
    check(close(g["q"][1], [0.0, 0.0]) and close(g["v"][1], [0.0, 0.0]), "attention: fully masked row and masked key: zero grads")

    r = ad.ask("cross_entropy", {"logits": [[0.0, 0.0, 0.0, 0.0]], "targets": Ints([2])}, {"reduction": "mean"},
               cotangents={"loss": 1.0})
    check(close(outputs(r)["loss"], math.log(4.0)), "cross_entropy of uniform logits = ln 4")
    check(close(gradients(r)["logits"], [[0.25, 0.25, -0.75, 0.25]]), "cross_entropy gradient softmax - onehot")
    logits = [[0.0, 0.0], [0.0, math.log(3.0)], [5.0, 1.0]]
    r = ad.ask("cross_entropy", {"logits": logits, "targets": Ints([0, 1, 1])},
               {"reduction": "mean", "ignore_index": 1, "label_smoothing": 0.5}, cotangents={"loss": 1.0})
    # only row 0 counts: 0.5·ln 2 + 0.5·(ln 2) = ln 2
    check(close(outputs(r)["loss"], math.log(2.0)), "cross_entropy smoothing skips ignored rows (mean)")
    r = ad.ask("cross_entropy", {"logits": logits, "targets": Ints([0, 1, 0])}, {"reduction": "none"},
               cotangents={"loss": [1.0, 1.0, 1.0]})
    check(close(outputs(r)["loss"], [math.log(2.0), math.log(4 / 3), math.log(1 + math.exp(-4.0))]),
          "cross_entropy reduction none")

    r = ad.ask("embedding", {"ids": Ints([[1, 1], [0, 1]]), "table": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]},
               {"scale": "sqrt_d"}, cotangents={"y": np.ones((2, 2, 2))})
    s2 = math.sqrt(2.0)
    check(close(outputs(r)["y"][0, 0], [3 * s2, 4 * s2]), "embedding lookup scaled by sqrt(C)")
    check(close(gradients(r)["table"], [[s2, s2], [3 * s2, 3 * s2], [0.0, 0.0]]), "embedding grad adds repeated ids")

    x = np.arange(8.0).reshape(1, 2, 4) / 8
    ident = np.eye(4)
    zeros = np.zeros(4)
    base = {"x": x, "w_q": ident, "b_q": zeros, "w_k": ident, "b_k": zeros, "w_v": ident, "b_v": zeros,
            "w_o": ident, "b_o": zeros}
    y = outputs(ad.ask("multi_head_attention", base, {"heads": 2, "causal": True}))["y"]
    check(close(y[0, 0], x[0, 0]), "MHA causal with identity weights: query 0 returns its own value")
    y = outputs(ad.ask("multi_head_attention", dict(base, mask=[[0.0, 0.0], ["-inf", "-inf"]], b_o=[1.0, 2.0, 3.0, 4.0]),
                       {"heads": 2}))["y"]
    check(close(y[0, 1], [1.0, 2.0, 3.0, 4.0]), "MHA fully masked query row -> b_o")

    y = outputs(ad.ask("feed_forward", {"x": [[1.0, -1.0]], "w1": [[1.0, 0.0], [0.0, 1.0]], "b1": [0.0, 0.0],
                                        "w2": [[2.0], [3.0]], "b2": [0.5]}, {"activation": "relu"}))["y"]
    check(close(y, [[2.5]]), "feed_forward relu([1,-1])·[2,3] + 0.5 = 2.5")

    # llama_block with w_o = 0 and w_down = 0: both residual branches vanish, y = x and dx = dy exactly;
    # only w_o and w_down receive gradients
    rng = np.random.default_rng(5)
    blk = llama_block_inputs(rng, C=4, hq=2, hkv=1, d=2, F=3, lead=(2, 3))
    blk["attn.w_o"], blk["ffn.w_down"] = np.zeros((4, 4)), np.zeros((3, 4))
    dy = rng.uniform(-1, 1, (2, 3, 4))
    r = ad.ask("llama_block", blk, {"heads": 2, "kv_heads": 1, "window": 2, "softcap": 1.5}, cotangents={"y": dy})
    g = gradients(r)
    check(close(outputs(r)["y"], blk["x"], 0) and close(g["x"], dy, 0), "llama_block with w_o = w_down = 0: y = x, dx = dy exactly")
    check(all(not np.any(g[n]) for n in g if n not in ("x", "attn.w_o", "ffn.w_down"))
          and np.any(g["attn.w_o"]) and np.any(g["ffn.w_down"]), "llama_block with w_o = w_down = 0: only w_o, w_down get gradients")

    # grouped-query (2 query heads on 1 kv head) = multi-head with the kv columns repeated per head;
    # the GQA w_k, w_v gradients are the sums of the MHA ones over the group
    gqa = llama_block_inputs(rng, C=4, hq=2, hkv=1, d=2, F=3, lead=(3,))
    mha = dict(gqa, **{n: np.concatenate([gqa[n], gqa[n]], axis=1) for n in ("attn.w_k", "attn.w_v")})
    dy = rng.uniform(-1, 1, (3, 4))
    params = {"heads": 2, "rope_style": "interleaved", "offset": 7}
    rg = ad.ask("llama_block", gqa, dict(params, kv_heads=1), cotangents={"y": dy})
    rm = ad.ask("llama_block", mha, params, cotangents={"y": dy})
    gg, gm = gradients(rg), gradients(rm)
    check(close(outputs(rg)["y"], outputs(rm)["y"]) and close(gg["x"], gm["x"]), "llama_block GQA 2/1 = MHA on repeated kv columns")
    check(all(close(gg[n], gm[n][:, :2] + gm[n][:, 2:]) for n in ("attn.w_k", "attn.w_v")),
          "llama_block GQA dw_k, dw_v = MHA's summed over the group")

    # tied = untied with lm_head = embedᵀ; embed's tied gradient = untied embed's + lm_head's, transposed
    lm = llama_inputs(rng, V=5, C=4, hq=2, hkv=1, d=2, F=3, layers=1, ids=[[0, 3, 3], [1, 4, 2]], labels=[[3, -100, 0], [2, 2, 4]])
    tied = dict(lm)
    del tied["lm_head"]
    untied = dict(lm, lm_head=lm["embed"].T.copy())
    params = {"layers": 1, "heads": 2, "kv_heads": 1, "logit_softcap": 2, "ignore_index": -100}
    cot = {"loss": 1.5, "logits": rng.uniform(-1, 1, (2, 3, 5))}
    rt = ad.ask("llama", tied, dict(params, tie_embeddings=True), cotangents=cot)
    ru = ad.ask("llama", untied, params, cotangents=cot)
    gt, gu = gradients(rt), gradients(ru)
    check(close(outputs(rt)["loss"], outputs(ru)["loss"]) and close(outputs(rt)["logits"], outputs(ru)["logits"]),
          "llama tied = untied with lm_head = embedᵀ: loss, logits")
    check("lm_head" not in gt and close(gt["embed"], gu["embed"] + gu["lm_head"].T)
          and not close(gt["embed"], gu["embed"], 1e-3) and not close(gt["embed"], gu["lm_head"].T, 1e-3),
          "llama tied: dembed = lookup part + projection part (and differs from either)")


def llama_block_inputs(rng, C, hq, hkv, d, F, lead, prefix="", x=True):
    """Random inputs of llama_block (x [*lead, C] and the nine weights, names under `prefix`)."""
    u = lambda *s: rng.uniform(-1, 1, size=s)  # noqa: E731
    w = {"attn_norm.gamma": 1 + u(C) / 4, "attn.w_q": u(C, hq * d), "attn.w_k": u(C, hkv * d), "attn.w_v": u(C, hkv * d),
         "attn.w_o": u(hq * d, C) / 2, "ffn_norm.gamma": 1 + u(C) / 4, "ffn.w_gate": u(C, F), "ffn.w_up": u(C, F),
         "ffn.w_down": u(F, C) / 2}
    out = {prefix + n: t for n, t in w.items()}
    if x:
        out["x"] = u(*lead, C)
    return out


def llama_inputs(rng, V, C, hq, hkv, d, F, layers, ids, labels):
    """Random inputs of llama (untied: with lm_head)."""
    out = {"ids": Ints(ids), "labels": Ints(labels), "embed": rng.uniform(-1, 1, (V, C)),
           "norm.gamma": 1 + rng.uniform(-0.25, 0.25, C), "lm_head": rng.uniform(-1, 1, (C, V))}
    for i in range(layers):
        out.update(llama_block_inputs(rng, C, hq, hkv, d, F, None, prefix=f"blocks.{i}.", x=False))
    return out


# ------------------------------------------------------------------------------------------------
# 3. Finite differences (float64)
# ------------------------------------------------------------------------------------------------

H = 1e-6
RTOL = 1e-5


def fd_check(ad, name, op, params, inputs, rng):
    """Compares the adapter's VJP with central differences of L = sum_o <cot_o, o>."""
    base = ad.ask(op, inputs, params)
    outs = outputs(base)
    cots = {k: rng.uniform(-1, 1, size=v.shape) for k, v in outs.items()}
    grads = gradients(ad.ask(op, inputs, params, cots))

    def loss(inp):
        o = outputs(ad.ask(op, inp, params))
        return sum(float(np.sum(cots[k] * o[k])) for k in cots)

    FD_CHECKED.add(op)
    real = [k for k in inputs if differentiable(op, k)]
    ok = check(sorted(grads) == sorted(real), f"FD {name}: gradients for {sorted(real)}")
    worst = 0.0
    for k in real:
        x = np.asarray(inputs[k], dtype=np.float64)
        g = grads.get(k)
        if g is None or g.shape != x.shape:
            check(False, f"FD {name}: gradient {k} shape")
            ok = False
            continue
        fd = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            xp, xm = x.copy(), x.copy()
            xp[idx] += H
            xm[idx] -= H
            fd[idx] = (loss(dict(inputs, **{k: xp})) - loss(dict(inputs, **{k: xm}))) / (2 * H)
        err = np.abs(fd - g)
        allowed = RTOL * (np.abs(g) + np.max(np.abs(g)) * 1e-2) + 1e-9
        worst = max(worst, float(np.max(err / allowed)) if err.size else 0.0)
        if not np.all(err <= allowed):
            i = np.unravel_index(np.argmax(err - allowed), x.shape)
            check(False, f"FD {name}: d{k}{list(i)} adapter {g[i]:.10g} vs finite difference {fd[i]:.10g}")
            ok = False
    if ok:
        check(True, f"FD {name} (worst error {worst:.2g} of the allowed)")


def away_from_zero(rng, shape, lo=0.1, hi=1.5):
    return rng.uniform(lo, hi, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def test_finite_differences(ad):
    rng = np.random.default_rng(1234)
    u = lambda *s: rng.uniform(-1, 1, size=s)  # noqa: E731
    fd_check(ad, "linear [2,2,3]x[3,4]", "linear", {}, {"x": u(2, 2, 3), "w": u(3, 4), "b": u(4)}, rng)
    fd_check(ad, "linear 1-D x", "linear", {}, {"x": u(3), "w": u(3, 2), "b": u(2)}, rng)
    fd_check(ad, "embedding repeated ids, sqrt_d", "embedding", {"scale": "sqrt_d"},
             {"ids": Ints([[1, 3, 1], [0, 1, 3]]), "table": u(5, 4)}, rng)
    fd_check(ad, "softmax", "softmax", {}, {"x": u(2, 3, 5) * 3}, rng)
    fd_check(ad, "rope half, offset 3", "rope", {"offset": 3}, {"x": u(2, 3, 6)}, rng)
    fd_check(ad, "rope interleaved, partial", "rope", {"style": "interleaved", "rotary_dim": 4}, {"x": u(3, 8)}, rng)
    fd_check(ad, "log_softmax", "log_softmax", {}, {"x": u(2, 5) * 3}, rng)
    fd_check(ad, "relu", "relu", {}, {"x": away_from_zero(rng, (2, 5))}, rng)
    fd_check(ad, "gelu none", "gelu", {"approximate": "none"}, {"x": u(2, 6) * 4}, rng)
    fd_check(ad, "gelu tanh", "gelu", {"approximate": "tanh"}, {"x": u(2, 6) * 4}, rng)
    fd_check(ad, "silu", "silu", {}, {"x": u(2, 6) * 6}, rng)
    fd_check(ad, "layer_norm", "layer_norm", {"eps": 1e-5},
             {"x": u(2, 3, 6), "gamma": 1 + u(6) / 2, "beta": u(6)}, rng)
    fd_check(ad, "rms_norm gamma_offset 1", "rms_norm", {"gamma_offset": 1, "eps": 0.25}, {"x": u(2, 5), "gamma": u(5) / 4}, rng)
    fd_check(ad, "layer_norm eps 0.5", "layer_norm", {"eps": 0.5}, {"x": u(3, 2), "gamma": u(2), "beta": u(2)}, rng)
    fd_check(ad, "rms_norm", "rms_norm", {"eps": 1e-6}, {"x": u(2, 3, 5), "gamma": 1 + u(5) / 2}, rng)
    fd_check(ad, "attention plain", "attention", {}, {"q": u(3, 2), "k": u(3, 2), "v": u(3, 2)}, rng)
    fd_check(ad, "attention batched cross, custom scale", "attention", {"scale": 0.3},
             {"q": u(2, 3, 4), "k": u(2, 5, 4), "v": u(2, 5, 3)}, rng)
    fd_check(ad, "attention causal", "attention", {"causal": True}, {"q": u(4, 3), "k": u(4, 3), "v": u(4, 3)}, rng)
    mask = [[0.0, "-inf", -0.5, 0.0], ["-inf", "-inf", "-inf", "-inf"], [0.25, 0.0, "-inf", 0.0]]
    fd_check(ad, "attention mask with a fully masked row", "attention", {},
             {"q": u(2, 3, 2), "k": u(2, 4, 2), "v": u(2, 4, 2), "mask": mask}, rng)
    fd_check(ad, "attention v2: causal Tq 3 < Tk 5, window 2, softcap 1.5, lse, batch [2]", "attention",
             {"causal": True, "window": 2, "softcap": 1.5, "return_lse": True},
             {"q": u(2, 3, 4) * 2, "k": u(2, 5, 4) * 2, "v": u(2, 5, 3),
              "mask": [[0.0, 0.5, 0.0, "-inf", 0.0], [0.0, 0.0, -0.25, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0]]}, rng)
    fd_check(ad, "grouped_query_attention Hq 4, Hkv 2, causal decode Tq 2 < Tk 4, lse, batch [2]", "grouped_query_attention",
             {"causal": True, "return_lse": True}, {"q": u(2, 4, 2, 3), "k": u(2, 2, 4, 3), "v": u(2, 2, 4, 2)}, rng)
    fd_check(ad, "grouped_query_attention MQA, softcap 1, mask", "grouped_query_attention", {"softcap": 1.0, "scale": 2.0},
             {"q": u(4, 3, 2), "k": u(1, 3, 2), "v": u(1, 3, 2), "mask": [[0.0, "-inf", 0.5], [0.0, 0.0, 0.0], [-1.0, 0.0, "-inf"]]}, rng)

    def mha_inputs(C, memory=None):
        d = {"x": u(2, 3, C)}
        if memory:
            d["memory"] = u(2, memory, C)
        for w in ("w_q", "w_k", "w_v", "w_o"):
            d[w] = u(C, C) / math.sqrt(C)
        for b in ("b_q", "b_k", "b_v", "b_o"):
            d[b] = u(C) / 4
        return d

    fd_check(ad, "MHA self, 2 heads, causal", "multi_head_attention", {"heads": 2, "causal": True}, mha_inputs(4), rng)
    fd_check(ad, "MHA cross, 2 heads, mask", "multi_head_attention", {"heads": 2},
             dict(mha_inputs(4, memory=2), mask=[[0.0, "-inf"], [0.0, 0.0], ["-inf", "-inf"]]), rng)
    for red in ("mean", "sum", "none"):
        fd_check(ad, f"cross_entropy {red}, ignore_index, smoothing", "cross_entropy",
                 {"reduction": red, "ignore_index": 2, "label_smoothing": 0.1},
                 {"logits": u(5, 4) * 2, "targets": Ints([0, 2, 3, 1, 2])}, rng)
    fd_check(ad, "cross_entropy leading axis", "cross_entropy", {}, {"logits": u(2, 2, 3), "targets": Ints([[0, 2], [1, 1]])}, rng)
    for act in ("relu", "gelu", "gelu_tanh", "silu"):
        w1 = u(3, 5)
        fd_check(ad, f"feed_forward {act}", "feed_forward", {"activation": act},
                 {"x": u(2, 3), "w1": w1, "b1": u(5) / 4 + 0.05, "w2": u(5, 3), "b2": u(3)}, rng)
    for act in ("silu", "gelu", "gelu_tanh"):
        fd_check(ad, f"gated_feed_forward {act}", "gated_feed_forward", {"activation": act},
                 {"x": u(2, 2, 3), "w_gate": u(3, 5) * 2, "w_up": u(3, 5), "w_down": u(5, 3)}, rng)
    fd_check(ad, "llama_block GQA 2/1, window 2, softcap 1.5, interleaved, offset 5, batch [2]", "llama_block",
             {"heads": 2, "kv_heads": 1, "window": 2, "softcap": 1.5, "rope_style": "interleaved", "offset": 5},
             llama_block_inputs(rng, C=4, hq=2, hkv=1, d=2, F=3, lead=(2, 3)), rng)
    fd_check(ad, "llama_block head_dim 4 on C 4 with 2 heads, gelu_tanh, base 500000", "llama_block",
             {"heads": 2, "head_dim": 4, "activation": "gelu_tanh", "rope_base": 500000},
             llama_block_inputs(rng, C=4, hq=2, hkv=2, d=4, F=2, lead=(3,)), rng)
    lm = llama_inputs(rng, V=5, C=4, hq=2, hkv=1, d=2, F=2, layers=1, ids=[[0, 3, 3], [1, 4, 2]], labels=[[3, -100, 0], [2, 2, 4]])
    del lm["lm_head"]
    fd_check(ad, "llama tied, logit_softcap 2, ignore_index, batch [2]", "llama",
             {"layers": 1, "heads": 2, "kv_heads": 1, "tie_embeddings": True, "logit_softcap": 2, "ignore_index": -100}, lm, rng)
    fd_check(ad, "llama 2 blocks, untied, window 2, gelu", "llama", {"layers": 2, "heads": 2, "window": 2, "activation": "gelu"},
             llama_inputs(rng, V=4, C=4, hq=2, hkv=2, d=2, F=2, layers=2, ids=[2, 0, 2, 3], labels=[0, 3, 1, 2]), rng)


# ------------------------------------------------------------------------------------------------
# 4. Every bug shows its symptom
# ------------------------------------------------------------------------------------------------

def _mha_probe():
    rng = np.random.default_rng(7)
    d = {"x": rng.uniform(-1, 1, (3, 4))}
    for w in ("w_q", "w_k", "w_v", "w_o"):
        d[w] = rng.uniform(-1, 1, (4, 4))
    for b in ("b_q", "b_k", "b_v", "b_o"):
        d[b] = rng.uniform(-0.25, 0.25, 4)
    return d


ATT = {"q": [[1.0, 0.5, -0.5, 0.25], [0.0, 1.0, 0.5, -1.0]], "k": [[0.5, 1.0, 0.0, 0.25], [-1.0, 0.5, 1.0, 0.0]],
       "v": [[1.0, 2.0], [3.0, -1.0]]}
ATT_COT = {"out": [[1.0, -0.5], [0.25, 1.0]]}
LN1234 = {"x": [1.0, 2.0, 3.0, 4.0], "gamma": [1.0] * 4, "beta": [0.0] * 4}

# bug -> (op, inputs, params, cotangents, dtype, what to look at, symptom(none_value, bug_value) -> bool)
def _llama_probe(embed, tied, **extra):
    """llama, one block made the identity (w_o = w_down = 0: no residual branch), C = 2, one head,
    eps 0, every gamma 1: hidden = embed[ids] / rms. ids = [0]."""
    d = {"ids": Ints([0]), "labels": Ints([0]), "embed": embed, "norm.gamma": [1.0, 1.0],
         "blocks.0.attn_norm.gamma": [1.0, 1.0], "blocks.0.attn.w_q": np.eye(2), "blocks.0.attn.w_k": np.eye(2),
         "blocks.0.attn.w_v": np.eye(2), "blocks.0.attn.w_o": np.zeros((2, 2)), "blocks.0.ffn_norm.gamma": [1.0, 1.0],
         "blocks.0.ffn.w_gate": [[1.0], [1.0]], "blocks.0.ffn.w_up": [[1.0], [-1.0]], "blocks.0.ffn.w_down": [[0.0, 0.0]]}
    if not tied:
        d["lm_head"] = extra["lm_head"]
    return d


PROBES = {
    "softmax_overflow": ("softmax", {"x": [[10000.0, 10001.0]]}, {}, {}, "float64", "outputs.y",
                         lambda good, bad: np.all(np.isfinite(good)) and np.any(np.isnan(bad))),
    "one_pass_variance": ("layer_norm", {"x": [[80000.0, 80001.0, 80002.0, 80003.0]], "gamma": [1.0] * 4,
                                         "beta": [0.0] * 4}, {"eps": 1e-5}, {}, "float32", "outputs.y",
                          lambda good, bad: np.max(np.abs(good - bad)) > 1e-2),
    "unbiased_variance": ("layer_norm", LN1234, {"eps": 0}, {}, "float64", "outputs.y",
                          lambda good, bad: close(bad, good * math.sqrt(3 / 4))),
    "eps_outside_sqrt": ("layer_norm", {"x": [1.0, -1.0], "gamma": [1.0, 1.0], "beta": [0.0, 0.0]}, {"eps": 0.5}, {},
                         "float64", "outputs.y", lambda good, bad: close(bad, [1 / 1.5, -1 / 1.5])),
    "causal_off_by_one": ("attention", ATT, {"causal": True}, ATT_COT, "float64", "outputs.out",
                          lambda good, bad: close(bad[0], [0.0, 0.0]) and close(good[0], [1.0, 2.0])),
    "scale_1_over_d": ("attention", ATT, {"scale": None}, ATT_COT, "float64", "outputs.out",
                       lambda good, bad: not close(good, bad, 1e-6)),
    "nan_fully_masked": ("attention", dict(ATT, mask=[[0.0, 0.0], ["-inf", "-inf"]]), {}, ATT_COT, "float64",
                         "gradients.q", lambda good, bad: np.all(np.isfinite(good)) and np.any(np.isnan(bad))),
    "gelu_tanh_for_erf": ("gelu", {"x": [1.0, 2.0]}, {"approximate": "none"}, {}, "float64", "outputs.y",
                          lambda good, bad: close(bad, [0.8411919906082768, 1.9545976940871754], 1e-9)),
    "label_smoothing_counts_ignored": ("cross_entropy", {"logits": [[0.0, 1.0, 2.0], [2.0, 0.0, -1.0]], "targets": Ints([0, 1])},
                                       {"ignore_index": 1, "label_smoothing": 0.3, "reduction": "sum"}, {"loss": 1.0},
                                       "float64", "outputs.loss", lambda good, bad: bad > good + 0.1),
    "relu_grad_at_zero_one": ("relu", {"x": [0.0, -1.0, 1.0]}, {}, {"y": [1.0, 1.0, 1.0]}, "float64", "gradients.x",
                              lambda good, bad: close(good, [0.0, 0.0, 1.0]) and close(bad, [1.0, 0.0, 1.0])),
    "embedding_grad_overwrite": ("embedding", {"ids": Ints([1, 1, 0]), "table": [[0.0], [0.0]]}, {},
                                 {"y": [[1.0], [2.0], [5.0]]}, "float64", "gradients.table",
                                 lambda good, bad: close(good, [[5.0], [3.0]]) and close(bad, [[5.0], [2.0]])),
    "softmax_backward_missing_term": ("softmax", {"x": [[0.0, 0.0]]}, {}, {"y": [[1.0, 1.0]]}, "float64", "gradients.x",
                                      lambda good, bad: close(good, [[0.0, 0.0]]) and close(bad, [[0.5, 0.5]])),
    "interleaved_heads": ("multi_head_attention", _mha_probe(), {"heads": 2}, {}, "float64", "outputs.y",
                          lambda good, bad: not close(good, bad, 1e-6)),
    "bf16_matmul_in_fp32": ("linear", {"x": [[1.0 + 2.0 ** -12]], "w": [[1.0]], "b": [0.0]}, {}, {}, "float32", "outputs.y",
                            lambda good, bad: close(good, [[1.0 + 2.0 ** -12]]) and close(bad, [[1.0]])),
    "mask_after_softmax": ("attention", ATT, {"causal": True}, ATT_COT, "float64", "outputs.out",
                           lambda good, bad: close(good[0], [1.0, 2.0]) and bad[0, 0] < 0.9),
    # pair 1 of D = 4 at position 10^6 + 3: θ = p·10000^(-1/2) = 10000.03 rad; in float32 (ulp 2^-10 at
    # 10^4) the product is off by 7e-4 rad (at exactly 10^6 the roundings happen to cancel)
    "rope_float32_angles": ("rope", {"x": [[0.0, 1.0, 0.0, 0.0]]}, {"offset": 1000003}, {}, "float64", "outputs.y",
                            lambda good, bad: close(good, [[0, math.cos(10000.03), 0, math.sin(10000.03)]], 1e-9)
                            and not close(good, bad, 1e-4)),
    # position 1, D = 4: interleaved turns (x0, x1) by 1 rad; halves would turn (x0, x2)
    "rope_style_swapped": ("rope", {"x": [[0.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]}, {"style": "interleaved"}, {}, "float64",
                           "outputs.y", lambda good, bad: close(good[1], [math.cos(1), math.sin(1), 0, 0]) and close(bad[1], [math.cos(1), 0, math.sin(1), 0])),
    # R = 4 of D = 8 at position 1: pair 1 turns by 10000^(-2/4) = 0.01 rad, not 10000^(-2/8) = 0.1
    # gamma_offset 1, gamma 0: y = x·rstd; without the offset y = 0
    "rms_norm_without_offset": ("rms_norm", {"x": [[3.0, 4.0]], "gamma": [0.0, 0.0]}, {"gamma_offset": 1, "eps": 0}, {}, "float64",
                                "outputs.y", lambda good, bad: close(good, [[3 / math.sqrt(12.5), 4 / math.sqrt(12.5)]]) and close(bad, [[0.0, 0.0]])),
    "rope_frequencies_over_d": ("rope", {"x": [[0.0] * 8, [0.0, 1.0] + [0.0] * 6]}, {"rotary_dim": 4}, {}, "float64", "outputs.y",
                                lambda good, bad: close(good[1][1], math.cos(0.01)) and close(bad[1][1], math.cos(0.1))),
    # x = 1, w_gate = 2, w_up = 1, w_down = 1: silu(2)·1 = 2σ(2), not silu(1)·2 = 2σ(1)
    "glu_gate_up_swapped": ("gated_feed_forward", {"x": [[1.0]], "w_gate": [[2.0]], "w_up": [[1.0]], "w_down": [[1.0]]}, {}, {},
                            "float64", "outputs.y", lambda good, bad: close(good, [[2 / (1 + math.exp(-2))]])
                            and close(bad, [[2 / (1 + math.exp(-1))]])),
    # Hq 4, Hkv 2, q = k = 0 (uniform weights), kv head 0 holds 1s, kv head 1 2s: heads 0, 1 read kv 0
    # and give 1, heads 2, 3 give 2; h % 2 gives 1, 2, 1, 2
    "gqa_head_modulo": ("grouped_query_attention", {"q": np.zeros((4, 1, 1)), "k": np.zeros((2, 2, 1)), "v": [[[1.0], [1.0]], [[2.0], [2.0]]]},
                        {}, {}, "float64", "outputs.out", lambda good, bad: close(good.ravel(), [1, 1, 2, 2]) and close(bad.ravel(), [1, 2, 1, 2])),
    # the same with dout = 1: each of the 2 heads of a group puts weight 1/2 on each key: dv = 1 summed, 1/2 from one head
    "gqa_dkv_not_summed": ("grouped_query_attention", {"q": np.zeros((4, 1, 1)), "k": np.zeros((2, 2, 1)), "v": [[[1.0], [1.0]], [[2.0], [2.0]]]},
                           {}, {"out": np.ones((4, 1, 1))}, "float64", "gradients.v",
                           lambda good, bad: close(good.ravel(), [1, 1, 1, 1]) and close(bad.ravel(), [0.5] * 4)),
    # one decode step (Tq 1 of Tk 3), q = k = 0: bottom-right it sees all 3 keys (mean 3), top-left only key 0
    "causal_top_left": ("attention", {"q": [[0.0]], "k": [[0.0], [0.0], [0.0]], "v": [[1.0], [2.0], [6.0]]}, {"causal": True}, {},
                        "float64", "outputs.out", lambda good, bad: close(good, [[3.0]]) and close(bad, [[1.0]])),
    # window 1: each query sees only itself (out = v); W + 1 keys average two
    "window_off_by_one": ("attention", {"q": np.zeros((3, 1)), "k": np.zeros((3, 1)), "v": [[1.0], [2.0], [6.0]]},
                          {"causal": True, "window": 1}, {}, "float64", "outputs.out",
                          lambda good, bad: close(good.ravel(), [1, 2, 6]) and close(bad.ravel(), [1, 1.5, 4])),
    # key 1 masked, softcap 1: capping -inf gives -1, so key 1 gets weight e^-1 / (e^tanh(1) + e^-1)
    "softcap_after_mask": ("attention", {"q": [[1.0]], "k": [[1.0], [1.0]], "v": [[0.0], [1.0]], "mask": [[0.0, "-inf"]]},
                           {"softcap": 1, "scale": 1}, {}, "float64", "outputs.out",
                           lambda good, bad: close(good, [[0.0]]) and close(bad, [[math.exp(-1) / (math.exp(math.tanh(1)) + math.exp(-1))]])),
    # scores 10000 and 9900: exp(10000) overflows float64 without the shift
    "lse_without_max_shift": ("attention", {"q": [[100.0]], "k": [[100.0], [99.0]], "v": [[1.0], [2.0]]}, {"scale": 1, "return_lse": True},
                              {}, "float64", "outputs.lse", lambda good, bad: close(good, [10000.0]) and np.all(np.isinf(bad))),
    # tied, embed rows [3, 4], [1, 0], [0, 1], ids [0]: hidden = [3, 4]/√12.5; the logits cotangent
    # [0, 1, 0] gives the projection part Gᵀ·hidden = hidden on row 1 (id 1 is never looked up, so its
    # lookup part is 0): row 1 of the gradient is hidden, and 0 with the projection part dropped
    "tied_embeddings_grad": ("llama", _llama_probe([[3.0, 4.0], [1.0, 0.0], [0.0, 1.0]], True),
                             {"layers": 1, "heads": 1, "eps": 0, "tie_embeddings": True}, {"logits": [[0.0, 1.0, 0.0]]},
                             "float64", "gradients.embed",
                             lambda good, bad: close(good[1], [3 / math.sqrt(12.5), 4 / math.sqrt(12.5)]) and close(bad[1], [0.0, 0.0])
                             and close(good[0], bad[0])),
    # untied, embed row [1, 1]: hidden = [1, 1], lm_head columns give raw logits [1, 0, 3]; logit_softcap 1: tanh of them
    "llama_logit_softcap_missing": ("llama", _llama_probe([[1.0, 1.0], [5.0, 5.0], [7.0, 7.0]], False, lm_head=[[1.0, 0.0, 2.0], [0.0, 0.0, 1.0]]),
                                    {"layers": 1, "heads": 1, "eps": 0, "logit_softcap": 1}, {}, "float64", "outputs.logits",
                                    lambda good, bad: close(good, [[math.tanh(1), 0.0, math.tanh(3)]]) and close(bad, [[1.0, 0.0, 3.0]])),
}


def pick(reply, what):
    group, name = what.split(".")
    return (outputs if group == "outputs" else gradients)(reply)[name]


def test_bugs():
    good = Adapter("none")
    for bug, (op, inputs, params, cots, dtype, what, symptom) in PROBES.items():
        ad = Adapter(bug)
        try:
            check(ad.handshake.get("implementation") == {"name": "zoo", "version": bug}, f"bug {bug}: handshake version")
            g = pick(good.ask(op, inputs, params, cots, dtype), what)
            b = pick(ad.ask(op, inputs, params, cots, dtype), what)
            with np.errstate(all="ignore"):
                check(bool(symptom(g, b)), f"bug {bug}: symptom on {op} ({what}): none {g.ravel()[:4]}, bug {b.ravel()[:4]}")
            if bug == "bf16_matmul_in_fp32":
                b64 = pick(ad.ask(op, inputs, params, cots, "float64"), what)
                check(close(b64, [[1.0 + 2.0 ** -12]]), "bug bf16_matmul_in_fp32: float64 unaffected")
        except Exception as e:  # noqa: BLE001
            check(False, f"bug {bug}: {type(e).__name__}: {e}")
        finally:
            check(ad.close() == 0, f"bug {bug}: exits 0 on EOF")
    good.close()
    bad = subprocess.run([sys.executable, ADAPTER, "--bug", "no_such_bug"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    check(bad.returncode == 2, "unknown --bug: exit 2")


# ------------------------------------------------------------------------------------------------
# 5. float32
# ------------------------------------------------------------------------------------------------

def test_float32(ad):
    r = ad.ask("softmax", {"x": [[0.0, 1.0, 2.0]]}, cotangents={"y": [[1.0, 0.0, 0.0]]}, dtype="float32")
    y = outputs(r)["y"]
    check(bool(np.all(y.astype(np.float32).astype(np.float64) == y)), "float32: outputs are float32 values")
    g = gradients(r)["x"]
    check(bool(np.all(g.astype(np.float32).astype(np.float64) == g)), "float32: gradients are float32 values")
    e = np.exp([0.0, 1.0, 2.0])
    check(close(y, [e / e.sum()], 1e-6), "float32 softmax within float32 accuracy")


def main():
    ad = Adapter("none")
    for test in (test_protocol, test_known_values, test_finite_differences, test_float32):
        try:
            test(ad)
        except Exception as e:  # noqa: BLE001
            check(False, f"{test.__name__}: {type(e).__name__}: {e}")
            ad.proc.kill()
            ad = Adapter("none")
    check(FD_CHECKED == set(ad.handshake.get("ops", [])),
          f"every op of the handshake is checked by finite differences (unchecked: "
          f"{sorted(set(ad.handshake.get('ops', [])) - FD_CHECKED)})")
    check(ad.close() == 0, "adapter exits 0 when stdin closes")
    test_bugs()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
