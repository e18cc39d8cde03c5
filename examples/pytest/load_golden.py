"""Load gradspec golden case files into numpy (stdlib + numpy).

    from load_golden import load_cases
    for case in load_cases("cases/standard/softmax.json"):
        x = case["inputs"]["x"]                      # np.float64 array, shape as in the file
        want = case["expected"]["outputs"]["y"]
        np.testing.assert_allclose(my_softmax(x), want, rtol=1e-12)

Values in the files are decimal strings with up to 40 significant digits (and "inf", "-inf",
"nan"); Python's float() rounds each correctly to the nearest float64 and reads the three special
strings too. Integer tensors ("dtype": "int64": ids, targets) become np.int64 arrays. A scalar
has shape [] (a 0-d array). Real params may be JSON numbers or decimal strings: real_param reads both.
"""

import json

import numpy as np


def tensor(t):
    """{"shape", "values"[, "dtype": "int64"]} -> numpy array (np.int64 or np.float64)."""
    if t.get("dtype") == "int64":
        return np.array(t["values"], dtype=np.int64).reshape(t["shape"])
    return np.array([float(v) for v in t["values"]], dtype=np.float64).reshape(t["shape"])


def load_cases(path):
    """A golden file -> list of cases, each {"id", "op", "params", "flags", "inputs", "cotangents",
    "expected": {"outputs", "gradients"[, "intermediates"]}} with numpy arrays for the tensors."""
    with open(path) as f:
        doc = json.load(f)
    cases = []
    for c in doc["cases"]:
        named = lambda group: {name: tensor(t) for name, t in group.items()}  # noqa: E731
        cases.append({"id": c["id"], "op": c["op"], "params": c.get("params", {}), "flags": c.get("flags", []),
                      "inputs": named(c["inputs"]), "cotangents": named(c.get("cotangents", {})),
                      "expected": {g: named(ts) for g, ts in c.get("expected", {}).items()}})
    return cases


def real_param(params, name, default=None):
    """A real param given as a JSON number or a decimal string, as a float."""
    v = params.get(name, default)
    return None if v is None else float(v)
