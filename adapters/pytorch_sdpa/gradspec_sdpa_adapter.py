#!/usr/bin/env python3
"""gradspec adapter for PyTorch 2.x's torch.nn.functional.scaled_dot_product_attention (SDPA) on CUDA,
one SDPA backend per run.

Speaks the adapter protocol of docs/adapter_protocol.md ("gradspec-adapter/1") through the Python kit
(adapters/python/gradspec_adapter.py). Meant for the offline route (README.md next to this file):
gradspec writes the request files here, this adapter answers them on a GPU machine, and gradspec
checks the answers back here.

    GRADSPEC_SDPA_BACKEND=flash|efficient|cudnn|math  the one backend SDPA may use, through
        torch.nn.attention.sdpa_kernel(SDPBackend.X) (PyTorch >= 2.3): SDPA cannot fall back to
        another backend; a case the backend cannot run makes SDPA raise, and the answer is
        "unsupported: <backend> cannot run this case: <reason>" (the case is skipped, not failed).
    GRADSPEC_SDPA_GQA=auto|native|repeat  grouped_query_attention: native is SDPA's enable_gqa=True
        (PyTorch >= 2.5), repeat is k/v.repeat_interleave(Hq/Hkv, dim=-3) (what users of older
        versions do); auto (default) tries native where the torch has it and, when the backend
        refuses it, repeats (logged on stderr).
    GRADSPEC_SDPA_EMULATE=1  no CUDA, no SDPA needed (e.g. torch 1.13 on a CPU): the same param
        mapping runs, but the call goes to a plain-torch model of SDPA's documented semantics on
        the CPU. For testing the plumbing only; the handshake says "emulated".

Ops: attention and grouped_query_attention, forward and backward (torch.autograd.grad with the
request's cotangents). dtypes: float16, bfloat16, float32; float64 with the math backend only (the
fused backends have no float64 kernels). Nothing SDPA returns is repaired.
"""

import math
import os
import sys
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir, "python"))
from gradspec_adapter import BadRequest, real_param, serve  # noqa: E402

BACKENDS = ("flash", "efficient", "cudnn", "math")
ENUM_NAMES = {"flash": "FLASH_ATTENTION", "efficient": "EFFICIENT_ATTENTION", "cudnn": "CUDNN_ATTENTION",
              "math": "MATH"}
# Phrases of the errors by which SDPA (or a backend's own checks) says it cannot run a case. Any
# other exception is a real error of the case.
CANNOT_RUN = ("no available kernel", "not supported", "not_supported", "unsupported")


def die(message):
    sys.stderr.write(f"gradspec_sdpa_adapter: {message}\n")
    sys.exit(2)


EMULATE = os.environ.get("GRADSPEC_SDPA_EMULATE", "") not in ("", "0")
BACKEND = os.environ.get("GRADSPEC_SDPA_BACKEND", "")
GQA_MODE = os.environ.get("GRADSPEC_SDPA_GQA", "auto")
if BACKEND not in BACKENDS and not (EMULATE and BACKEND == ""):
    die(f"set GRADSPEC_SDPA_BACKEND to one of {', '.join(BACKENDS)} (got {BACKEND!r})")
if GQA_MODE not in ("auto", "native", "repeat"):
    die(f"GRADSPEC_SDPA_GQA must be auto, native or repeat (got {GQA_MODE!r})")

try:
    import torch
except ImportError as e:
    die(f"cannot import torch ({e}); run it with a python3 that has PyTorch >= 2.3 with CUDA")

if EMULATE:
    DEVICE = torch.device("cpu")
    sdpa_kernel = SDPBackend = None
    HAS_GQA = True  # the emulation models enable_gqa
else:
    if not hasattr(torch.nn.functional, "scaled_dot_product_attention"):
        die(f"torch {torch.__version__} has no torch.nn.functional.scaled_dot_product_attention: this adapter "
            "needs PyTorch >= 2.3 with CUDA (or GRADSPEC_SDPA_EMULATE=1 to test the plumbing on a CPU)")
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:
        die(f"torch {torch.__version__} has no torch.nn.attention.sdpa_kernel: this adapter needs PyTorch >= 2.3 "
            "(or GRADSPEC_SDPA_EMULATE=1 to test the plumbing on a CPU)")
    if not torch.cuda.is_available():
        die(f"CUDA is not available to torch {torch.__version__} (torch.version.cuda = {torch.version.cuda}): "
            "this adapter measures SDPA's CUDA backends and needs a GPU; GRADSPEC_SDPA_EMULATE=1 tests the "
            "plumbing on a CPU instead")
    if not hasattr(SDPBackend, ENUM_NAMES[BACKEND]):
        die(f"torch {torch.__version__} has no SDPBackend.{ENUM_NAMES[BACKEND]} (backend {BACKEND})")
    DEVICE = torch.device("cuda")
    import inspect
    try:
        HAS_GQA = "enable_gqa" in str(inspect.signature(torch.nn.functional.scaled_dot_product_attention))
    except (TypeError, ValueError):  # a builtin without a signature: read its docstring
        HAS_GQA = "enable_gqa" in (torch.nn.functional.scaled_dot_product_attention.__doc__ or "")

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
if BACKEND == "math" or (EMULATE and BACKEND == ""):
    DTYPES["float64"] = torch.float64


class CannotRun(Exception):
    """The backend refused the case (SDPA found no kernel of that backend for it)."""


# --------------------------------------------------------------------------------------------
# The call: SDPA under sdpa_kernel, or its CPU model
# --------------------------------------------------------------------------------------------

def emulated_sdpa(q, k, v, attn_mask=None, is_causal=False, scale=None, enable_gqa=False):
    """SDPA's documented semantics in plain torch ops (the reference code of PyTorch's docs):
    is_causal is the top-left lower triangle; a bool mask keeps True; a float mask is added;
    enable_gqa repeats k and v heads; softmax(q·kᵀ·scale + bias)·v. Half types run in float32 and
    are rounded back (1.13 lacks CPU half kernels; SDPA's math backend upcasts likewise)."""
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True")
    dtype = q.dtype
    work = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
    q, k, v = q.to(work), k.to(work), v.to(work)
    tq, tk = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    bias = torch.zeros(tq, tk, dtype=work)
    if is_causal:
        bias = bias.masked_fill(~torch.ones(tq, tk, dtype=torch.bool).tril(0), float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            bias = bias.masked_fill(~attn_mask, float("-inf"))
        else:
            bias = attn_mask.to(work) + bias
    if enable_gqa:
        k = k.repeat_interleave(q.shape[-3] // k.shape[-3], -3)
        v = v.repeat_interleave(q.shape[-3] // v.shape[-3], -3)
    weights = torch.softmax(q @ k.transpose(-2, -1) * scale + bias, dim=-1)
    return (weights @ v).to(dtype)


def call_sdpa(q, k, v, attn_mask, is_causal, scale, enable_gqa):
    """out = SDPA(...) restricted to BACKEND; CannotRun when that backend has no kernel for it."""
    kwargs = {"attn_mask": attn_mask, "is_causal": is_causal, "scale": scale}
    if enable_gqa:
        kwargs["enable_gqa"] = True
    if EMULATE:
        return emulated_sdpa(q, k, v, **kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with sdpa_kernel(getattr(SDPBackend, ENUM_NAMES[BACKEND])):
                return torch.nn.functional.scaled_dot_product_attention(q, k, v, **kwargs)
        except RuntimeError as e:
            raise_if_cannot_run(e, caught)
            raise


def raise_if_cannot_run(e, caught=()):
    text = " ".join(str(e).split())
    if any(p in text.lower() for p in CANNOT_RUN):
        # SDPA states its reasons as warnings before "No available kernel. Aborting execution."
        reasons = [" ".join(str(w.message).split()) for w in caught]
        reasons = [r for r in reasons if r and "sdpa_kernel" not in r] or [text]
        short = "; ".join(dict.fromkeys(reasons))
        raise CannotRun(short[:400]) from None


# --------------------------------------------------------------------------------------------
# Param mapping
# --------------------------------------------------------------------------------------------

def bool_param(params, name):
    v = params.get(name, False)
    if not isinstance(v, bool):
        raise BadRequest(f"params/{name}: expected true or false, got {v!r}")
    return v


def unsupported_params(params):
    """window, softcap and return_lse have no SDPA counterpart: unsupported (the case is skipped)."""
    known = {"causal", "scale", "window", "softcap", "return_lse"}
    extra = sorted(set(params) - known)
    if extra:
        raise BadRequest(f"params: unexpected: {', '.join(extra)}")
    return_lse = bool_param(params, "return_lse")
    window, softcap = params.get("window"), params.get("softcap")
    missing = []
    if window is not None:
        missing.append(f"window={window} (SDPA has no sliding window)")
    if softcap is not None:
        missing.append(f"softcap={softcap} (SDPA has no score soft-capping)")
    if return_lse:
        missing.append("return_lse (SDPA returns no logsumexp)")
    if missing:
        raise NotImplementedError("; ".join(missing))


def mapped_params(params, tq, tk, mask):
    """The catalogue's params -> SDPA's (attn_mask, is_causal, scale). causal is aligned
    bottom-right in the catalogue (query i at position Tk - Tq + i); SDPA's is_causal aligns
    top-left, which is the same only for Tq == Tk, so otherwise the mask is built here as users of
    a KV cache do."""
    causal = bool_param(params, "causal")
    scale = real_param(params, "scale", None)
    if mask is not None and tuple(mask.shape) != (tq, tk):
        raise BadRequest(f"inputs/mask: expected shape [{tq}, {tk}], got {list(mask.shape)}")
    if causal and tq > tk:
        raise BadRequest(f"params/causal: needs T_q <= T_k, got {tq} and {tk}")
    if causal and tq == tk and mask is None:
        return None, True, scale  # SDPA's own causal flag: the fused kernels' causal path
    if causal:
        # keep[i, j]: j <= Tk - Tq + i (bottom-right), torch.ones(Tq, Tk).tril(Tk - Tq) as users write it
        keep = torch.ones(tq, tk, dtype=torch.bool, device=DEVICE).tril(tk - tq)
        if mask is None:
            return keep, False, scale  # a boolean mask (True = attend)
        return mask.masked_fill(~keep, float("-inf")), False, scale  # the additive mask, causal added in
    return mask, False, scale  # the additive float mask as is (-inf entries included), or None


# --------------------------------------------------------------------------------------------
# The ops
# --------------------------------------------------------------------------------------------

def to_device(a, dtype):
    return torch.from_numpy(np.ascontiguousarray(a)).to(device=DEVICE, dtype=dtype)


def to_numpy(t):
    t = t.detach()
    if t.dtype == torch.bfloat16:
        t = t.float()  # exact; the kit rounds to bfloat16, which changes nothing
    return t.cpu().numpy()


def check_names(inputs, cotangents):
    for name in ("q", "k", "v"):
        if name not in inputs:
            raise BadRequest(f"inputs/{name}: missing")
    extra = sorted(set(inputs) - {"q", "k", "v", "mask"})
    if extra:
        raise BadRequest(f"inputs: unexpected: {', '.join(extra)}")
    extra = sorted(set(cotangents) - {"out"})
    if extra:
        raise BadRequest(f"cotangents: unexpected: {', '.join(extra)}")


def run_case(inputs, params, cotangents, dtype, gqa):
    unsupported_params(params)  # first: a return_lse request also carries an lse cotangent
    check_names(inputs, cotangents)
    tdtype = DTYPES[str(dtype)]
    q, k, v = (to_device(inputs[n], tdtype).requires_grad_(True) for n in ("q", "k", "v"))
    mask = to_device(inputs["mask"], tdtype) if "mask" in inputs else None
    lead_axes = 3 if gqa else 2
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.dim() < lead_axes:
            raise BadRequest(f"inputs/{name}: expected {'[..., H, T, D]' if gqa else '[..., T, D]'}, "
                             f"got shape {list(t.shape)}")
    batch_axes = q.dim() - lead_axes  # the leading axes q, k and v share
    if k.dim() != q.dim() or k.shape[:batch_axes] != q.shape[:batch_axes] \
            or v.shape[:-1] != k.shape[:-1] or k.shape[-1] != q.shape[-1]:
        raise BadRequest(f"inputs: shapes of q {list(q.shape)}, k {list(k.shape)}, v {list(v.shape)} do not fit")
    tq, tk = q.shape[-2], k.shape[-2]
    attn_mask, is_causal, scale = mapped_params(params, tq, tk, mask)

    # 4-D [B, H, T, D] as SDPA's fused kernels want (users call it so): for attention the last
    # leading axis is the heads axis, the others are flattened into the batch; for GQA the heads
    # axis is the catalogue's.
    if gqa:
        hq, hkv = q.shape[-3], k.shape[-3]
        if hkv < 1 or hq % hkv:
            raise BadRequest(f"inputs/k: H_q = {hq} is not a multiple of H_kv = {hkv}")
        b = int(np.prod(q.shape[:-3], dtype=np.int64))
        q4, k4, v4 = (t.reshape(b, t.shape[-3], t.shape[-2], t.shape[-1]) for t in (q, k, v))
    else:
        lead = q.shape[:-2]
        h = lead[-1] if lead else 1
        b = int(np.prod(lead[:-1], dtype=np.int64)) if lead else 1
        q4, k4, v4 = (t.reshape(b, h, t.shape[-2], t.shape[-1]) for t in (q, k, v))

    def forward(native_gqa):
        kk, vv = k4, v4
        if gqa and not native_gqa and k4.shape[1] != q4.shape[1]:
            n_rep = q4.shape[1] // k4.shape[1]  # head h reads kv head h // n_rep, as the catalogue
            kk, vv = k4.repeat_interleave(n_rep, dim=1), v4.repeat_interleave(n_rep, dim=1)
        return call_sdpa(q4, kk, vv, attn_mask, is_causal, scale, gqa and native_gqa)

    native = gqa and hq != hkv and (GQA_MODE == "native" or (GQA_MODE == "auto" and HAS_GQA))
    if gqa and GQA_MODE == "native" and not HAS_GQA:
        raise NotImplementedError(f"torch {torch.__version__} has no enable_gqa (GRADSPEC_SDPA_GQA=native)")
    try:
        out4 = forward(native)
    except CannotRun as e:
        if not (native and GQA_MODE == "auto"):
            raise
        print(f"{BACKEND}: enable_gqa refused ({e}); repeating k/v heads instead", file=sys.stderr)
        native = False
        out4 = forward(False)
    out = out4.reshape(*q.shape[:-1], v.shape[-1])
    gradients = {}
    if "out" in cotangents:
        cot = to_device(cotangents["out"], tdtype)
        if tuple(cot.shape) != tuple(out.shape):
            raise BadRequest(f"cotangents/out: shape {list(cot.shape)} differs from the output's {list(out.shape)}")
        try:
            if EMULATE:
                grads = torch.autograd.grad(out, (q, k, v), grad_outputs=cot, allow_unused=True)
            else:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    try:
                        with sdpa_kernel(getattr(SDPBackend, ENUM_NAMES[BACKEND])):
                            grads = torch.autograd.grad(out, (q, k, v), grad_outputs=cot, allow_unused=True)
                    except RuntimeError as e:
                        raise_if_cannot_run(e, caught)
                        raise
        except CannotRun as e:
            raise CannotRun(f"backward: {e}") from None
        gradients = {n: (torch.zeros_like(t) if g is None else g) for n, t, g in zip("qkv", (q, k, v), grads)}
    if not EMULATE:
        torch.cuda.synchronize()
    return {"outputs": {"out": to_numpy(out)}, "gradients": {n: to_numpy(g) for n, g in gradients.items()}}


def kit_op(gqa):
    def op(inputs, params, cotangents, dtype):
        try:
            return run_case(inputs, params, cotangents, dtype, gqa)
        except CannotRun as e:
            raise NotImplementedError(f"{BACKEND} cannot run this case: {e}") from None
    return op


def implementation():
    if EMULATE:
        name = "pytorch-sdpa-emulated" + (f"-{BACKEND}" if BACKEND else "")
        return name, f"{torch.__version__} CPU emulation, not SDPA"
    version = f"{torch.__version__} CUDA {torch.version.cuda} {torch.cuda.get_device_name()}"
    if BACKEND == "cudnn" and torch.backends.cudnn.is_available():
        version += f" cuDNN {torch.backends.cudnn.version()}"
    return f"pytorch-sdpa-{BACKEND}", version


def main():
    name, version = implementation()
    print(f"gradspec_sdpa_adapter: {name} {version}; GQA {GQA_MODE}"
          f"{' (enable_gqa available)' if HAS_GQA else ''}", file=sys.stderr)
    ops = {"attention": kit_op(False), "grouped_query_attention": kit_op(True)}
    return serve(name, version, list(DTYPES), ops)


if __name__ == "__main__":
    sys.exit(main())
