#!/usr/bin/python3
"""Fast check of the ONNX Runtime adapter (run from the source root; stdlib only).

    adapters/onnxruntime/selftest.py --gradspec build/cli/gradspec

1. node_modules: adapters/onnxruntime/node_modules must exist (else: fail, saying how to install).
2. handshake: the adapter's first line names onnxruntime-node with its package version, lists the
   ops checked below, the dtypes float64, float32 and float16, and "gradients": false.
3. suites: `gradspec run` over cases/standard/{softmax,layer_norm,attention}.json in float32 exits 0,
   every case passes (no fail, error or skip), and named cases are among the passes.
4. float16: cases/standard/layer_norm.json (LayerNormalization has a float16 CPU kernel) passes every
   case; cases/standard/softmax.json skips every case with "unsupported: no float16 CPU kernel for
   Softmax" (ORT would run it in float32 between Casts it inserts; the adapter refuses that).
5. planted bug: GRADSPEC_ORT_BUG=1 (layer_norm's epsilon 0.1 instead of the case's) makes the
   layer_norm run exit 1 with every case failed on outputs.y, softmax untouched.

Exit 0 when everything holds, 1 otherwise.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ADAPTER = "node adapters/onnxruntime/gradspec_onnxruntime_adapter.js"
INSTALL = "cd adapters/onnxruntime && ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm ci (or scripts/setup.sh)"
SUITES = {  # suite -> (number of cases, ids that must pass)
    "cases/standard/softmax.json": (5, ["softmax/default/1x3/0"]),
    "cases/standard/layer_norm.json": (6, ["layer_norm/eps=0.001/2x8/0"]),
    "cases/standard/attention.json": (14, ["attention/causal=true/3x7x4x4/0", "attention/mask/5x9x4x4/0"]),
}


class Failure(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failure(what)


def run_suite(gradspec, suite, env=None, dtype="float32"):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "summary.json")
        p = subprocess.run([gradspec, "run", "--suite", suite, "--adapter", ADAPTER, "--dtype", dtype,
                            "--json", out], capture_output=True, text=True, env=env, timeout=120)
        summary = json.load(open(out)) if os.path.exists(out) else None
    return p, summary


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gradspec", required=True)
    args = ap.parse_args()
    start = time.time()
    try:
        expect(os.path.isdir(os.path.join(HERE, "node_modules", "onnxruntime-node")),
               f"adapters/onnxruntime/node_modules/onnxruntime-node is missing: run `{INSTALL}`")
        version = json.load(open(os.path.join(HERE, "node_modules", "onnxruntime-node", "package.json")))["version"]

        p = subprocess.run(ADAPTER, shell=True, input="", capture_output=True, text=True, timeout=60)
        expect(p.returncode == 0, f"adapter exit {p.returncode} on empty input: {p.stderr[-400:]}")
        hs = json.loads(p.stdout.splitlines()[0])
        expect(hs.get("adapter") == "gradspec-adapter/1", f"handshake: {hs}")
        expect(hs["implementation"] == {"name": "onnxruntime-node", "version": version}, f"implementation: {hs['implementation']}")
        expect(hs.get("gradients") is False, "handshake must say gradients: false")
        expect(set(hs["dtypes"]) == {"float32", "float64", "float16"}, f"dtypes: {hs['dtypes']}")
        for op in ["softmax", "log_softmax", "layer_norm", "rms_norm", "attention", "grouped_query_attention",
                   "cross_entropy", "llama", "transformer"]:
            expect(op in hs["ops"], f"handshake does not list {op}")
        print(f"handshake ok ({time.time() - start:.1f} s)")

        for suite, (count, must_pass) in SUITES.items():
            p, s = run_suite(args.gradspec, suite)
            expect(p.returncode == 0 and s is not None, f"{suite}: exit {p.returncode}\n{p.stdout[-1500:]}{p.stderr[-800:]}")
            verdicts = {c["id"]: c["verdict"] for c in s["cases"]}
            expect(len(verdicts) == count, f"{suite}: {len(verdicts)} cases, expected {count}")
            bad = {k: v for k, v in verdicts.items() if v != "pass"}
            expect(not bad, f"{suite}: not passed: {bad}")
            for case in must_pass:
                expect(verdicts.get(case) == "pass", f"{suite}: {case} is {verdicts.get(case)}")
            print(f"{suite}: {count} passed ({time.time() - start:.1f} s)")

        p, s = run_suite(args.gradspec, "cases/standard/layer_norm.json", dtype="float16")
        expect(p.returncode == 0 and s is not None, f"float16 layer_norm: exit {p.returncode}\n{p.stdout[-1500:]}")
        expect(all(c["verdict"] == "pass" for c in s["cases"]), "float16 layer_norm: not every case passed")
        p, s = run_suite(args.gradspec, "cases/standard/softmax.json", dtype="float16")
        expect(s is not None and s["cases"] and all(
            c["verdict"] == "skipped" and c.get("reason", "").startswith("unsupported: no float16 CPU kernel for Softmax")
            for c in s["cases"]), f"float16 softmax: expected every case skipped, no float16 Softmax kernel\n{p.stdout[-1500:]}")
        print(f"float16: layer_norm passes, softmax skipped ({time.time() - start:.1f} s)")

        env = dict(os.environ, GRADSPEC_ORT_BUG="1")
        p, s = run_suite(args.gradspec, "cases/standard/layer_norm.json", env)
        expect(p.returncode == 1, f"planted bug: exit {p.returncode}, expected 1")
        failed = [c for c in s["cases"] if c["verdict"] == "fail"]
        expect(len(failed) == SUITES["cases/standard/layer_norm.json"][0], f"planted bug: {len(failed)} failed")
        expect(all(any(t["name"] == "outputs.y" and t["verdict"] == "fail" for t in c["tensors"]) for c in failed),
               "planted bug: outputs.y not reported")
        expect("layer_norm/eps=0.001/2x8/0" in p.stdout, "planted bug: case id not printed")
        p, s = run_suite(args.gradspec, "cases/standard/softmax.json", env)
        expect(p.returncode == 0, "planted bug must leave softmax alone")
        print(f"planted bug caught ({time.time() - start:.1f} s)")
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        return 1
    print(f"ok ({time.time() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
