#!/usr/bin/python3
"""Runs every bug of the zoo through `gradspec run` and checks that the suites catch it.

    /usr/bin/python3 tests/zoo/run_zoo.py [--gradspec build/cli/gradspec] [--suite cases/standard --suite cases/edge]
                                          [--bug NAME ...] [--dtype float64 --dtype float32] [-v]

For each bug (and `none`), each suite and each dtype it runs
    gradspec run --suite SUITE --adapter '/usr/bin/python3 tests/zoo/zoo_adapter.py --bug NAME' --dtype D --json ...
and prints how many cases failed (fail or error) out of those compared, then with -v the ids.
Expectation: `none` fails nothing anywhere; every bug fails at least one case in at least one
(suite, dtype), except the bugs in ACCEPTABLE: behaviour on inputs outside the maths where
well-known libraries legitimately differ (a plain softmax's NaN for an all -inf row), which must come
out as named `acceptable` findings in at least one case and fail none (`--strict` would fail them).
Exit 0 when that holds, 1 when not, 2 on a usage problem.
"""

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import zoo_adapter  # noqa: E402  (the bug list)

# Documented alternatives (the edge suite's notes declare them acceptable), not failures.
ACCEPTABLE = {"nan_fully_masked"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gradspec", default=os.path.join(ROOT, "build", "cli", "gradspec"))
    ap.add_argument("--suite", action="append", help="suite directory or file (default: cases/standard, cases/edge)")
    ap.add_argument("--bug", action="append", help="bugs to run (default: none and every bug)")
    ap.add_argument("--dtype", action="append", help="dtypes (default: float64, float32)")
    ap.add_argument("-v", "--verbose", action="store_true", help="list the failing case ids")
    ap.add_argument("--jobs", type=int, default=2, help="bugs run at the same time (default 2)")
    args = ap.parse_args()
    suites = args.suite or [os.path.join(ROOT, "cases", "standard"), os.path.join(ROOT, "cases", "edge")]
    bugs = args.bug or ["none"] + list(zoo_adapter.BUGS)
    dtypes = args.dtype or ["float64", "float32"]
    for b in bugs:
        if b != "none" and b not in zoo_adapter.BUGS:
            print(f"run_zoo.py: unknown bug {b}", file=sys.stderr)
            return 2
    if not os.access(args.gradspec, os.X_OK):
        print(f"run_zoo.py: no gradspec binary at {args.gradspec} (build it: cd build && make -j2 gradspec)", file=sys.stderr)
        return 2
    for s in suites:
        if not os.path.exists(s):
            print(f"run_zoo.py: no suite at {s}", file=sys.stderr)
            return 2

    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    adapter = os.path.join(HERE, "zoo_adapter.py")
    ok = True
    width = max(len(b) for b in bugs)
    header = " | ".join(f"{os.path.basename(s.rstrip('/'))} {d}    " for s in suites for d in dtypes)
    print(f"{'bug':{width}s} | {header} | verdict")
    def run_bug(bug, tmp):
        """One bug over every suite and dtype: (cells, caught, accepted, details, errors)."""
        cells, caught, accepted, details, errors = [], [], [], [], False
        for s in suites:
            for d in dtypes:
                out = os.path.join(tmp, f"{bug}.json")
                p = subprocess.run([args.gradspec, "run", "--suite", s, "--adapter", f"{python} {adapter} --bug {bug}",
                                    "--dtype", d, "--json", out, "--quiet"], capture_output=True, text=True)
                if p.returncode not in (0, 1) or not os.path.exists(out):
                    cells.append("ERR")
                    details.append(f"    {os.path.basename(s)} {d}: gradspec exit {p.returncode}: {p.stderr.strip()[-300:]}")
                    errors = True
                    continue
                with open(out, encoding="utf-8") as fh:
                    doc = json.load(fh)
                os.remove(out)
                bad = [c for c in doc["cases"] if c["verdict"] in ("fail", "error")]
                compared = sum(1 for c in doc["cases"] if c["verdict"] != "skipped")
                ok_alt = [c for c in doc["cases"] if c["verdict"] == "acceptable"]
                cells.append(f"{len(bad)}/{compared}" + (f" +{len(ok_alt)}a" if ok_alt else ""))
                caught += bad
                accepted += ok_alt
                for c in bad:
                    details.append(f"    {os.path.basename(s.rstrip('/'))} {d}: {c['id']}: {c.get('reason', '')[:100]}")
        return cells, caught, accepted, details, errors

    # Bugs run `--jobs` at a time (each a gradspec process driving one adapter); rows print in order.
    with tempfile.TemporaryDirectory() as tmp, concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_bug, bug, tmp) for bug in bugs]
        for bug, future in zip(bugs, futures):
            cells, caught, accepted, details, errors = future.result()
            ok = ok and not errors
            if bug == "none":
                verdict = "passes (as it must)" if not caught else "FAILS: the correct implementation is flagged"
                ok = ok and not caught
            elif bug in ACCEPTABLE:
                good = bool(accepted) and not caught
                verdict = "acceptable finding, named" if good else "NOT an acceptable finding"
                ok = ok and good
            else:
                verdict = "caught" if caught else "NOT CAUGHT"
                ok = ok and bool(caught)
            print(f"{bug:{width}s} | " + " | ".join(f"{c:>{len(h)}s}" for c, h in zip(cells, header.split(" | "))) + f" | {verdict}")
            if args.verbose or (bug == "none" and caught):
                for line in details:
                    print(line)
            sys.stdout.flush()
    print("every expectation holds" if ok else "some expectation does not hold")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
