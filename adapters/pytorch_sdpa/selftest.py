#!/usr/bin/python3
"""Self-test of the PyTorch SDPA adapter's plumbing, on a CPU (no GPU, no PyTorch 2.x needed).

With GRADSPEC_SDPA_EMULATE=1 the adapter maps every param as it does for SDPA on CUDA, but calls a
plain-torch model of SDPA's documented semantics on the CPU. This test runs it over the committed
request files (reports/cuda/requests-<dtype>.jsonl) and checks:

  - without CUDA (or without PyTorch >= 2.3) and without GRADSPEC_SDPA_EMULATE, the adapter exits
    non-zero before its handshake with a message naming CUDA and GRADSPEC_SDPA_EMULATE; an unknown
    GRADSPEC_SDPA_BACKEND is refused likewise;
  - the handshake (emulated name, dtypes, the two ops; float64 only for the math backend);
  - every float32 request is answered in order: requests with window, softcap or return_lse are
    answered "unsupported: ..." naming the param, every other request gets `out` and the
    gradients of q, k, v in the shapes of the request;
  - GQA through enable_gqa (native) and through repeat_interleave give the same answers;
  - with gradspec (--gradspec PATH, else $GRADSPEC, else build/cli/gradspec; the gradspec part is
    skipped with a note when none is found): `gradspec check` of the emulated float32 and float16
    answers against the same cases reports no failure and no error, every case without window,
    softcap and lse passes or is an acceptable finding, and every case with them is skipped. This
    exercises the param mapping end to end: a top-left causal mask on the decode cases (Tq < Tk),
    a wrong scale or a wrong GQA head mapping would fail there.

It does not measure SDPA (that needs the GPU: adapters/pytorch_sdpa/run_offline.sh). Runs in a few
seconds. Last line: "N passed, M failed"; exit status 1 on any failure.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, os.pardir, os.pardir))
ADAPTER = os.path.join(HERE, "gradspec_sdpa_adapter.py")
REQUESTS = os.path.join(ROOT, "reports", "cuda")
CASE_FILES = ["standard/attention.json", "standard/grouped_query_attention.json", "edge/attention.json",
              "edge/grouped_query_attention.json"]
UNSUPPORTED_PARAMS = ("window", "softcap", "return_lse")

passed, failed = 0, 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name}" + (f": {detail}" if detail else ""))
    return ok


def adapter_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADSPEC_SDPA_")}
    env.update(extra)
    return env


def run_adapter(stdin_text, **env):
    return subprocess.run([sys.executable, ADAPTER], input=stdin_text, capture_output=True, text=True,
                          env=adapter_env(**env), timeout=120)


def read_requests(dtype):
    with open(os.path.join(REQUESTS, f"requests-{dtype}.jsonl"), encoding="utf-8") as fh:
        return fh.read()


def needs_unsupported(request):
    p = request["params"]
    return p.get("window") is not None or p.get("softcap") is not None or p.get("return_lse") is True


def find_gradspec(given):
    for g in (given, os.environ.get("GRADSPEC"), os.path.join(ROOT, "build", "cli", "gradspec")):
        if g and os.access(g, os.X_OK):
            return os.path.abspath(g)
    return None


def test_refusals():
    r = run_adapter("", GRADSPEC_SDPA_BACKEND="flash")
    if r.returncode == 0 and r.stdout.startswith("{"):
        print("note: this machine has CUDA and SDPA: the no-CUDA refusal is not tested here")
    else:
        check("no CUDA, no emulation: exits non-zero", r.returncode != 0, f"exit {r.returncode}")
        check("no CUDA, no emulation: no handshake", r.stdout == "", r.stdout[:200])
        check("no CUDA, no emulation: says why", "CUDA" in r.stderr and "GRADSPEC_SDPA_EMULATE=1" in r.stderr,
              r.stderr.strip())
    r = run_adapter("", GRADSPEC_SDPA_BACKEND="fastest", GRADSPEC_SDPA_EMULATE="1")
    check("unknown backend refused", r.returncode != 0 and "GRADSPEC_SDPA_BACKEND" in r.stderr and r.stdout == "",
          f"exit {r.returncode}: {r.stderr.strip()}")


def answers_of(stdout):
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return lines[0], lines[1:]


EMULATED = {}  # dtype -> the adapter's stdout over requests-<dtype>.jsonl (emulated)


def emulated_run(dtype, backend):
    r = run_adapter(read_requests(dtype), GRADSPEC_SDPA_BACKEND=backend, GRADSPEC_SDPA_EMULATE="1")
    check(f"emulated {dtype} run exits 0", r.returncode == 0, r.stderr[-500:])
    EMULATED[dtype] = r.stdout
    return r


def test_emulated_answers():
    text = read_requests("float32")
    requests = [json.loads(line) for line in text.splitlines() if line.strip()]
    r = emulated_run("float32", "efficient")
    if r.returncode != 0:
        return
    hs, answers = answers_of(r.stdout)
    check("handshake protocol", hs.get("adapter") == "gradspec-adapter/1", json.dumps(hs))
    check("handshake says emulated", hs["implementation"]["name"] == "pytorch-sdpa-emulated-efficient",
          json.dumps(hs["implementation"]))
    check("handshake ops", hs.get("ops") == ["attention", "grouped_query_attention"], json.dumps(hs.get("ops")))
    check("handshake dtypes (no float64 outside math)", hs.get("dtypes") == ["float16", "bfloat16", "float32"],
          json.dumps(hs.get("dtypes")))
    check("one answer per request", len(answers) == len(requests), f"{len(answers)} answers, {len(requests)} requests")
    n_unsupported = n_answered = 0
    for req, ans in zip(requests, answers):
        rid = req["id"]
        if not check(f"{rid}: id in order", ans.get("id") == rid, str(ans.get("id"))):
            continue
        if needs_unsupported(req):
            n_unsupported += 1
            err = ans.get("error", "")
            named = [p for p in UNSUPPORTED_PARAMS
                     if (req["params"].get(p) is not None and req["params"].get(p) is not False)]
            check(f"{rid}: unsupported", err.startswith("unsupported: ") and all(p in err for p in named), err or "answered")
            continue
        n_answered += 1
        if not check(f"{rid}: answered", "error" not in ans, ans.get("error", "")):
            continue
        q, v = req["inputs"]["q"]["shape"], req["inputs"]["v"]["shape"]
        check(f"{rid}: out shape", ans["outputs"]["out"]["shape"] == q[:-1] + v[-1:], json.dumps(ans["outputs"]["out"]["shape"]))
        for n in ("q", "k", "v"):
            check(f"{rid}: gradient {n} shape", ans["gradients"].get(n, {}).get("shape") == req["inputs"][n]["shape"])
        check(f"{rid}: no mask gradient", "mask" not in ans["gradients"])
        check(f"{rid}: dtype echoed", ans.get("dtype") == "float32")
    check("some requests answered, some unsupported", n_answered > 20 and n_unsupported > 5,
          f"{n_answered} answered, {n_unsupported} unsupported")



def test_gqa_modes():
    gqa = "".join(line + "\n" for line in read_requests("float32").splitlines()
                  if json.loads(line)["op"] == "grouped_query_attention")
    outs = {}
    for mode in ("native", "repeat"):
        r = run_adapter(gqa, GRADSPEC_SDPA_BACKEND="math", GRADSPEC_SDPA_EMULATE="1", GRADSPEC_SDPA_GQA=mode)
        check(f"GQA {mode} exits 0", r.returncode == 0, r.stderr[-300:])
        hs, outs[mode] = answers_of(r.stdout)
        check(f"GQA {mode}: the math backend offers float64", hs["dtypes"][-1] == "float64", json.dumps(hs["dtypes"]))
    check("GQA native and repeat answer alike", outs["native"] == outs["repeat"] and len(outs["native"]) > 3)


def test_with_gradspec(gradspec):
    tmp = tempfile.mkdtemp(prefix="sdpa-selftest-")
    try:
        for f in CASE_FILES:
            os.makedirs(os.path.join(tmp, "cases", os.path.dirname(f)), exist_ok=True)
            shutil.copy(os.path.join(ROOT, "cases", f), os.path.join(tmp, "cases", f))
        for dtype in ("float32", "float16"):
            text = read_requests(dtype)
            requests = {json.loads(line)["id"]: json.loads(line) for line in text.splitlines() if line.strip()}
            if dtype not in EMULATED:
                emulated_run(dtype, "cudnn")
            responses = os.path.join(tmp, f"responses-{dtype}.jsonl")
            with open(responses, "w", encoding="utf-8") as fh:
                fh.write(EMULATED[dtype])
            summary = os.path.join(tmp, f"summary-{dtype}.json")
            c = subprocess.run([gradspec, "check", "--cases", "cases", "--results", responses, "--dtype", dtype,
                                "--json", summary, "--quiet"], cwd=tmp, capture_output=True, text=True, timeout=120)
            if not check(f"gradspec check {dtype} exits 0", c.returncode == 0, (c.stdout + c.stderr)[-800:]):
                continue
            with open(summary, encoding="utf-8") as fh:
                s = json.load(fh)
            check(f"{dtype}: no fail, no error", s["summary"]["fail"] == 0 and s["summary"]["error"] == 0,
                  json.dumps(s["summary"]))
            for case in s["cases"]:
                cid, verdict = case["id"], case["verdict"]
                req = requests.get(cid)
                if req is None:  # a case whose inputs are not exact in this dtype: gradspec sent none
                    check(f"{dtype} {cid}: not sent, skipped", verdict == "skipped", verdict)
                elif needs_unsupported(req):
                    check(f"{dtype} {cid}: skipped", verdict == "skipped", verdict)
                else:
                    check(f"{dtype} {cid}: pass", verdict in ("pass", "acceptable"),
                          f"{verdict}: {case.get('reason', '')[:300]}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gradspec", help="the gradspec binary (default: $GRADSPEC, else build/cli/gradspec)")
    args = ap.parse_args()
    start = time.monotonic()
    test_refusals()
    test_emulated_answers()
    test_gqa_modes()
    gradspec = find_gradspec(args.gradspec)
    if gradspec:
        test_with_gradspec(gradspec)
    else:
        print("note: no gradspec binary (--gradspec, $GRADSPEC, build/cli/gradspec): the gradspec check is skipped")
    print(f"{passed} passed, {failed} failed ({time.monotonic() - start:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
