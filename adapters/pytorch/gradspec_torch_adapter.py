#!/usr/bin/python3
"""gradspec adapter for PyTorch (written against Debian's python3-torch 1.13).

Speaks the adapter protocol of docs/adapter_protocol.md ("gradspec-adapter/1") over stdin/stdout
through the Python kit (adapters/python/gradspec_adapter.py: handshake, decoding, errors, flushing).

Every op is computed on the CPU in the requested dtype with PyTorch's own library functions, called
the way a user calls them (F.linear, F.layer_norm, F.multi_head_attention_forward,
nn.TransformerEncoderLayer, ...), after converting gradspec's layouts to PyTorch's (our linear
weights are [in, out], nn.Linear's are [out, in]). Gradients are vector-Jacobian products from
torch.autograd.grad with the request's cotangents. Which inputs are differentiable and which are
integer comes from the catalogue (docs/ops.json, `gradspec ops --json`); the adapter serves every
catalogue op it has a function op_<name> for.

The adapter never repairs what PyTorch returns: an attention row whose keys are all masked gets
1.13's plain softmax of a row of -inf, NaN (in the output and in every gradient it reaches), which
gradspec judges against the case's documented alternatives (nan_from_plain_softmax). See README.md
next to this file.
"""

import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "python"))
from gradspec_adapter import BadRequest, catalogue, catalogue_input, real_param, serve  # noqa: E402

DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16}
NEG_INF = float("-inf")
CATALOGUE = catalogue()  # docs/ops.json
REQUIRED = object()  # sentinel: a param or input without a default


# --------------------------------------------------------------------------------------------
# Requests: the kit's numpy arrays as torch tensors, with name checks
# --------------------------------------------------------------------------------------------

def to_torch(a, dtype):
    """A numpy array from the kit -> a tensor: int64 stays int64, reals become `dtype` (exactly:
    the kit's arrays hold values exact in the requested dtype; bfloat16 arrives as float32)."""
    t = torch.from_numpy(a)
    return t if t.dtype == torch.int64 else t.to(dtype)


def to_numpy(t):
    """A result tensor -> a numpy array for the kit: float64 and float32 as they are, bfloat16
    widened exactly to float32 (the kit's bfloat16 rounding then leaves every value as it is)."""
    t = t.detach()
    if t.dtype == torch.bfloat16:
        t = t.to(torch.float32)
    return t.numpy()


class Request:
    """One request as tensors. Ops read their inputs and params through it; whatever an op never read
    is reported as unexpected, so a misspelt name is an error rather than silently ignored."""

    def __init__(self, op, inputs, params, cotangents, dtype):
        self.op = op
        self.entry = CATALOGUE[op]
        self.dtype = dtype
        self.params = params
        self.inputs = {n: to_torch(a, dtype) for n, a in inputs.items()}
        self.cotangents = {n: to_torch(a, dtype) for n, a in cotangents.items()}
        # Every real input the catalogue calls differentiable becomes an autograd leaf (not the mask).
        self.leaves = {}
        for name, t in self.inputs.items():
            spec = catalogue_input(self.entry, name)
            if t.is_floating_point() and (spec is None or spec["differentiable"]):
                t.requires_grad_(True)
                self.leaves[name] = t
        self.used_inputs, self.used_params = set(), set()

    # -- inputs
    def input(self, name):
        """A required input."""
        if name not in self.inputs:
            raise BadRequest(f"inputs/{name}: missing")
        return self.optional(name)

    def optional(self, name):
        """An optional input, or None. Integer or real as the catalogue says."""
        if name not in self.inputs:
            return None
        self.used_inputs.add(name)
        t = self.inputs[name]
        spec = catalogue_input(self.entry, name)
        integer = spec is not None and spec["dtype"] == "int64"
        if integer and t.dtype != torch.int64:
            raise BadRequest(f"inputs/{name}: expected an integer tensor (\"dtype\": \"int64\")")
        if not integer and t.dtype == torch.int64:
            raise BadRequest(f"inputs/{name}: expected a real tensor, got int64")
        return t

    # -- params
    def _param(self, name, default):
        self.used_params.add(name)
        if name in self.params:
            return self.params[name]
        if default is REQUIRED:
            raise BadRequest(f"params/{name}: missing")
        return default

    def p_int(self, name, default=REQUIRED, minimum=None):
        v = self._param(name, default)
        if v is None:
            return None
        if isinstance(v, float) and v == int(v):
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise BadRequest(f"params/{name}: expected an integer, got {json.dumps(v)}")
        if minimum is not None and v < minimum:
            raise BadRequest(f"params/{name}: must be at least {minimum}, got {v}")
        return v

    def p_real(self, name, default=REQUIRED):
        return real_param({name: self._param(name, default)}, name)

    def p_bool(self, name, default=REQUIRED):
        v = self._param(name, default)
        if not isinstance(v, bool):
            raise BadRequest(f"params/{name}: expected true or false, got {json.dumps(v)}")
        return v

    def p_choice(self, name, choices, default=REQUIRED):
        v = self._param(name, default)
        if v not in choices:
            raise BadRequest(f"params/{name}: expected one of {', '.join(map(json.dumps, choices))}, got {json.dumps(v)}")
        return v

    def check_all_used(self):
        extra_inputs = sorted(set(self.inputs) - self.used_inputs)
        if extra_inputs:
            raise BadRequest(f"inputs: unexpected for {self.op}: {', '.join(extra_inputs)}")
        extra_params = sorted(set(self.params) - self.used_params)
        if extra_params:
            raise BadRequest(f"params: unexpected for {self.op}: {', '.join(extra_params)}")


class Result:
    """What an op function returns: outputs and intermediates by name, and, for ops that run an
    nn.Module, the Binding that maps the module's parameter gradients back to our input names."""

    def __init__(self, outputs, intermediates=None, binding=None):
        self.outputs = outputs
        self.intermediates = intermediates or {}
        self.binding = binding


# --------------------------------------------------------------------------------------------
# Layout conversion between gradspec's weights and nn.Module parameters
# --------------------------------------------------------------------------------------------

class Binding:
    """Copies our weights into a module's parameters and maps the parameters' gradients back.

    Each rule names one module parameter and the input(s) it is made of:
      "same"          parameter = input                          (LayerNorm weight/bias, biases)
      "transpose"     parameter = inputᵀ                         (nn.Linear.weight is [out, in])
      "packed_weight" parameter = cat([w_qᵀ, w_kᵀ, w_vᵀ], dim=0)  (MultiheadAttention.in_proj_weight)
      "packed_bias"   parameter = cat([b_q, b_k, b_v])           (MultiheadAttention.in_proj_bias)
    The gradient goes back the same way: transposed, or split in three equal row blocks.
    """

    def __init__(self, module):
        self.module = module
        self.rules = []  # (parameter name, kind, [our input names])

    def add(self, param, kind, names):
        self.rules.append((param, kind, names))

    def load(self, req):
        """Copy the request's inputs into the module (no autograd history: the module's parameters
        are the leaves PyTorch differentiates, as in a user's training step)."""
        params = dict(self.module.named_parameters())
        bound = {p for p, _, _ in self.rules}
        if bound != set(params):
            raise RuntimeError(f"internal: binding covers {sorted(bound ^ set(params))} wrongly")
        with torch.no_grad():
            for pname, kind, names in self.rules:
                src = [req.input(n) for n in names]
                if kind == "same":
                    value = src[0]
                elif kind == "transpose":
                    value = _matrix(names[0], src[0]).t()
                elif kind == "packed_weight":
                    value = torch.cat([_matrix(n, s).t() for n, s in zip(names, src)], dim=0)
                else:  # packed_bias
                    value = torch.cat(src)
                if tuple(value.shape) != tuple(params[pname].shape):
                    raise BadRequest(f"inputs/{names[0]}: shape {list(src[0].shape)} does not fit PyTorch's "
                                     f"{pname} {list(params[pname].shape)} (model width and hidden size "
                                     f"follow from the other inputs)")
                params[pname].copy_(value)

    def parameters(self):
        params = dict(self.module.named_parameters())
        return [params[p] for p, _, _ in self.rules]

    def collect(self, grads):
        """Gradients of parameters() (same order) -> {our input name: gradient in our layout}."""
        out = {}
        for (pname, kind, names), g in zip(self.rules, grads):
            if kind == "same":
                out[names[0]] = g
            elif kind == "transpose":
                out[names[0]] = g.t()
            elif kind == "packed_weight":
                out.update({n: c.t() for n, c in zip(names, g.chunk(3, dim=0))})
            else:
                out.update(zip(names, g.chunk(3)))
        return out


def _matrix(name, t):
    if t.dim() != 2:
        raise BadRequest(f"inputs/{name}: expected a matrix, got shape {list(t.shape)}")
    return t


def bind_attention(b, module_prefix, our_prefix):
    """nn.MultiheadAttention <- {w_q, b_q, w_k, b_k, w_v, b_v, w_o, b_o} (ours [in, out])."""
    b.add(module_prefix + "in_proj_weight", "packed_weight", [our_prefix + n for n in ("w_q", "w_k", "w_v")])
    b.add(module_prefix + "in_proj_bias", "packed_bias", [our_prefix + n for n in ("b_q", "b_k", "b_v")])
    b.add(module_prefix + "out_proj.weight", "transpose", [our_prefix + "w_o"])
    b.add(module_prefix + "out_proj.bias", "same", [our_prefix + "b_o"])


def bind_norm(b, module_prefix, our_prefix):
    """nn.LayerNorm <- {gamma, beta}."""
    b.add(module_prefix + "weight", "same", [our_prefix + "gamma"])
    b.add(module_prefix + "bias", "same", [our_prefix + "beta"])


def bind_feed_forward(b, module_prefix, our_prefix):
    """linear1, linear2 of a Transformer*Layer <- {w1 [C, F], b1, w2 [F, C], b2}."""
    b.add(module_prefix + "linear1.weight", "transpose", [our_prefix + "w1"])
    b.add(module_prefix + "linear1.bias", "same", [our_prefix + "b1"])
    b.add(module_prefix + "linear2.weight", "transpose", [our_prefix + "w2"])
    b.add(module_prefix + "linear2.bias", "same", [our_prefix + "b2"])


def bind_encoder_layer(b, module_prefix, our_prefix):
    """nn.TransformerEncoderLayer: self_attn <- attn., norm1 <- ln1., linear1/2 <- ffn., norm2 <- ln2."""
    bind_attention(b, module_prefix + "self_attn.", our_prefix + "attn.")
    bind_norm(b, module_prefix + "norm1.", our_prefix + "ln1.")
    bind_feed_forward(b, module_prefix, our_prefix + "ffn.")
    bind_norm(b, module_prefix + "norm2.", our_prefix + "ln2.")


def bind_decoder_layer(b, module_prefix, our_prefix):
    """nn.TransformerDecoderLayer: self_attn <- self_attn., norm1 <- ln1., multihead_attn <- cross_attn.,
    norm2 <- ln2., linear1/2 <- ffn., norm3 <- ln3."""
    bind_attention(b, module_prefix + "self_attn.", our_prefix + "self_attn.")
    bind_norm(b, module_prefix + "norm1.", our_prefix + "ln1.")
    bind_attention(b, module_prefix + "multihead_attn.", our_prefix + "cross_attn.")
    bind_norm(b, module_prefix + "norm2.", our_prefix + "ln2.")
    bind_feed_forward(b, module_prefix, our_prefix + "ffn.")
    bind_norm(b, module_prefix + "norm3.", our_prefix + "ln3.")


# --------------------------------------------------------------------------------------------
# Shared pieces
# --------------------------------------------------------------------------------------------

# feed_forward's functional activations, and what nn.Transformer*Layer takes for them (1.13 knows
# only the strings "relu" and "gelu"; anything else is a callable).
ACTIVATIONS = {
    "relu": F.relu,
    "gelu": F.gelu,
    "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
    "silu": F.silu,
}
MODULE_ACTIVATIONS = {"relu": "relu", "gelu": "gelu", "gelu_tanh": ACTIVATIONS["gelu_tanh"], "silu": F.silu}


def flatten_batch(t, name):
    """[..., T, C] -> ([B, T, C], leading shape): PyTorch's modules take exactly one batch axis
    (zero leading axes become B = 1)."""
    if t.dim() < 2:
        raise BadRequest(f"inputs/{name}: expected [..., T, C], got shape {list(t.shape)}")
    return t.reshape(-1, *t.shape[-2:]), t.shape[:-2]


def check_heads(c, heads):
    if c % heads:
        raise BadRequest(f"params/heads: {heads} does not divide C = {c}")


def same_leading(x, memory, x_name="x", memory_name="memory"):
    if memory.dim() != x.dim() or memory.shape[:-2] != x.shape[:-2] or memory.shape[-1] != x.shape[-1]:
        raise BadRequest(f"inputs/{memory_name}: shape {list(memory.shape)} must have the leading axes and "
                         f"width of {x_name} {list(x.shape)}")


def additive_mask(mask, causal, tq, tk, dtype):
    """The float [Tq, Tk] attn_mask PyTorch's MultiheadAttention takes: our additive mask (or 0)
    with -inf where causal hides a key (key j > query i), as generate_square_subsequent_mask."""
    if causal and tq != tk:
        raise BadRequest(f"params/causal: needs T_q == T_k, got {tq} and {tk}")
    if mask is not None and tuple(mask.shape) != (tq, tk):
        raise BadRequest(f"inputs/mask: expected shape [{tq}, {tk}], got {list(mask.shape)}")
    if mask is None and not causal:
        return None
    m = mask.detach().clone() if mask is not None else torch.zeros(tq, tk, dtype=dtype)
    if causal:
        m = m.masked_fill(torch.ones(tq, tk, dtype=torch.bool).triu(1), NEG_INF)
    return m


def capture(module, what, store, key):
    """Forward hook that keeps a module's output (what="output") or first input ("input")."""
    def hook(mod, args, output):
        store[key] = output if what == "output" else args[0]
    module.register_forward_hook(hook)


def sinusoid_table(length, d_model, base, offset, dtype):
    """PE(pos, 2i) = sin(pos / base^(2i/d)), PE(pos, 2i+1) = cos(pos / base^(2i/d)), pos = offset + row.

    By default the angles and their sin/cos are formed in float64 and only the table is rounded to
    `dtype` (a careful implementation: angles near 1e4 formed in float32 or bfloat16 are off by
    1e-3 to 1e2, the trap EDGE_CASES.md lists). GRADSPEC_TORCH_PE=tutorial computes the PyTorch
    tutorial's PositionalEncoding in `dtype` instead:
        div_term = exp(arange(0, d, 2) · (-ln(base) / d)); pe[:, 0::2] = sin(position · div_term)
    For odd d the cos columns take the first d // 2 angles, so the last column is a sin.
    """
    work = dtype if os.environ.get("GRADSPEC_TORCH_PE") == "tutorial" else torch.float64
    position = (torch.arange(length) + offset).to(work).unsqueeze(1)                  # [T, 1]
    if work is torch.float64:
        angle = position / torch.pow(torch.tensor(float(base), dtype=work),
                                     torch.arange(0, d_model, 2).to(work) / d_model)  # [T, ceil(d/2)]
    else:
        div_term = torch.exp(torch.arange(0, d_model, 2).to(work) * (-math.log(base) / d_model))
        angle = position * div_term
    pe = torch.zeros(length, d_model, dtype=work)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return pe.to(dtype)


# --------------------------------------------------------------------------------------------
# The ops, one function each (catalogue v1). Each reads its inputs and params from the request and
# returns a Result; the driver below differentiates the outputs.
# --------------------------------------------------------------------------------------------

def op_linear(r):
    # y[..., O] = x[..., I]·w[I, O] + b[O]; nn.Linear's weight is [O, I] = wᵀ.
    x, w, b = r.input("x"), r.input("w"), r.input("b")
    return Result({"y": F.linear(x, _matrix("w", w).t(), b)})


def op_embedding(r):
    # y[..., C] = table[ids] · s, s = 1 or sqrt(C) (the tutorial's TokenEmbedding: * math.sqrt(C)).
    ids, table = r.input("ids"), r.input("table")
    scale = r.p_choice("scale", ["none", "sqrt_d"], "none")
    y = F.embedding(ids, _matrix("table", table))
    if scale == "sqrt_d":
        y = y * math.sqrt(table.shape[1])
    return Result({"y": y})


def op_positional_encoding(r):
    length = r.p_int("length", minimum=0)
    d_model = r.p_int("d_model", minimum=1)
    base = r.p_real("base", 10000.0)
    offset = r.p_int("offset", 0, minimum=0)
    return Result({"pe": sinusoid_table(length, d_model, base, offset, r.dtype)})


def op_softmax(r):
    # Plain F.softmax: a row of all -inf gives NaN in PyTorch 1.13, as it does in attention.
    return Result({"y": F.softmax(r.input("x"), dim=-1)})


def op_log_softmax(r):
    return Result({"y": F.log_softmax(r.input("x"), dim=-1)})


def op_relu(r):
    return Result({"y": F.relu(r.input("x"))})


def op_gelu(r):
    approximate = r.p_choice("approximate", ["none", "tanh"], "none")
    return Result({"y": F.gelu(r.input("x"), approximate=approximate)})


def op_silu(r):
    return Result({"y": F.silu(r.input("x"))})


def op_layer_norm(r):
    x, gamma, beta = r.input("x"), r.input("gamma"), r.input("beta")
    eps = r.p_real("eps", 1e-5)
    y = F.layer_norm(x, (x.shape[-1],), gamma, beta, eps)
    # mean and rstd as PyTorch's own kernel keeps them (F.layer_norm calls native_layer_norm).
    with torch.no_grad():
        _, mean, rstd = torch.native_layer_norm(x, (x.shape[-1],), gamma, beta, eps)
    return Result({"y": y}, {"mean": mean.squeeze(-1), "rstd": rstd.squeeze(-1)})


def op_rms_norm(r):
    # 1.13 has no F.rms_norm (added in 2.4); the usual hand-written module (LLaMA's RMSNorm).
    x, gamma = r.input("x"), r.input("gamma")
    eps = r.p_real("eps", 1e-6)
    offset = r.p_real("gamma_offset", 0.0)
    rstd = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    if offset == 0:
        y = x * rstd * gamma
    else:
        # gamma_offset (v2), as Gemma's RMSNorm: x·rstd·(1 + weight) with the scale kept in float32 (or
        # wider), rounded to the dtype once at the end; rounding 1 + weight to bfloat16 would drop
        # weight's low bits.
        wide = torch.promote_types(x.dtype, torch.float32)
        y = ((x * rstd).to(wide) * (gamma.to(wide) + offset)).to(x.dtype)
    return Result({"y": y}, {"rstd": rstd.detach().squeeze(-1)})


class SoftCap(torch.autograd.Function):
    """c·tanh(s/c) with the slope 1/cosh²(s/c) formed directly. torch.tanh's backward forms 1 - y²,
    which cancels once tanh saturates: near s/c = 15 in float64 only a few digits of the slope are
    left, and beyond s/c = 19 it is exactly 0 where the true slope (4e^(-2s/c), ~1e-174 at s/c = 200)
    is still a double. GRADSPEC_TORCH_SOFTCAP=tanh uses Hugging Face Gemma 2's
    torch.tanh(s / c) * c instead, to show that."""

    @staticmethod
    def forward(ctx, s, cap):
        u = s / cap
        ctx.save_for_backward(u)
        return torch.tanh(u) * cap

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        return grad / torch.cosh(u).square(), None  # cosh overflowing to inf gives the 0 the slope rounds to


def softcap_scores(scores, cap):
    if os.environ.get("GRADSPEC_TORCH_SOFTCAP") == "tanh":
        return torch.tanh(scores / cap) * cap
    return SoftCap.apply(scores, cap)


def attention_params(r):
    """The params attention and grouped_query_attention share (catalogue v2): causal, scale, window,
    softcap, return_lse."""
    causal = r.p_bool("causal", False)
    scale = r.p_real("scale", None)
    window = r.p_int("window", None, minimum=1)
    softcap = r.p_real("softcap", None)
    return_lse = r.p_bool("return_lse", False)
    if window is not None and not causal:
        raise BadRequest("params/window: needs causal")
    if softcap is not None and not softcap > 0:
        raise BadRequest(f"params/softcap: must be positive, got {softcap}")
    return causal, scale, window, softcap, return_lse


def hidden_keys(mask, causal, window, tq, tk):
    """[Tq, Tk] bool, True where query i may not see key j: the mask is -inf there, or causality
    aligned bottom-right hides it (row i sits at position p = Tk - Tq + i and sees j <= p, as
    FlashAttention >= 2.1 and decoding with a KV cache; SDPA's is_causal aligns top-left, so the
    mask is built here), or the sliding window does (j <= p - W: Mistral's W keys, itself included)."""
    hidden = torch.zeros(tq, tk, dtype=torch.bool)
    if mask is not None:
        if tuple(mask.shape) != (tq, tk):
            raise BadRequest(f"inputs/mask: expected shape [{tq}, {tk}], got {list(mask.shape)}")
        hidden = torch.isneginf(mask)
    if causal:
        if tq > tk:
            raise BadRequest(f"params/causal: needs T_q <= T_k, got {tq} and {tk}")
        p = torch.arange(tq).unsqueeze(1) + (tk - tq)   # [Tq, 1]: each query row's position
        j = torch.arange(tk).unsqueeze(0)               # [1, Tk]
        hidden = hidden | (j > p)
        if window is not None:
            hidden = hidden | (j <= p - window)
    return hidden


def attention_math(q, k, v, mask, causal, scale, window, softcap, return_lse):
    """The math path of scaled_dot_product_attention (1.13 has no F.scaled_dot_product_attention),
    with Gemma 2's soft-capping and the lse FlashAttention returns:
        scores = q @ kᵀ · scale; softcap c: scores = tanh(scores / c) · c (Hugging Face Gemma 2; the
        gradient through SoftCap, see there);
        + finite mask values, masked_fill(-inf) where the mask is -inf or causal / window hide the key;
        weights = F.softmax(scores, dim=-1); out = weights @ v; lse = torch.logsumexp(scores, dim=-1)
        (PyTorch's own, which shifts by the row max, so that large scores do not overflow).
    Rows with every key hidden are left to PyTorch: plain F.softmax of a row of -inf is NaN in 1.13,
    and torch.logsumexp of it -inf. -> out, lse (or None), scores, weights."""
    tq, tk = q.shape[-2], k.shape[-2]
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    scores = q @ k.transpose(-2, -1) * scale
    if softcap is not None:
        scores = softcap_scores(scores, softcap)
    hidden = hidden_keys(mask, causal, window, tq, tk)
    if mask is not None:
        scores = scores + mask.masked_fill(hidden, 0.0)
    if bool(hidden.any()):
        scores = scores.masked_fill(hidden, NEG_INF)
    weights = F.softmax(scores, dim=-1)
    out = weights @ v
    lse = torch.logsumexp(scores, dim=-1) if return_lse else None
    return out, lse, scores, weights


def attention_result(out, lse, scores, weights):
    outputs = {"out": out}
    if lse is not None:
        outputs["lse"] = lse
    return Result(outputs, {"scores": scores.detach(), "weights": weights.detach()})


def op_attention(r):
    """attention_math on q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv] (any leading axes, broadcast
    as matmul does)."""
    q, k, v = r.input("q"), r.input("k"), r.input("v")
    mask = r.optional("mask")
    params = attention_params(r)
    if q.dim() < 2 or k.dim() < 2 or v.dim() < 2:
        raise BadRequest("inputs: q, k, v must be [..., T, D]")
    return attention_result(*attention_math(q, k, v, mask, *params))


def op_grouped_query_attention(r):
    """Hugging Face's LLaMA/Mistral attention: repeat_kv (each key/value head repeated H_q/H_kv times
    in place, expand + reshape, the same as repeat_interleave on the head axis), then attention_math
    per query head. Query head h reads key/value head h // (H_q/H_kv); autograd sums the gradients of
    the repeated copies back into dk and dv."""
    q, k, v = r.input("q"), r.input("k"), r.input("v")
    mask = r.optional("mask")
    params = attention_params(r)
    for name, t in (("q", q), ("k", k), ("v", v)):
        if t.dim() < 3:
            raise BadRequest(f"inputs/{name}: expected [..., H, T, D], got shape {list(t.shape)}")
    if k.shape[:-3] != q.shape[:-3] or v.shape[:-3] != q.shape[:-3]:
        raise BadRequest(f"inputs: batch axes of q {list(q.shape)}, k {list(k.shape)}, v {list(v.shape)} differ")
    hq, hkv = q.shape[-3], k.shape[-3]
    if v.shape[-3] != hkv:
        raise BadRequest(f"inputs/v: {v.shape[-3]} heads, k has {hkv}")
    if hkv < 1 or hq % hkv:
        raise BadRequest(f"inputs/k: H_q = {hq} is not a multiple of H_kv = {hkv}")
    n_rep = hq // hkv

    def repeat_kv(t):  # transformers.models.llama.modeling_llama.repeat_kv, any leading axes
        *lead, h, s, d = t.shape
        return t.unsqueeze(-3).expand(*lead, h, n_rep, s, d).reshape(*lead, h * n_rep, s, d)

    return attention_result(*attention_math(q, repeat_kv(k), repeat_kv(v), mask, *params))


def op_multi_head_attention(r):
    """F.multi_head_attention_forward (what nn.MultiheadAttention runs), inputs as [T, B, C].
    in_proj_weight = cat([w_qᵀ, w_kᵀ, w_vᵀ]) is built from our leaves, so autograd returns our
    gradients directly. The mask is passed as is: a fully masked row is 1.13's NaN."""
    x, memory = r.input("x"), r.optional("memory")
    w = {n: r.input(n) for n in ("w_q", "w_k", "w_v", "w_o", "b_q", "b_k", "b_v", "b_o")}
    mask = r.optional("mask")
    heads = r.p_int("heads", minimum=1)
    causal = r.p_bool("causal", False)
    x3, lead = flatten_batch(x, "x")
    tq, c = x3.shape[1], x3.shape[2]
    check_heads(c, heads)
    query = x3.transpose(0, 1)                                    # [Tq, B, C]
    if memory is None:
        key = value = query                                       # self-attention: same tensor
    else:
        same_leading(x, memory)
        key = value = flatten_batch(memory, "memory")[0].transpose(0, 1)  # [Tk, B, C]
    attn_mask = additive_mask(mask, causal, tq, key.shape[0], r.dtype)
    in_proj_weight = torch.cat([_matrix(n, w[n]).t() for n in ("w_q", "w_k", "w_v")], dim=0)
    in_proj_bias = torch.cat([w["b_q"], w["b_k"], w["b_v"]])
    y, _ = F.multi_head_attention_forward(
        query, key, value, c, heads, in_proj_weight, in_proj_bias,
        None, None, False, 0.0, _matrix("w_o", w["w_o"]).t(), w["b_o"],
        training=True, need_weights=False, attn_mask=attn_mask)  # y [Tq, B, C]
    return Result({"y": y.transpose(0, 1).reshape(*lead, tq, c)})


def op_feed_forward(r):
    # y = act(x·w1 + b1)·w2 + b2 as F.linear (weights transposed to [out, in]).
    x, w1, b1, w2, b2 = (r.input(n) for n in ("x", "w1", "b1", "w2", "b2"))
    act = ACTIVATIONS[r.p_choice("activation", list(ACTIVATIONS), "relu")]
    hidden = act(F.linear(x, _matrix("w1", w1).t(), b1))
    y = F.linear(hidden, _matrix("w2", w2).t(), b2)
    return Result({"y": y}, {"hidden": hidden.detach()})


def ignore_index_param(r):
    """null ignores nothing: PyTorch's default -100, which no valid target equals."""
    ii = r.p_int("ignore_index", None)
    return -100 if ii is None else ii


def op_cross_entropy(r):
    # logits [N, V] (leading axes [..., V] flattened), targets [N] int64.
    logits, targets = r.input("logits"), r.input("targets")
    reduction = r.p_choice("reduction", ["mean", "sum", "none"], "mean")
    ignore_index = ignore_index_param(r)
    label_smoothing = r.p_real("label_smoothing", 0.0)
    if logits.dim() < 1 or tuple(targets.shape) != tuple(logits.shape[:-1]):
        raise BadRequest(f"inputs/targets: shape {list(targets.shape)} must be logits' {list(logits.shape)} "
                         f"without the last axis")
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction=reduction,
                           ignore_index=ignore_index, label_smoothing=label_smoothing)
    if reduction == "none":
        loss = loss.reshape(targets.shape)
    return Result({"loss": loss})


def layer_options(r):
    """The params encoder_layer, decoder_layer and transformer share."""
    return dict(heads=r.p_int("heads", minimum=1), norm_first=r.p_bool("norm_first", False),
                eps=r.p_real("eps", 1e-5),
                activation=MODULE_ACTIVATIONS[r.p_choice("activation", list(ACTIVATIONS), "relu")])


def sizes(r, x_name, w1_name):
    """C from x's last axis, F from ffn.w1 [C, F]."""
    c, w1 = r.input(x_name).shape[-1], _matrix(w1_name, r.input(w1_name))
    return c, w1.shape[1]


def op_encoder_layer(r):
    """nn.TransformerEncoderLayer(batch_first=True, dropout=0), in train() mode: in eval() 1.13 may
    take the fused inference fast path (torch._transformer_encoder_layer_fwd), which has no
    backward. Dropout 0 makes train mode deterministic."""
    x, mask = r.input("x"), r.optional("mask")
    opt = layer_options(r)
    causal = r.p_bool("causal", False)
    c, f = sizes(r, "x", "ffn.w1")
    check_heads(c, opt["heads"])
    layer = nn.TransformerEncoderLayer(d_model=c, nhead=opt["heads"], dim_feedforward=f, dropout=0.0,
                                       activation=opt["activation"], layer_norm_eps=opt["eps"],
                                       batch_first=True, norm_first=opt["norm_first"], dtype=r.dtype)
    layer.train()
    binding = Binding(layer)
    bind_encoder_layer(binding, "", "")
    binding.load(r)
    # h = the attention block's output: norm1's output (post-LN) or norm2's input (pre-LN).
    seen = {}
    capture(layer.norm2 if opt["norm_first"] else layer.norm1, "input" if opt["norm_first"] else "output", seen, "h")
    x3, lead = flatten_batch(x, "x")
    src_mask = additive_mask(mask, causal, x3.shape[1], x3.shape[1], r.dtype)
    y = layer(x3, src_mask=src_mask)
    return Result({"y": y.reshape(x.shape)}, {"h": seen["h"].detach().reshape(x.shape)}, binding)


def op_decoder_layer(r):
    """nn.TransformerDecoderLayer(batch_first=True, dropout=0) in train() mode, called as
    layer(x, memory, tgt_mask=generate_square_subsequent_mask(T)) (causal self-attention, no
    other masks; a causal row always sees its own key, so no row is fully masked)."""
    x, memory = r.input("x"), r.input("memory")
    same_leading(x, memory)
    opt = layer_options(r)
    c, f = sizes(r, "x", "ffn.w1")
    check_heads(c, opt["heads"])
    layer = nn.TransformerDecoderLayer(d_model=c, nhead=opt["heads"], dim_feedforward=f, dropout=0.0,
                                       activation=opt["activation"], layer_norm_eps=opt["eps"],
                                       batch_first=True, norm_first=opt["norm_first"], dtype=r.dtype)
    layer.train()
    binding = Binding(layer)
    bind_decoder_layer(binding, "", "")
    binding.load(r)
    # h1, h2 = outputs of the self- and cross-attention blocks: norm1/norm2 outputs (post-LN) or
    # norm2/norm3 inputs (pre-LN).
    seen = {}
    if opt["norm_first"]:
        capture(layer.norm2, "input", seen, "h1")
        capture(layer.norm3, "input", seen, "h2")
    else:
        capture(layer.norm1, "output", seen, "h1")
        capture(layer.norm2, "output", seen, "h2")
    x3, _ = flatten_batch(x, "x")
    m3, _ = flatten_batch(memory, "memory")
    t = x3.shape[1]
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(t).to(r.dtype)
    y = layer(x3, m3, tgt_mask=tgt_mask)
    inter = {k: v.detach().reshape(x.shape) for k, v in seen.items()}
    return Result({"y": y.reshape(x.shape)}, inter, binding)


def op_transformer(r):
    """The PyTorch tutorial "Language Translation with nn.Transformer" (Seq2SeqTransformer):
        src = F.embedding(src_ids, src_embed) · sqrt(C) + pe[:S];  tgt likewise with tgt_embed
        dec = nn.Transformer(...)(src, tgt, tgt_mask=generate_square_subsequent_mask(T))
        logits = F.linear(dec, out.wᵀ, out.b)
        loss = F.cross_entropy(logits.reshape(-1, V), labels.reshape(-1), ignore_index, label_smoothing)
    nn.Transformer always has the final encoder and decoder LayerNorms (enc_norm, dec_norm)."""
    src_ids, tgt_ids = r.input("src_ids"), r.input("tgt_ids")
    labels = r.input("labels")
    src_embed, tgt_embed = _matrix("src_embed", r.input("src_embed")), _matrix("tgt_embed", r.input("tgt_embed"))
    out_w, out_b = _matrix("out.w", r.input("out.w")), r.input("out.b")
    layers = r.p_int("layers", minimum=1)
    opt = layer_options(r)
    embed_scale = r.p_choice("embed_scale", ["sqrt_d", "none"], "sqrt_d")
    label_smoothing = r.p_real("label_smoothing", 0.0)
    ignore_index = ignore_index_param(r)
    if src_ids.dim() < 1 or tgt_ids.dim() < 1 or src_ids.shape[:-1] != tgt_ids.shape[:-1]:
        raise BadRequest(f"inputs/tgt_ids: shape {list(tgt_ids.shape)} must have the leading axes of "
                         f"src_ids {list(src_ids.shape)}")
    if labels.shape != tgt_ids.shape:
        raise BadRequest(f"inputs/labels: shape {list(labels.shape)} must equal tgt_ids' {list(tgt_ids.shape)}")
    c = src_embed.shape[1]
    f = _matrix("enc.0.ffn.w1", r.input("enc.0.ffn.w1")).shape[1]
    check_heads(c, opt["heads"])
    tr = nn.Transformer(d_model=c, nhead=opt["heads"], num_encoder_layers=layers, num_decoder_layers=layers,
                        dim_feedforward=f, dropout=0.0, activation=opt["activation"], layer_norm_eps=opt["eps"],
                        batch_first=True, norm_first=opt["norm_first"], dtype=r.dtype)
    tr.train()
    binding = Binding(tr)
    for i in range(layers):
        bind_encoder_layer(binding, f"encoder.layers.{i}.", f"enc.{i}.")
        bind_decoder_layer(binding, f"decoder.layers.{i}.", f"dec.{i}.")
    bind_norm(binding, "encoder.norm.", "enc_norm.")
    bind_norm(binding, "decoder.norm.", "dec_norm.")
    binding.load(r)
    seen = {}
    capture(tr.encoder, "output", seen, "memory")  # the normed encoder output cross-attention reads

    lead = src_ids.shape[:-1]
    s_len, t_len = src_ids.shape[-1], tgt_ids.shape[-1]
    pe = sinusoid_table(max(s_len, t_len), c, 10000.0, 0, r.dtype)

    def embed(ids, table, length):  # the tutorial's TokenEmbedding, then PositionalEncoding
        e = F.embedding(ids.reshape(-1, length), table)
        return (e * math.sqrt(c) if embed_scale == "sqrt_d" else e) + pe[:length]

    src, tgt = embed(src_ids, src_embed, s_len), embed(tgt_ids, tgt_embed, t_len)
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(t_len).to(r.dtype)
    dec = tr(src, tgt, tgt_mask=tgt_mask)
    logits = F.linear(dec, out_w.t(), out_b)
    v = logits.shape[-1]
    loss = F.cross_entropy(logits.reshape(-1, v), labels.reshape(-1), ignore_index=ignore_index,
                           label_smoothing=label_smoothing)
    memory = seen["memory"].detach().reshape(*lead, s_len, c)
    return Result({"loss": loss, "logits": logits.reshape(*lead, t_len, v)}, {"memory": memory}, binding)


# --------------------------------------------------------------------------------------------
# The driver: the VJP of one request, and the op table the kit serves
# --------------------------------------------------------------------------------------------

def rope_angles(length, rotary_dim, base, offset):
    """cos and sin of θ = (offset + t)·base^(-2i/R), [T, R/2], formed in float64 (a careful
    implementation). GRADSPEC_TORCH_ROPE=float32 forms inv_freq and the product in float32 instead, as
    Hugging Face's LlamaRotaryEmbedding and Meta's precompute_freqs_cis do: at positions near 1e6 the
    angle is off by up to p·2^-24 (the long-context phase drift of EDGE_CASES.md)."""
    work = torch.float32 if os.environ.get("GRADSPEC_TORCH_ROPE") == "float32" else torch.float64
    inv_freq = 1.0 / (base ** (torch.arange(0, rotary_dim, 2, dtype=torch.float64).to(work) / rotary_dim))
    position = (torch.arange(length, dtype=torch.float64) + offset).to(work)
    angle = torch.outer(position, inv_freq)                                               # [T, R/2]
    return torch.cos(angle), torch.sin(angle)


def op_rope(r):
    # x [..., T, D]: row t at position offset + t; pairs (i, i + R/2) (rotate_half, Hugging Face) or
    # (2i, 2i + 1) (interleaved, Meta / GPT-J); features from R on pass through.
    x = r.input("x")
    if x.dim() < 2:
        raise BadRequest(f"inputs/x: expected [..., T, D], got shape {list(x.shape)}")
    length, d = x.shape[-2], x.shape[-1]
    base = r.p_real("base", 10000.0)
    style = r.p_choice("style", ["half", "interleaved"], "half")
    rotary_dim = r.p_int("rotary_dim", None, minimum=0)
    rotary_dim = d if rotary_dim is None else rotary_dim
    if rotary_dim % 2 or rotary_dim > d:
        raise BadRequest(f"params/rotary_dim: must be even and at most D = {d}, got {rotary_dim}")
    offset = r.p_int("offset", 0, minimum=0)
    cos, sin = (t.to(x.dtype) for t in rope_angles(length, rotary_dim, base, offset))
    return Result({"y": rope_turn(x, cos, sin, style, rotary_dim)})


def rope_turn(x, cos, sin, style, rotary_dim):
    """x [..., T, D] with its first rotary_dim features turned by the angles cos, sin [T, R/2]:
    pairs (i, i + R/2) (Hugging Face's rotate_half) or (2i, 2i + 1) (Meta's complex pairs)."""
    rot, rest = x[..., :rotary_dim], x[..., rotary_dim:]
    if style == "half":
        a, b = rot[..., : rotary_dim // 2], rot[..., rotary_dim // 2:]
        turned = torch.cat([a * cos - b * sin, b * cos + a * sin], dim=-1)
    else:
        a, b = rot[..., 0::2], rot[..., 1::2]
        turned = torch.stack([a * cos - b * sin, b * cos + a * sin], dim=-1).flatten(-2)
    return torch.cat([turned, rest], dim=-1)


def op_gated_feed_forward(r):
    # Hugging Face's LlamaMLP / GemmaMLP: down_proj(act(gate_proj(x)) * up_proj(x)), no biases, as
    # F.linear with our [in, out] weights transposed to nn.Linear's [out, in].
    x, w_gate, w_up, w_down = (r.input(n) for n in ("x", "w_gate", "w_up", "w_down"))
    act = ACTIVATIONS[r.p_choice("activation", ["silu", "gelu", "gelu_tanh"], "silu")]
    if x.dim() < 1:
        raise BadRequest(f"inputs/x: expected [..., C], got shape {list(x.shape)}")
    c = x.shape[-1]
    if _matrix("w_gate", w_gate).shape[0] != c:
        raise BadRequest(f"inputs/w_gate: expected [C, F] with C = {c}, got {list(w_gate.shape)}")
    f = w_gate.shape[1]
    for name, t, want in (("w_up", w_up, [c, f]), ("w_down", w_down, [f, c])):
        if list(t.shape) != want:
            raise BadRequest(f"inputs/{name}: expected shape {want}, got {list(t.shape)}")
    gate = F.linear(x, w_gate.t())
    up = F.linear(x, w_up.t())
    hidden = act(gate) * up
    y = F.linear(hidden, w_down.t())
    return Result({"y": y}, {"gate": gate.detach(), "up": up.detach(), "hidden": hidden.detach()})


def rms_norm_llama(x, gamma, eps):
    """Hugging Face's LlamaRMSNorm: mean of squares and scaling in float32 (or wider), the result cast
    back to the dtype, then times the weight."""
    wide = x.to(torch.promote_types(x.dtype, torch.float32))
    return gamma * (wide * torch.rsqrt(wide.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def llama_block_options(r, c):
    """The llama_block params (catalogue v2), shared with llama; c is the model width."""
    heads = r.p_int("heads", minimum=1)
    kv_heads = r.p_int("kv_heads", None, minimum=1)
    kv_heads = heads if kv_heads is None else kv_heads
    head_dim = r.p_int("head_dim", None, minimum=2)
    if head_dim is None:
        if c % heads:
            raise BadRequest(f"params/heads: {heads} heads do not divide C = {c}")
        head_dim = c // heads
    if head_dim % 2:
        raise BadRequest(f"params/head_dim: must be even (RoPE turns the whole head), got {head_dim}")
    if heads % kv_heads:
        raise BadRequest(f"params/kv_heads: heads = {heads} is not a multiple of kv_heads = {kv_heads}")
    softcap = r.p_real("softcap", None)
    if softcap is not None and not softcap > 0:
        raise BadRequest(f"params/softcap: must be positive, got {softcap}")
    return dict(heads=heads, kv_heads=kv_heads, head_dim=head_dim, base=r.p_real("rope_base", 10000.0),
                style=r.p_choice("rope_style", ["half", "interleaved"], "half"), eps=r.p_real("eps", 1e-6),
                window=r.p_int("window", None, minimum=1), softcap=softcap,
                act=ACTIVATIONS[r.p_choice("activation", ["silu", "gelu", "gelu_tanh"], "silu")],
                offset=r.p_int("offset", 0, minimum=0))


def llama_block_torch(r, x, prefix, o):
    """Hugging Face's LlamaDecoderLayer (and Mistral's, with the window; Gemma 2's attention
    soft-capping) written out in 1.13: input_layernorm, q_proj/k_proj/v_proj as F.linear with our
    [in, out] weights transposed, view(.., T, H, D).transpose, RoPE on q and k (angles in float64,
    see rope_angles), repeat_kv, attention_math (causal, window, softcap, scale 1/sqrt(D)), o_proj,
    residual, post_attention_layernorm, LlamaMLP, residual. -> y, intermediates."""
    c, t_len, lead = x.shape[-1], x.shape[-2], x.shape[:-2]
    hq, hkv, d = o["heads"], o["kv_heads"], o["head_dim"]
    w = {}
    for name, want in (("attn_norm.gamma", [c]), ("attn.w_q", [c, hq * d]), ("attn.w_k", [c, hkv * d]),
                       ("attn.w_v", [c, hkv * d]), ("attn.w_o", [hq * d, c]), ("ffn_norm.gamma", [c]),
                       ("ffn.w_gate", None), ("ffn.w_up", None), ("ffn.w_down", None)):
        w[name] = r.input(prefix + name)
        if want is not None and list(w[name].shape) != want:
            raise BadRequest(f"inputs/{prefix}{name}: expected shape {want}, got {list(w[name].shape)}")
    f = _matrix(prefix + "ffn.w_gate", w["ffn.w_gate"]).shape[1]
    for name, want in (("ffn.w_gate", [c, f]), ("ffn.w_up", [c, f]), ("ffn.w_down", [f, c])):
        if list(w[name].shape) != want:
            raise BadRequest(f"inputs/{prefix}{name}: expected shape {want}, got {list(w[name].shape)}")

    def heads_of(t, h):  # [..., T, H·D] -> [..., H, T, D]
        return t.reshape(*lead, t_len, h, d).transpose(-3, -2)

    a = rms_norm_llama(x, w["attn_norm.gamma"], o["eps"])
    cos, sin = (t.to(x.dtype) for t in rope_angles(t_len, d, o["base"], o["offset"]))
    q = rope_turn(heads_of(F.linear(a, w["attn.w_q"].t()), hq), cos, sin, o["style"], d)
    k = rope_turn(heads_of(F.linear(a, w["attn.w_k"].t()), hkv), cos, sin, o["style"], d)
    v = heads_of(F.linear(a, w["attn.w_v"].t()), hkv)
    n_rep = hq // hkv

    def repeat_kv(t):  # transformers.models.llama.modeling_llama.repeat_kv
        return t.unsqueeze(-3).expand(*lead, hkv, n_rep, t_len, d).reshape(*lead, hq, t_len, d)

    out, _, _, _ = attention_math(q, repeat_kv(k), repeat_kv(v), None, True, 1.0 / math.sqrt(d), o["window"],
                                  o["softcap"], False)
    attn_out = out.transpose(-3, -2).reshape(*lead, t_len, hq * d)
    h = x + F.linear(attn_out, w["attn.w_o"].t())
    b = rms_norm_llama(h, w["ffn_norm.gamma"], o["eps"])
    y = h + F.linear(o["act"](F.linear(b, w["ffn.w_gate"].t())) * F.linear(b, w["ffn.w_up"].t()), w["ffn.w_down"].t())
    return y, {"q": q.detach(), "k": k.detach(), "attn_out": attn_out.detach(), "h": h.detach()}


def op_llama_block(r):
    x = r.input("x")
    if x.dim() < 2:
        raise BadRequest(f"inputs/x: expected [..., T, C], got shape {list(x.shape)}")
    y, inter = llama_block_torch(r, x, "", llama_block_options(r, x.shape[-1]))
    return Result({"y": y}, inter)


def op_llama(r):
    """Hugging Face's LlamaForCausalLM written out: embed_tokens (F.embedding), the decoder layers,
    the final norm, lm_head (or the embedding matrix itself when tied: F.linear(hidden, embed), the
    weight shared, so autograd adds both uses), Gemma 2's final_logit_softcapping, and
    F.cross_entropy over the flattened positions with the labels as given (already shifted)."""
    ids, labels = r.input("ids"), r.input("labels")
    embed = _matrix("embed", r.input("embed"))
    layers = r.p_int("layers", minimum=1)
    tied = r.p_bool("tie_embeddings", False)
    cap = r.p_real("logit_softcap", None)
    ignore_index = ignore_index_param(r)
    o = llama_block_options(r, embed.shape[1])
    lm_head = r.optional("lm_head")
    if tied and lm_head is not None:
        raise BadRequest("inputs/lm_head: must be absent with tie_embeddings")
    if not tied and lm_head is None:
        raise BadRequest("inputs/lm_head: missing")
    if ids.dim() < 1 or labels.shape != ids.shape:
        raise BadRequest(f"inputs/labels: shape {list(labels.shape)} must equal ids' {list(ids.shape)}")
    if cap is not None and not cap > 0:
        raise BadRequest(f"params/logit_softcap: must be positive, got {cap}")
    h = F.embedding(ids, embed)
    for i in range(layers):
        h, _ = llama_block_torch(r, h, f"blocks.{i}.", o)
    hidden = rms_norm_llama(h, r.input("norm.gamma"), o["eps"])
    logits = F.linear(hidden, embed) if tied else F.linear(hidden, _matrix("lm_head", lm_head).t())
    if cap is not None:
        logits = softcap_scores(logits, cap)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=ignore_index)
    return Result({"loss": loss, "logits": logits}, {"hidden": hidden.detach()})


def evaluate(req, fn):
    """Runs op function `fn` on one request; returns its outputs, gradients and intermediates."""
    result = fn(req)
    req.check_all_used()

    # VJP: sum over outputs o of (do/dX)ᵀ · cot_o, for every leaf (and module parameter).
    for name in req.cotangents:
        if name not in result.outputs:
            raise BadRequest(f"cotangents/{name}: the op has no output of that name "
                             f"(outputs: {', '.join(result.outputs)})")
        if tuple(req.cotangents[name].shape) != tuple(result.outputs[name].shape):
            raise BadRequest(f"cotangents/{name}: shape {list(req.cotangents[name].shape)} differs from the "
                             f"output's {list(result.outputs[name].shape)}")
    # Outputs that depend on no leaf (positional_encoding) contribute nothing.
    pairs = [(result.outputs[n], c) for n, c in req.cotangents.items() if result.outputs[n].requires_grad]
    leaf_names = list(req.leaves)
    targets = [req.leaves[n] for n in leaf_names]
    if result.binding is not None:
        targets += result.binding.parameters()
    gradients = {}
    if targets and req.cotangents:
        if pairs:
            grads = torch.autograd.grad([o for o, _ in pairs], targets, grad_outputs=[c for _, c in pairs],
                                        allow_unused=True)
        else:
            grads = [None] * len(targets)
        grads = [torch.zeros_like(t) if g is None else g for t, g in zip(targets, grads)]
        gradients = dict(zip(leaf_names, grads))
        if result.binding is not None:
            gradients.update(result.binding.collect(grads[len(leaf_names):]))
    answer = {"outputs": {n: to_numpy(t) for n, t in result.outputs.items()},
              "gradients": {n: to_numpy(t) for n, t in gradients.items()}}
    if result.intermediates:
        answer["intermediates"] = {n: to_numpy(t) for n, t in result.intermediates.items()}
    return answer


def kit_op(name, fn):
    """op_X(r) as the kit's f(inputs, params, cotangents, dtype)."""
    def run(inputs, params, cotangents, dtype):
        return evaluate(Request(name, inputs, params, cotangents, DTYPES[str(dtype)]), fn)
    return run


# Every catalogue op this file has a function op_<name> for, in the catalogue's order.
OPS = {name: globals()[f"op_{name}"] for name in CATALOGUE if f"op_{name}" in globals()}


def main():
    return serve("pytorch", torch.__version__, list(DTYPES), {n: kit_op(n, f) for n, f in OPS.items()},
                 echo_dtype=False)


if __name__ == "__main__":
    sys.exit(main())
