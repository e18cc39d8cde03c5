#!/usr/bin/python3
"""Independent cross-check of gradspec's golden values against an mpmath implementation.

Usage: /usr/bin/python3 tests/independent/check_against_mpmath.py GRADSPEC_BINARY SPEC_FILE WORKDIR

1. runs `GRADSPEC_BINARY gen --from SPEC_FILE --out WORKDIR/golden.json --quiet`;
2. for every case, recomputes every output with mpmath_reference.forward (mp.dps = 80) and requires
   agreement to >= 25 significant digits, measured relative to max(|want|, 1e-30·max|tensor|);
3. checks every gradient tensor by central finite differences of L = Σ_outputs <cotangent, output>
   (cotangents taken from the golden file), h = 1e-25 (truncation error ~1e-50), evaluated at
   dps 100 so that rounding noise (~1e-100/h = 1e-75) stays far below it, on a
   deterministic sample of up to 12 elements per tensor (mostly elements
   whose expected gradient is nonzero, plus one zero one), again to
   >= 25 digits. Elements where the op is not smooth are not differenced: relu at exactly 0 (the
   contract fixes relu'(0) = 0, checked directly), non-finite inputs (the gradient must be 0), and
   an FFN pre-activation sitting exactly on relu's kink (detected by one-sided differences).
   Output elements that are not finite are left out of L. A gradient tensor that is identically
   zero (e.g. b_k of attention: softmax ignores a per-row constant) is measured relative to 1e-30
   times the largest gradient of the case.

Prints one line per case (id, min digits of the outputs, min digits of the gradients, notes) and a
final line `N passed, M failed`; exit status 1 if any case failed, 0 otherwise.
"""
import json
import os
import random
import subprocess
import sys
import time
import zlib
from multiprocessing import Pool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mpmath import mp, mpf  # noqa: E402

import mpmath_reference as ref  # noqa: E402

mp.dps = 80

REQUIRED_DIGITS = 25
H = mpf("1e-25")
FD_DPS = 100  # working precision of the finite differences: rounding noise ~1e-100/h = 1e-75
REL_FLOOR = mpf("1e-30")
ABS_FLOOR = mpf("1e-60")  # only used when every gradient of a case is zero
DIGITS_CAP = 99.0
SAMPLES = {}  # per-op overrides of DEFAULT_SAMPLES (none needed: the whole run takes ~20 s)
DEFAULT_SAMPLES = 12
RELU_OPS = {"relu"}


def parse_real(v):
    if isinstance(v, (int,)) and not isinstance(v, bool):
        return mpf(v)
    s = str(v).strip().lower()
    if s in ("inf", "+inf", "infinity"):
        return mpf("inf")
    if s in ("-inf", "-infinity"):
        return mpf("-inf")
    if s == "nan":
        return mpf("nan")
    return mpf(s)


def load_tensor(t):
    shape = list(t["shape"])
    if t.get("dtype") == "int64":
        return shape, [int(v) for v in t["values"]], "int64"
    return shape, [parse_real(v) for v in t["values"]], "real"


def finite(v):
    return not (mp.isinf(v) or mp.isnan(v))


def digits(got, want, scale):
    """significant digits of agreement, relative to max(|want|, 1e-30·scale)."""
    denom = max(abs(want), REL_FLOOR * scale)
    if denom == 0:
        denom = ABS_FLOOR
    err = abs(got - want)
    if err == 0:
        return DIGITS_CAP
    d = -float(mp.log10(err / denom))
    return min(DIGITS_CAP, d)


def same_nonfinite(a, b):
    if mp.isnan(a) and mp.isnan(b):
        return True
    return mp.isinf(a) and mp.isinf(b) and (a > 0) == (b > 0)


def objective(op, params, inputs, cots, base_finite):
    outs = ref.forward(op, params, inputs)
    total = mpf(0)
    for name, (cshape, cvals) in cots.items():
        oshape, ovals = outs[name]
        mask = base_finite[name]
        for i, (c, o) in enumerate(zip(cvals, ovals)):
            if mask[i] and c != 0:
                total += c * o
    return total


def check_case(case):
    cid, op = case["id"], case["op"]
    params = case.get("params", {}) or {}
    notes = []
    fails = []
    inputs, dtypes = {}, {}
    for name, t in case.get("inputs", {}).items():
        shape, vals, dt = load_tensor(t)
        inputs[name] = (shape, vals)
        dtypes[name] = dt
    expected = case.get("expected", {})
    want_out = {n: load_tensor(t)[:2] for n, t in expected.get("outputs", {}).items()}
    want_grad = {n: load_tensor(t)[:2] for n, t in expected.get("gradients", {}).items()}

    # ---- outputs
    rec = {}
    try:
        got = ref.forward(op, params, inputs, rec=rec)
    except Exception as e:  # noqa: BLE001
        return cid, None, None, [f"mpmath forward failed: {type(e).__name__}: {e}"], False
    if set(got) != set(want_out):
        fails.append(f"golden outputs {sorted(want_out)}, mpmath computes {sorted(got)}")
    out_min = DIGITS_CAP
    for name in sorted(set(got) & set(want_out)):
        gshape, gvals = got[name]
        wshape, wvals = want_out[name]
        if list(gshape) != list(wshape):
            fails.append(f"outputs.{name}: shape {wshape} != {gshape}")
            continue
        scale = max([abs(v) for v in wvals if finite(v)] or [mpf(0)])
        worst = (DIGITS_CAP, None)
        for i, (g, w) in enumerate(zip(gvals, wvals)):
            if not (finite(g) and finite(w)):
                if not same_nonfinite(g, w):
                    fails.append(f"outputs.{name}[{i}]: gradspec {mp.nstr(w, 20)} vs mpmath {mp.nstr(g, 20)}")
                    worst = (0.0, i)
                continue
            d = digits(g, w, scale)
            if d < worst[0]:
                worst = (d, i)
        out_min = min(out_min, worst[0])
        if worst[0] < REQUIRED_DIGITS and worst[1] is not None:
            i = worst[1]
            fails.append(f"outputs.{name}[{i}]: {worst[0]:.1f} digits: gradspec {mp.nstr(wvals[i], 30)} "
                         f"vs mpmath {mp.nstr(gvals[i], 30)}")

    # ---- intermediates (diagnostic, not in the contract: disagreements warn, they do not fail)
    warns = []
    inter_min = None
    for name, t in sorted(expected.get("intermediates", {}).items()):
        wshape, wvals, _ = load_tensor(t)
        if name not in rec or len(rec[name]) != len(wvals):
            warns.append(f"warn: intermediates.{name} {wshape} not checked (no matching mpmath definition)")
            continue
        gvals = rec[name]
        scale = max([abs(v) for v in wvals if finite(v)] or [mpf(0)])
        worst = (DIGITS_CAP, None)
        for i, (g, w) in enumerate(zip(gvals, wvals)):
            if not (finite(g) and finite(w)):
                d = DIGITS_CAP if same_nonfinite(g, w) else 0.0
            else:
                d = digits(g, w, scale)
            if d < worst[0]:
                worst = (d, i)
        inter_min = worst[0] if inter_min is None else min(inter_min, worst[0])
        if worst[0] < REQUIRED_DIGITS:
            i = worst[1]
            warns.append(f"warn: intermediates.{name}[{i}]: {worst[0]:.1f} digits: gradspec {mp.nstr(wvals[i], 30)} "
                         f"vs mpmath {mp.nstr(gvals[i], 30)}")
    if op in ("attention", "grouped_query_attention") and "mask" in inputs:
        ms, mv = inputs["mask"]
        tk = ms[-1]
        if any(all(mp.isinf(v) and v < 0 for v in mv[r:r + tk]) for r in range(0, len(mv), tk)) \
                and "fully_masked_row" not in (case.get("flags") or []):
            warns.append("warn: a mask row is all -inf but the case lacks the flag fully_masked_row (CONTRACT.md)")

    # ---- gradients
    diff_in = ref.differentiable_inputs(op, inputs, dtypes)
    if set(diff_in) != set(want_grad):
        fails.append(f"golden gradients {sorted(want_grad)}, the contract's differentiable inputs {sorted(diff_in)}")
    cots = {}
    for name in ref.differentiable_outputs(op, got):
        if name not in case.get("cotangents", {}):
            fails.append(f"no cotangent for output {name}")
            continue
        cshape, cvals, _ = load_tensor(case["cotangents"][name])
        if list(cshape) != list(got[name][0]):
            fails.append(f"cotangents.{name}: shape {cshape} != output shape {got[name][0]}")
            continue
        cots[name] = (cshape, cvals)
    base_finite = {n: [finite(v) for v in got[n][1]] for n in cots}
    n_skip_nonfinite_out = sum(not f for n in base_finite for f in base_finite[n])
    if n_skip_nonfinite_out:
        notes.append(f"{n_skip_nonfinite_out} non-finite output elements left out of L")

    # a gradient tensor that is identically zero (b_k: softmax ignores a per-row constant) is
    # measured against the largest gradient of the case instead of its own (zero) maximum
    case_scale = max([abs(v) for _, vals in want_grad.values() for v in vals if finite(v)] or [mpf(0)])
    k = SAMPLES.get(op, DEFAULT_SAMPLES)
    grad_min = DIGITS_CAP if want_grad else None
    n_fd = n_conv = n_kink = 0
    for name in sorted(set(diff_in) & set(want_grad)):
        ishape, ivals = inputs[name]
        wshape, wvals = want_grad[name]
        if list(wshape) != list(ishape):
            fails.append(f"gradients.{name}: shape {wshape} != input shape {ishape}")
            continue
        scale = max([abs(v) for v in wvals if finite(v)] or [mpf(0)]) or case_scale
        n = len(ivals)
        rng = random.Random(zlib.crc32(f"{cid}/{name}".encode()))
        if n <= k:
            idx = list(range(n))
        else:
            # mostly elements with a nonzero expected gradient, plus one zero one when there is one
            nz = [i for i in range(n) if wvals[i] != 0]
            z = [i for i in range(n) if wvals[i] == 0]
            take_z = min(len(z), 1 if nz else k)
            idx = rng.sample(nz, min(len(nz), k - take_z))
            idx += rng.sample(z, min(len(z), k - len(idx)))
            idx.sort()
        worst = (DIGITS_CAP, None, None)

        def L_at(i, value):
            vals = list(ivals)
            vals[i] = value
            pert = dict(inputs)
            pert[name] = (ishape, vals)
            return objective(op, params, pert, cots, base_finite)

        for i in idx:
            x, w = ivals[i], wvals[i]
            if not finite(w):
                fails.append(f"gradients.{name}[{i}] is {mp.nstr(w, 10)}")
                worst = (0.0, i, None)
                continue
            if not finite(x) or (op in RELU_OPS and x == 0):
                # not differentiable there: the contract's convention (relu'(0) = 0; a -inf
                # logit / score has probability 0 and gets zero gradient)
                n_conv += 1
                d = DIGITS_CAP if w == 0 else 0.0
                if d < worst[0]:
                    worst = (d, i, mpf(0))
                continue
            with mp.workdps(FD_DPS):
                lp, lm = L_at(i, x + H), L_at(i, x - H)
                fd = (lp - lm) / (2 * H)
            n_fd += 1
            d = digits(fd, w, scale)
            if d < REQUIRED_DIGITS:
                # a kink (relu of an exactly-zero pre-activation)? compare one-sided slopes
                with mp.workdps(FD_DPS):
                    l0 = objective(op, params, inputs, cots, base_finite)
                    right, left = (lp - l0) / H, (l0 - lm) / H
                if abs(right - left) > mpf("1e-15") * max(abs(right), abs(left), scale, mpf(1)):
                    n_kink += 1
                    notes.append(f"gradients.{name}[{i}]: kink (one-sided slopes {mp.nstr(left, 12)}, "
                                 f"{mp.nstr(right, 12)}; gradspec {mp.nstr(w, 12)}), not differenced")
                    continue
            if d < worst[0]:
                worst = (d, i, fd)
        if os.environ.get("CHECK_MPMATH_VERBOSE"):
            notes.append(f"gradients.{name}: min {worst[0]:.1f} digits at {worst[1]}")
        grad_min = min(grad_min, worst[0])
        if worst[0] < REQUIRED_DIGITS and worst[1] is not None:
            i = worst[1]
            fails.append(f"gradients.{name}[{i}]: {worst[0]:.1f} digits: gradspec {mp.nstr(wvals[i], 30)} "
                         f"vs mpmath FD {mp.nstr(worst[2], 30)}")
    notes.insert(0, f"{n_fd} FD elements" + (f", {n_conv} convention checks" if n_conv else "")
                 + (f", {n_kink} kinks" if n_kink else ""))
    if inter_min is not None:
        notes[0] += f", intermediates {fmt_digits(inter_min)} digits"
    ok = not fails
    return cid, out_min, grad_min, (notes + warns if ok else fails + notes + warns), ok


def check_case_safe(case):
    try:
        return check_case(case)
    except Exception as e:  # noqa: BLE001  (a malformed golden case must not stop the run)
        return case.get("id", "?"), None, None, [f"checker error: {type(e).__name__}: {e}"], False


def fmt_digits(d):
    if d is None:
        return "-"
    return ">=99" if d >= DIGITS_CAP else f"{d:.1f}"


def main(argv):
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    binary, spec, workdir = argv[1:]
    os.makedirs(workdir, exist_ok=True)
    golden = os.path.join(workdir, "golden.json")
    t0 = time.time()
    proc = subprocess.run([binary, "gen", "--from", spec, "--out", golden, "--quiet"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout)
        sys.stdout.write(proc.stderr)
        print(f"gradspec gen failed with exit status {proc.returncode}")
        print("0 passed, 1 failed")
        return 1
    t_gen = time.time() - t0
    with open(golden, encoding="utf-8") as fh:
        doc = json.load(fh, parse_float=str)  # decimal text stays exact
    cases = doc.get("cases", [])
    n_pass = n_fail = 0
    t1 = time.time()
    # heaviest first so the two workers finish together; results are printed in file order
    order = sorted(range(len(cases)), key=lambda i: -len(json.dumps(cases[i]["inputs"])))
    results = {}
    with Pool(processes=min(2, os.cpu_count() or 1)) as pool:
        for j, res in zip(order, pool.imap(check_case_safe, [cases[i] for i in order])):
            results[j] = res
    for j in range(len(cases)):
        cid, out_min, grad_min, msgs, ok = results[j]
        status = "ok  " if ok else "FAIL"
        print(f"{status} {cid}  outputs {fmt_digits(out_min)} digits  gradients {fmt_digits(grad_min)} digits"
              + (f"  ({msgs[0]})" if ok and msgs else ""))
        for m in (msgs if not ok else msgs[1:]):
            print(f"       {m}")
        if ok:
            n_pass += 1
        else:
            n_fail += 1
    print(f"# gen {t_gen:.1f}s, mpmath checks {time.time() - t1:.1f}s")
    print(f"{n_pass} passed, {n_fail} failed")
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
