#!/usr/bin/python3
"""Self-test of the PyTorch adapter: runs gradspec_torch_adapter.py as a subprocess and talks the
adapter protocol to it, the way `gradspec run` does.

Checks the handshake; that every op of the catalogue (docs/ops.json) answers in float64 (and a few
in float32 and bfloat16) with parseable replies of the right names and shapes; known values worked out by hand
below; that the module-based ops (encoder_layer, decoder_layer, transformer) agree with the
adapter's own primitives composed step by step (this catches a wrong transpose or q/k/v packing),
and grouped_query_attention its attention on repeated key/value heads (llama_block likewise on
repeated w_k, w_v columns; tied llama equals untied with lm_head = embedᵀ); every gradient of attention
(v2 params), grouped_query_attention, multi_head_attention, encoder_layer, decoder_layer, transformer,
llama_block and llama against
central differences of the adapter's own forward (catches a wrong mapping of the parameters'
gradients back to our names); that fully masked attention rows show PyTorch 1.13's own NaN (the
adapter repairs nothing); and that malformed requests get an error reply while the adapter keeps going.

It does not judge PyTorch's accuracy (that is gradspec's job against golden cases); where PyTorch
makes a choice the contract also makes (relu'(0)), it records what PyTorch gives without asserting.

Runs with any Python 3 (it needs no torch itself). Last line: "N passed, M failed"; exit status 1
on any failure.
"""

import json
import math
import os
import random
import signal
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ADAPTER = os.path.join(HERE, "gradspec_torch_adapter.py")
# The op catalogue (docs/ops.json, the committed output of `gradspec ops --json`): {op: entry}.
with open(os.path.join(HERE, os.pardir, os.pardir, "docs", "ops.json"), encoding="utf-8") as _fh:
    CATALOGUE = {op["name"]: op for op in json.load(_fh)["ops"]}


def differentiable(op, name):
    """Whether the catalogue gives input `name` of `op` a gradient (per-layer names as layer 0's)."""
    layer0 = ".".join("0" if part.isdigit() else part for part in name.split("."))
    for spec in CATALOGUE[op]["inputs"]:
        if spec["name"] in (name, layer0):
            return spec["differentiable"]
    raise KeyError(f"{op} has no input {name} in docs/ops.json")

passed, failed = 0, 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name}" + (f": {detail}" if detail else ""))
    return ok


def note(text):
    print(f"note: {text}")


# ---------------------------------------------------------------- the adapter process

class Adapter:
    """The adapter as a subprocess: one request line in, one reply line out."""

    def __init__(self, env_extra=None):
        env = dict(os.environ, **(env_extra or {}))
        cmd = [ADAPTER] if os.access(ADAPTER, os.X_OK) else ["/usr/bin/python3", ADAPTER]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.handshake = self._read()
        self.counter = 0

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("adapter closed its stdout")
        return json.loads(line)

    def raw(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self._read()

    def call(self, op, inputs, params=None, cotangents=None, dtype="float64"):
        self.counter += 1
        req = {"id": f"{op}/{self.counter}", "op": op, "params": params or {}, "inputs": inputs,
               "cotangents": cotangents or {}, "dtype": dtype}
        reply = self.raw(json.dumps(req))
        if reply.get("id") != req["id"]:
            raise RuntimeError(f"reply id {reply.get('id')!r} for request {req['id']!r}")
        return reply

    def close(self):
        self.proc.stdin.close()
        return self.proc.wait(timeout=30)


# ---------------------------------------------------------------- tensors as {"shape", "values"}

def T(shape, values):
    assert len(values) == math.prod(shape), (shape, len(values))
    return {"shape": list(shape), "values": list(values)}


def I(shape, values):
    return dict(T(shape, values), dtype="int64")


def grid(shape, rng, lo=-48, hi=48, den=32):
    """Random values k/den: exact in bfloat16, float32 and float64."""
    return T(shape, [rng.randint(lo, hi) / den for _ in range(math.prod(shape))])


def num(v):
    return float(v)  # "inf"/"-inf"/"nan" strings included


def vals(t):
    return [num(v) for v in t["values"]]


def close(a, b, tol):
    return all(abs(x - y) <= tol * max(1.0, abs(y)) for x, y in zip(a, b)) and len(a) == len(b)


def add(a, b):
    return T(a["shape"], [x + y for x, y in zip(vals(a), vals(b))])


def dot(a, b):
    return sum(x * y for x, y in zip(vals(a), vals(b)))


def all_finite(t):
    return all(math.isfinite(x) for x in vals(t))


def all_nan(xs):
    return bool(xs) and all(math.isnan(x) for x in xs)


def close_nan(a, b, tol):
    """close(), with NaN matching NaN in the same position."""
    if len(a) != len(b) or any(math.isnan(x) != math.isnan(y) for x, y in zip(a, b)):
        return False
    return close([x for x in a if not math.isnan(x)], [y for y in b if not math.isnan(y)], tol)


def tensor_ok(t, shape=None):
    """A well-formed reply tensor: shape, values count, numbers or the three non-finite strings."""
    if not isinstance(t, dict) or not isinstance(t.get("shape"), list) or not isinstance(t.get("values"), list):
        return False
    if shape is not None and t["shape"] != list(shape):
        return False
    if len(t["values"]) != math.prod(t["shape"]):
        return False
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) or v in ("inf", "-inf", "nan")
               for v in t["values"])


def reply_ok(name, reply, outputs, gradients=None, intermediates=None):
    """The reply has exactly the named outputs and gradients, with these shapes ({name: shape})."""
    if "error" in reply:
        return check(name, False, "error reply: " + reply["error"])
    ok = check(f"{name}: output names", set(reply.get("outputs", {})) == set(outputs),
               f"{sorted(reply.get('outputs', {}))} vs {sorted(outputs)}")
    for n, shape in outputs.items():
        ok &= check(f"{name}: outputs.{n} shape", tensor_ok(reply["outputs"].get(n), shape),
                    f"got {reply['outputs'].get(n, {}).get('shape')} want {shape}")
    if gradients is not None:
        ok &= check(f"{name}: gradient names", set(reply.get("gradients", {})) == set(gradients),
                    f"{sorted(reply.get('gradients', {}))} vs {sorted(gradients)}")
        for n, shape in gradients.items():
            ok &= check(f"{name}: gradients.{n} shape", tensor_ok(reply["gradients"].get(n), shape))
    for n, shape in (intermediates or {}).items():
        ok &= check(f"{name}: intermediates.{n} shape", tensor_ok(reply.get("intermediates", {}).get(n), shape))
    return ok


def shapes(op, tensors):
    """{name: shape} of the inputs that get a gradient."""
    return {n: t["shape"] for n, t in tensors.items() if differentiable(op, n)}


def finite_difference_check(a, name, op, inputs, params, cots, rng, h=1e-6, tol=1e-6):
    """For every real input X: <dX, d> against (f(X + h·d) - f(X - h·d))·cot / 2h, d random.
    float64; the inputs should keep away from kinks (use a smooth activation)."""
    reply = a.call(op, inputs, params, cots)
    if "error" in reply:
        return check(name, False, reply["error"])
    bad = []
    for n, t in inputs.items():
        if not differentiable(op, n):
            continue
        d = [rng.uniform(-1, 1) for _ in t["values"]]
        sides = []
        for sign in (1, -1):
            moved = dict(inputs)
            moved[n] = T(t["shape"], [x + sign * h * e for x, e in zip(vals(t), d)])
            out = a.call(op, moved, params, cots)["outputs"]
            sides.append(sum(dot(out[o], c) for o, c in cots.items()))
        fd = (sides[0] - sides[1]) / (2 * h)
        an = sum(g * e for g, e in zip(vals(reply["gradients"][n]), d))
        if abs(fd - an) > tol * max(1.0, abs(an)):
            bad.append(f"{n}: autograd {an:.12g} vs differences {fd:.12g}")
    return check(name, not bad, "; ".join(bad))


# ---------------------------------------------------------------- random weights of the layers

def mha_weights(rng, c, prefix=""):
    w = {prefix + n: grid([c, c], rng, den=64) for n in ("w_q", "w_k", "w_v", "w_o")}
    w.update({prefix + n: grid([c], rng, den=64) for n in ("b_q", "b_k", "b_v", "b_o")})
    return w


def ln_weights(rng, c, prefix):
    return {prefix + "gamma": T([c], [1 + rng.randint(-8, 8) / 32 for _ in range(c)]),
            prefix + "beta": grid([c], rng, den=64)}


def ffn_weights(rng, c, f, prefix):
    return {prefix + "w1": grid([c, f], rng, den=64), prefix + "b1": grid([f], rng, den=64),
            prefix + "w2": grid([f, c], rng, den=64), prefix + "b2": grid([c], rng, den=64)}


def encoder_weights(rng, c, f, prefix=""):
    w = {}
    for part in (mha_weights(rng, c, prefix + "attn."), ln_weights(rng, c, prefix + "ln1."),
                 ffn_weights(rng, c, f, prefix + "ffn."), ln_weights(rng, c, prefix + "ln2.")):
        w.update(part)
    return w


def decoder_weights(rng, c, f, prefix=""):
    w = {}
    for part in (mha_weights(rng, c, prefix + "self_attn."), ln_weights(rng, c, prefix + "ln1."),
                 mha_weights(rng, c, prefix + "cross_attn."), ln_weights(rng, c, prefix + "ln2."),
                 ffn_weights(rng, c, f, prefix + "ffn."), ln_weights(rng, c, prefix + "ln3.")):
        w.update(part)
    return w


def strip(weights, prefix):
    return {n[len(prefix):]: t for n, t in weights.items() if n.startswith(prefix)}


# ---------------------------------------------------------------- composing the adapter's primitives

class Compose:
    """The layers written out with the adapter's own primitive ops (float64 forward only)."""

    def __init__(self, a):
        self.a = a

    def op(self, op, inputs, params=None):
        reply = self.a.call(op, inputs, params)
        if "error" in reply:
            raise RuntimeError(f"{op}: {reply['error']}")
        return next(iter(reply["outputs"].values()))

    def mha(self, x, w, heads, causal=False, memory=None, mask=None):
        inputs = dict(w, x=x)
        if memory is not None:
            inputs["memory"] = memory
        if mask is not None:
            inputs["mask"] = mask
        return self.op("multi_head_attention", inputs, {"heads": heads, "causal": causal})

    def ln(self, x, w, eps):
        return self.op("layer_norm", dict(w, x=x), {"eps": eps})

    def ffn(self, x, w, act):
        return self.op("feed_forward", dict(w, x=x), {"activation": act})

    def encoder(self, x, w, heads, norm_first, act, eps, mask=None, causal=False):
        sa = lambda t: self.mha(t, strip(w, "attn."), heads, causal, mask=mask)
        ln1 = lambda t: self.ln(t, strip(w, "ln1."), eps)
        ln2 = lambda t: self.ln(t, strip(w, "ln2."), eps)
        ff = lambda t: self.ffn(t, strip(w, "ffn."), act)
        if norm_first:
            h = add(x, sa(ln1(x)))
            return add(h, ff(ln2(h)))
        h = ln1(add(x, sa(x)))
        return ln2(add(h, ff(h)))

    def decoder(self, x, memory, w, heads, norm_first, act, eps):
        sa = lambda t: self.mha(t, strip(w, "self_attn."), heads, True)
        ca = lambda t: self.mha(t, strip(w, "cross_attn."), heads, False, memory=memory)
        ln = lambda k, t: self.ln(t, strip(w, f"ln{k}."), eps)
        ff = lambda t: self.ffn(t, strip(w, "ffn."), act)
        if norm_first:
            h1 = add(x, sa(ln(1, x)))
            h2 = add(h1, ca(ln(2, h1)))
            return add(h2, ff(ln(3, h2)))
        h1 = ln(1, add(x, sa(x)))
        h2 = ln(2, add(h1, ca(h1)))
        return ln(3, add(h2, ff(h2)))


# ---------------------------------------------------------------- the tests, one function per op

def test_handshake(a):
    hs = a.handshake
    check("handshake: protocol", hs.get("adapter") == "gradspec-adapter/1", str(hs.get("adapter")))
    impl = hs.get("implementation", {})
    check("handshake: implementation", impl.get("name") == "pytorch" and isinstance(impl.get("version"), str),
          str(impl))
    check("handshake: dtypes", hs.get("dtypes") == ["float64", "float32", "bfloat16"], str(hs.get("dtypes")))
    check("handshake: every op of the catalogue (docs/ops.json)", sorted(hs.get("ops", [])) == sorted(CATALOGUE),
          f"missing {sorted(set(CATALOGUE) - set(hs.get('ops', [])))}, not in the catalogue "
          f"{sorted(set(hs.get('ops', [])) - set(CATALOGUE))}")
    note(f"PyTorch {impl.get('version')}")


def test_linear(a, rng):
    # [1, 2]·[[1, 2, 3], [4, 5, 6]] + [0.5, 0, -1] = [9.5, 12, 14]; cot 1: dx = w·1 = [6, 15],
    # dw = xᵀ·1 = [[1, 1, 1], [2, 2, 2]], db = [1, 1, 1]. Exact in every dtype.
    inputs = {"x": T([1, 2], [1, 2]), "w": T([2, 3], [1, 2, 3, 4, 5, 6]), "b": T([3], [0.5, 0, -1])}
    for dtype in ("float64", "float32", "bfloat16"):
        r = a.call("linear", inputs, cotangents={"y": T([1, 3], [1, 1, 1])}, dtype=dtype)
        if reply_ok(f"linear {dtype}", r, {"y": [1, 3]}, {"x": [1, 2], "w": [2, 3], "b": [3]}):
            check(f"linear {dtype}: y", vals(r["outputs"]["y"]) == [9.5, 12, 14], str(r["outputs"]["y"]))
            check(f"linear {dtype}: dx", vals(r["gradients"]["x"]) == [6, 15])
            check(f"linear {dtype}: dw", vals(r["gradients"]["w"]) == [1, 1, 1, 2, 2, 2])
            check(f"linear {dtype}: db", vals(r["gradients"]["b"]) == [1, 1, 1])
    # Leading axes [2, 3] and zero leading axes.
    for xs in ([2, 3, 4], [4]):
        r = a.call("linear", {"x": grid(xs, rng), "w": grid([4, 5], rng), "b": grid([5], rng)},
                   cotangents={"y": grid(xs[:-1] + [5], rng)})
        reply_ok(f"linear x{xs}", r, {"y": xs[:-1] + [5]}, {"x": xs, "w": [4, 5], "b": [5]})


def test_embedding(a, rng):
    # ids [[1, 1], [0, 2]], table rows t0, t1, t2 ([3, 2]); scale sqrt(2). Repeated id 1: its table
    # gradient is the sum of both cotangent rows, times sqrt(2).
    table = T([3, 2], [1, 2, 3, 4, 5, 6])
    cot = T([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8])
    r = a.call("embedding", {"ids": I([2, 2], [1, 1, 0, 2]), "table": table}, {"scale": "sqrt_d"}, {"y": cot})
    if reply_ok("embedding", r, {"y": [2, 2, 2]}, {"table": [3, 2]}):
        s = math.sqrt(2)
        check("embedding: y = table[ids]·sqrt(C)", close(vals(r["outputs"]["y"]), [x * s for x in [3, 4, 3, 4, 1, 2, 5, 6]], 1e-15))
        check("embedding: repeated ids accumulate",
              close(vals(r["gradients"]["table"]), [x * s for x in [5, 6, 1 + 3, 2 + 4, 7, 8]], 1e-15),
              str(r["gradients"]["table"]))
    r = a.call("embedding", {"ids": I([], [2]), "table": table}, {}, {"y": T([2], [1, 1])}, dtype="bfloat16")
    if reply_ok("embedding scalar id bfloat16", r, {"y": [2]}, {"table": [3, 2]}):
        check("embedding bfloat16: no scale", vals(r["outputs"]["y"]) == [5, 6])


def test_positional_encoding(a, rng):
    r = a.call("positional_encoding", {}, {"length": 3, "d_model": 4})
    if reply_ok("positional_encoding", r, {"pe": [3, 4]}, {}):
        pe = vals(r["outputs"]["pe"])
        want = [math.sin(p / 10000 ** (2 * (j // 2) / 4)) if j % 2 == 0 else math.cos(p / 10000 ** (2 * (j // 2) / 4))
                for p in range(3) for j in range(4)]
        check("positional_encoding: PE(pos, 2i) = sin, PE(pos, 2i+1) = cos", close(pe, want, 1e-14), str(pe))
    r = a.call("positional_encoding", {}, {"length": 2, "d_model": 5, "offset": 1000, "base": 100})
    if reply_ok("positional_encoding odd d_model", r, {"pe": [2, 5]}, {}):
        pe = vals(r["outputs"]["pe"])
        check("positional_encoding: odd d_model ends with sin, offset, base",
              close([pe[4], pe[9]], [math.sin(p / 100 ** (4 / 5)) for p in (1000, 1001)], 1e-11), str(pe))
    r = a.call("positional_encoding", {}, {"length": 4, "d_model": 6}, dtype="bfloat16")
    reply_ok("positional_encoding bfloat16", r, {"pe": [4, 6]}, {})


def test_softmax(a, rng):
    r = a.call("softmax", {"x": T([2, 3], [0, 0, 0, 1, 2, 3])}, cotangents={"y": T([2, 3], [1, 1, 1, 1, 1, 1])})
    if reply_ok("softmax", r, {"y": [2, 3]}, {"x": [2, 3]}):
        y = vals(r["outputs"]["y"])
        check("softmax: uniform row", close(y[:3], [1 / 3] * 3, 1e-15))
        check("softmax: rows sum to 1", close([sum(y[:3]), sum(y[3:])], [1, 1], 1e-15))
        e = [math.exp(k) for k in (1, 2, 3)]
        check("softmax: exp / sum", close(y[3:], [v / sum(e) for v in e], 1e-15))
        check("softmax: gradient of sum is 0", close(vals(r["gradients"]["x"]), [0] * 6, 1e-15))
    for dtype in ("float32", "bfloat16"):
        r = a.call("softmax", {"x": grid([3, 7], rng)}, cotangents={"y": grid([3, 7], rng)}, dtype=dtype)
        if reply_ok(f"softmax {dtype}", r, {"y": [3, 7]}, {"x": [3, 7]}):
            y = vals(r["outputs"]["y"])
            check(f"softmax {dtype}: rows sum to 1", close([sum(y[i:i + 7]) for i in (0, 7, 14)], [1] * 3, 2e-2))
    r = a.call("softmax", {"x": T([3], ["-inf", "-inf", "-inf"])}, cotangents={"y": T([3], [1, 2, 3])})
    if reply_ok("softmax all -inf", r, {"y": [3]}, {"x": [3]}):
        note(f"F.softmax of an all -inf row: {r['outputs']['y']['values']} (contract: zeros)")


def test_log_softmax(a, rng):
    r = a.call("log_softmax", {"x": T([4], [0.5] * 4)}, cotangents={"y": T([4], [1, 1, 1, 1])})
    if reply_ok("log_softmax", r, {"y": [4]}, {"x": [4]}):
        check("log_softmax: uniform row is -log 4", close(vals(r["outputs"]["y"]), [-math.log(4)] * 4, 1e-15))
        check("log_softmax: dx = dy - softmax·sum(dy) = 0", close(vals(r["gradients"]["x"]), [0] * 4, 1e-15))
    r = a.call("log_softmax", {"x": grid([2, 3, 5], rng)}, cotangents={"y": grid([2, 3, 5], rng)}, dtype="bfloat16")
    reply_ok("log_softmax bfloat16", r, {"y": [2, 3, 5]}, {"x": [2, 3, 5]})


def test_activations(a, rng):
    cot = T([3], [1, 1, 1])
    r = a.call("relu", {"x": T([3], [-1, 0, 2])}, cotangents={"y": cot})
    if reply_ok("relu", r, {"y": [3]}, {"x": [3]}):
        check("relu: values", vals(r["outputs"]["y"]) == [0, 0, 2])
        g = vals(r["gradients"]["x"])
        check("relu: gradient away from 0", g[0] == 0 and g[2] == 1)
        note(f"PyTorch relu'(0) = {g[1]} (contract: 0; not asserted here)")
    phi = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))
    k = math.sqrt(2 / math.pi)
    tanh_gelu = lambda x: 0.5 * x * (1 + math.tanh(k * (x + 0.044715 * x ** 3)))
    r = a.call("gelu", {"x": T([3], [-1, 0, 1])}, cotangents={"y": cot})
    if reply_ok("gelu", r, {"y": [3]}, {"x": [3]}):
        check("gelu: x·Phi(x)", close(vals(r["outputs"]["y"]), [-phi(-1), 0, phi(1)], 1e-15))
        dens = math.exp(-0.5) / math.sqrt(2 * math.pi)
        check("gelu: gradient Phi(x) + x·phi(x)", close(vals(r["gradients"]["x"]), [phi(-1) - dens, 0.5, phi(1) + dens], 1e-15))
    r = a.call("gelu", {"x": T([3], [-1, 0, 1])}, {"approximate": "tanh"}, cotangents={"y": cot})
    if reply_ok("gelu tanh", r, {"y": [3]}, {"x": [3]}):
        check("gelu tanh: tanh formula", close(vals(r["outputs"]["y"]), [tanh_gelu(-1), 0, tanh_gelu(1)], 1e-15))
    r = a.call("silu", {"x": T([3], [-1, 0, 1])}, cotangents={"y": cot})
    if reply_ok("silu", r, {"y": [3]}, {"x": [3]}):
        s = 1 / (1 + math.exp(-1))
        check("silu: x·sigmoid(x)", close(vals(r["outputs"]["y"]), [-(1 - s), 0, s], 1e-15))
        check("silu: gradient sigma(x)(1 + x(1 - sigma(x)))",
              close(vals(r["gradients"]["x"]), [(1 - s) * (1 - s), 0.5, s * (1 + (1 - s))], 1e-15))
    for op in ("relu", "gelu", "silu"):
        r = a.call(op, {"x": grid([2, 4], rng)}, cotangents={"y": grid([2, 4], rng)}, dtype="bfloat16")
        reply_ok(f"{op} bfloat16", r, {"y": [2, 4]}, {"x": [2, 4]})


def test_layer_norm(a, rng):
    eps = 1e-5
    r = a.call("layer_norm", {"x": T([2, 4], [1, 2, 3, 4, 7, 7, 7, 7]), "gamma": T([4], [2] * 4), "beta": T([4], [1] * 4)},
               {"eps": eps}, {"y": T([2, 4], [1, -1, 0.5, 0.25, 1, 2, 3, 4])})
    if reply_ok("layer_norm", r, {"y": [2, 4]}, {"x": [2, 4], "gamma": [4], "beta": [4]},
                {"mean": [2], "rstd": [2]}):
        rstd = 1 / math.sqrt(1.25 + eps)
        y = vals(r["outputs"]["y"])
        check("layer_norm: (x - mean)·rstd·gamma + beta, biased variance",
              close(y[:4], [(x - 2.5) * rstd * 2 + 1 for x in (1, 2, 3, 4)], 1e-14), str(y))
        check("layer_norm: constant row gives beta", close(y[4:], [1] * 4, 1e-15))
        check("layer_norm: finite gradients", all(all_finite(g) for g in r["gradients"].values()))
        check("layer_norm: intermediates mean, rstd",
              close(vals(r["intermediates"]["mean"]), [2.5, 7], 1e-15)
              and close(vals(r["intermediates"]["rstd"]), [rstd, 1 / math.sqrt(eps)], 1e-12),
              str(r["intermediates"]))
    r = a.call("layer_norm", {"x": grid([2, 3, 8], rng), "gamma": grid([8], rng), "beta": grid([8], rng)},
               cotangents={"y": grid([2, 3, 8], rng)}, dtype="bfloat16")
    reply_ok("layer_norm bfloat16", r, {"y": [2, 3, 8]}, {"x": [2, 3, 8], "gamma": [8], "beta": [8]})


def test_rms_norm(a, rng):
    r = a.call("rms_norm", {"x": T([2], [3, 4]), "gamma": T([2], [1, 2])}, {"eps": 1e-6}, {"y": T([2], [1, 1])})
    if reply_ok("rms_norm", r, {"y": [2]}, {"x": [2], "gamma": [2]}):
        rstd = 1 / math.sqrt(12.5 + 1e-6)
        check("rms_norm: x·rstd·gamma", close(vals(r["outputs"]["y"]), [3 * rstd, 8 * rstd], 1e-15))
    r = a.call("rms_norm", {"x": T([2], [3, 4]), "gamma": T([2], [0, 1])}, {"eps": 0, "gamma_offset": 1}, {"y": T([2], [1, 1])})
    if reply_ok("rms_norm gamma_offset", r, {"y": [2]}, {"x": [2], "gamma": [2]}):
        rstd = 1 / math.sqrt(12.5)
        check("rms_norm: gamma_offset 1 scales by 1 + gamma", close(vals(r["outputs"]["y"]), [3 * rstd, 8 * rstd], 1e-15))
    r = a.call("rms_norm", {"x": grid([3, 8], rng), "gamma": grid([8], rng)}, cotangents={"y": grid([3, 8], rng)},
               dtype="float32")
    reply_ok("rms_norm float32", r, {"y": [3, 8]}, {"x": [3, 8], "gamma": [8]})


def test_attention(a, rng):
    v = T([3, 2], [1, 2, 3, 4, 5, 9])
    zeros = T([3, 4], [0] * 12)
    cot = T([3, 2], [1, 1, 1, 1, 1, 1])
    # q = 0: every score is 0, so the weights are uniform over the visible keys.
    r = a.call("attention", {"q": zeros, "k": grid([3, 4], rng), "v": v}, cotangents={"out": cot})
    if reply_ok("attention", r, {"out": [3, 2]}, {"q": [3, 4], "k": [3, 4], "v": [3, 2]},
                {"scores": [3, 3], "weights": [3, 3]}):
        check("attention: uniform weights average v", close(vals(r["outputs"]["out"]), [3, 5] * 3, 1e-15))
    r = a.call("attention", {"q": zeros, "k": grid([3, 4], rng), "v": v}, {"causal": True}, {"out": cot})
    if reply_ok("attention causal", r, {"out": [3, 2]}, {"q": [3, 4], "k": [3, 4], "v": [3, 2]}):
        check("attention causal: query i averages keys 0..i", close(vals(r["outputs"]["out"]), [1, 2, 2, 3, 3, 5], 1e-15),
              str(r["outputs"]["out"]))
    # A finite additive mask: scores [0, log 3] give weights [1/4, 3/4]. scale 0.5 on q·k = 2 -> 1.
    r = a.call("attention", {"q": T([1, 1], [1]), "k": T([2, 1], [2, 2]), "v": T([2, 1], [4, 8]),
                             "mask": T([1, 2], [0, math.log(3)])}, {"scale": 0.5}, {"out": T([1, 1], [1])})
    if reply_ok("attention finite mask", r, {"out": [1, 1]}, {"q": [1, 1], "k": [2, 1], "v": [2, 1]}):
        check("attention: finite mask added to the scores", close(vals(r["outputs"]["out"]), [7], 1e-14))
        check("attention: scale param", close(vals(r["intermediates"]["scores"]), [1, 1 + math.log(3)], 1e-15))
    # Row 1 fully masked (mask -inf), row 2 causal: 1.13's plain softmax gives a NaN row (not
    # repaired); the other rows stay finite, and so do their dq rows.
    q, k = grid([3, 4], rng), grid([3, 4], rng)
    mask = T([3, 3], [0, 0, 0, "-inf", "-inf", "-inf", 0, 0, 0])
    for dtype in ("float64", "float32", "bfloat16"):
        r = a.call("attention", {"q": q, "k": k, "v": v, "mask": mask}, {"causal": True}, {"out": cot}, dtype=dtype)
        if reply_ok(f"attention fully masked row {dtype}", r, {"out": [3, 2]}, {"q": [3, 4], "k": [3, 4], "v": [3, 2]}):
            out = vals(r["outputs"]["out"])
            dq = vals(r["gradients"]["q"])
            check(f"attention fully masked row {dtype}: NaN output row", all_nan(out[2:4]), str(out))
            check(f"attention fully masked row {dtype}: weights row NaN", all_nan(vals(r["intermediates"]["weights"])[3:6]))
            check(f"attention fully masked row {dtype}: other rows finite", all(math.isfinite(x) for x in out[0:2] + out[4:6]))
            check(f"attention fully masked row {dtype}: dq rows 0 and 2 finite",
                  all(math.isfinite(x) for x in dq[0:4] + dq[8:12]), str(dq))
            if dtype == "float64":  # masked_fill's backward drops the dead row's NaN dscores; v's gradient keeps it
                note(f"attention fully masked row: dq row 1 {dq[4:8]}, dv {r['gradients']['v']['values']}")
            check(f"attention fully masked row {dtype}: row 0 sees only key 0", out[0:2] == [1, 2])
    # Leading axes [2, 3] and a different value width.
    r = a.call("attention", {"q": grid([2, 3, 4, 8], rng), "k": grid([2, 3, 5, 8], rng), "v": grid([2, 3, 5, 6], rng)},
               cotangents={"out": grid([2, 3, 4, 6], rng)})
    reply_ok("attention leading axes", r, {"out": [2, 3, 4, 6]},
             {"q": [2, 3, 4, 8], "k": [2, 3, 5, 8], "v": [2, 3, 5, 6]}, {"weights": [2, 3, 4, 5]})


def test_attention_v2(a, rng):
    """Catalogue v2 params: causal aligned bottom-right (Tq < Tk), window, softcap, return_lse."""
    v = T([4, 2], [1, 2, 3, 4, 5, 9, 7, 1])
    q0 = T([2, 4], [0] * 8)
    # q = 0: uniform weights over the visible keys; lse = log(number of visible keys).
    # Decode with a cache, Tq 2 of Tk 4: row 0 sits at position 2 (keys 0..2), row 1 at 3 (all).
    r = a.call("attention", {"q": q0, "k": grid([4, 4], rng), "v": v}, {"causal": True, "return_lse": True},
               {"out": T([2, 2], [1, 1, 1, 1]), "lse": T([2], [1, -1])})
    if reply_ok("attention causal Tq < Tk", r, {"out": [2, 2], "lse": [2]}, {"q": [2, 4], "k": [4, 4], "v": [4, 2]},
                {"scores": [2, 4], "weights": [2, 4]}):
        check("attention causal Tq < Tk: aligned bottom-right (row i at position Tk - Tq + i)",
              close(vals(r["outputs"]["out"]), [3, 5, 4, 4], 1e-15), str(vals(r["outputs"]["out"])))
        check("attention return_lse: log of the visible count", close(vals(r["outputs"]["lse"]), [math.log(3), math.log(4)], 1e-15))
    # Sliding window, T 4, q = 0: W = 2 averages keys p-1, p; W = 1 returns v; W >= T is plain causal.
    causal_avg = [1, 2, 2, 3, 3, 5, 4, 4]
    for window, want in ((2, [1, 2, 2, 3, 4, 6.5, 6, 5]), (1, vals(v)), (4, causal_avg), (9, causal_avg)):
        r = a.call("attention", {"q": T([4, 4], [0] * 16), "k": grid([4, 4], rng), "v": v}, {"causal": True, "window": window})
        if reply_ok(f"attention window {window}", r, {"out": [4, 2]}):
            check(f"attention window {window}: query p sees keys p - W < j <= p", close(vals(r["outputs"]["out"]), want, 1e-15),
                  str(vals(r["outputs"]["out"])))
    # Soft-capping after the scale, before the mask: q·k = 12, scale 0.5, cap 2 -> 2·tanh(3); the finite
    # mask log 3 is added after the cap, not capped.
    r = a.call("attention", {"q": T([1, 2], [2, 2]), "k": T([2, 2], [3, 3, 0, 0]), "v": T([2, 1], [1, 0]),
                             "mask": T([1, 2], [0, math.log(3)])}, {"scale": 0.5, "softcap": 2})
    if reply_ok("attention softcap", r, {"out": [1, 1]}):
        s = [2 * math.tanh(3), math.log(3)]
        check("attention softcap: s = c·tanh(s/c) after scaling, mask added after",
              close(vals(r["intermediates"]["scores"]), s, 1e-15), str(vals(r["intermediates"]["scores"])))
        check("attention softcap: weights from the capped scores",
              close(vals(r["outputs"]["out"]), [math.exp(s[0]) / (math.exp(s[0]) + 3)], 1e-15))
    # Scores near 1e4: capped at 50 the gradient into q and k vanishes (tanh saturates); lse uncapped
    # stays finite in float32 (the max shift) and equals the top score.
    big = {"q": T([1, 1], [100]), "k": T([2, 1], [100, 96]), "v": T([2, 1], [1, 2])}
    for dtype in ("float64", "float32", "bfloat16"):
        r = a.call("attention", big, {"scale": 1, "softcap": 50, "return_lse": True},
                   {"out": T([1, 1], [1]), "lse": T([1], [1])}, dtype=dtype)
        if reply_ok(f"attention softcap 50 on scores 1e4 {dtype}", r, {"out": [1, 1], "lse": [1]}):
            check(f"attention softcap saturated {dtype}: finite, dq ~ 0",
                  all_finite(r["outputs"]["out"]) and abs(vals(r["gradients"]["q"])[0]) < 1e-10, str(r["gradients"]["q"]))
            check(f"attention softcap saturated {dtype}: lse = 50 + log 2", close(vals(r["outputs"]["lse"]), [50 + math.log(2)], 1e-2))
        r = a.call("attention", big, {"scale": 1, "return_lse": True}, {"lse": T([1], [1])}, dtype=dtype)
        if reply_ok(f"attention lse of scores 1e4 {dtype}", r, {"out": [1, 1], "lse": [1]}):
            check(f"attention lse {dtype}: max-shifted, no overflow", close(vals(r["outputs"]["lse"]), [10000], 1e-2),
                  str(r["outputs"]["lse"]))
    # The slope of a saturating cap: one key, s = 750 = 15c: lse = c·tanh(15), d lse/dq = 750/cosh²(15)
    # (~7e-11). torch.tanh's own backward, 1 - tanh², keeps only ~3 digits of it in float64.
    want = 750 / math.cosh(15) ** 2
    for env, tol in (({}, 1e-12), ({"GRADSPEC_TORCH_SOFTCAP": "tanh"}, None)):
        b = Adapter(env) if env else a
        r = b.call("attention", {"q": T([1, 1], [1]), "k": T([1, 1], [750]), "v": T([1, 1], [1])},
                   {"scale": 1, "softcap": 50, "return_lse": True}, {"lse": T([1], [1])})
        if reply_ok(f"attention softcap slope {env}", r, {"out": [1, 1], "lse": [1]}):
            got = vals(r["gradients"]["q"])[0]
            if tol is None:
                note(f"GRADSPEC_TORCH_SOFTCAP=tanh: d lse/dq {got:.6g} vs 750/cosh²(15) = {want:.6g} "
                     f"(relative error {abs(got - want) / want:.1e})")
            else:
                check("attention softcap: slope 1/cosh²(s/c) where tanh saturates", abs(got - want) <= tol * want,
                      f"{got!r} vs {want!r}")
        if env:
            b.close()
    # A fully masked row (mask) and a masked key: torch.logsumexp gives -inf for the dead row (its
    # backward exp(-inf - -inf) is NaN), plain softmax a NaN output row; the live row stays finite.
    mask = T([2, 3], ["-inf"] * 3 + [0, "-inf", 0.5])
    for dtype in ("float64", "float32", "bfloat16"):
        r = a.call("attention", {"q": grid([2, 4], rng), "k": grid([3, 4], rng), "v": grid([3, 2], rng), "mask": mask},
                   {"return_lse": True}, {"out": T([2, 2], [1, 1, 1, 1]), "lse": T([2], [1, 1])}, dtype=dtype)
        if reply_ok(f"attention lse fully masked row {dtype}", r, {"out": [2, 2], "lse": [2]}):
            lse = r["outputs"]["lse"]["values"]
            out = vals(r["outputs"]["out"])
            check(f"attention lse fully masked row {dtype}: -inf, then finite", lse[0] == "-inf" and math.isfinite(num(lse[1])), str(lse))
            check(f"attention lse fully masked row {dtype}: out row 0 NaN, row 1 finite",
                  all_nan(out[:2]) and all(math.isfinite(x) for x in out[2:]), str(out))
            if dtype == "float64":
                note(f"attention lse fully masked row: dq {r['gradients']['q']['values']}")
    # Every gradient against central differences, both cotangents, leading axes, Tq < Tk.
    fd_rng = random.Random(19)
    finite_difference_check(a, "attention gradients (causal Tq 3 < Tk 5, window 2, softcap 1.5, lse)", "attention",
                            {"q": grid([2, 3, 4], rng), "k": grid([2, 5, 4], rng), "v": grid([2, 5, 3], rng),
                             "mask": T([3, 5], [0, 0.5, 0, "-inf", 0, 0, 0, -0.25, 0, 0, 1, 0, 0, 0, 0])},
                            {"causal": True, "window": 2, "softcap": 1.5, "return_lse": True},
                            {"out": grid([2, 3, 3], rng), "lse": grid([2, 3], rng)}, fd_rng)
    # Bad input: window without causal, causal with Tq > Tk, window 0.
    for name, params, tq, tk in (("window without causal", {"window": 2}, 2, 2), ("causal Tq > Tk", {"causal": True}, 3, 2),
                                 ("window 0", {"causal": True, "window": 0}, 2, 2)):
        r = a.call("attention", {"q": grid([tq, 2], rng), "k": grid([tk, 2], rng), "v": grid([tk, 2], rng)}, params)
        check(f"attention {name}: error", "error" in r, str(r)[:200])


def repeat_heads(t, n_rep):
    """[..., H, T, D] -> [..., H·n_rep, T, D], head h copied to h·n_rep .. h·n_rep + n_rep - 1 (repeat_kv)."""
    *lead, h, s, d = t["shape"]
    xs = vals(t)
    block = s * d
    out = []
    for b in range(math.prod(lead)):
        for g in range(h):
            out += xs[(b * h + g) * block:(b * h + g + 1) * block] * n_rep
    return T(lead + [h * n_rep, s, d], out)


def sum_groups(t, n_rep):
    """The adjoint of repeat_heads: [..., H·n_rep, T, D] -> [..., H, T, D], each group summed."""
    *lead, hr, s, d = t["shape"]
    xs = vals(t)
    block = s * d
    out = []
    for b in range(math.prod(lead)):
        for g in range(hr // n_rep):
            rows = [xs[(b * hr + g * n_rep + i) * block:(b * hr + g * n_rep + i + 1) * block] for i in range(n_rep)]
            out += [sum(col) for col in zip(*rows)]
    return T(lead + [hr // n_rep, s, d], out)


def test_grouped_query_attention(a, rng):
    """GQA against the adapter's own attention on repeated key/value heads; MQA (H_kv = 1), H_kv = 2 of
    H_q = 4, H_kv = H_q; dk, dv summed over each group; finite differences; bad input."""
    for lead, hq, hkv, tq, tk, params in (([2], 4, 2, 3, 5, {"causal": True, "return_lse": True}),
                                          ([], 4, 1, 2, 4, {"causal": True, "window": 2, "softcap": 2, "return_lse": True}),
                                          ([2, 1], 2, 2, 3, 3, {"scale": 0.25})):
        d, dv = 4, 3
        q, k, v = grid(lead + [hq, tq, d], rng), grid(lead + [hkv, tk, d], rng), grid(lead + [hkv, tk, dv], rng)
        cots = {"out": grid(lead + [hq, tq, dv], rng)}
        if params.get("return_lse"):
            cots["lse"] = grid(lead + [hq, tq], rng)
        name = f"grouped_query_attention {lead} Hq {hq} Hkv {hkv} {params}"
        r = a.call("grouped_query_attention", {"q": q, "k": k, "v": v}, params, cots)
        outs = {"out": lead + [hq, tq, dv]}
        if "lse" in cots:
            outs["lse"] = lead + [hq, tq]
        if not reply_ok(name, r, outs, {"q": q["shape"], "k": k["shape"], "v": v["shape"]},
                        {"scores": lead + [hq, tq, tk], "weights": lead + [hq, tq, tk]}):
            continue
        n_rep = hq // hkv
        ref = a.call("attention", {"q": q, "k": repeat_heads(k, n_rep), "v": repeat_heads(v, n_rep)}, params, cots)
        check(f"{name}: = attention on repeat_kv(k), repeat_kv(v) (head h reads h // {n_rep})",
              all(close(vals(r["outputs"][n]), vals(ref["outputs"][n]), 1e-15) for n in outs))
        check(f"{name}: dq as attention's", close(vals(r["gradients"]["q"]), vals(ref["gradients"]["q"]), 1e-15))
        check(f"{name}: dk, dv = attention's summed over each group",
              close(vals(r["gradients"]["k"]), vals(sum_groups(ref["gradients"]["k"], n_rep)), 1e-14)
              and close(vals(r["gradients"]["v"]), vals(sum_groups(ref["gradients"]["v"], n_rep)), 1e-14))
    fd_rng = random.Random(23)
    finite_difference_check(a, "grouped_query_attention gradients (Hq 4, Hkv 2, mask, causal, lse)", "grouped_query_attention",
                            {"q": grid([2, 4, 2, 4], rng), "k": grid([2, 2, 3, 4], rng), "v": grid([2, 2, 3, 2], rng),
                             "mask": T([2, 3], [0, -0.5, "-inf", 0.25, 0, 0])},
                            {"causal": True, "return_lse": True}, {"out": grid([2, 4, 2, 2], rng), "lse": grid([2, 4, 2], rng)}, fd_rng)
    for dtype in ("float32", "bfloat16"):
        r = a.call("grouped_query_attention", {"q": grid([4, 2, 8], rng), "k": grid([1, 3, 8], rng), "v": grid([1, 3, 8], rng)},
                   {"causal": True, "return_lse": True}, {"out": grid([4, 2, 8], rng), "lse": grid([4, 2], rng)}, dtype=dtype)
        reply_ok(f"grouped_query_attention MQA {dtype}", r, {"out": [4, 2, 8], "lse": [4, 2]},
                 {"q": [4, 2, 8], "k": [1, 3, 8], "v": [1, 3, 8]})
    for name, q, k, v in (("Hq not a multiple of Hkv", [3, 2, 4], [2, 2, 4], [2, 2, 4]),
                          ("batch axes differ", [2, 2, 2, 4], [3, 1, 2, 4], [3, 1, 2, 4]),
                          ("v heads differ from k", [2, 2, 4], [1, 2, 4], [2, 2, 4])):
        r = a.call("grouped_query_attention", {"q": grid(q, rng), "k": grid(k, rng), "v": grid(v, rng)})
        check(f"grouped_query_attention {name}: error", "error" in r, str(r)[:200])


def test_fully_masked_rows(a, rng):
    """The adapter repairs nothing: a fully masked row is 1.13's plain softmax of -inf, NaN, in attention
    and multi_head_attention alike; the handshake name is "pytorch" (there is no other mode: the
    retired GRADSPEC_TORCH_UNSAFE_SOFTMAX changes nothing)."""
    mask = T([2, 2], ["-inf", "-inf", 0, 0])
    c = 4
    qkv = {"q": grid([2, 4], rng), "k": grid([2, 4], rng), "v": grid([2, 2], rng), "mask": mask}
    mha = dict(mha_weights(rng, c), x=grid([2, c], rng), mask=mask)
    mha_cot = {"y": grid([2, c], rng)}
    replies = {}
    for label, b in (("default", a), ("GRADSPEC_TORCH_UNSAFE_SOFTMAX=1 (ignored)", Adapter({"GRADSPEC_TORCH_UNSAFE_SOFTMAX": "1"}))):
        check(f"fully masked {label}: handshake name pytorch", b.handshake["implementation"]["name"] == "pytorch",
              str(b.handshake.get("implementation")))
        r = b.call("attention", qkv, cotangents={"out": T([2, 2], [1, 1, 1, 1])})
        if reply_ok(f"fully masked {label}: attention", r, {"out": [2, 2]}, {"q": [2, 4], "k": [2, 4], "v": [2, 2]}):
            out = vals(r["outputs"]["out"])
            check(f"fully masked {label}: attention NaN row, live row finite",
                  all_nan(out[:2]) and all(math.isfinite(x) for x in out[2:]), str(out))
            if b is a:
                note(f"fully masked attention dv: {r['gradients']['v']['values']}")
        m = b.call("multi_head_attention", mha, {"heads": 2}, mha_cot)
        if reply_ok(f"fully masked {label}: multi_head_attention", m, {"y": [2, c]}):
            y = vals(m["outputs"]["y"])
            check(f"fully masked {label}: multi_head_attention NaN row, live row finite",
                  all_nan(y[:c]) and all(math.isfinite(x) for x in y[c:]), str(y))
        replies[label] = (r, m)
        if b is not a:
            b.close()
    (r0, m0), (r1, m1) = replies.values()
    check("GRADSPEC_TORCH_UNSAFE_SOFTMAX=1 changes nothing",
          json.dumps(r0.get("outputs")) == json.dumps(r1.get("outputs"))
          and json.dumps(m0.get("outputs")) == json.dumps(m1.get("outputs")))


def test_multi_head_attention(a, rng):
    c, heads = 4, 2
    eye = T([c, c], [1 if i == j else 0 for i in range(c) for j in range(c)])
    zero_w, zero_b = T([c, c], [0] * c * c), T([c], [0] * c)
    # w_q = w_k = 0: uniform attention; w_v = w_o = I: y = average of the visible rows.
    w = {"w_q": zero_w, "w_k": zero_w, "w_v": eye, "w_o": eye, "b_q": zero_b, "b_k": zero_b, "b_v": zero_b, "b_o": zero_b}
    x = T([3, c], [1, 2, 3, 4, 3, 2, 1, 0, 5, 5, 5, 5])
    cot = {"y": grid([3, c], rng)}
    all_grads = dict(shapes("multi_head_attention", w), x=[3, c])
    r = a.call("multi_head_attention", dict(w, x=x), {"heads": heads}, cot)
    if reply_ok("multi_head_attention", r, {"y": [3, c]}, all_grads):
        check("multi_head_attention: uniform attention averages rows", close(vals(r["outputs"]["y"]), [3, 3, 3, 3] * 3, 1e-15))
    r = a.call("multi_head_attention", dict(w, x=x), {"heads": heads, "causal": True}, cot)
    if reply_ok("multi_head_attention causal", r, {"y": [3, c]}, all_grads):
        check("multi_head_attention causal: prefix averages",
              close(vals(r["outputs"]["y"]), [1, 2, 3, 4, 2, 2, 2, 2, 3, 3, 3, 3], 1e-15), str(r["outputs"]["y"]))
    mem = T([2, c], [1, 1, 1, 1, 3, 5, 7, 9])
    r = a.call("multi_head_attention", dict(w, x=x, memory=mem), {"heads": heads}, cot)
    if reply_ok("multi_head_attention cross", r, {"y": [3, c]}, dict(all_grads, memory=[2, c])):
        check("multi_head_attention cross: averages memory rows", close(vals(r["outputs"]["y"]), [2, 3, 4, 5] * 3, 1e-15))
    # Fully masked query row 0: the mask goes to F.multi_head_attention_forward as is, so the row is
    # 1.13's NaN; the other rows stay finite.
    wr = mha_weights(rng, c)
    mask = T([3, 3], ["-inf"] * 3 + [0] * 6)
    for dtype in ("float64", "bfloat16"):
        r = a.call("multi_head_attention", dict(wr, x=grid([3, c], rng), mask=mask), {"heads": heads}, cot, dtype=dtype)
        if reply_ok(f"multi_head_attention fully masked row {dtype}", r, {"y": [3, c]}, all_grads):
            y = vals(r["outputs"]["y"])
            check(f"multi_head_attention fully masked row {dtype}: y row 0 NaN, rows 1-2 finite",
                  all_nan(y[:c]) and all(math.isfinite(x) for x in y[c:]), str(r["outputs"]["y"]["values"][:c]))
    # Every gradient against central differences: self (masked, causal), cross with leading axes.
    fd_rng = random.Random(7)
    finite_difference_check(a, "multi_head_attention gradients (self, mask + causal)", "multi_head_attention",
                            dict(wr, x=grid([3, c], rng), mask=T([3, 3], [0, 0, 0, 0.5, "-inf", 0, 0, 1, 0])),
                            {"heads": heads, "causal": True}, {"y": grid([3, c], rng)}, fd_rng)
    finite_difference_check(a, "multi_head_attention gradients (cross, [2, T, C])", "multi_head_attention",
                            dict(wr, x=grid([2, 3, c], rng), memory=grid([2, 5, c], rng)),
                            {"heads": heads}, {"y": grid([2, 3, c], rng)}, fd_rng)


def test_feed_forward(a, rng):
    # x = [1, -2], w1 = I (F = 2), relu: hidden [1, 0]; w2 = [[1, 2], [3, 4]], b2 = [0.5, 0]: y = [1.5, 2].
    inputs = {"x": T([2], [1, -2]), "w1": T([2, 2], [1, 0, 0, 1]), "b1": T([2], [0, 0]),
              "w2": T([2, 2], [1, 2, 3, 4]), "b2": T([2], [0.5, 0])}
    grads = {"x": [2], "w1": [2, 2], "b1": [2], "w2": [2, 2], "b2": [2]}
    r = a.call("feed_forward", inputs, {"activation": "relu"}, {"y": T([2], [1, 1])})
    if reply_ok("feed_forward", r, {"y": [2]}, grads, {"hidden": [2]}):
        check("feed_forward: relu(x·w1 + b1)·w2 + b2", vals(r["outputs"]["y"]) == [1.5, 2])
        check("feed_forward: dx through the open unit only", vals(r["gradients"]["x"]) == [3, 0])
    for act in ("gelu", "gelu_tanh", "silu"):
        for dtype in ("float64", "bfloat16"):
            r = a.call("feed_forward", {"x": grid([2, 3, 4], rng), "w1": grid([4, 6], rng), "b1": grid([6], rng),
                                        "w2": grid([6, 4], rng), "b2": grid([4], rng)},
                       {"activation": act}, {"y": grid([2, 3, 4], rng)}, dtype=dtype)
            reply_ok(f"feed_forward {act} {dtype}", r, {"y": [2, 3, 4]},
                     {"x": [2, 3, 4], "w1": [4, 6], "b1": [6], "w2": [6, 4], "b2": [4]}, {"hidden": [2, 3, 6]})


def test_cross_entropy(a, rng):
    n, v = 3, 5
    logits = T([n, v], [0.25] * (n * v))
    targets = I([n], [0, 4, 2])
    for red, shape, want in (("mean", [], [math.log(v)]), ("sum", [], [n * math.log(v)]), ("none", [n], [math.log(v)] * n)):
        cot = T(shape, [1] * math.prod(shape))
        r = a.call("cross_entropy", {"logits": logits, "targets": targets}, {"reduction": red}, {"loss": cot})
        if reply_ok(f"cross_entropy {red}", r, {"loss": shape}, {"logits": [n, v]}):
            check(f"cross_entropy {red}: uniform logits give log V", close(vals(r["outputs"]["loss"]), want, 1e-15))
            if red == "mean":
                g = vals(r["gradients"]["logits"])
                want_g = [(1 / v - (1 if j == t else 0)) / n for t in (0, 4, 2) for j in range(v)]
                check("cross_entropy mean: dlogits = (softmax - onehot)/N", close(g, want_g, 1e-15))
    r = a.call("cross_entropy", {"logits": logits, "targets": I([n], [0, 4, 4])},
               {"ignore_index": 4, "label_smoothing": 0.25}, {"loss": T([], [1])})
    if reply_ok("cross_entropy ignore_index + label_smoothing", r, {"loss": []}, {"logits": [n, v]}):
        check("cross_entropy: smoothing of uniform logits is still log V", close(vals(r["outputs"]["loss"]), [math.log(v)], 1e-15))
        check("cross_entropy: ignored rows get no gradient", vals(r["gradients"]["logits"])[v:] == [0] * (2 * v))
    r = a.call("cross_entropy", {"logits": logits, "targets": I([n], [1, 1, 1])}, {"ignore_index": 1}, {"loss": T([], [1])})
    if reply_ok("cross_entropy all ignored", r, {"loss": []}, {"logits": [n, v]}):
        note(f"cross_entropy mean over zero targets: loss {r['outputs']['loss']['values']}, "
             f"gradient finite: {all_finite(r['gradients']['logits'])}")
    for dtype in ("float32", "bfloat16"):
        r = a.call("cross_entropy", {"logits": grid([4, 7], rng), "targets": I([4], [0, 6, 3, 3])},
                   {"label_smoothing": 0.125}, {"loss": T([], [1])}, dtype=dtype)
        reply_ok(f"cross_entropy {dtype}", r, {"loss": []}, {"logits": [4, 7]})
    r = a.call("cross_entropy", {"logits": logits, "targets": targets}, {}, {"loss": T([], [1])}, dtype="float32")
    if reply_ok("cross_entropy float32 uniform", r, {"loss": []}):
        check("cross_entropy float32: log V", close(vals(r["outputs"]["loss"]), [math.log(v)], 1e-6))


def test_encoder_layer(a, rng):
    c, f, heads, t = 4, 6, 2, 3
    compose = Compose(a)
    for norm_first in (False, True):
        w = encoder_weights(rng, c, f)
        x = grid([2, t, c], rng)
        mask = T([t, t], [0, 0.5, "-inf", "-inf", 0, 0.25, 0, 0, 0])
        params = {"heads": heads, "norm_first": norm_first, "activation": "gelu", "eps": 1e-5}
        cot = {"y": grid([2, t, c], rng)}
        r = a.call("encoder_layer", dict(w, x=x, mask=mask), params, cot)
        if reply_ok(f"encoder_layer norm_first={norm_first}", r, {"y": [2, t, c]}, dict(shapes("encoder_layer", w), x=[2, t, c]),
                    {"h": [2, t, c]}):
            want = compose.encoder(x, w, heads, norm_first, "gelu", 1e-5, mask=mask)
            check(f"encoder_layer norm_first={norm_first}: = mha, layer_norm, feed_forward composed",
                  close(vals(r["outputs"]["y"]), vals(want), 1e-12))
        finite_difference_check(a, f"encoder_layer norm_first={norm_first} gradients", "encoder_layer",
                                dict(w, x=x, mask=mask), params, cot, random.Random(11))
    w = encoder_weights(rng, c, f)
    x = grid([t, c], rng)
    for act in ("relu", "gelu_tanh", "silu"):
        r = a.call("encoder_layer", dict(w, x=x), {"heads": heads, "activation": act, "causal": True}, {"y": grid([t, c], rng)})
        if reply_ok(f"encoder_layer {act} causal, no batch axis", r, {"y": [t, c]}, dict(shapes("encoder_layer", w), x=[t, c])):
            want = compose.encoder(x, w, heads, False, act, 1e-5, causal=True)
            check(f"encoder_layer {act} causal: composed", close(vals(r["outputs"]["y"]), vals(want), 1e-12))
    # A fully masked row, the mask passed to the module as is: 1.13's NaN in that row of y (the other
    # rows finite), the same as multi_head_attention's NaN row composed by hand.
    dead = T([t, t], ["-inf"] * t + [0] * (t * t - t))
    r = a.call("encoder_layer", dict(w, x=x, mask=dead), {"heads": heads}, {"y": grid([t, c], rng)})
    if reply_ok("encoder_layer fully masked row", r, {"y": [t, c]}, dict(shapes("encoder_layer", w), x=[t, c])):
        y = vals(r["outputs"]["y"])
        check("encoder_layer fully masked row: y row 0 NaN, the rest finite",
              all_nan(y[:c]) and all(math.isfinite(v) for v in y[c:]), str(y))
        want = compose.encoder(x, w, heads, False, "relu", 1e-5, mask=dead)
        check("encoder_layer fully masked row: composed", close_nan(y, vals(want), 1e-12))
    for dtype in ("float32", "bfloat16"):
        r = a.call("encoder_layer", dict(w, x=grid([2, t, c], rng)), {"heads": heads, "norm_first": True},
                   {"y": grid([2, t, c], rng)}, dtype=dtype)
        reply_ok(f"encoder_layer {dtype}", r, {"y": [2, t, c]}, dict(shapes("encoder_layer", w), x=[2, t, c]))


def test_decoder_layer(a, rng):
    c, f, heads, t, s = 4, 6, 2, 3, 2
    compose = Compose(a)
    for norm_first in (False, True):
        w = decoder_weights(rng, c, f)
        x, memory = grid([2, t, c], rng), grid([2, s, c], rng)
        params = {"heads": heads, "norm_first": norm_first, "activation": "silu"}
        cot = {"y": grid([2, t, c], rng)}
        r = a.call("decoder_layer", dict(w, x=x, memory=memory), params, cot)
        if reply_ok(f"decoder_layer norm_first={norm_first}", r, {"y": [2, t, c]},
                    dict(shapes("decoder_layer", w), x=[2, t, c], memory=[2, s, c]), {"h1": [2, t, c], "h2": [2, t, c]}):
            want = compose.decoder(x, memory, w, heads, norm_first, "silu", 1e-5)
            check(f"decoder_layer norm_first={norm_first}: composed", close(vals(r["outputs"]["y"]), vals(want), 1e-12))
        finite_difference_check(a, f"decoder_layer norm_first={norm_first} gradients", "decoder_layer",
                                dict(w, x=x, memory=memory), params, cot, random.Random(13))
    w = decoder_weights(rng, c, f)
    r = a.call("decoder_layer", dict(w, x=grid([t, c], rng), memory=grid([s, c], rng)), {"heads": heads},
               {"y": grid([t, c], rng)}, dtype="bfloat16")
    reply_ok("decoder_layer bfloat16, no batch axis", r, {"y": [t, c]}, dict(shapes("decoder_layer", w), x=[t, c], memory=[s, c]))


def transformer_inputs(rng, layers, c, f, vs, vt, lead, s, t):
    w = {"src_ids": I(lead + [s], [rng.randrange(vs) for _ in range(math.prod(lead + [s]))]),
         "tgt_ids": I(lead + [t], [rng.randrange(vt) for _ in range(math.prod(lead + [t]))]),
         "labels": I(lead + [t], [rng.randrange(vt) for _ in range(math.prod(lead + [t]))]),
         "src_embed": grid([vs, c], rng, den=64), "tgt_embed": grid([vt, c], rng, den=64)}
    for i in range(layers):
        w.update(encoder_weights(rng, c, f, f"enc.{i}."))
    for i in range(layers):
        w.update(decoder_weights(rng, c, f, f"dec.{i}."))
    w.update(ln_weights(rng, c, "enc_norm."))
    w.update(ln_weights(rng, c, "dec_norm."))
    w.update({"out.w": grid([c, vt], rng, den=64), "out.b": grid([vt], rng, den=64)})
    return w


def test_transformer(a, rng):
    c, f, heads, vs, vt, s, t = 4, 6, 2, 5, 6, 3, 2
    compose = Compose(a)
    for layers, norm_first, lead in ((1, False, [2]), (2, True, [])):
        w = transformer_inputs(rng, layers, c, f, vs, vt, lead, s, t)
        params = {"layers": layers, "heads": heads, "norm_first": norm_first, "activation": "gelu",
                  "label_smoothing": 0.125, "ignore_index": 1}
        cot = {"loss": T([], [1]), "logits": grid(lead + [t, vt], rng)}
        name = f"transformer layers={layers} norm_first={norm_first}"
        r = a.call("transformer", w, params, cot)
        if not reply_ok(name, r, {"loss": [], "logits": lead + [t, vt]}, shapes("transformer", w), {"memory": lead + [s, c]}):
            continue
        # The same model out of the adapter's primitives.
        def embed(ids, table, length):
            e = compose.op("embedding", {"ids": ids, "table": table}, {"scale": "sqrt_d"})
            pe = compose.op("positional_encoding", {}, {"length": length, "d_model": c})
            return T(e["shape"], [x + pe["values"][k % (length * c)] for k, x in enumerate(vals(e))])
        enc = embed(w["src_ids"], w["src_embed"], s)
        for i in range(layers):
            enc = compose.encoder(enc, strip(w, f"enc.{i}."), heads, norm_first, "gelu", 1e-5)
        memory = compose.ln(enc, strip(w, "enc_norm."), 1e-5)
        dec = embed(w["tgt_ids"], w["tgt_embed"], t)
        for i in range(layers):
            dec = compose.decoder(dec, memory, strip(w, f"dec.{i}."), heads, norm_first, "gelu", 1e-5)
        dec = compose.ln(dec, strip(w, "dec_norm."), 1e-5)
        logits = compose.op("linear", {"x": dec, "w": w["out.w"], "b": w["out.b"]})
        flat = T([math.prod(lead + [t]), vt], vals(logits))
        loss = compose.op("cross_entropy", {"logits": flat, "targets": I([flat["shape"][0]], w["labels"]["values"])},
                          {"ignore_index": 1, "label_smoothing": 0.125})
        check(f"{name}: memory = composed", close(vals(r["intermediates"]["memory"]), vals(memory), 1e-12))
        check(f"{name}: logits = composed", close(vals(r["outputs"]["logits"]), vals(logits), 1e-12))
        check(f"{name}: loss = composed", close(vals(r["outputs"]["loss"]), vals(loss), 1e-12))
        if layers == 1:
            finite_difference_check(a, f"{name} gradients", "transformer", w, params, cot, random.Random(17))
    w = transformer_inputs(rng, 1, c, f, vs, vt, [2], s, t)
    for dtype in ("float32", "bfloat16"):
        r = a.call("transformer", w, {"layers": 1, "heads": heads, "embed_scale": "none", "activation": "relu"},
                   {"loss": T([], [1]), "logits": grid([2, t, vt], rng)}, dtype=dtype)
        reply_ok(f"transformer {dtype}", r, {"loss": [], "logits": [2, t, vt]}, shapes("transformer", w))


def test_rope(a, rng):
    # x [2, 4] rows at positions 0 and 1: pair i = (i, i + 2) (half) turns by p·10000^(-i/2).
    x = [1, 0, 0, 0, 1, 2, 3, 4]
    r = a.call("rope", {"x": T([2, 4], x)}, {})
    if reply_ok("rope", r, {"y": [2, 4]}):
        y = vals(r["outputs"]["y"])
        want = [1, 0, 0, 0, 0, 0, 0, 0]  # row 0: position 0 is the identity
        for i, (ai, bi) in enumerate([(0, 2), (1, 3)]):
            th = 1 / 10000 ** (i / 2)  # position 1: θ = 1·10000^(-2i/4)
            want[4 + ai] = x[4 + ai] * math.cos(th) - x[4 + bi] * math.sin(th)
            want[4 + bi] = x[4 + bi] * math.cos(th) + x[4 + ai] * math.sin(th)
        check("rope half: (a, b) -> (a cos - b sin, b cos + a sin) on pairs (i, i + D/2)", close(y, want, 1e-15), str(y))
        # the map is a rotation: with cotangent = y the gradient is x
        g = a.call("rope", {"x": T([2, 4], x)}, {}, cotangents={"y": T([2, 4], y)})
        if reply_ok("rope gradient", g, {"y": [2, 4]}, {"x": [2, 4]}):
            check("rope: the gradient turns back (dx = Rᵀ dy)", close(vals(g["gradients"]["x"]), x, 1e-14))
    r = a.call("rope", {"x": T([1, 4], [1, 2, 3, 4])}, {"style": "interleaved", "offset": 1, "rotary_dim": 2})
    if reply_ok("rope interleaved", r, {"y": [1, 4]}):
        c, s = math.cos(1), math.sin(1)
        check("rope interleaved, partial: pair (0, 1) turns by 1 rad, features 2, 3 pass",
              close(vals(r["outputs"]["y"]), [c - 2 * s, 2 * c + s, 3, 4], 1e-15), str(vals(r["outputs"]["y"])))
    r = a.call("rope", {"x": grid([2, 3, 8], rng)}, {"offset": 1000000}, cotangents={"y": grid([2, 3, 8], rng)}, dtype="bfloat16")
    reply_ok("rope bfloat16", r, {"y": [2, 3, 8]}, {"x": [2, 3, 8]})


def test_gated_feed_forward(a, rng):
    # x = [1, -1], w_gate = I, w_up = diag(2, 3), w_down = I: gate = [1, -1], up = [2, -3],
    # hidden = y = [silu(1)·2, silu(-1)·(-3)] = [2σ(1), 3σ(-1)] with σ(1) = 1/(1 + e^-1).
    # With dy = [1, 0]: dup = [silu(1), 0], dgate = [silu'(1)·2, 0] (silu'(1) = σ(1)(2 - σ(1))),
    # dx = dgate·w_gateᵀ + dup·w_upᵀ = [2 silu'(1) + 2 silu(1), 0], dw_up = xᵀ·dup = [[s, 0], [-s, 0]].
    s = 1 / (1 + math.exp(-1))
    inputs = {"x": T([2], [1, -1]), "w_gate": T([2, 2], [1, 0, 0, 1]), "w_up": T([2, 2], [2, 0, 0, 3]),
              "w_down": T([2, 2], [1, 0, 0, 1])}
    grads = {"x": [2], "w_gate": [2, 2], "w_up": [2, 2], "w_down": [2, 2]}
    r = a.call("gated_feed_forward", inputs, {}, {"y": T([2], [1, 0])})
    if reply_ok("gated_feed_forward", r, {"y": [2]}, grads, {"gate": [2], "up": [2], "hidden": [2]}):
        check("gated_feed_forward: silu(x·w_gate) ⊙ x·w_up, the activation on the gate",
              close(vals(r["outputs"]["y"]), [2 * s, 3 * (1 - s)], 1e-15), str(vals(r["outputs"]["y"])))
        check("gated_feed_forward: dx = dgate·w_gateᵀ + dup·w_upᵀ",
              close(vals(r["gradients"]["x"]), [2 * s * (2 - s) + 2 * s, 0], 1e-15), str(vals(r["gradients"]["x"])))
        check("gated_feed_forward: dw_up = xᵀ·(silu(gate) ⊙ dhidden)",
              close(vals(r["gradients"]["w_up"]), [s, 0, -s, 0], 1e-15), str(vals(r["gradients"]["w_up"])))
    # GeGLU: y[0] = gelu(1)·2 = 2Φ(1) (erf form); the tanh form is 0.5(1 + tanh(sqrt(2/π)·1.044715)).
    phi1 = 0.5 * (1 + math.erf(1 / math.sqrt(2)))
    tanh1 = 0.5 * (1 + math.tanh(math.sqrt(2 / math.pi) * 1.044715))
    for act, want in (("gelu", phi1), ("gelu_tanh", tanh1)):
        r = a.call("gated_feed_forward", inputs, {"activation": act})
        if reply_ok(f"gated_feed_forward {act}", r, {"y": [2]}):
            check(f"gated_feed_forward {act}: y[0] = 2·gelu(1)", close(vals(r["outputs"]["y"])[:1], [2 * want], 1e-15),
                  str(vals(r["outputs"]["y"])))
    for act in ("silu", "gelu", "gelu_tanh"):
        for dtype in ("float64", "float32", "bfloat16"):
            r = a.call("gated_feed_forward", {"x": grid([2, 3, 4], rng), "w_gate": grid([4, 6], rng), "w_up": grid([4, 6], rng),
                                              "w_down": grid([6, 4], rng)},
                       {"activation": act}, {"y": grid([2, 3, 4], rng)}, dtype=dtype)
            reply_ok(f"gated_feed_forward {act} {dtype}", r, {"y": [2, 3, 4]},
                     {"x": [2, 3, 4], "w_gate": [4, 6], "w_up": [4, 6], "w_down": [6, 4]}, {"hidden": [2, 3, 6]})


def llama_block_weights(rng, c, f, hq, hkv, d, prefix=""):
    return {prefix + "attn_norm.gamma": grid([c], rng, 16, 48), prefix + "attn.w_q": grid([c, hq * d], rng),
            prefix + "attn.w_k": grid([c, hkv * d], rng), prefix + "attn.w_v": grid([c, hkv * d], rng),
            prefix + "attn.w_o": grid([hq * d, c], rng), prefix + "ffn_norm.gamma": grid([c], rng, 16, 48),
            prefix + "ffn.w_gate": grid([c, f], rng), prefix + "ffn.w_up": grid([c, f], rng),
            prefix + "ffn.w_down": grid([f, c], rng)}


def repeat_columns(t, hkv, n_rep, d):
    """w [C, Hkv·D] -> [C, Hkv·n_rep·D]: each key/value head's D columns repeated for its query heads."""
    c = t["shape"][0]
    v = vals(t)
    return T([c, hkv * n_rep * d], [v[i * hkv * d + (h // n_rep) * d + e] for i in range(c)
                                    for h in range(hkv * n_rep) for e in range(d)])


def sum_column_groups(t, hkv, n_rep, d):
    c = t["shape"][0]
    v = vals(t)
    out = [0.0] * (c * hkv * d)
    for i in range(c):
        for h in range(hkv * n_rep):
            for e in range(d):
                out[i * hkv * d + (h // n_rep) * d + e] += v[i * hkv * n_rep * d + h * d + e]
    return T([c, hkv * d], out)


def test_llama_block(a, rng):
    c, f, t = 4, 6, 3
    x = grid([2, t, c], rng)
    cot = {"y": grid([2, t, c], rng)}
    names = {"x": [2, t, c], "attn_norm.gamma": [c], "attn.w_q": [c, 4], "attn.w_k": [c, 4], "attn.w_v": [c, 4],
             "attn.w_o": [4, c], "ffn_norm.gamma": [c], "ffn.w_gate": [c, f], "ffn.w_up": [c, f], "ffn.w_down": [f, c]}
    # w_o = 0 and w_down = 0: both residual branches vanish, y = x and dx = dy exactly.
    w = llama_block_weights(rng, c, f, 2, 2, 2)
    zero = dict(w, **{"attn.w_o": T([4, c], [0] * 4 * c), "ffn.w_down": T([f, c], [0] * f * c)})
    r = a.call("llama_block", dict(zero, x=x), {"heads": 2}, cot)
    if reply_ok("llama_block", r, {"y": [2, t, c]}, names,
                {"q": [2, 2, t, 2], "k": [2, 2, t, 2], "attn_out": [2, t, 4], "h": [2, t, c]}):
        check("llama_block: w_o = w_down = 0 gives y = x", vals(r["outputs"]["y"]) == vals(x))
        check("llama_block: and dx = dy", vals(r["gradients"]["x"]) == vals(cot["y"]))
    # Grouped-query (Hq 4 on Hkv 2, head_dim 2 given on C 4) equals multi-head with
    # w_k, w_v repeated per group; their gradients are the group sums.
    hq, hkv, d = 4, 2, 2
    w = llama_block_weights(rng, c, f, hq, hkv, d)
    params = {"heads": hq, "kv_heads": hkv, "head_dim": d, "window": 2, "softcap": 1.5}
    g = a.call("llama_block", dict(w, x=x), params, cot)
    mha = dict(w, x=x, **{n: repeat_columns(w[n], hkv, hq // hkv, d) for n in ("attn.w_k", "attn.w_v")})
    m = a.call("llama_block", mha, dict(params, kv_heads=hq), cot)
    if "error" not in g and "error" not in m:
        check("llama_block: GQA equals MHA on repeated kv columns", close(vals(g["outputs"]["y"]), vals(m["outputs"]["y"]), 1e-13))
        for n in ("attn.w_k", "attn.w_v"):
            check(f"llama_block: GQA {n} gradient is the group sum",
                  close(vals(g["gradients"][n]), vals(sum_column_groups(m["gradients"][n], hkv, hq // hkv, d)), 1e-12))
    else:
        check("llama_block GQA/MHA", False, str(g)[:200] + str(m)[:200])
    finite_difference_check(a, "llama_block gradients (GQA 4/2, window 2, softcap 1.5, interleaved, offset 5)",
                            "llama_block", dict(w, x=x), dict(params, rope_style="interleaved", offset=5), cot, rng)
    for dtype in ("float32", "bfloat16"):
        r = a.call("llama_block", dict(w, x=x), params, cot, dtype=dtype)
        reply_ok(f"llama_block {dtype}", r, {"y": [2, t, c]})
    r = a.call("llama_block", dict(w, x=x), {"heads": hq, "kv_heads": 3, "head_dim": d})
    check("llama_block: heads not a multiple of kv_heads is an error", "error" in r, str(r)[:200])


def test_llama(a, rng):
    c, f, v, t = 4, 4, 5, 3
    w = llama_block_weights(rng, c, f, 2, 2, 2, "blocks.0.")
    embed = grid([v, c], rng)
    inputs = dict(w, ids=I([2, t], [rng.randrange(v) for _ in range(2 * t)]), embed=embed,
                  labels=I([2, t], [1, -100, 3, 0, 4, -100]), **{"norm.gamma": grid([c], rng, 16, 48)})
    params = {"layers": 1, "heads": 2, "logit_softcap": 2.0, "ignore_index": -100}
    cots = {"loss": T([], [1.0]), "logits": grid([2, t, v], rng)}
    tied = a.call("llama", inputs, dict(params, tie_embeddings=True), cots)
    lm_head = T([c, v], [vals(embed)[j * c + i] for i in range(c) for j in range(v)])
    untied = a.call("llama", dict(inputs, lm_head=lm_head), params, cots)
    grads = {n: tt["shape"] for n, tt in inputs.items() if n not in ("ids", "labels")}
    if reply_ok("llama tied", tied, {"loss": [], "logits": [2, t, v]}, grads, {"hidden": [2, t, c]}) and \
            reply_ok("llama untied", untied, {"loss": [], "logits": [2, t, v]}, dict(grads, lm_head=[c, v])):
        check("llama: tied equals untied with lm_head = embedᵀ",
              close(vals(tied["outputs"]["logits"]), vals(untied["outputs"]["logits"]), 1e-14)
              and close(vals(tied["outputs"]["loss"]), vals(untied["outputs"]["loss"]), 1e-14))
        dl = vals(untied["gradients"]["lm_head"])
        both = [e + dl[j * v + i] for (i, j), e in zip(((i, j) for i in range(v) for j in range(c)),
                                                        vals(untied["gradients"]["embed"]))]
        check("llama: tied embed gradient = lookup part + projection part transposed",
              close(vals(tied["gradients"]["embed"]), both, 1e-13), str(vals(tied["gradients"]["embed"])[:4]))
    finite_difference_check(a, "llama gradients (tied, logit_softcap 2, ignored labels)", "llama", inputs,
                            dict(params, tie_embeddings=True), cots, rng)
    r = a.call("llama", dict(inputs, lm_head=lm_head), dict(params, tie_embeddings=True))
    check("llama: lm_head with tie_embeddings is an error", "error" in r, str(r)[:200])


def test_bad_requests(a):
    good = {"x": T([1, 2], [1, 2]), "w": T([2, 3], [1, 2, 3, 4, 5, 6]), "b": T([3], [0.5, 0, -1])}

    def is_error(name, reply, want_id):
        check(name, "error" in reply and reply.get("id") == want_id and isinstance(reply["error"], str), str(reply))

    is_error("malformed line gets an error", a.raw("this is not JSON {"), None)
    is_error("non-object line gets an error", a.raw("[1, 2, 3]"), None)
    is_error("unknown op", a.call("no_such_op", {}), "no_such_op/" + str(a.counter))
    is_error("shape mismatch", a.call("linear", dict(good, w=T([3, 2], [1] * 6))), "linear/" + str(a.counter))
    is_error("values count", a.call("linear", dict(good, b={"shape": [3], "values": [1]})), "linear/" + str(a.counter))
    is_error("bad value", a.call("linear", dict(good, b={"shape": [1], "values": ["one"]})), "linear/" + str(a.counter))
    is_error("missing input", a.call("linear", {"x": good["x"], "w": good["w"]}), "linear/" + str(a.counter))
    is_error("unexpected input", a.call("linear", dict(good, z=T([1], [1]))), "linear/" + str(a.counter))
    is_error("unknown param", a.call("linear", good, {"bias": False}), "linear/" + str(a.counter))
    is_error("missing required param", a.call("multi_head_attention", {"x": T([1, 2], [1, 2])}),
             "multi_head_attention/" + str(a.counter))
    is_error("unsupported dtype", a.call("linear", good, dtype="float16"), "linear/" + str(a.counter))
    is_error("cotangent shape", a.call("linear", good, cotangents={"y": T([3], [1, 1, 1])}), "linear/" + str(a.counter))
    is_error("integer input where a real one is expected",
             a.call("softmax", {"x": I([2], [1, 2])}), "softmax/" + str(a.counter))
    is_error("target out of range", a.call("cross_entropy", {"logits": T([1, 2], [0, 0]), "targets": I([1], [7])}),
             "cross_entropy/" + str(a.counter))
    r = a.call("linear", good, cotangents={"y": T([1, 3], [1, 1, 1])})
    check("adapter keeps going after bad requests", r.get("outputs", {}).get("y", {}).get("values") == [9.5, 12, 14], str(r))
    r = a.call("linear", good)
    check("no cotangents: outputs, no gradients", "outputs" in r and r.get("gradients") == {}, str(r))


def main():
    signal.alarm(300)  # a hung adapter fails the test instead of hanging it
    rng = random.Random(2024)
    a = Adapter()
    tests = [test_handshake, test_linear, test_embedding, test_positional_encoding, test_softmax, test_log_softmax,
             test_activations, test_layer_norm, test_rms_norm, test_attention, test_attention_v2,
             test_grouped_query_attention, test_multi_head_attention, test_fully_masked_rows,
             test_feed_forward, test_cross_entropy, test_encoder_layer, test_decoder_layer, test_transformer, test_rope,
             test_gated_feed_forward, test_llama_block, test_llama, test_bad_requests]
    for test in tests:
        try:
            test(a) if test is test_handshake or test is test_bad_requests else test(a, rng)
        except Exception as e:  # one broken test must not hide the others
            check(test.__name__, False, f"{type(e).__name__}: {e}")
            if a.proc.poll() is not None:
                a = Adapter()
    check("adapter exits 0 when stdin closes", a.close() == 0)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
