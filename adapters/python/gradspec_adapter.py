"""A small kit for writing gradspec adapters in Python (stdlib + numpy).

You write one function per op; `serve` speaks the adapter protocol ("gradspec-adapter/1", see
docs/adapter_protocol.md) over stdin/stdout:

    from gradspec_adapter import serve

    def softmax(inputs, params, cotangents, dtype):
        x = inputs["x"]                       # numpy array of the requested dtype
        ...
        return {"outputs": {"y": y}, "gradients": {"x": dx}}

    serve("my-lib", "1.0", dtypes=["float64", "float32"], ops={"softmax": softmax})

The protocol, one JSON object per line:

    adapter  -> {"adapter": "gradspec-adapter/1", "implementation": {"name", "version"},
                 "dtypes": [...], "ops": [...]}           (+ "gradients": false when forward-only)
    gradspec -> {"id", "op", "params", "inputs", "cotangents", "dtype"}
    adapter  -> {"id", "dtype", "outputs", "gradients"[, "intermediates"]}   or   {"id", "error": "..."}

gradspec closes stdin when done; `serve` then returns (the process exits 0).

What the kit does for you:

- Tensors arrive as {"shape", "values"}; values are JSON numbers or the strings "inf", "-inf",
  "nan". Real tensors become numpy arrays of the requested dtype (np.float64, np.float32,
  np.float16; the values are exact in it; bfloat16 below), integer tensors ({"dtype": "int64"}) become np.int64 arrays. A scalar
  has shape [] (a 0-d array).
- `params` is the request's JSON object as is (None, bools, ints, strings, floats); real params
  may be JSON numbers or decimal strings: read them with `real_param(params, name, default)`.
- `dtype` is a numpy dtype (np.dtype("float32") == "float32" holds); `dtype.type(0.5)` is a constant.
  For bfloat16 it is the string "bfloat16".
- Gradients are vector-Jacobian products: `cotangents[name]` is the cotangent of output `name`.
- What you return is encoded back: any array-like, converted to the requested dtype (a no-op when
  computed in it; a float64 result of a float32 request is rounded to float32, int64 stays int),
  NaN/Inf as "nan"/"inf"/"-inf", floats with the shortest decimal that reads back exactly.
  "intermediates" is optional; with gradients=False "gradients" may be left out.
- Errors never stop the adapter: raising NotImplementedError answers
  {"id", "error": "unsupported: <message>"} (gradspec counts the case as skipped); any other
  exception answers {"id", "error": "<Type>: <message>"} (the case is an error) and the next
  request is served. An op that is not in `ops` or a dtype not in `dtypes` is "unsupported: ...".
- Your code may print: while `serve` runs, sys.stdout is redirected to stderr (gradspec's log), so
  a stray print never corrupts the protocol. Each answer is flushed at once.
- dtypes: float64, float32 and float16 arrive as numpy arrays of that dtype. bfloat16, which numpy
  lacks, arrives as float32 arrays (every bfloat16 value is exact in float32) with `dtype` the string
  "bfloat16"; what you return is rounded to bfloat16 (to nearest, ties to even). A library with its
  own bfloat16 (torch) converts the arrays itself and returns its results widened (exactly) to
  float32 or float64.
- `catalogue()` reads docs/ops.json, the committed output of `gradspec ops --json` (every op's
  inputs with their dtype and differentiability, outputs, params with defaults, intermediates),
  when the kit sits in its repository (adapters/python/); pass the path otherwise.
"""

import json
import math
import os
import re
import sys

import numpy as np

__all__ = ["serve", "real_param", "BadRequest", "PROTOCOL", "catalogue", "catalogue_input", "round_to_bfloat16"]

PROTOCOL = "gradspec-adapter/1"
REAL_DTYPES = ("float64", "float32", "float16", "bfloat16")
# The numpy dtype the arrays of each protocol dtype have (bfloat16: float32 holds each value exactly).
_ARRAY_DTYPES = {"float64": np.dtype("float64"), "float32": np.dtype("float32"), "float16": np.dtype("float16"),
                 "bfloat16": np.dtype("float32")}


class BadRequest(Exception):
    """A request that does not follow the protocol (answered as "bad request: ...")."""


def _number(v, where):
    """A JSON number or one of "inf", "-inf", "nan" (decimal strings are accepted too) -> float."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            pass
    raise BadRequest(f"{where}: expected a number or \"inf\"/\"-inf\"/\"nan\", got {json.dumps(v)}")


def real_param(params, name, default=None):
    """A real-valued param (a JSON number or a decimal string such as "1e-5") as a Python float,
    `default` when absent; None stays None (an unset optional param)."""
    v = params.get(name, default)
    return None if v is None else _number(v, f"params/{name}")


def catalogue(path=None):
    """The op catalogue as {op name: entry}, in the catalogue's order; each entry as in `gradspec ops
    --json` ("inputs": [{"name", "shape", "dtype": "real"|"int64", "optional", "differentiable",
    "role": "plain"|"additive_mask"|"softmax_logits"}],
    "outputs": [{"name", "shape", "differentiable"}], "params": [{"name", "type", "default", ...}],
    "intermediates": [names], ...). `path` defaults to docs/ops.json of the repository this kit
    sits in (adapters/python/ -> ../../docs/ops.json)."""
    if path is None:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "docs", "ops.json")
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    return {op["name"]: op for op in doc["ops"]}


def catalogue_input(entry, name):
    """The catalogue's description of input `name` of the op `entry` (a value of catalogue()), or None.
    The composite ops list their per-layer inputs for layer 0 (enc.0.attn.w_q): enc.3.attn.w_q
    is described by that entry."""
    for spec in entry["inputs"]:
        if spec["name"] == name:
            return spec
    layer0 = re.sub(r"(?<=\.)[0-9]+(?=\.)", "0", name)
    if layer0 != name:
        for spec in entry["inputs"]:
            if spec["name"] == layer0:
                return spec
    return None


def round_to_bfloat16(a):
    """A real array -> the nearest bfloat16 values (ties to even; beyond the largest, inf), as float32.
    float64 goes to float32 rounded to odd first, so that no value is rounded twice."""
    a64 = np.asarray(a, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        f = a64.astype(np.float32)
        away = np.abs(f.astype(np.float64)) > np.abs(a64)  # rounded away from zero: truncate instead
        f = np.where(away, np.nextafter(f, np.float32(0)), f)
        inexact = np.isfinite(a64) & (f.astype(np.float64) != a64)
    u = np.ascontiguousarray(f, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = np.where(inexact, u | 1, u)  # round to odd
    u = (u + ((u >> 16) & 1) + 0x7FFF) & 0xFFFF0000  # to nearest bfloat16, ties to even
    r = u.astype(np.uint32).view(np.float32).reshape(a64.shape)
    return np.where(np.isnan(a64), np.float32("nan"), r)


def _decode_tensor(obj, where, dtype):
    """{"shape", "values"[, "dtype": "int64"]} -> numpy array (int64, or `dtype`)."""
    if not isinstance(obj, dict) or "shape" not in obj or "values" not in obj:
        raise BadRequest(f"{where}: expected an object with \"shape\" and \"values\"")
    shape, values = obj["shape"], obj["values"]
    if not isinstance(shape, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                                              for n in shape):
        raise BadRequest(f"{where}/shape: expected a list of non-negative integers")
    if not isinstance(values, list) or len(values) != math.prod(shape):
        raise BadRequest(f"{where}: shape {shape} needs {math.prod(shape)} values")
    if obj.get("dtype") == "int64":
        for i, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, int):
                raise BadRequest(f"{where}/values/{i}: expected an integer, got {json.dumps(v)}")
        return np.array(values, dtype=np.int64).reshape(shape)
    if all(type(v) in (int, float) for v in values):  # the common case: plain numbers
        reals = values
    else:
        reals = [_number(v, f"{where}/values/{i}") for i, v in enumerate(values)]
    # Through float64 (exact for every value a request carries), then to the dtype.
    return np.array(reals, dtype=np.float64).reshape(shape).astype(dtype)


def _encode_value(v):
    if math.isfinite(v):
        return v
    return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")


def _encode_tensor(a, where, dtype):
    """An array-like -> {"shape", "values"}; reals rounded to `dtype` (a protocol dtype name), then
    widened exactly to float64 for printing (Python prints the shortest decimal that reads back to
    the same double)."""
    arr = np.asarray(a)
    if arr.dtype.kind in "iu":
        return {"shape": list(arr.shape), "dtype": "int64", "values": arr.astype(np.int64).ravel().tolist()}
    if arr.dtype.kind not in "fb":
        raise TypeError(f"{where}: expected a real array, got dtype {arr.dtype}")
    rounded = round_to_bfloat16(arr) if dtype == "bfloat16" else arr.astype(_ARRAY_DTYPES[dtype])
    vals = rounded.astype(np.float64).ravel().tolist()
    if not np.all(np.isfinite(arr)):
        vals = [_encode_value(v) for v in vals]
    return {"shape": list(arr.shape), "values": vals}


def _encode_group(answer, group, dtype):
    tensors = answer.get(group) or {}
    if not isinstance(tensors, dict):
        raise TypeError(f"the op returned \"{group}\" as {type(tensors).__name__}, expected a dict of arrays")
    return {name: _encode_tensor(t, f"{group}/{name}", dtype) for name, t in tensors.items()}


def _answer(line, ops, dtypes, echo_dtype=True):
    """One request line -> one answer object (never raises)."""
    msg_id = None
    try:
        try:
            msg = json.loads(line)
        except ValueError as e:
            raise BadRequest(f"not JSON ({e})") from None
        if not isinstance(msg, dict):
            raise BadRequest("expected a JSON object")
        msg_id = msg.get("id")
        op, dtype_name = msg.get("op"), msg.get("dtype", "float64")
        if op not in ops:
            raise NotImplementedError(f"op {json.dumps(op)}")
        if dtype_name not in dtypes:
            raise NotImplementedError(f"dtype {json.dumps(dtype_name)}")
        array_dtype = _ARRAY_DTYPES[dtype_name]
        dtype = array_dtype if array_dtype.name == dtype_name else dtype_name  # "bfloat16": the name
        params = msg.get("params") or {}
        if not isinstance(params, dict):
            raise BadRequest("params: expected an object")
        groups = {}
        for key in ("inputs", "cotangents"):
            raw = msg.get(key) or {}
            if not isinstance(raw, dict):
                raise BadRequest(f"{key}: expected an object")
            groups[key] = {n: _decode_tensor(t, f"{key}/{n}", array_dtype) for n, t in raw.items()}
        with np.errstate(all="ignore"):  # inf/NaN inputs are legitimate test cases
            answer = ops[op](groups["inputs"], params, groups["cotangents"], dtype)
        if not isinstance(answer, dict):
            raise TypeError(f"the op returned {type(answer).__name__}, expected a dict with \"outputs\"")
        reply = {"id": msg_id, "dtype": dtype_name} if echo_dtype else {"id": msg_id}
        for group in ("outputs", "gradients", "intermediates"):
            if group in answer or group != "intermediates":
                reply[group] = _encode_group(answer, group, dtype_name)
        return reply
    except BadRequest as e:
        return {"id": msg_id, "error": f"bad request: {e}"}
    except NotImplementedError as e:
        return {"id": msg_id, "error": f"unsupported: {e}" if str(e) else "unsupported"}
    except Exception as e:  # the adapter goes on with the next request
        text = " ".join(str(e).split())  # library messages may span lines
        return {"id": msg_id, "error": f"{type(e).__name__}: {text}"}


def _line(obj):
    return json.dumps(obj, allow_nan=False, separators=(",", ":")) + "\n"


def serve(name, version, dtypes, ops, gradients=True, echo_dtype=True):
    """Speak the adapter protocol on stdin/stdout until stdin closes, then return 0.

    name, version: the implementation (shown in gradspec's reports).
    dtypes: the dtypes served, a subset of ("float64", "float32", "float16", "bfloat16").
    ops: {op name: f(inputs, params, cotangents, dtype) -> {"outputs", "gradients"[, "intermediates"]}}.
    gradients: False declares a forward-only implementation (gradients are not compared).
    echo_dtype: False leaves "dtype" out of the answers (then an offline `gradspec check` of a
        multi-dtype adapter's answers needs --dtype, as the protocol allows).
    """
    dtypes = list(dtypes)
    for d in dtypes:
        if d not in REAL_DTYPES:
            raise ValueError(f"serve: dtype {d!r} is not one of {REAL_DTYPES}")
    handshake = {"adapter": PROTOCOL, "implementation": {"name": str(name), "version": str(version)},
                 "dtypes": dtypes, "ops": sorted(ops)}
    if not gradients:
        handshake["gradients"] = False
    out = sys.stdout
    sys.stdout = sys.stderr  # stray prints go to gradspec's log, never into the protocol
    try:
        out.write(_line(handshake))
        out.flush()
        for line in sys.stdin:
            if not line.strip():
                continue
            out.write(_line(_answer(line, ops, dtypes, echo_dtype)))
            out.flush()
    except BrokenPipeError:  # gradspec went away: nothing left to answer
        # Point the dead descriptor at /dev/null so that Python's exit-time flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
    finally:
        sys.stdout = out
    return 0
