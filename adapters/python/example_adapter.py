#!/usr/bin/python3
"""Example gradspec adapter built on gradspec_adapter.py: softmax and layer_norm in numpy.

    gradspec run --suite cases/standard/softmax.json --adapter '/usr/bin/python3 adapters/python/example_adapter.py' --dtype float32

Everything is computed in the requested dtype (float64 or float32), forward and backward
(vector-Jacobian products written by hand).

GRADSPEC_EXAMPLE_BUG plants failures for the kit's tests (tests/kits/check_kit.py): "1" makes
softmax backward drop the "- <dy, y>" term (gradspec must report each case), "throw" makes
layer_norm raise ValueError and "unsupported" makes it raise NotImplementedError.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gradspec_adapter import real_param, serve  # noqa: E402

BUG = os.environ.get("GRADSPEC_EXAMPLE_BUG", "")


def softmax(inputs, params, cotangents, dtype):
    """y = softmax(x) over the last axis; an all -inf row gives zeros (the catalogue's safe softmax, docs/verdicts.md).
    x, y, dy: [..., N]."""
    x = inputs["x"]
    m = np.max(x, axis=-1, keepdims=True)
    dead = np.isneginf(m)
    e = np.exp(x - np.where(dead, 0, m))  # subtract the row max: exp never overflows
    y = np.where(dead, 0, e / np.sum(e, axis=-1, keepdims=True)).astype(dtype)
    dy = cotangents["y"]
    if BUG == "1":
        return {"outputs": {"y": y}, "gradients": {"x": y * dy}}
    dx = y * (dy - np.sum(dy * y, axis=-1, keepdims=True))  # dx = y (dy - <dy, y>)
    return {"outputs": {"y": y}, "gradients": {"x": dx}}


def layer_norm(inputs, params, cotangents, dtype):
    """y = (x - mean) · rstd · gamma + beta over the last axis, biased variance, rstd = 1/sqrt(var + eps).
    x, y: [..., C]; gamma, beta: [C]."""
    if BUG == "throw":
        raise ValueError("planted failure")
    if BUG == "unsupported":
        raise NotImplementedError("planted: layer_norm declined")
    x, gamma, beta = inputs["x"], inputs["gamma"], inputs["beta"]
    eps = dtype.type(real_param(params, "eps", 1e-5))
    n = dtype.type(x.shape[-1])
    mean = np.sum(x, axis=-1, keepdims=True) / n  # two passes: never E[x²] - E[x]², which cancels
    d = x - mean
    rstd = 1 / np.sqrt(np.sum(d * d, axis=-1, keepdims=True) / n + eps)
    xhat = d * rstd
    y = xhat * gamma + beta

    dy = cotangents["y"]
    lead = tuple(range(x.ndim - 1))
    g = dy * gamma
    # dx = rstd · (g - mean(g) - xhat · mean(g · xhat))
    dx = rstd * (g - np.sum(g, axis=-1, keepdims=True) / n - xhat * (np.sum(g * xhat, axis=-1, keepdims=True) / n))
    return {"outputs": {"y": y},
            "gradients": {"x": dx, "gamma": np.sum(dy * xhat, axis=lead), "beta": np.sum(dy, axis=lead)},
            "intermediates": {"mean": mean[..., 0], "rstd": rstd[..., 0]}}


if __name__ == "__main__":
    sys.exit(serve("example-numpy", np.__version__, ["float64", "float32"],
                   {"softmax": softmax, "layer_norm": layer_norm}))
