#!/usr/bin/python3
"""Checks one adapter kit through its example adapter (run from the source root).

    check_kit.py --gradspec build/cli/gradspec --adapter '/usr/bin/python3 adapters/python/example_adapter.py'

Three parts, each printed with its time:

1. protocol: the example adapter is fed hand-written request lines directly (no gradspec): the
   handshake; "inf"/"-inf"/"nan" values decoded and NaN encoded back as "nan"; exact answers of a
   small softmax in float32 with "dtype" echoed; an int64 input decoded without harm; unknown ops
   and dtypes answered "unsupported: ..."; a line that is not JSON answered with an error; and the
   example's planted failures (GRADSPEC_EXAMPLE_BUG=throw: layer_norm throws, =unsupported: it
   declines) answered as errors while the next request is served; exit status 0 on EOF.
2. suites: `gradspec run` over cases/{standard,edge}/{softmax,layer_norm}.json in float64 and
   float32 exits 0, every case passes, and the only skips are inputs not exact in the dtype.
3. bug: GRADSPEC_EXAMPLE_BUG=1 (softmax backward drops the -<dy, y> term) makes `gradspec run`
   exit 1 and print each failing case id with its reason (gradients.x), outputs untouched.

Exit 0 when everything holds, 1 otherwise.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

SUITES = ["cases/standard/softmax.json", "cases/standard/layer_norm.json",
          "cases/edge/softmax.json", "cases/edge/layer_norm.json"]
DTYPES = ["float64", "float32"]


class Failure(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failure(what)


def talk(adapter, lines, bug=""):
    """Runs the adapter on `lines` (each a JSON object or a raw string), stdin then closed; returns
    (handshake, answers, exit status)."""
    env = dict(os.environ, GRADSPEC_EXAMPLE_BUG=bug)
    text = "".join((l if isinstance(l, str) else json.dumps(l)) + "\n" for l in lines)
    p = subprocess.run(adapter, shell=True, input=text, capture_output=True, text=True, env=env, timeout=60)
    out = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    expect(out, f"no output at all (exit {p.returncode}, stderr: {p.stderr[-300:]})")
    return out[0], out[1:], p.returncode


def softmax_request(id_, dtype="float32", extra=None):
    # Row 0: [0, -inf, 0] -> y = [0.5, 0, 0.5]; dy = [1, 2, 3], <dy, y> = 2 -> dx = [-0.5, 0, 0.5].
    # Row 1: a NaN input -> NaN everywhere.
    inputs = {"x": {"shape": [2, 3], "values": [0, "-inf", 0, "nan", 1, 2]}}
    inputs.update(extra or {})
    return {"id": id_, "op": "softmax", "params": {}, "inputs": inputs, "dtype": dtype,
            "cotangents": {"y": {"shape": [2, 3], "values": [1, 2, 3, 1, 1, 1]}}}


def layer_norm_request(id_):
    return {"id": id_, "op": "layer_norm", "params": {"eps": "1e-5"}, "dtype": "float64",
            "inputs": {"x": {"shape": [1, 2], "values": [1, 3]}, "gamma": {"shape": [2], "values": [1, 1]},
                       "beta": {"shape": [2], "values": [0, 0]}},
            "cotangents": {"y": {"shape": [1, 2], "values": [1, 0]}}}


def check_protocol(adapter):
    hs, answers, rc = talk(adapter, [
        softmax_request("a"),
        softmax_request("b", extra={"ids": {"shape": [2], "dtype": "int64", "values": [3, -100]}}),
        dict(softmax_request("c"), op="no_such_op"),
        softmax_request("d", dtype="bfloat16"),
        "this is not json",
        layer_norm_request("e"),
    ])
    expect(hs.get("adapter") == "gradspec-adapter/1", f"handshake: {hs}")
    expect(set(hs.get("dtypes", [])) == {"float64", "float32"}, f"handshake dtypes: {hs}")
    expect(sorted(hs.get("ops", [])) == ["layer_norm", "softmax"], f"handshake ops: {hs}")
    expect(hs.get("gradients", True) is True, f"handshake gradients: {hs}")
    expect(isinstance(hs.get("implementation", {}).get("name"), str), f"handshake implementation: {hs}")
    expect(len(answers) == 6, f"6 answers expected, got {len(answers)}: {answers}")
    a, b, c, d, e, f = answers
    for ans in (a, b):
        expect("error" not in ans, f"softmax answered an error: {ans}")
        expect(ans.get("dtype") == "float32", f"no \"dtype\": \"float32\" echoed: {ans}")
        expect(ans["outputs"]["y"] == {"shape": [2, 3], "values": [0.5, 0, 0.5, "nan", "nan", "nan"]},
               f"softmax y: {ans['outputs']}")
        expect(ans["gradients"]["x"] == {"shape": [2, 3], "values": [-0.5, 0, 0.5, "nan", "nan", "nan"]},
               f"softmax dx: {ans['gradients']}")
    expect([a["id"], b["id"], c["id"], d["id"], f["id"]] == ["a", "b", "c", "d", "e"], f"ids: {answers}")
    expect(c.get("error", "").startswith("unsupported") and "no_such_op" in c["error"], f"unknown op: {c}")
    expect(d.get("error", "").startswith("unsupported") and "bfloat16" in d["error"], f"unknown dtype: {d}")
    expect("error" in e and not e["error"].startswith("unsupported"), f"not JSON: {e}")
    expect("error" not in f and f.get("dtype") == "float64", f"layer_norm after errors: {f}")
    # x = [1, 3]: mean 2, var 1, y = [-1, 1] / sqrt(1 + 1e-5).
    y = f["outputs"]["y"]["values"]
    expect(abs(y[0] + 1 / (1 + 1e-5) ** 0.5) < 1e-15 and abs(y[1] - 1 / (1 + 1e-5) ** 0.5) < 1e-15, f"layer_norm y: {y}")
    expect(rc == 0, f"exit status {rc} on EOF, expected 0")

    _, answers, rc = talk(adapter, [layer_norm_request("t"), softmax_request("u")], bug="throw")
    expect(len(answers) == 2, f"throw: 2 answers expected: {answers}")
    expect(answers[0]["id"] == "t" and "planted" in answers[0].get("error", "")
           and not answers[0]["error"].startswith("unsupported"), f"throw: {answers[0]}")
    expect(": " in answers[0]["error"], f"throw: the error names its type: {answers[0]}")
    expect("outputs" in answers[1], f"throw: the next request is served: {answers[1]}")
    expect(rc == 0, f"throw: exit status {rc}")

    _, answers, rc = talk(adapter, [layer_norm_request("v"), softmax_request("w")], bug="unsupported")
    expect(answers[0].get("error", "").startswith("unsupported: ") and "planted" in answers[0]["error"],
           f"unsupported: {answers[0]}")
    expect("outputs" in answers[1] and rc == 0, f"unsupported: {answers[1]}, exit {rc}")


def run(gradspec, adapter, suite, dtype, tmp, bug=""):
    summary = os.path.join(tmp, "summary.json")
    if os.path.exists(summary):
        os.remove(summary)
    env = dict(os.environ, GRADSPEC_EXAMPLE_BUG=bug)
    cmd = [gradspec, "run", "--suite", suite, "--adapter", adapter, "--dtype", dtype, "--json", summary, "--timeout", "60"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    doc = json.load(open(summary)) if os.path.exists(summary) else None
    return p, doc


def check_suites(gradspec, adapter, tmp):
    for dtype in DTYPES:
        for suite in SUITES:
            p, doc = run(gradspec, adapter, suite, dtype, tmp)
            where = f"{suite} {dtype}"
            expect(p.returncode == 0 and doc, f"{where}: exit {p.returncode}\n{p.stdout}{p.stderr}")
            passed = [c for c in doc["cases"] if c["verdict"] == "pass"]
            others = [c for c in doc["cases"] if c["verdict"] != "pass"
                      and not (c["verdict"] == "skipped" and c.get("reason") == f"inputs not exact in {dtype}")]
            expect(passed and not others, f"{where}: not passed: {others}")
            print(f"  {where}: {len(passed)} passed, {len(doc['cases']) - len(passed)} skipped (inexact inputs)")


def check_bug(gradspec, adapter, tmp):
    for dtype in DTYPES:
        p, doc = run(gradspec, adapter, SUITES[0], dtype, tmp, bug="1")
        where = f"bug {SUITES[0]} {dtype}"
        expect(p.returncode == 1 and doc, f"{where}: exit {p.returncode}, expected 1\n{p.stdout}{p.stderr}")
        failed = [c for c in doc["cases"] if c["verdict"] == "fail"]
        expect(len(failed) == len(doc["cases"]), f"{where}: every case must fail: {[c['verdict'] for c in doc['cases']]}")
        for c in failed:
            bad = [t["name"] for t in c["tensors"] if t["verdict"] == "fail"]
            expect(bad == ["gradients.x"], f"{where}: {c['id']}: failing tensors {bad}")
            line = next((l for l in p.stdout.splitlines() if l.startswith("fail") and c["id"] in l), "")
            expect("gradients.x: error" in line, f"{where}: no line naming {c['id']} and its reason:\n{p.stdout}")
        print(f"  {where}: exit 1, {len(failed)} cases reported, e.g. {line.split()[1]}: {line.split('  ')[-1].strip()[:60]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gradspec", required=True)
    ap.add_argument("--adapter", required=True, help="the example adapter's command line (run with /bin/sh -c)")
    args = ap.parse_args()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name, part in (("protocol", lambda: check_protocol(args.adapter)),
                           ("suites", lambda: check_suites(args.gradspec, args.adapter, tmp)),
                           ("bug", lambda: check_bug(args.gradspec, args.adapter, tmp))):
            start = time.monotonic()
            try:
                part()
                print(f"{name}: ok ({time.monotonic() - start:.2f} s)")
            except Failure as e:
                ok = False
                print(f"{name}: FAILED: {e}")
            sys.stdout.flush()
    print(f"{shlex.split(args.adapter)[-1]}: " + ("every check holds" if ok else "some check does not hold"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
