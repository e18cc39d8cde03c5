#!/usr/bin/python3
"""Unit checks of the Python kit's additions (adapters/python/gradspec_adapter.py), in process:

- round_to_bfloat16 against an exact reference (Python's round() of the scaled value, ties to even)
  on ties, near-ties, subnormals, overflow and non-finite values, from float64 and float32;
- a bfloat16 request: float32 arrays in, `dtype == "bfloat16"`, results rounded to bfloat16;
- float16 served natively; echo_dtype=False leaves "dtype" out; a multi-line exception message is
  answered on one line; BadRequest answers "bad request: ...";
- catalogue(): docs/ops.json as {op: entry}; catalogue_input() maps per-layer names to layer 0.

Prints "N passed, M failed"; exit 1 on failure.
"""

import json
import math
import os
import random
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir)
sys.path.insert(0, os.path.join(ROOT, "adapters", "python"))
import gradspec_adapter as kit  # noqa: E402

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {what}")


def bf16_reference(x):
    """The bfloat16 value nearest to x (ties to even), exactly: 8 significant bits, quantum >= 2^-133."""
    if math.isnan(x) or math.isinf(x) or x == 0:
        return x
    quantum = 2.0 ** max(math.frexp(x)[1] - 8, -133)
    r = round(x / quantum) * quantum
    return math.copysign(math.inf, x) if abs(r) > (2 - 2 ** -7) * 2.0 ** 127 else r


def test_round_to_bfloat16():
    rng = random.Random(5)
    values = []
    for _ in range(20000):
        e = rng.randint(-140, 128)
        v = (1 + rng.getrandbits(8) / 256) * 2.0 ** e
        kind = rng.random()
        if kind < 0.3:
            v += 2.0 ** (e - 8)  # halfway between two bfloat16 neighbours (below the subnormal range too)
        elif kind < 0.6:
            v += rng.choice([1, -1]) * 2.0 ** (e - 8) * (1 + rng.random() * 2 ** -30)  # just off halfway
        else:
            v *= 1 + rng.random() * 2 ** -7
        values.append(rng.choice([1, -1]) * v)
    values += [3.4e38, 3.39e38, -3.5e38, 1e-45, 1e-41, 9.2e-41, math.inf, -math.inf, math.nan, 0.0, -0.0, 1e308]
    got = kit.round_to_bfloat16(np.array(values)).astype(np.float64).tolist()
    bad = [(v, g, bf16_reference(v)) for v, g in zip(values, got)
           if not (g == bf16_reference(v) or (math.isnan(g) and math.isnan(v)))]
    check(not bad, f"round_to_bfloat16 from float64: {len(bad)} wrong, e.g. {bad[:3]}")
    with np.errstate(over="ignore"):
        f32 = np.array(values[:5000], dtype=np.float64).astype(np.float32)
    got = kit.round_to_bfloat16(f32).astype(np.float64).tolist()
    bad = [(v, g) for v, g in zip(f32.astype(np.float64).tolist(), got)
           if not (g == bf16_reference(v) or (math.isnan(g) and math.isnan(v)))]
    check(not bad, f"round_to_bfloat16 from float32: {len(bad)} wrong, e.g. {bad[:3]}")
    check(kit.round_to_bfloat16(np.float32(1.5)).shape == (), "round_to_bfloat16 keeps a 0-d shape")


def request(op="softmax", dtype="float64", values=(1, 2, 3)):
    return json.dumps({"id": "r", "op": op, "params": {}, "dtype": dtype,
                       "inputs": {"x": {"shape": [len(values)], "values": list(values)}}})


def test_dtypes_and_answers():
    seen = {}

    def echo(inputs, params, cotangents, dtype):
        seen["dtype"], seen["array"] = dtype, inputs["x"].dtype
        return {"outputs": {"y": inputs["x"].astype(np.float64) + 2.0 ** -12}}

    ops = {"softmax": echo}
    a = kit._answer(request(dtype="bfloat16", values=(1, 0.5, -3)), ops, ["bfloat16"])
    check(seen == {"dtype": "bfloat16", "array": np.float32}, f"bfloat16: float32 arrays, dtype \"bfloat16\": {seen}")
    check(a.get("outputs", {}).get("y", {}).get("values") == [1.0, 0.5, -3.0] and a.get("dtype") == "bfloat16",
          f"bfloat16: results rounded to bfloat16 (1 + 2^-12 -> 1), dtype echoed: {a}")
    a = kit._answer(request(dtype="float16"), ops, ["float16"])
    check(seen["dtype"] == np.float16 and a["outputs"]["y"]["values"] == [1.0, 2.0, 3.0],
          f"float16: np.float16 arrays, results rounded to float16: {a}")
    a = kit._answer(request(), ops, ["float64"], echo_dtype=False)
    check("dtype" not in a and a["outputs"]["y"]["values"][0] == 1 + 2.0 ** -12, f"echo_dtype=False: {a}")

    def multiline(inputs, params, cotangents, dtype):
        raise RuntimeError("first line\n  second line")

    def bad(inputs, params, cotangents, dtype):
        raise kit.BadRequest("inputs/x: no good")

    a = kit._answer(request(), {"softmax": multiline}, ["float64"])
    check(a.get("error") == "RuntimeError: first line second line", f"an exception's message on one line: {a}")
    a = kit._answer(request(), {"softmax": bad}, ["float64"])
    check(a.get("error") == "bad request: inputs/x: no good", f"BadRequest: {a}")
    try:
        kit.serve("x", "1", ["float8"], {})
        check(False, "serve refuses an unknown dtype")
    except ValueError:
        check(True, "serve refuses an unknown dtype")


def test_catalogue():
    cat = kit.catalogue()
    with open(os.path.join(ROOT, "docs", "ops.json"), encoding="utf-8") as fh:
        names = [op["name"] for op in json.load(fh)["ops"]]
    check(list(cat) == names, "catalogue(): every op of docs/ops.json, in its order")
    att = kit.catalogue_input(cat["attention"], "mask")
    check(att is not None and att["differentiable"] is False and att["optional"] is True, f"attention mask: {att}")
    check(kit.catalogue_input(cat["embedding"], "ids")["dtype"] == "int64", "embedding ids are int64")
    deep = kit.catalogue_input(cat["transformer"], "enc.3.attn.w_q")
    check(deep is not None and deep["name"] == "enc.0.attn.w_q", f"per-layer names match layer 0: {deep}")
    check(kit.catalogue_input(cat["softmax"], "nope") is None, "an unknown input: None")


def main():
    for test in (test_round_to_bfloat16, test_dtypes_and_answers, test_catalogue):
        try:
            test()
        except Exception as e:  # noqa: BLE001  (one broken test must not hide the others)
            check(False, f"{test.__name__}: {type(e).__name__}: {e}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
