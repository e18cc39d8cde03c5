#!/usr/bin/python3
"""Checks load_golden.py without pytest (CTest kits/load_golden; run from the source root).

The loaded arrays are checked against facts the loader cannot produce by itself: a numpy softmax of
the loaded inputs reproduces the expected outputs to float64 rounding, softmax rows sum to 1, the
special strings become -inf and NaN where the files say so, targets are int64, a decimal-string
value rounds as Python's float does, and a scalar is 0-d.
"""

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from load_golden import load_cases, real_param  # noqa: E402


def main():
    checked = 0
    for path in ("cases/standard/softmax.json", "cases/edge/softmax.json"):
        for c in load_cases(path):
            x, y = c["inputs"]["x"], c["expected"]["outputs"]["y"]
            assert x.dtype == np.float64 and y.shape == x.shape, c["id"]
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            # atol: the files write values below their tensor's noise floor (2^-192 of its largest) as 0.
            np.testing.assert_allclose(e / e.sum(axis=-1, keepdims=True), y, rtol=1e-12, atol=1e-50, err_msg=c["id"])
            np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-14, err_msg=c["id"])
            checked += 1

    attention = {c["id"]: c for c in load_cases("cases/edge/attention.json")}
    masked = attention["attention/masked_nan/3x4x4x4/0"]
    assert np.isneginf(masked["inputs"]["mask"]).any() and np.isnan(masked["inputs"]["k"]).any()
    assert not np.isnan(masked["expected"]["outputs"]["out"]).any()  # NaN keys are masked out

    ce = {c["id"]: c for c in load_cases("cases/edge/cross_entropy.json")}
    ignored = ce["cross_entropy/all_ignored/0"]
    assert ignored["inputs"]["targets"].dtype == np.int64
    loss = ignored["expected"]["outputs"]["loss"]
    assert loss.shape == () and math.isnan(float(loss))  # a mean over no targets: 0/0

    ln = load_cases("cases/standard/layer_norm.json")[0]
    assert real_param(ln["params"], "eps") == 1e-5 and real_param({"eps": "1e-5"}, "eps") == 1e-5
    assert ln["expected"]["intermediates"]["mean"].shape == ln["inputs"]["x"].shape[:-1]
    print(f"load_golden: {checked} softmax cases reproduced, inf/nan/int64/scalar decoding ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
