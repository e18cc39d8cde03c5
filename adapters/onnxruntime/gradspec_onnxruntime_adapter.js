#!/usr/bin/env node
'use strict';
/**
 * gradspec adapter for ONNX Runtime (onnxruntime-node, CPU execution provider), forward only.
 *
 *   gradspec run --suite cases/standard --adapter 'node adapters/onnxruntime/gradspec_onnxruntime_adapter.js' --dtype float32
 *
 * Each catalogue op becomes the ONNX graph a user would export (onnx_graph.js builds it with
 * onnx-proto, opset 23), run in an ort.InferenceSession with default options. Sessions are cached by
 * (op, dtype, params, input shapes) for the life of the process. Nothing is computed in JavaScript
 * except host-side constants a user also builds on the host (shape tensors, attention masks for
 * causal alignment and windows). ORT's results are returned as they are.
 *
 * float16: float16 models (TensorProto FLOAT16), inputs and results as float16 bit patterns. ORT's CPU
 * provider runs a float16 node it has no float16 kernel for in float32 between Casts it inserts; such
 * graphs are answered "unsupported: no float16 CPU kernel for <OpType, ...>" (see fallbacksOf),
 * so only genuine float16 kernels are judged. The adapter never casts to float32 itself.
 *
 * GRADSPEC_ORT_BUG=1 plants a bug for the self-test: layer_norm's epsilon is set to 0.1.
 */

const fs = require('fs');
const os = require('os');
const path = require('path');
const { serve, realParam, Unsupported, BadRequest } = require(path.join(__dirname, '..', 'node', 'gradspec_adapter.js'));
const { Graph, Float, ort, missingKernel, missingKernelOp, tensorValues, float32Fallbacks, FLOAT16_CPU_KERNELS } = require(path.join(__dirname, 'onnx_graph.js'));

const VERSION = require('onnxruntime-node/package.json').version;
const BUG = process.env.GRADSPEC_ORT_BUG || '';

const prod = (a) => a.reduce((x, y) => x * y, 1);

// ---------------------------------------------------------------------------------------------
// Session cache and runner

const cache = new Map();

/**
 * float16: the op types ORT would run in float32 (Casts it inserts around nodes that have no float16
 * CPU kernel, see float32Fallbacks), read from the optimized model it saves; [] when every node runs
 * a float16 kernel. With the default options (what runs) first; when that has fallbacks, the names
 * come from the unoptimized graph where they are ours (fusions rename nothing there), else from the
 * optimized one (a fused contrib op without a float16 kernel).
 */
async function fallbacksOf(bytes) {
  const file = path.join(os.tmpdir(), `gradspec-ort-${process.pid}.onnx`);
  const saved = async (options) => {
    try {
      await ort.InferenceSession.create(bytes, Object.assign({ optimizedModelFilePath: file, logSeverityLevel: 3 }, options));
      return float32Fallbacks(fs.readFileSync(file));
    } finally {
      fs.rmSync(file, { force: true });
    }
  };
  const optimized = await saved({});
  if (optimized.length === 0) return [];
  const plain = await saved({ graphOptimizationLevel: 'disabled' });
  return plain.length ? plain : optimized;
}

/**
 * Builds (once per key) and runs a graph. build(g) adds inputs and outputs to g; the feeds come
 * from the current request (graph inputs are re-fed each time, constants depend only on the key).
 */
async function run(op, dtype, params, inputs, build) {
  const shapes = Object.entries(inputs).map(([k, t]) => [k, t.shape, t.dtype || '']);
  const key = JSON.stringify([op, dtype, params, shapes]);
  const g = new Graph(dtype);
  build(g);
  const unsupported = (e) => {
    if (e instanceof Unsupported) return e;
    const m = missingKernel(e);
    if (!m) return e;
    const opType = dtype === 'float16' ? missingKernelOp(m) : null;
    return new Unsupported(opType ? `no float16 CPU kernel for ${opType} (ONNX Runtime ${VERSION}: ${m})`
                                  : `ONNX Runtime ${VERSION} CPU: ${m}`);
  };
  let entry = cache.get(key);
  if (entry && entry.unsupported) throw new Unsupported(entry.unsupported);
  if (!entry) {
    let session;
    try {
      if (dtype === 'float16') {
        const f32 = await fallbacksOf(g.bytes());
        if (f32.length) {
          const lacking = f32.filter((t) => !FLOAT16_CPU_KERNELS.has(t)), along = f32.filter((t) => FLOAT16_CPU_KERNELS.has(t));
          const why = lacking.length
            ? `no float16 CPU kernel for ${lacking.join(', ')} (ONNX Runtime ${VERSION} would run ` +
              `${lacking.length > 1 ? 'them' : 'it'} in float32 between Casts it inserts` +
              `${along.length ? `, and with them ${along.join(', ')}` : ''})`
            : `float16 graph run in float32 by ONNX Runtime ${VERSION}: ${along.join(', ')} between Casts it inserts`;
          cache.set(key, { unsupported: why });
          throw new Unsupported(why);
        }
      }
      session = await ort.InferenceSession.create(g.bytes());
    } catch (e) {
      throw unsupported(e);
    }
    entry = { session };
    cache.set(key, entry);
  }
  let result;
  try {
    result = await entry.session.run(g.feeds);
  } catch (e) {
    throw unsupported(e);
  }
  const out = {};
  for (const [name, t] of Object.entries(result)) out[name] = { shape: Array.from(t.dims), values: tensorValues(t) };
  return out;
}

// ---------------------------------------------------------------------------------------------
// Params

function choice(params, name, choices, fallback) {
  const v = params[name] === undefined || params[name] === null ? fallback : params[name];
  if (!choices.includes(v)) throw new BadRequest(`params/${name}: expected one of ${choices}, got ${JSON.stringify(v)}`);
  return v;
}
function intParam(params, name, fallback) {
  const v = params[name] === undefined || params[name] === null ? fallback : params[name];
  if (v !== null && !Number.isInteger(v)) throw new BadRequest(`params/${name}: expected an integer`);
  return v;
}
const boolParam = (params, name, fallback) => (params[name] === undefined || params[name] === null ? fallback : !!params[name]);

// ---------------------------------------------------------------------------------------------
// Graph pieces (each returns a tensor name)

/** y = x·w (+ b): MatMul (+ Add), any leading axes. */
function linear(g, x, w, b) {
  const y = g.op('MatMul', [x, w]);
  return b ? g.op('Add', [y, b]) : y;
}

function layerNorm(g, x, gamma, beta, eps) {
  return g.op('LayerNormalization', [x, gamma, beta], { axis: -1, epsilon: new Float(eps) });
}

function rmsNorm(g, x, gamma, eps) {
  return g.op('RMSNormalization', [x, gamma], { axis: -1, epsilon: new Float(eps) });
}

/** The activations of feed_forward / gated_feed_forward. */
function activation(g, x, act) {
  switch (act) {
    case 'relu': return g.op('Relu', [x]);
    case 'gelu': return g.op('Gelu', [x], { approximate: 'none' });
    case 'gelu_tanh': return g.op('Gelu', [x], { approximate: 'tanh' });
    case 'silu': return g.op('Mul', [x, g.op('Sigmoid', [x])]);  // opset 23 has no Swish
    default: throw new Unsupported(`activation ${JSON.stringify(act)}`);
  }
}

/**
 * The additive [Tq, Tk] mask handed to ONNX Attention's attn_mask, or null. ONNX's is_causal aligns
 * top-left; the catalogue's causal aligns bottom-right (KV cache), and ONNX has no window attribute:
 * both become -inf entries here, as a user builds such a mask on the host. The case's own additive
 * mask is added as is (its -inf entries stay -inf).
 */
function attentionMask(mask, causal, window, tq, tk) {
  if (!mask && !window && (!causal || tq === tk)) return null;
  const m = new Array(tq * tk).fill(0);
  if (mask) for (let i = 0; i < tq * tk; ++i) m[i] = mask.values[i];
  if (causal) {
    for (let i = 0; i < tq; ++i) {
      const p = tk - tq + i;
      for (let j = 0; j < tk; ++j) {
        if (j > p || (window && j <= p - window)) m[i * tk + j] = -Infinity;
      }
    }
  }
  return m;
}

/**
 * ONNX Attention (opset 23) on 4-D q [B, Hq, Tq, D], k [B, Hkv, Tk, D], v [B, Hkv, Tk, Dv] (GQA when
 * Hkv < Hq: ONNX's head grouping is h / (Hq/Hkv), as the catalogue's). Returns {out, lse}: lse, when
 * asked, is ReduceLogSumExp of the qk_matmul_output after softcap and mask (mode 2).
 */
function attentionNode(g, q, k, v, opts) {
  const { mask, causal, window, scale, softcap, tq, tk, lse } = opts;
  const extra = attentionMask(mask, causal, window, tq, tk);
  // is_causal only where it means the same as the catalogue (Tq == Tk, no window, no mask needed).
  const useIsCausal = causal && !extra;
  const maskIn = extra ? g.constant(extra, [tq, tk]) : null;
  const ins = maskIn ? [q, k, v, maskIn] : [q, k, v];
  const attrs = { is_causal: useIsCausal ? 1 : undefined, scale: scale === null ? undefined : new Float(scale),
                  softcap: softcap === null ? undefined : new Float(softcap) };
  if (lse) {
    attrs.qk_matmul_output_mode = 2;  // after softcap (ONNX: scale, + mask, softcap)
    const outs = g.op('Attention', ins, attrs, 4);
    return { out: outs[0], lse: g.op('ReduceLogSumExp', [outs[3], g.ints([-1])], { keepdims: 0 }) };
  }
  return { out: g.op('Attention', ins, attrs) };
}

function attentionParams(params) {
  const causal = boolParam(params, 'causal', false);
  const scale = realParam(params, 'scale', null);
  const window = intParam(params, 'window', null);
  const softcap = realParam(params, 'softcap', null);
  const returnLse = boolParam(params, 'return_lse', false);
  if (window !== null && !causal) throw new BadRequest('params/window: needs causal');
  return { causal, scale, window, softcap, returnLse };
}

/** Multi-head attention on [B, T, C] tensors (already projected), contiguous head blocks; 3-D Attention. */
function mhaCore(g, q, k, v, heads, opts) {
  // ONNX Attention's 3-D form splits hidden into q_num_heads contiguous blocks, as the catalogue does.
  const { mask, causal, tq, tk } = opts;
  const extra = attentionMask(mask, causal, null, tq, tk);
  const maskIn = extra ? g.constant(extra, [tq, tk]) : null;
  const isCausal = causal && !extra;
  return g.op('Attention', maskIn ? [q, k, v, maskIn] : [q, k, v],
              { q_num_heads: heads, kv_num_heads: heads, is_causal: isCausal ? 1 : undefined });
}

/** x [B, T, C] (names) -> self/cross MHA with weights under prefix. */
function mha(g, x, mem, w, heads, opts) {
  const q = linear(g, x, w.w_q, w.b_q);
  const k = linear(g, mem, w.w_k, w.b_k);
  const v = linear(g, mem, w.w_v, w.b_v);
  return linear(g, mhaCore(g, q, k, v, heads, opts), w.w_o, w.b_o);
}

function ffn(g, x, w, act) {
  return linear(g, activation(g, linear(g, x, w.w1, w.b1), act), w.w2, w.b2);
}

function gatedFfn(g, x, w, act) {
  return g.op('MatMul', [g.op('Mul', [activation(g, g.op('MatMul', [x, w.w_gate]), act), g.op('MatMul', [x, w.w_up])]), w.w_down]);
}

/** Feeds every input whose name starts with prefix; returns {suffix: name}. */
function group(g, inputs, prefix) {
  const out = {};
  for (const [name, t] of Object.entries(inputs)) {
    if (name.startsWith(prefix)) out[name.slice(prefix.length)] = g.input(name, t);
  }
  return out;
}

/**
 * RoPE on x [N, H, T, D]. float32: ONNX RotaryEmbedding (opset 23). Its type constraint has no double,
 * so float64 uses the graph Hugging Face's exporters emit without it: Slice the rotated features into
 * pairs, a·cos - b·sin and b·cos + a·sin (Mul, Sub, Add), Concat back ("half": pairs (i, i + R/2);
 * "interleaved": Reshape to [..., R/2, 2]).
 * The cos/sin caches are the user's inputs: formed here in float64 (angle p·inv_freq with
 * inv_freq = 1 / base^(arange(0, R, 2)/R)) and, for float32, only cos and sin rounded, as a careful
 * user precomputes them; forming the angle in float32 would be the caller's error, not ORT's.
 */
function rope(g, x, n, h, t, d, { base, style, rotaryDim, offset }) {
  const r = rotaryDim === null ? d : rotaryDim;
  const half = r / 2;
  const f64 = (v) => g.scalar(v, 'float64');
  const pos = g.op('Range', [f64(offset), f64(offset + t), f64(1)]);                                   // [T]
  const expo = g.op('Div', [g.op('Range', [f64(0), f64(r), f64(2)]), f64(r)]);                        // [R/2]
  const inv = g.op('Reciprocal', [g.op('Pow', [f64(base), expo])]);
  const freqs = g.op('Mul', [g.reshape(pos, [t, 1]), g.reshape(inv, [1, half])]);                     // [T, R/2]
  if (g.dtype === 'float64') {
    const shape = style === 'interleaved' ? [t, half, 1] : [t, half];
    const cos = g.reshape(g.op('Cos', [freqs]), shape), sin = g.reshape(g.op('Sin', [freqs]), shape);
    const slice = (v, from, to, axis) => g.op('Slice', [v, g.ints([from]), g.ints([to]), g.ints([axis])]);
    const turn = (a, b) => [g.op('Sub', [g.op('Mul', [a, cos]), g.op('Mul', [b, sin])]),
                            g.op('Add', [g.op('Mul', [b, cos]), g.op('Mul', [a, sin])])];
    let rotated;
    if (style === 'interleaved') {
      const pairs = g.reshape(slice(x, 0, r, 3), [n, h, t, half, 2]);
      const [ya, yb] = turn(slice(pairs, 0, 1, 4), slice(pairs, 1, 2, 4));                           // [N, H, T, R/2, 1]
      rotated = g.reshape(g.op('Concat', [ya, yb], { axis: 4 }), [n, h, t, r]);
    } else {
      const [ya, yb] = turn(slice(x, 0, half, 3), slice(x, half, r, 3));
      rotated = g.op('Concat', [ya, yb], { axis: 3 });
    }
    return r === d ? rotated : g.op('Concat', [rotated, slice(x, r, d, 3)], { axis: 3 });
  }
  const expand = (c) => g.op('Expand', [g.reshape(g.op('Cast', [c], { to: g.elemType }), [1, t, half]), g.ints([n, t, half])]);
  const cos = expand(g.op('Cos', [freqs])), sin = expand(g.op('Sin', [freqs]));
  return g.op('RotaryEmbedding', [x, cos, sin], { interleaved: style === 'interleaved' ? 1 : 0,
                                                  rotary_embedding_dim: r === d ? undefined : r });
}

/**
 * Cross-entropy over [N, V] logits and [N] targets: SoftmaxCrossEntropyLoss (reduction, ignore_index);
 * label smoothing (which ONNX's op lacks) as the graph PyTorch's formula gives, from the op's
 * log_prob output: (1-ε)·nll + ε/V·Σ_c(-lp), ignored rows counted in neither term.
 */
function crossEntropy(g, logits, targets, n, vocab, { reduction, ignoreIndex, eps }) {
  const attrs = { reduction: eps === 0 ? reduction : 'none', ignore_index: ignoreIndex === null ? undefined : ignoreIndex };
  const [loss, lp] = g.op('SoftmaxCrossEntropyLoss', [logits, targets], attrs, 2);
  if (eps === 0) return { loss, lp };
  const nll = loss;                                                                               // [N], 0 where ignored
  let keep = null;
  if (ignoreIndex !== null) {
    keep = g.op('Cast', [g.op('Not', [g.op('Equal', [targets, g.scalar(ignoreIndex, 'int64')])])], { to: g.elemType });
  }
  let smooth = g.op('Neg', [g.op('ReduceSum', [lp, g.ints([-1])], { keepdims: 0 })]);               // Σ_c -lp  [N]
  if (keep) smooth = g.op('Mul', [smooth, keep]);
  const per = g.op('Add', [g.op('Mul', [nll, g.scalar(1 - eps)]), g.op('Mul', [smooth, g.scalar(eps / vocab)])]);
  if (reduction === 'none') return { loss: per, lp };
  const total = g.op('ReduceSum', [per, g.ints([0])], { keepdims: 0 });
  if (reduction === 'sum') return { loss: total, lp };
  const count = keep ? g.op('ReduceSum', [keep, g.ints([0])], { keepdims: 0 }) : g.scalar(n);
  return { loss: g.op('Div', [total, count]), lp };
}

/** Sinusoidal table [T, d] in the graph: pos / base^(2i/d), Sin and Cos interleaved. */
function sinusoid(g, length, d, base, offset) {
  const h = Math.ceil(d / 2);
  // ONNX Range has no float16 type: in float16 the integer ranges are int64, Cast to float16 (exact
  // below 2048; a float16 position beyond is not an integer the catalogue's table can use anyway).
  const range = (from, to, step) => (g.dtype === 'float16'
    ? g.op('Cast', [g.op('Range', [g.scalar(from, 'int64'), g.scalar(to, 'int64'), g.scalar(step, 'int64')])], { to: g.elemType })
    : g.op('Range', [g.scalar(from), g.scalar(to), g.scalar(step)]));
  const pos = g.reshape(range(offset, offset + length, 1), [length, 1]);
  const expo = g.op('Div', [range(0, 2 * h, 2), g.scalar(d)]);
  const angle = g.op('Div', [pos, g.reshape(g.op('Pow', [g.scalar(base), expo]), [1, h])]);        // [T, h]
  const pair = g.op('Concat', [g.reshape(g.op('Sin', [angle]), [length, h, 1]), g.reshape(g.op('Cos', [angle]), [length, h, 1])], { axis: 2 });
  const flat = g.reshape(pair, [length, 2 * h]);
  return d === 2 * h ? flat : g.op('Slice', [flat, g.ints([0]), g.ints([d]), g.ints([1])]);
}

// ---------------------------------------------------------------------------------------------
// Ops

const ops = {};

ops.linear = (inputs, params, cot, dtype) => run('linear', dtype, params, inputs, (g) => {
  g.output('y', linear(g, g.input('x', inputs.x), g.input('w', inputs.w), g.input('b', inputs.b)));
}).then((r) => ({ outputs: { y: r.y } }));

ops.embedding = (inputs, params, cot, dtype) => {
  const scale = choice(params, 'scale', ['none', 'sqrt_d'], 'none');
  const c = inputs.table.shape[1];
  return run('embedding', dtype, params, inputs, (g) => {
    let y = g.op('Gather', [g.input('table', inputs.table), g.input('ids', inputs.ids)], { axis: 0 });
    if (scale === 'sqrt_d') y = g.op('Mul', [y, g.op('Sqrt', [g.scalar(c)])]);
    g.output('y', y);
  }).then((r) => ({ outputs: { y: r.y } }));
};

ops.positional_encoding = (inputs, params, cot, dtype) => {
  const length = intParam(params, 'length', null), d = intParam(params, 'd_model', null);
  const base = realParam(params, 'base', 10000), offset = intParam(params, 'offset', 0);
  if (length === null || d === null) throw new BadRequest('params: length and d_model are required');
  if (length === 0 || d === 0) throw new Unsupported('an empty table (ONNX Runtime rejects zero-size Reshape targets here)');
  return run('positional_encoding', dtype, params, inputs, (g) => {
    g.output('pe', sinusoid(g, length, d, base, offset));
  }).then((r) => ({ outputs: { pe: r.pe } }));
};

for (const [name, onnxOp] of [['softmax', 'Softmax'], ['log_softmax', 'LogSoftmax']]) {
  ops[name] = (inputs, params, cot, dtype) => run(name, dtype, params, inputs, (g) => {
    g.output('y', g.op(onnxOp, [g.input('x', inputs.x)], { axis: -1 }));
  }).then((r) => ({ outputs: { y: r.y } }));
}

ops.relu = (inputs, params, cot, dtype) => run('relu', dtype, params, inputs, (g) => {
  g.output('y', g.op('Relu', [g.input('x', inputs.x)]));
}).then((r) => ({ outputs: { y: r.y } }));

ops.gelu = (inputs, params, cot, dtype) => {
  const approximate = choice(params, 'approximate', ['none', 'tanh'], 'none');
  return run('gelu', dtype, params, inputs, (g) => {
    g.output('y', g.op('Gelu', [g.input('x', inputs.x)], { approximate }));
  }).then((r) => ({ outputs: { y: r.y } }));
};

ops.silu = (inputs, params, cot, dtype) => run('silu', dtype, params, inputs, (g) => {
  g.output('y', activation(g, g.input('x', inputs.x), 'silu'));
}).then((r) => ({ outputs: { y: r.y } }));

ops.layer_norm = (inputs, params, cot, dtype) => {
  const eps = BUG === '1' ? 0.1 : realParam(params, 'eps', 1e-5);
  return run('layer_norm', dtype, { eps }, inputs, (g) => {
    g.output('y', layerNorm(g, g.input('x', inputs.x), g.input('gamma', inputs.gamma), g.input('beta', inputs.beta), eps));
  }).then((r) => ({ outputs: { y: r.y } }));
};

ops.rms_norm = (inputs, params, cot, dtype) => {
  const eps = realParam(params, 'eps', 1e-6), offset = realParam(params, 'gamma_offset', 0);
  return run('rms_norm', dtype, params, inputs, (g) => {
    let gamma = g.input('gamma', inputs.gamma);
    if (offset !== 0) gamma = g.op('Add', [g.scalar(offset), gamma]);
    g.output('y', rmsNorm(g, g.input('x', inputs.x), gamma, eps));
  }).then((r) => ({ outputs: { y: r.y } }));
};

/** attention and grouped_query_attention: leading axes flattened to B (GQA: the head axis kept). */
function attentionOp(name, heads) {
  return (inputs, params, cot, dtype) => {
    const p = attentionParams(params);
    const { q, k, v } = inputs;
    const rank = q.shape.length;
    const [tq, d] = q.shape.slice(-2), [tk] = k.shape.slice(-2, -1), dv = v.shape[v.shape.length - 1];
    const lead = q.shape.slice(0, heads ? -3 : -2);
    const hq = heads ? q.shape[rank - 3] : 1, hkv = heads ? k.shape[rank - 3] : 1;
    const b = prod(lead);
    if (b === 0 || tq === 0 || tk === 0) throw new Unsupported('empty tensors (ONNX Attention needs at least one batch row, query and key)');
    return run(name, dtype, params, inputs, (g) => {
      const q4 = g.reshape(g.input('q', q), [b, hq, tq, d]);
      const k4 = g.reshape(g.input('k', k), [b, hkv, tk, d]);
      const v4 = g.reshape(g.input('v', v), [b, hkv, tk, dv]);
      const r = attentionNode(g, q4, k4, v4, { mask: inputs.mask, causal: p.causal, window: p.window, scale: p.scale,
                                               softcap: p.softcap, tq, tk, lse: p.returnLse });
      g.output('out', g.reshape(r.out, [...lead, ...(heads ? [hq] : []), tq, dv]));
      if (p.returnLse) g.output('lse', g.reshape(r.lse, [...lead, ...(heads ? [hq] : []), tq]));
    }).then((r) => ({ outputs: p.returnLse ? { out: r.out, lse: r.lse } : { out: r.out } }));
  };
}
ops.attention = attentionOp('attention', false);
ops.grouped_query_attention = attentionOp('grouped_query_attention', true);

ops.multi_head_attention = (inputs, params, cot, dtype) => {
  const heads = intParam(params, 'heads', null), causal = boolParam(params, 'causal', false);
  const { x, memory, mask } = inputs;
  const [tq, c] = x.shape.slice(-2);
  const mem = memory || x;
  const tk = mem.shape[mem.shape.length - 2];
  const lead = x.shape.slice(0, -2), b = prod(lead);
  if (b === 0) throw new Unsupported('empty batch');
  return run('multi_head_attention', dtype, params, inputs, (g) => {
    const w = group(g, Object.fromEntries(Object.entries(inputs).filter(([k]) => /^[wb]_/.test(k))), '');
    const x3 = g.reshape(g.input('x', x), [b, tq, c]);
    const m3 = memory ? g.reshape(g.input('memory', memory), [b, tk, c]) : x3;
    const y = mha(g, x3, m3, w, heads, { mask, causal, tq, tk });
    g.output('y', g.reshape(y, x.shape));
  }).then((r) => ({ outputs: { y: r.y } }));
};

ops.feed_forward = (inputs, params, cot, dtype) => {
  const act = choice(params, 'activation', ['relu', 'gelu', 'gelu_tanh', 'silu'], 'relu');
  return run('feed_forward', dtype, params, inputs, (g) => {
    const w = group(g, Object.fromEntries(Object.entries(inputs).filter(([k]) => k !== 'x')), '');
    g.output('y', ffn(g, g.input('x', inputs.x), w, act));
  }).then((r) => ({ outputs: { y: r.y } }));
};

ops.gated_feed_forward = (inputs, params, cot, dtype) => {
  const act = choice(params, 'activation', ['silu', 'gelu', 'gelu_tanh'], 'silu');
  return run('gated_feed_forward', dtype, params, inputs, (g) => {
    const w = group(g, Object.fromEntries(Object.entries(inputs).filter(([k]) => k !== 'x')), '');
    g.output('y', gatedFfn(g, g.input('x', inputs.x), w, act));
  }).then((r) => ({ outputs: { y: r.y } }));
};

function ceParams(params) {
  const reduction = choice(params, 'reduction', ['mean', 'sum', 'none'], 'mean');
  const ignoreIndex = intParam(params, 'ignore_index', null);
  const eps = realParam(params, 'label_smoothing', 0);
  return { reduction, ignoreIndex, eps };
}

ops.cross_entropy = (inputs, params, cot, dtype) => {
  const p = ceParams(params);
  const { logits, targets } = inputs;
  const vocab = logits.shape[logits.shape.length - 1], lead = logits.shape.slice(0, -1), n = prod(lead);
  if (n === 0) throw new Unsupported('no rows (SoftmaxCrossEntropyLoss needs N >= 1)');
  return run('cross_entropy', dtype, params, inputs, (g) => {
    const x = g.reshape(g.input('logits', logits), [n, vocab]);
    const t = g.reshape(g.input('targets', targets), [n]);
    const r = crossEntropy(g, x, t, n, vocab, p);
    g.output('loss', p.reduction === 'none' ? g.reshape(r.loss, lead) : r.loss);
    g.output('log_probs', g.reshape(r.lp, logits.shape));
  }).then((r) => ({ outputs: { loss: r.loss }, intermediates: { log_probs: r.log_probs } }));
};

ops.rope = (inputs, params, cot, dtype) => {
  const base = realParam(params, 'base', 10000), style = choice(params, 'style', ['half', 'interleaved'], 'half');
  const rotaryDim = intParam(params, 'rotary_dim', null), offset = intParam(params, 'offset', 0);
  const { x } = inputs;
  const [t, d] = x.shape.slice(-2), n = prod(x.shape.slice(0, -2));
  if (n === 0 || t === 0) throw new Unsupported('empty tensors');
  return run('rope', dtype, params, inputs, (g) => {
    const x4 = g.reshape(g.input('x', x), [n, 1, t, d]);
    g.output('y', g.reshape(rope(g, x4, n, 1, t, d, { base, style, rotaryDim, offset }), x.shape));
  }).then((r) => ({ outputs: { y: r.y } }));
};

// ---- layers and models

function layerOpts(params) {
  return { heads: intParam(params, 'heads', null), normFirst: boolParam(params, 'norm_first', false),
           eps: realParam(params, 'eps', 1e-5),
           act: choice(params, 'activation', ['relu', 'gelu', 'gelu_tanh', 'silu'], 'relu') };
}

/** One encoder layer on [B, T, C]; w: the layer's weights (attn.*, ln1.*, ffn.*, ln2.*). */
function encoderLayer(g, x, w, o, t, mask, causal) {
  const sa = (h) => mha(g, h, h, sub(w, 'attn.'), o.heads, { mask, causal, tq: t, tk: t });
  const ln = (h, k) => layerNorm(g, h, w[`${k}.gamma`], w[`${k}.beta`], o.eps);
  const ff = (h) => ffn(g, h, sub(w, 'ffn.'), o.act);
  if (o.normFirst) {
    const h = g.op('Add', [x, sa(ln(x, 'ln1'))]);
    return g.op('Add', [h, ff(ln(h, 'ln2'))]);
  }
  const h = ln(g.op('Add', [x, sa(x)]), 'ln1');
  return ln(g.op('Add', [h, ff(h)]), 'ln2');
}

function decoderLayer(g, x, mem, w, o, t, s) {
  const sa = (h) => mha(g, h, h, sub(w, 'self_attn.'), o.heads, { mask: null, causal: true, tq: t, tk: t });
  const ca = (h) => mha(g, h, mem, sub(w, 'cross_attn.'), o.heads, { mask: null, causal: false, tq: t, tk: s });
  const ln = (h, k) => layerNorm(g, h, w[`${k}.gamma`], w[`${k}.beta`], o.eps);
  const ff = (h) => ffn(g, h, sub(w, 'ffn.'), o.act);
  if (o.normFirst) {
    const h1 = g.op('Add', [x, sa(ln(x, 'ln1'))]);
    const h2 = g.op('Add', [h1, ca(ln(h1, 'ln2'))]);
    return g.op('Add', [h2, ff(ln(h2, 'ln3'))]);
  }
  const h1 = ln(g.op('Add', [x, sa(x)]), 'ln1');
  const h2 = ln(g.op('Add', [h1, ca(h1)]), 'ln2');
  return ln(g.op('Add', [h2, ff(h2)]), 'ln3');
}

/** The entries of w under prefix, prefix removed. */
function sub(w, prefix) {
  const out = {};
  for (const [k, v] of Object.entries(w)) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
  return out;
}

ops.encoder_layer = (inputs, params, cot, dtype) => {
  const o = layerOpts(params), causal = boolParam(params, 'causal', false);
  const { x, mask } = inputs;
  const [t, c] = x.shape.slice(-2), b = prod(x.shape.slice(0, -2));
  if (b === 0) throw new Unsupported('empty batch');
  return run('encoder_layer', dtype, params, inputs, (g) => {
    const w = group(g, Object.fromEntries(Object.entries(inputs).filter(([k]) => k !== 'x' && k !== 'mask')), '');
    const y = encoderLayer(g, g.reshape(g.input('x', x), [b, t, c]), w, o, t, mask, causal);
    g.output('y', g.reshape(y, x.shape));
  }).then((r) => ({ outputs: { y: r.y } }));
};

ops.decoder_layer = (inputs, params, cot, dtype) => {
  const o = layerOpts(params);
  const { x, memory } = inputs;
  const [t, c] = x.shape.slice(-2), s = memory.shape[memory.shape.length - 2], b = prod(x.shape.slice(0, -2));
  if (b === 0) throw new Unsupported('empty batch');
  return run('decoder_layer', dtype, params, inputs, (g) => {
    const w = group(g, Object.fromEntries(Object.entries(inputs).filter(([k]) => k !== 'x' && k !== 'memory')), '');
    const y = decoderLayer(g, g.reshape(g.input('x', x), [b, t, c]), g.reshape(g.input('memory', memory), [b, s, c]), w, o, t, s);
    g.output('y', g.reshape(y, x.shape));
  }).then((r) => ({ outputs: { y: r.y } }));
};

ops.transformer = (inputs, params, cot, dtype) => {
  const o = layerOpts(params), layers = intParam(params, 'layers', null);
  const embedScale = choice(params, 'embed_scale', ['sqrt_d', 'none'], 'sqrt_d');
  const ce = { reduction: 'mean', ignoreIndex: intParam(params, 'ignore_index', null), eps: realParam(params, 'label_smoothing', 0) };
  const { src_ids: src, tgt_ids: tgt, labels } = inputs;
  const s = src.shape[src.shape.length - 1], t = tgt.shape[tgt.shape.length - 1];
  const lead = tgt.shape.slice(0, -1), b = prod(lead);
  const c = inputs.src_embed.shape[1], vt = inputs.tgt_embed.shape[0];
  if (b === 0) throw new Unsupported('empty batch');
  return run('transformer', dtype, params, inputs, (g) => {
    const w = group(g, Object.fromEntries(Object.entries(inputs).filter(([k]) => !/_ids$|^labels$/.test(k))), '');
    const embed = (ids, table, len) => {
      let e = g.op('Gather', [table, g.reshape(ids, [b, len])], { axis: 0 });
      if (embedScale === 'sqrt_d') e = g.op('Mul', [e, g.op('Sqrt', [g.scalar(c)])]);
      return g.op('Add', [e, sinusoid(g, len, c, 10000, 0)]);
    };
    let e = embed(g.input('src_ids', src), w.src_embed, s);
    for (let i = 0; i < layers; ++i) e = encoderLayer(g, e, sub(w, `enc.${i}.`), o, s, null, false);
    const memory = layerNorm(g, e, w['enc_norm.gamma'], w['enc_norm.beta'], o.eps);
    let d = embed(g.input('tgt_ids', tgt), w.tgt_embed, t);
    for (let i = 0; i < layers; ++i) d = decoderLayer(g, d, memory, sub(w, `dec.${i}.`), o, t, s);
    const dec = layerNorm(g, d, w['dec_norm.gamma'], w['dec_norm.beta'], o.eps);
    const logits = linear(g, dec, w['out.w'], w['out.b']);                                          // [B, T, Vt]
    const r = crossEntropy(g, g.reshape(logits, [b * t, vt]), g.reshape(g.input('labels', labels), [b * t]), b * t, vt, ce);
    g.output('loss', r.loss);
    g.output('logits', g.reshape(logits, [...lead, t, vt]));
    g.output('memory', g.reshape(memory, [...src.shape, c]));
  }).then((r) => ({ outputs: { loss: r.loss, logits: r.logits }, intermediates: { memory: r.memory } }));
};

function llamaOpts(params, c) {
  const heads = intParam(params, 'heads', null);
  const kvHeads = intParam(params, 'kv_heads', null) ?? heads;
  const headDim = intParam(params, 'head_dim', null) ?? c / heads;
  return { heads, kvHeads, headDim, ropeBase: realParam(params, 'rope_base', 10000),
           ropeStyle: choice(params, 'rope_style', ['half', 'interleaved'], 'half'), eps: realParam(params, 'eps', 1e-6),
           window: intParam(params, 'window', null), softcap: realParam(params, 'softcap', null),
           act: choice(params, 'activation', ['silu', 'gelu', 'gelu_tanh'], 'silu'), offset: intParam(params, 'offset', 0) };
}

/** One llama block on x [B, T, C]. */
function llamaBlock(g, x, w, o, b, t, c) {
  const { heads: hq, kvHeads: hkv, headDim: d } = o;
  const a = rmsNorm(g, x, w['attn_norm.gamma'], o.eps);
  const split = (y, h) => g.transpose(g.reshape(y, [b, t, h, d]), [0, 2, 1, 3]);                    // [B, H, T, D]
  const ropeOpts = { base: o.ropeBase, style: o.ropeStyle, rotaryDim: null, offset: o.offset };
  const q = rope(g, split(g.op('MatMul', [a, w['attn.w_q']]), hq), b, hq, t, d, ropeOpts);
  const k = rope(g, split(g.op('MatMul', [a, w['attn.w_k']]), hkv), b, hkv, t, d, ropeOpts);
  const v = split(g.op('MatMul', [a, w['attn.w_v']]), hkv);
  const { out } = attentionNode(g, q, k, v, { mask: null, causal: true, window: o.window, scale: null, softcap: o.softcap,
                                              tq: t, tk: t, lse: false });
  const concat = g.reshape(g.transpose(out, [0, 2, 1, 3]), [b, t, hq * d]);
  const h = g.op('Add', [x, g.op('MatMul', [concat, w['attn.w_o']])]);
  const f = gatedFfn(g, rmsNorm(g, h, w['ffn_norm.gamma'], o.eps), { w_gate: w['ffn.w_gate'], w_up: w['ffn.w_up'], w_down: w['ffn.w_down'] }, o.act);
  return g.op('Add', [h, f]);
}

ops.llama_block = (inputs, params, cot, dtype) => {
  const { x } = inputs;
  const [t, c] = x.shape.slice(-2), b = prod(x.shape.slice(0, -2));
  const o = llamaOpts(params, c);
  if (b === 0 || t === 0) throw new Unsupported('empty tensors');
  return run('llama_block', dtype, params, inputs, (g) => {
    const w = group(g, Object.fromEntries(Object.entries(inputs).filter(([k]) => k !== 'x')), '');
    g.output('y', g.reshape(llamaBlock(g, g.reshape(g.input('x', x), [b, t, c]), w, o, b, t, c), x.shape));
  }).then((r) => ({ outputs: { y: r.y } }));
};

ops.llama = (inputs, params, cot, dtype) => {
  const { ids, labels, embed } = inputs;
  const [vocab, c] = embed.shape, t = ids.shape[ids.shape.length - 1], lead = ids.shape.slice(0, -1), b = prod(lead);
  const o = llamaOpts(params, c), layers = intParam(params, 'layers', null);
  const tie = boolParam(params, 'tie_embeddings', false), logitCap = realParam(params, 'logit_softcap', null);
  const ce = { reduction: 'mean', ignoreIndex: intParam(params, 'ignore_index', null), eps: 0 };
  if (b === 0 || t === 0) throw new Unsupported('empty tensors');
  return run('llama', dtype, params, inputs, (g) => {
    const w = group(g, Object.fromEntries(Object.entries(inputs).filter(([k]) => k !== 'ids' && k !== 'labels')), '');
    let h = g.op('Gather', [w.embed, g.reshape(g.input('ids', ids), [b, t])], { axis: 0 });
    for (let i = 0; i < layers; ++i) h = llamaBlock(g, h, sub(w, `blocks.${i}.`), o, b, t, c);
    const hidden = rmsNorm(g, h, w['norm.gamma'], o.eps);
    let logits = g.op('MatMul', [hidden, tie ? g.transpose(w.embed, [1, 0]) : w.lm_head]);
    if (logitCap !== null) logits = g.op('Mul', [g.op('Tanh', [g.op('Div', [logits, g.scalar(logitCap)])]), g.scalar(logitCap)]);
    const r = crossEntropy(g, g.reshape(logits, [b * t, vocab]), g.reshape(g.input('labels', labels), [b * t]), b * t, vocab, ce);
    g.output('loss', r.loss);
    g.output('logits', g.reshape(logits, [...lead, t, vocab]));
    g.output('hidden', g.reshape(hidden, [...lead, t, c]));
  }).then((r) => ({ outputs: { loss: r.loss, logits: r.logits }, intermediates: { hidden: r.hidden } }));
};

if (require.main === module) {
  serve({ name: 'onnxruntime-node', version: VERSION, dtypes: ['float64', 'float32', 'float16'], ops, gradients: false });
}

module.exports = { ops, VERSION };
