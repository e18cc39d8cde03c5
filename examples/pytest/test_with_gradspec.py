"""One pytest test per gradspec case, for your own functions.

    python3 -m pytest examples/pytest -v          (from the gradspec source root)

This file is both the pytest module and the adapter: at collection time it runs

    gradspec run --suite SUITE --adapter 'python3 test_with_gradspec.py --serve' --dtype D --json summary.json

for each suite and dtype, and turns each case of the summary into a test: it passes when the case's
verdict is "pass" or "acceptable" (a documented alternative on inputs outside the maths), is skipped
when gradspec skipped it (inputs not exact in the dtype, an op you do not serve), and fails with
gradspec's reason and the worst element of each failing tensor otherwise.

To test your own code: put your functions in OPS below (signature and conventions: see
adapters/python/README.md), then choose suites and dtypes. Settings (environment variables):
    GRADSPEC          the gradspec binary (default: build/cli/gradspec, else `gradspec` on PATH)
    GRADSPEC_SUITES   suite files or folders, separated by ":" (default: softmax and layer_norm,
                      standard and edge)
    GRADSPEC_DTYPES   comma-separated (default: float64,float32)
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "adapters", "python"))
from gradspec_adapter import serve  # noqa: E402

# --- Your functions: {op name: f(inputs, params, cotangents, dtype)}. Here: the kit's example.
from example_adapter import layer_norm, softmax  # noqa: E402

OPS = {"softmax": softmax, "layer_norm": layer_norm}
# ---

DEFAULT_SUITES = ["cases/standard/softmax.json", "cases/standard/layer_norm.json",
                  "cases/edge/softmax.json", "cases/edge/layer_norm.json"]


def gradspec_binary():
    if os.environ.get("GRADSPEC"):
        return os.environ["GRADSPEC"]
    built = os.path.join(ROOT, "build", "cli", "gradspec")
    return built if os.access(built, os.X_OK) else (shutil.which("gradspec") or built)


def run_gradspec(suite, dtype):
    """`gradspec run` of this file's OPS over one suite in one dtype -> the --json summary."""
    adapter = f"{shlex.quote(sys.executable)} {shlex.quote(os.path.abspath(__file__))} --serve"
    with tempfile.TemporaryDirectory() as tmp:
        summary = os.path.join(tmp, "summary.json")
        p = subprocess.run([gradspec_binary(), "run", "--suite", suite, "--adapter", adapter, "--dtype", dtype,
                            "--json", summary, "--quiet"], cwd=ROOT, capture_output=True, text=True)
        if p.returncode not in (0, 1) or not os.path.exists(summary):  # 2: bad usage or bad input
            raise RuntimeError(f"gradspec run --suite {suite} --dtype {dtype}: exit {p.returncode}: {p.stderr.strip()}")
        with open(summary) as f:
            return json.load(f)


def describe(case):
    """The case's verdict, and each tensor that did not pass with gradspec's diagnosis and worst element."""
    lines = [f"{case['id']}: {case['verdict']}"]
    for t in case.get("tensors", []):
        if t["verdict"] not in ("pass", "acceptable"):
            w = t.get("worst", {})
            lines.append(f"  {t['name']}: {t.get('diagnosis', t['verdict'])}; worst at {w.get('index')}: "
                         f"got {w.get('got')}, want {w.get('want')}")
    if len(lines) == 1:  # an error answer, a crash, a timeout: no tensor to show
        lines[0] += f": {case.get('reason', '')}"
    return "\n".join(lines)


def all_cases():
    suites = os.environ.get("GRADSPEC_SUITES", ":".join(DEFAULT_SUITES)).split(":")
    dtypes = os.environ.get("GRADSPEC_DTYPES", "float64,float32").split(",")
    for dtype in dtypes:
        for suite in suites:
            for case in run_gradspec(suite, dtype)["cases"]:
                yield f"{dtype}:{case['id']}", case


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        params = list(all_cases())
        metafunc.parametrize("case", [c for _, c in params], ids=[i for i, _ in params])


def test_case(case):
    import pytest  # only here: the --serve adapter runs without pytest

    if case["verdict"] == "skipped":
        pytest.skip(case.get("reason", "skipped by gradspec"))
    assert case["verdict"] in ("pass", "acceptable"), describe(case)


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    sys.exit(serve("my-functions", "0", ["float64", "float32"], OPS))
