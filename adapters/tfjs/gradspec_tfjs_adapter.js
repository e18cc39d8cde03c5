#!/usr/bin/env node
'use strict';
/**
 * gradspec adapter for TensorFlow.js: @tensorflow/tfjs-core 4.22.0 with the CPU backend
 * (@tensorflow/tfjs-backend-cpu), float32 only (tfjs computes in float32).
 *
 *   gradspec run --suite cases/standard --adapter 'node adapters/tfjs/gradspec_tfjs_adapter.js' --dtype float32
 *
 * Speaks gradspec-adapter/1 through the Node kit (../node/gradspec_adapter.js). Every op is written
 * with tfjs ops the way a tfjs user writes it (tf.softmax, tf.moments, tf.matMul, tf.gather,
 * tf.losses.softmaxCrossEntropy, ...); gradients are vector-Jacobian products from tf.grads with the
 * request's cotangent as dy (for ops with two differentiated outputs: tf.grads of
 * sum_o sum(o * cot_o), whose gradient with respect to each o is exactly cot_o). Results are
 * returned as tfjs computes them: nothing is repaired (NaN stays NaN).
 *
 * Gradients: tfjs-core's CommonJS bundle (dist/tf-core.node.js, what require() loads) registers
 * no kernel gradients; they live in the ES-module build (dist/register_all_gradients.js and
 * dist/gradients/*_grad.js), which @tensorflow/tfjs and bundlers import. Node cannot load those files
 * as they are (ES modules in a package without "type": "module", extensionless relative imports), so
 * tfjs_esm_hooks.mjs (node:module register) resolves and loads them, and the adapter imports
 * register_all_gradients.js at start-up. The ESM copies share the CommonJS copy's engine, kernel and
 * gradient registries (tfjs keeps them in the global namespace for exactly this). Start-up then checks
 * that every kernel this adapter runs has a registered gradient (tf.getGradient) and exits 1 with a
 * message otherwise, before the handshake.
 *
 * Environment:
 *   GRADSPEC_TFJS_BUG=1             plants a backward bug (softmax's cotangent is scaled by 1.5),
 *                                   for selftest.js: gradspec must report gradients.x failures.
 *   GRADSPEC_TFJS_NO_GRADIENTS=1    skips loading the gradient registrations (the start-up check
 *                                   must then fail loudly; selftest.js checks that).
 *   GRADSPEC_TFJS_ANGLES=float32    positional_encoding and RoPE angles formed with float32 tfjs ops
 *                                   (position·inv_freq rounded to float32, as Hugging Face and Meta
 *                                   form them in float32) instead of the default: the cos/sin tables
 *                                   in JS doubles (Math.sin/cos), rounded to float32 once, as the
 *                                   PyTorch adapter and gradspec's float32 baseline form them.
 */

const path = require('path');
const fs = require('fs');

// tfjs prints a greeting with console.log when the CPU backend starts; stdout is the protocol.
for (const k of ['log', 'info', 'debug']) console[k] = (...a) => console.error(...a);

const { serve, realParam, Unsupported, BadRequest } = require(path.join(__dirname, '..', 'node', 'gradspec_adapter.js'));

let tf;
try {
  tf = require('@tensorflow/tfjs-core');
  require('@tensorflow/tfjs-backend-cpu');
} catch (e) {
  process.stderr.write(`gradspec_tfjs_adapter: cannot load TensorFlow.js (${e.message.split('\n')[0]}).\n` +
    `Install it with: cd ${__dirname} && npm ci\n`);
  process.exit(1);
}

const BUG = process.env.GRADSPEC_TFJS_BUG || '';
const ANGLES64 = process.env.GRADSPEC_TFJS_ANGLES !== 'float32';
const CATALOGUE = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'ops.json'), 'utf8')).ops;

// The kernels the ops below run under tf.grads: each needs a registered gradient.
const KERNELS_WITH_GRADIENTS = [
  'Add', 'AddN', 'BatchMatMul', 'Concat', 'Erf', 'Exp', 'ExpandDims', 'GatherV2', 'Identity', 'Log', 'Max',
  'Mean', 'Multiply', 'Neg', 'Pack', 'Pow', 'RealDiv', 'Relu', 'Reshape', 'Rsqrt', 'Select', 'Sigmoid', 'Slice',
  'Softmax', 'SplitV', 'Square', 'Sub', 'Sum', 'Tanh', 'Tile', 'Transpose', 'Unpack',
]

// ------------------------------------------------------------------------------------------------
// Start-up: gradients registered, CPU backend
// ------------------------------------------------------------------------------------------------

async function loadGradients() {
  if (process.env.GRADSPEC_TFJS_NO_GRADIENTS !== '1') {
    const { register } = require('node:module');
    const { pathToFileURL } = require('node:url');
    register(pathToFileURL(path.join(__dirname, 'tfjs_esm_hooks.mjs')));
    const file = require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js');
    await import(pathToFileURL(file).href);
  }
  const missing = KERNELS_WITH_GRADIENTS.filter((k) => !tf.getGradient(k));
  if (missing.length) {
    throw new Error(`TensorFlow.js ${tf.version_core}: no gradient registered for kernel(s) ${missing.join(', ')} ` +
      '(tfjs-core\'s CommonJS bundle registers none; @tensorflow/tfjs-core/dist/register_all_gradients.js must be loaded)');
  }
  if (!(await tf.setBackend('cpu')) || tf.getBackend() !== 'cpu') throw new Error('tf.setBackend("cpu") failed');
}

// ------------------------------------------------------------------------------------------------
// Requests: kit tensors <-> tf tensors, params
// ------------------------------------------------------------------------------------------------

function catalogueEntry(op) {
  const e = CATALOGUE.find((o) => o.name === op);
  if (!e) throw new BadRequest(`op ${op}: not in the catalogue`);
  return e;
}

class Request {
  constructor(op, inputs, params, cotangents) {
    this.op = op;
    this.entry = catalogueEntry(op);
    this.raw = inputs;
    this.params = params || {};
    this.cotangents = cotangents || {};
    this.leafNames = [];   // differentiable real inputs, in request order
    this.leafRaw = [];
    for (const [name, t] of Object.entries(inputs)) {
      // The catalogue names layer 0 (blocks.0.attn.w_q, enc.0.ffn.w1); layer i's inputs are alike.
      const generic = name.replace(/^(blocks|enc|dec)\.\d+\./, '$1.0.');
      const spec = this.entry.inputs.find((i) => i.name === generic);
      if (!spec) throw new BadRequest(`inputs/${name}: unexpected for ${op}`);
      if (t.dtype !== 'int64' && spec.differentiable) {
        this.leafNames.push(name);
        this.leafRaw.push(t);
      }
    }
    this.bound = null;  // name -> tensor while the forward function runs
  }

  has(name) { return name in this.raw; }

  /** A real input as a tf tensor (the tf.grads argument for differentiable ones). */
  input(name) {
    if (!(name in this.raw)) throw new BadRequest(`inputs/${name}: missing`);
    if (this.bound && name in this.bound) return this.bound[name];
    const t = this.raw[name];
    if (t.dtype === 'int64') throw new BadRequest(`inputs/${name}: expected a real tensor`);
    return tf.tensor(t.values, t.shape, 'float32');
  }

  optional(name) { return this.has(name) ? this.input(name) : null; }

  /** An integer input (ids, targets): {shape, values: Array}. */
  ints(name) {
    const t = this.raw[name];
    if (!t) throw new BadRequest(`inputs/${name}: missing`);
    if (t.dtype !== 'int64') throw new BadRequest(`inputs/${name}: expected an int64 tensor`);
    return t;
  }

  /** Raw values of a non-differentiable real input (the mask). */
  rawValues(name) { return this.has(name) ? this.raw[name] : null; }

  param(name, fallback) {
    const v = this.params[name];
    return v === undefined ? fallback : v;
  }

  int(name, fallback) {
    const v = this.param(name, fallback);
    if (v === null || v === undefined) return v;
    if (!Number.isInteger(v)) throw new BadRequest(`params/${name}: expected an integer, got ${JSON.stringify(v)}`);
    return v;
  }

  real(name, fallback) {
    const v = this.param(name, fallback);
    return v === null ? null : realParam(this.params, name, fallback);
  }

  bool(name, fallback) {
    const v = this.param(name, fallback);
    if (typeof v !== 'boolean') throw new BadRequest(`params/${name}: expected true or false`);
    return v;
  }

  choice(name, choices, fallback) {
    const v = this.param(name, fallback);
    if (!choices.includes(v)) throw new BadRequest(`params/${name}: expected one of ${choices.join(', ')}, got ${JSON.stringify(v)}`);
    return v;
  }
}

const f32 = (v) => tf.scalar(v, 'float32');
const lastDim = (t) => t.shape[t.shape.length - 1];

// ------------------------------------------------------------------------------------------------
// Building blocks, as tfjs users write them
// ------------------------------------------------------------------------------------------------

/** x [..., I] · w [I, O] + b: tf.matMul on the rows flattened to 2-D (tf.matMul wants rank >= 2). */
function dense(x, w, b) {
  const lead = x.shape.slice(0, -1);
  let y = tf.matMul(tf.reshape(x, [-1, x.shape[x.shape.length - 1]]), w);
  if (b) y = tf.add(y, b);
  return tf.reshape(y, [...lead, w.shape[1]]);
}

function gelu(x) {  // erf form, written out (tfjs-core has no gelu op)
  return tf.mul(tf.mul(x, f32(0.5)), tf.add(f32(1), tf.erf(tf.mul(x, f32(Math.SQRT1_2)))));
}

function geluTanh(x) {  // tanh approximation
  const inner = tf.mul(f32(Math.sqrt(2 / Math.PI)), tf.add(x, tf.mul(f32(0.044715), tf.pow(x, f32(3)))));
  return tf.mul(tf.mul(x, f32(0.5)), tf.add(f32(1), tf.tanh(inner)));
}

const silu = (x) => tf.mul(x, tf.sigmoid(x));

const ACTIVATIONS = { relu: (x) => tf.relu(x), gelu, gelu_tanh: geluTanh, silu };

/** LayerNorm over the last axis with tf.moments (biased variance). -> {y, mean, rstd}. */
function layerNorm(x, gamma, beta, eps) {
  const { mean, variance } = tf.moments(x, -1, true);
  const rstd = tf.rsqrt(tf.add(variance, f32(eps)));
  const y = tf.add(tf.mul(tf.mul(tf.sub(x, mean), rstd), gamma), beta);
  return { y, mean, rstd };
}

/** RMSNorm: x · rsqrt(mean(x²) + eps) · (offset + gamma). -> {y, rstd}. */
function rmsNorm(x, gamma, eps, offset = 0) {
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), f32(eps)));
  const scale = offset === 0 ? gamma : tf.add(f32(offset), gamma);
  return { y: tf.mul(tf.mul(x, rstd), scale), rstd };
}

/** [Tq, Tk] booleans (JS): key j hidden from query i by the mask (-inf), causality aligned
 * bottom-right (p = Tk - Tq + i sees j <= p) or the sliding window (j <= p - W). null when none is. */
function hiddenKeys(mask, causal, window, tq, tk) {
  if (mask && (mask.shape.length !== 2 || mask.shape[0] !== tq || mask.shape[1] !== tk)) {
    throw new BadRequest(`inputs/mask: expected shape [${tq}, ${tk}], got [${mask.shape}]`);
  }
  if (causal && tq > tk) throw new BadRequest(`params/causal: needs T_q <= T_k, got ${tq} and ${tk}`);
  const hidden = new Array(tq * tk).fill(false);
  let any = false;
  for (let i = 0; i < tq; ++i) {
    const p = tk - tq + i;
    for (let j = 0; j < tk; ++j) {
      let h = mask ? mask.values[i * tk + j] === -Infinity : false;
      if (causal && j > p) h = true;
      if (causal && window != null && j <= p - window) h = true;
      hidden[i * tk + j] = h;
      any = any || h;
    }
  }
  return any ? hidden : null;
}

/** Scaled dot-product attention on q [..., Tq, D], k [..., Tk, D], v [..., Tk, Dv]:
 * scores = q·kᵀ·scale, soft-capped c·tanh(s/c), plus the finite mask values, -inf where a key is
 * hidden (tf.where: masked_fill), tf.softmax, ·v; lse with tf.logSumExp. */
function attentionCore(q, k, v, mask, o) {
  const tq = q.shape[q.shape.length - 2], tk = k.shape[k.shape.length - 2];
  const scale = o.scale == null ? 1 / Math.sqrt(lastDim(q)) : o.scale;
  let scores = tf.mul(tf.matMul(q, k, false, true), f32(scale));
  if (o.softcap != null) scores = tf.mul(tf.tanh(tf.div(scores, f32(o.softcap))), f32(o.softcap));
  const hidden = hiddenKeys(mask, o.causal, o.window, tq, tk);
  if (mask) {
    const finite = Float32Array.from(mask.values, (m) => (m === -Infinity ? 0 : m));
    scores = tf.add(scores, tf.tensor(finite, [tq, tk], 'float32'));
  }
  if (hidden) {
    const cond = tf.broadcastTo(tf.tensor(hidden, [tq, tk], 'bool'), scores.shape);
    scores = tf.where(cond, tf.fill(scores.shape, -Infinity), scores);
  }
  const weights = tf.softmax(scores);
  const out = tf.matMul(weights, v);
  const lse = o.return_lse ? tf.logSumExp(scores, -1) : null;
  return { out, lse, scores, weights };
}

function attentionParams(r) {
  const o = {
    causal: r.bool('causal', false), scale: r.real('scale', null), window: r.int('window', null),
    softcap: r.real('softcap', null), return_lse: r.bool('return_lse', false),
  };
  if (o.window != null && !o.causal) throw new BadRequest('params/window: needs causal');
  if (o.window != null && o.window < 1) throw new BadRequest('params/window: must be at least 1');
  if (o.softcap != null && !(o.softcap > 0 && Number.isFinite(o.softcap))) throw new BadRequest('params/softcap: must be positive');
  return o;
}

/** Repeat each key/value head n times in place: [..., Hkv, T, D] -> [..., Hkv·n, T, D] (Hugging Face's
 * repeat_kv: expand, then reshape). tf.broadcastTo runs the Tile kernel, whose gradient tfjs 4.22
 * implements only up to rank 4 ("Gradient for tile operation is not implemented for rank-5 tensors
 * yet"), so the expand is done on a rank-4 view [lead·Hkv, 1, T·D] as a tfjs user must. */
function repeatKv(t, n) {
  if (n === 1) return t;
  const s = t.shape, lead = s.slice(0, -3), [h, len, d] = s.slice(-3);
  const e = tf.reshape(t, [-1, h, 1, len * d]);  // [lead, Hkv, 1, T·D]
  return tf.reshape(tf.broadcastTo(e, [e.shape[0], h, n, len * d]), [...lead, h * n, len, d]);
}

/** Multi-head attention block (self or cross): x [B, Tq, C], kv [B, Tk, C] -> [B, Tq, C]. */
function mha(x, kv, w, heads, mask, causal) {
  const [bsz, tq, c] = x.shape, tk = kv.shape[1], dh = c / heads;
  const split = (t, len) => tf.transpose(tf.reshape(t, [bsz, len, heads, dh]), [0, 2, 1, 3]);
  const q = split(dense(x, w.w_q, w.b_q), tq);
  const k = split(dense(kv, w.w_k, w.b_k), tk);
  const v = split(dense(kv, w.w_v, w.b_v), tk);
  const { out, weights } = attentionCore(q, k, v, mask, { causal, scale: 1 / Math.sqrt(dh), window: null, softcap: null, return_lse: false });
  const concat = tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [bsz, tq, c]);
  return { y: dense(concat, w.w_o, w.b_o), weights, concat };
}

function attnWeights(r, prefix) {
  const w = {};
  for (const n of ['w_q', 'b_q', 'w_k', 'b_k', 'w_v', 'b_v', 'w_o', 'b_o']) w[n] = r.input(prefix + n);
  return w;
}

function checkHeads(c, heads) {
  if (!Number.isInteger(heads) || heads < 1 || c % heads) throw new BadRequest(`params/heads: ${heads} does not divide C = ${c}`);
}

/** [..., T, C] -> [B, T, C] and the leading shape. */
function flatBatch(t, name) {
  if (t.shape.length < 2) throw new BadRequest(`inputs/${name}: expected [..., T, C], got [${t.shape}]`);
  const s = t.shape;
  return [tf.reshape(t, [-1, s[s.length - 2], s[s.length - 1]]), s.slice(0, -2)];
}

function feedForward(x, w1, b1, w2, b2, act) {
  const pre = dense(x, w1, b1);
  const hidden = act(pre);
  return { y: dense(hidden, w2, b2), pre, hidden };
}

/** Sinusoidal table [T, C], the PyTorch tutorial's PositionalEncoding written with tfjs ops (float32):
 * div_term = exp(arange(0, C, 2)·(-ln(base)/C)), angle = position·div_term, columns sin, cos, ...
 * By default (not GRADSPEC_TFJS_ANGLES=float32), pos/base^(2i/C) and sin/cos in double, rounded once. */
function sinusoidTable(length, d, base, offset) {
  const half = Math.ceil(d / 2);
  if (ANGLES64) {
    const pe = new Float32Array(length * d);
    for (let t = 0; t < length; ++t) {
      for (let c = 0; c < d; ++c) {
        const a = (offset + t) / Math.pow(base, (2 * Math.floor(c / 2)) / d);
        pe[t * d + c] = c % 2 ? Math.cos(a) : Math.sin(a);
      }
    }
    return tf.tensor(pe, [length, d], 'float32');
  }
  const position = tf.reshape(tf.range(offset, offset + length, 1, 'float32'), [length, 1]);
  const divTerm = tf.exp(tf.mul(tf.range(0, d, 2, 'float32'), f32(-Math.log(base) / d)));   // [half]
  const angle = tf.mul(position, tf.reshape(divTerm, [1, half]));                          // [T, half]
  const pe = tf.reshape(tf.stack([tf.sin(angle), tf.cos(angle)], -1), [length, 2 * half]);
  return 2 * half === d ? pe : tf.slice(pe, [0, 0], [length, d]);
}

/** cos, sin of θ = (offset + t)·base^(-2i/R), [T, R/2]: Hugging Face's inv_freq and outer product
 * in double (or in float32 tfjs ops with GRADSPEC_TFJS_ANGLES=float32). */
function ropeAngles(length, rotaryDim, base, offset) {
  const half = rotaryDim / 2;
  if (ANGLES64) {
    const c = new Float32Array(length * half), s = new Float32Array(length * half);
    for (let t = 0; t < length; ++t) {
      for (let i = 0; i < half; ++i) {
        const a = (offset + t) * Math.pow(base, (-2 * i) / rotaryDim);
        c[t * half + i] = Math.cos(a);
        s[t * half + i] = Math.sin(a);
      }
    }
    return [tf.tensor(c, [length, half], 'float32'), tf.tensor(s, [length, half], 'float32')];
  }
  const invFreq = tf.div(f32(1), tf.pow(f32(base), tf.div(tf.range(0, rotaryDim, 2, 'float32'), f32(rotaryDim))));
  const position = tf.range(offset, offset + length, 1, 'float32');
  const angle = tf.mul(tf.reshape(position, [length, 1]), tf.reshape(invFreq, [1, half]));
  return [tf.cos(angle), tf.sin(angle)];
}

/** x [..., T, D], the first R features turned: pairs (i, i + R/2) ("half", rotate_half) or (2i, 2i+1). */
function ropeTurn(x, cos, sin, style, rotaryDim) {
  const s = x.shape, d = s[s.length - 1], rank = s.length, half = rotaryDim / 2;
  const begin = new Array(rank).fill(0), size = s.slice();
  const part = (from, n) => { const b = begin.slice(), z = size.slice(); b[rank - 1] = from; z[rank - 1] = n; return tf.slice(x, b, z); };
  const rot = part(0, rotaryDim);
  let turned;
  if (style === 'half') {
    const [a, b] = tf.split(rot, 2, -1);
    turned = tf.concat([tf.sub(tf.mul(a, cos), tf.mul(b, sin)), tf.add(tf.mul(b, cos), tf.mul(a, sin))], -1);
  } else {
    const pairs = tf.reshape(rot, [...s.slice(0, -1), half, 2]);
    const [a, b] = tf.unstack(pairs, rank).map((t) => t);
    turned = tf.reshape(tf.stack([tf.sub(tf.mul(a, cos), tf.mul(b, sin)), tf.add(tf.mul(b, cos), tf.mul(a, sin))], -1),
      [...s.slice(0, -1), rotaryDim]);
  }
  return rotaryDim === d ? turned : tf.concat([turned, part(rotaryDim, d - rotaryDim)], -1);
}

/** tf.losses.softmaxCrossEntropy over [N, V] logits with one-hot labels; ignored rows get weight 0.
 * reduction: mean -> SUM_BY_NONZERO_WEIGHTS (the mean over non-ignored rows), sum -> SUM, none -> NONE. */
function crossEntropy(logits2d, targets, ignoreIndex, smoothing, reduction) {
  const v = logits2d.shape[1];
  const ids = tf.tensor(Int32Array.from(targets), [targets.length], 'int32');
  const onehot = tf.cast(tf.oneHot(ids, v), 'float32');
  const weights = ignoreIndex == null ? undefined
    : tf.tensor(Float32Array.from(targets, (t) => (t === ignoreIndex ? 0 : 1)), [targets.length], 'float32');
  const red = { mean: tf.Reduction.SUM_BY_NONZERO_WEIGHTS, sum: tf.Reduction.SUM, none: tf.Reduction.NONE }[reduction];
  return tf.losses.softmaxCrossEntropy(onehot, logits2d, weights, smoothing, red);
}

// ------------------------------------------------------------------------------------------------
// The ops: each returns {outputs, intermediates} of tf tensors, computed from r.input(...)
// ------------------------------------------------------------------------------------------------

const OPS = {
  linear(r) {
    const x = r.input('x'), w = r.input('w'), b = r.input('b');
    if (w.shape.length !== 2) throw new BadRequest('inputs/w: expected a matrix');
    return { outputs: { y: dense(x, w, b) } };
  },

  embedding(r) {
    const ids = r.ints('ids'), table = r.input('table');
    const scale = r.choice('scale', ['none', 'sqrt_d'], 'none');
    let y = tf.gather(table, tf.tensor(Int32Array.from(ids.values), ids.shape, 'int32'));
    if (scale === 'sqrt_d') y = tf.mul(y, f32(Math.sqrt(table.shape[1])));
    return { outputs: { y } };
  },

  positional_encoding(r) {
    const length = r.int('length'), d = r.int('d_model');
    return { outputs: { pe: sinusoidTable(length, d, r.real('base', 10000), r.int('offset', 0)) } };
  },

  softmax(r) {
    return { outputs: { y: tf.softmax(r.input('x')) } };
  },

  log_softmax(r) {
    return { outputs: { y: tf.logSoftmax(r.input('x')) } };
  },

  relu(r) { return { outputs: { y: tf.relu(r.input('x')) } }; },

  gelu(r) {
    const approximate = r.choice('approximate', ['none', 'tanh'], 'none');
    return { outputs: { y: (approximate === 'tanh' ? geluTanh : gelu)(r.input('x')) } };
  },

  silu(r) { return { outputs: { y: silu(r.input('x')) } }; },

  layer_norm(r) {
    const x = r.input('x');
    const { y, mean, rstd } = layerNorm(x, r.input('gamma'), r.input('beta'), r.real('eps', 1e-5));
    const lead = x.shape.slice(0, -1);
    return { outputs: { y }, intermediates: { mean: tf.reshape(mean, lead), rstd: tf.reshape(rstd, lead) } };
  },

  rms_norm(r) {
    const x = r.input('x');
    const { y, rstd } = rmsNorm(x, r.input('gamma'), r.real('eps', 1e-6), r.real('gamma_offset', 0));
    return { outputs: { y }, intermediates: { rstd: tf.reshape(rstd, x.shape.slice(0, -1)) } };
  },

  attention(r) {
    const q = r.input('q'), k = r.input('k'), v = r.input('v');
    const o = attentionParams(r);
    if (q.shape.length < 2 || k.shape.length < 2 || v.shape.length < 2) throw new BadRequest('inputs: q, k, v must be [..., T, D]');
    return attentionResult(attentionCore(q, k, v, r.rawValues('mask'), o));
  },

  grouped_query_attention(r) {
    const q = r.input('q'), k = r.input('k'), v = r.input('v');
    const o = attentionParams(r);
    if (q.shape.length < 3 || k.shape.length < 3 || v.shape.length < 3) throw new BadRequest('inputs: q, k, v must be [..., H, T, D]');
    const hq = q.shape[q.shape.length - 3], hkv = k.shape[k.shape.length - 3];
    if (hkv < 1 || hq % hkv) throw new BadRequest(`inputs/k: H_q = ${hq} is not a multiple of H_kv = ${hkv}`);
    return attentionResult(attentionCore(q, repeatKv(k, hq / hkv), repeatKv(v, hq / hkv), r.rawValues('mask'), o));
  },

  multi_head_attention(r) {
    const x = r.input('x'), memory = r.optional('memory');
    const heads = r.int('heads'), causal = r.bool('causal', false);
    const [x3, lead] = flatBatch(x, 'x');
    const c = x3.shape[2];
    checkHeads(c, heads);
    const kv = memory ? flatBatch(memory, 'memory')[0] : x3;
    if (causal && kv.shape[1] !== x3.shape[1]) throw new BadRequest('params/causal: needs T_q == T_k');
    const { y } = mha(x3, kv, attnWeights(r, ''), heads, r.rawValues('mask'), causal);
    return { outputs: { y: tf.reshape(y, [...lead, x3.shape[1], c]) } };
  },

  feed_forward(r) {
    const act = ACTIVATIONS[r.choice('activation', Object.keys(ACTIVATIONS), 'relu')];
    const { y, pre, hidden } = feedForward(r.input('x'), r.input('w1'), r.input('b1'), r.input('w2'), r.input('b2'), act);
    return { outputs: { y }, intermediates: { pre_activation: pre, hidden } };
  },

  gated_feed_forward(r) {
    const act = ACTIVATIONS[r.choice('activation', ['silu', 'gelu', 'gelu_tanh'], 'silu')];
    const x = r.input('x');
    const gate = dense(x, r.input('w_gate')), up = dense(x, r.input('w_up'));
    const hidden = tf.mul(act(gate), up);
    return { outputs: { y: dense(hidden, r.input('w_down')) }, intermediates: { gate, up, hidden } };
  },

  cross_entropy(r) {
    const logits = r.input('logits'), targets = r.ints('targets');
    const reduction = r.choice('reduction', ['mean', 'sum', 'none'], 'mean');
    const ignoreIndex = r.int('ignore_index', null);
    const smoothing = r.real('label_smoothing', 0);
    const v = lastDim(logits);
    if (targets.shape.join() !== logits.shape.slice(0, -1).join()) throw new BadRequest('inputs/targets: must be logits\' shape without the last axis');
    let loss = crossEntropy(tf.reshape(logits, [-1, v]), targets.values, ignoreIndex, smoothing, reduction);
    if (reduction === 'none') loss = tf.reshape(loss, targets.shape);
    return { outputs: { loss } };
  },

  rope(r) {
    const x = r.input('x');
    if (x.shape.length < 2) throw new BadRequest('inputs/x: expected [..., T, D]');
    const d = lastDim(x), length = x.shape[x.shape.length - 2];
    const style = r.choice('style', ['half', 'interleaved'], 'half');
    const rd = r.int('rotary_dim', null) ?? d;
    if (rd % 2 || rd > d || rd < 0) throw new BadRequest(`params/rotary_dim: must be even and at most D = ${d}`);
    if (rd === 0) return { outputs: { y: tf.add(x, f32(0)) } };
    const [cos, sin] = ropeAngles(length, rd, r.real('base', 10000), r.int('offset', 0));
    return { outputs: { y: ropeTurn(x, cos, sin, style, rd) } };
  },

  encoder_layer(r) {
    const x = r.input('x');
    const o = layerOptions(r);
    const causal = r.bool('causal', false);
    const [x3] = flatBatch(x, 'x');
    checkHeads(x3.shape[2], o.heads);
    const { y, h } = encoderLayer(r, '', x3, o, r.rawValues('mask'), causal);
    return { outputs: { y: tf.reshape(y, x.shape) }, intermediates: { h: tf.reshape(h, x.shape) } };
  },

  decoder_layer(r) {
    const x = r.input('x'), memory = r.input('memory');
    const o = layerOptions(r);
    const [x3] = flatBatch(x, 'x'), [m3] = flatBatch(memory, 'memory');
    checkHeads(x3.shape[2], o.heads);
    const { y, h1, h2 } = decoderLayer(r, '', x3, m3, o);
    return { outputs: { y: tf.reshape(y, x.shape) }, intermediates: { h1: tf.reshape(h1, x.shape), h2: tf.reshape(h2, x.shape) } };
  },

  transformer(r) {
    const src = r.ints('src_ids'), tgt = r.ints('tgt_ids'), labels = r.ints('labels');
    const layers = r.int('layers');
    const o = layerOptions(r);
    const embedScale = r.choice('embed_scale', ['sqrt_d', 'none'], 'sqrt_d');
    const smoothing = r.real('label_smoothing', 0);
    const ignoreIndex = r.int('ignore_index', null);
    const srcEmbed = r.input('src_embed'), tgtEmbed = r.input('tgt_embed');
    const c = srcEmbed.shape[1];
    checkHeads(c, o.heads);
    const sLen = src.shape[src.shape.length - 1], tLen = tgt.shape[tgt.shape.length - 1];
    const pe = sinusoidTable(Math.max(sLen, tLen), c, 10000, 0);
    const embed = (ids, table, len) => {
      let e = tf.gather(table, tf.tensor(Int32Array.from(ids.values), [ids.values.length / len, len], 'int32'));
      if (embedScale === 'sqrt_d') e = tf.mul(e, f32(Math.sqrt(c)));
      return tf.add(e, tf.slice(pe, [0, 0], [len, c]));
    };
    let h = embed(src, srcEmbed, sLen);
    for (let i = 0; i < layers; ++i) h = encoderLayer(r, `enc.${i}.`, h, o, null, false).y;
    const memory = layerNorm(h, r.input('enc_norm.gamma'), r.input('enc_norm.beta'), o.eps).y;
    let d = embed(tgt, tgtEmbed, tLen);
    for (let i = 0; i < layers; ++i) d = decoderLayer(r, `dec.${i}.`, d, memory, o).y;
    d = layerNorm(d, r.input('dec_norm.gamma'), r.input('dec_norm.beta'), o.eps).y;
    const logits = dense(d, r.input('out.w'), r.input('out.b'));
    const vt = lastDim(logits);
    const loss = crossEntropy(tf.reshape(logits, [-1, vt]), labels.values, ignoreIndex, smoothing, 'mean');
    const lead = tgt.shape.slice(0, -1);
    return {
      outputs: { loss, logits: tf.reshape(logits, [...lead, tLen, vt]) },
      intermediates: { memory: tf.reshape(memory, [...lead, sLen, c]) },
    };
  },

  llama_block(r) {
    const x = r.input('x');
    if (x.shape.length < 2) throw new BadRequest('inputs/x: expected [..., T, C]');
    const o = llamaOptions(r, lastDim(x));
    const { y, inter } = llamaBlock(r, '', x, o);
    return { outputs: { y }, intermediates: inter };
  },

  llama(r) {
    const ids = r.ints('ids'), labels = r.ints('labels');
    const embed = r.input('embed');
    const layers = r.int('layers');
    const tied = r.bool('tie_embeddings', false);
    const cap = r.real('logit_softcap', null);
    const ignoreIndex = r.int('ignore_index', null);
    const o = llamaOptions(r, embed.shape[1]);
    if (tied === r.has('lm_head')) throw new BadRequest(tied ? 'inputs/lm_head: must be absent with tie_embeddings' : 'inputs/lm_head: missing');
    let h = tf.gather(embed, tf.tensor(Int32Array.from(ids.values), ids.shape, 'int32'));
    for (let i = 0; i < layers; ++i) h = llamaBlock(r, `blocks.${i}.`, h, o).y;
    const hidden = rmsNorm(h, r.input('norm.gamma'), o.eps).y;
    const c = embed.shape[1], v = embed.shape[0];
    let logits = tied
      ? tf.reshape(tf.matMul(tf.reshape(hidden, [-1, c]), embed, false, true), [...ids.shape, v])
      : dense(hidden, r.input('lm_head'));
    if (cap != null) logits = tf.mul(tf.tanh(tf.div(logits, f32(cap))), f32(cap));
    const loss = crossEntropy(tf.reshape(logits, [-1, lastDim(logits)]), labels.values, ignoreIndex, 0, 'mean');
    return { outputs: { loss, logits }, intermediates: { hidden } };
  },
};

function attentionResult({ out, lse, scores, weights }) {
  const outputs = { out };
  if (lse) outputs.lse = lse;
  return { outputs, intermediates: { scores, weights } };
}

function layerOptions(r) {
  return {
    heads: r.int('heads'), normFirst: r.bool('norm_first', false), eps: r.real('eps', 1e-5),
    act: ACTIVATIONS[r.choice('activation', Object.keys(ACTIVATIONS), 'relu')],
  };
}

/** Encoder layer on x [B, T, C]: post-LN  h = LN1(x + SA(x)), y = LN2(h + FF(h));
 * pre-LN  h = x + SA(LN1(x)), y = h + FF(LN2(h)). */
function encoderLayer(r, p, x, o, mask, causal) {
  const ln = (t, n) => layerNorm(t, r.input(`${p}${n}.gamma`), r.input(`${p}${n}.beta`), o.eps).y;
  const ff = (t) => feedForward(t, r.input(`${p}ffn.w1`), r.input(`${p}ffn.b1`), r.input(`${p}ffn.w2`), r.input(`${p}ffn.b2`), o.act).y;
  const w = attnWeights(r, `${p}attn.`);
  if (o.normFirst) {
    const a = ln(x, 'ln1');
    const h = tf.add(x, mha(a, a, w, o.heads, mask, causal).y);
    return { y: tf.add(h, ff(ln(h, 'ln2'))), h };
  }
  const h = ln(tf.add(x, mha(x, x, w, o.heads, mask, causal).y), 'ln1');
  return { y: ln(tf.add(h, ff(h)), 'ln2'), h };
}

/** Decoder layer on x [B, T, C] and memory [B, S, C] (causal self-attention, cross-attention). */
function decoderLayer(r, p, x, memory, o) {
  const ln = (t, n) => layerNorm(t, r.input(`${p}${n}.gamma`), r.input(`${p}${n}.beta`), o.eps).y;
  const ff = (t) => feedForward(t, r.input(`${p}ffn.w1`), r.input(`${p}ffn.b1`), r.input(`${p}ffn.w2`), r.input(`${p}ffn.b2`), o.act).y;
  const sw = attnWeights(r, `${p}self_attn.`), cw = attnWeights(r, `${p}cross_attn.`);
  if (o.normFirst) {
    const a = ln(x, 'ln1');
    const h1 = tf.add(x, mha(a, a, sw, o.heads, null, true).y);
    const h2 = tf.add(h1, mha(ln(h1, 'ln2'), memory, cw, o.heads, null, false).y);
    return { y: tf.add(h2, ff(ln(h2, 'ln3'))), h1, h2 };
  }
  const h1 = ln(tf.add(x, mha(x, x, sw, o.heads, null, true).y), 'ln1');
  const h2 = ln(tf.add(h1, mha(h1, memory, cw, o.heads, null, false).y), 'ln2');
  return { y: ln(tf.add(h2, ff(h2)), 'ln3'), h1, h2 };
}

function llamaOptions(r, c) {
  const heads = r.int('heads');
  const kvHeads = r.int('kv_heads', null) ?? heads;
  let headDim = r.int('head_dim', null);
  if (headDim == null) {
    if (c % heads) throw new BadRequest(`params/heads: ${heads} heads do not divide C = ${c}`);
    headDim = c / heads;
  }
  if (headDim % 2) throw new BadRequest('params/head_dim: must be even');
  if (heads % kvHeads) throw new BadRequest('params/kv_heads: must divide heads');
  return {
    heads, kvHeads, headDim, base: r.real('rope_base', 10000), style: r.choice('rope_style', ['half', 'interleaved'], 'half'),
    eps: r.real('eps', 1e-6), window: r.int('window', null), softcap: r.real('softcap', null),
    act: ACTIVATIONS[r.choice('activation', ['silu', 'gelu', 'gelu_tanh'], 'silu')], offset: r.int('offset', 0),
  };
}

/** LLaMA decoder block on x [..., T, C]: RMSNorm, q/k/v projections, RoPE on q and k, GQA (causal,
 * window, softcap, scale 1/sqrt(D)), o-projection, residual, RMSNorm, SwiGLU, residual. */
function llamaBlock(r, p, x, o) {
  const s = x.shape, t = s[s.length - 2], c = s[s.length - 1], lead = s.slice(0, -2);
  const { heads: hq, kvHeads: hkv, headDim: d } = o;
  const headsOf = (u, h) => {
    const perm = [...lead.keys(), lead.length + 1, lead.length, lead.length + 2];
    return tf.transpose(tf.reshape(u, [...lead, t, h, d]), perm);  // [..., H, T, D]
  };
  const a = rmsNorm(x, r.input(`${p}attn_norm.gamma`), o.eps).y;
  const [cos, sin] = ropeAngles(t, d, o.base, o.offset);
  const q = ropeTurn(headsOf(dense(a, r.input(`${p}attn.w_q`)), hq), cos, sin, o.style, d);
  const k = ropeTurn(headsOf(dense(a, r.input(`${p}attn.w_k`)), hkv), cos, sin, o.style, d);
  const v = headsOf(dense(a, r.input(`${p}attn.w_v`)), hkv);
  const { out } = attentionCore(q, repeatKv(k, hq / hkv), repeatKv(v, hq / hkv), null,
    { causal: true, scale: 1 / Math.sqrt(d), window: o.window, softcap: o.softcap, return_lse: false });
  const perm = [...lead.keys(), lead.length + 1, lead.length, lead.length + 2];
  const attnOut = tf.reshape(tf.transpose(out, perm), [...lead, t, hq * d]);
  const h = tf.add(x, dense(attnOut, r.input(`${p}attn.w_o`)));
  const b = rmsNorm(h, r.input(`${p}ffn_norm.gamma`), o.eps).y;
  const ff = dense(tf.mul(o.act(dense(b, r.input(`${p}ffn.w_gate`))), dense(b, r.input(`${p}ffn.w_up`))), r.input(`${p}ffn.w_down`));
  void c;
  return { y: tf.add(h, ff), inter: { q, k, attn_out: attnOut, h } };
}

// ------------------------------------------------------------------------------------------------
// The driver: forward under tf.grads, VJP with the request's cotangents
// ------------------------------------------------------------------------------------------------

const plain = (t) => ({ shape: t.shape.slice(), values: t.dataSync().slice() });

function evaluate(op, inputs, params, cotangents) {
  const r = new Request(op, inputs, params, cotangents);
  return tf.tidy(() => {
    const leaves = r.leafRaw.map((t) => tf.tensor(t.values, t.shape, 'float32'));
    const cots = {};
    for (const [n, t] of Object.entries(r.cotangents)) cots[n] = tf.tensor(t.values, t.shape, 'float32');
    let result = null;
    const forward = (...xs) => {
      r.bound = Object.fromEntries(r.leafNames.map((n, i) => [n, xs[i]]));
      result = OPS[op](r);
      for (const n of Object.keys(cots)) {
        if (!(n in result.outputs)) throw new BadRequest(`cotangents/${n}: the op has no output of that name`);
        if (result.outputs[n].shape.join() !== cots[n].shape.join()) {
          throw new BadRequest(`cotangents/${n}: shape [${cots[n].shape}] differs from the output's [${result.outputs[n].shape}]`);
        }
      }
      for (const group of [result.outputs, result.intermediates || {}]) for (const t of Object.values(group)) tf.keep(t);
      const names = Object.keys(cots);
      if (names.length === 0) return null;
      if (names.length === 1) return result.outputs[names[0]];
      return tf.addN(names.map((n) => tf.sum(tf.mul(result.outputs[n], cots[n]))));
    };
    let grads = [];
    const names = Object.keys(cots);
    if (leaves.length && names.length) {
      let dy = names.length === 1 ? cots[names[0]] : undefined;
      if (BUG === '1' && op === 'softmax') dy = tf.mul(dy, f32(1.5));  // planted backward bug
      grads = tf.grads(forward)(leaves, dy);
    } else {
      forward(...leaves);
    }
    const answer = { outputs: {}, gradients: {}, intermediates: {} };
    for (const [n, t] of Object.entries(result.outputs)) answer.outputs[n] = plain(t);
    for (const [n, t] of Object.entries(result.intermediates || {})) answer.intermediates[n] = plain(t);
    grads.forEach((g, i) => { answer.gradients[r.leafNames[i]] = plain(g); });
    return answer;
  });
}

async function main() {
  try {
    await loadGradients();
  } catch (e) {
    process.stderr.write(`gradspec_tfjs_adapter: ${e.message}\n`);
    process.exit(1);
  }
  if (process.env.GRADSPEC_TFJS_KERNELS) {  // development: record the kernels run (to keep KERNELS_WITH_GRADIENTS complete)
    const seen = new Set(), engine = tf.engine(), run = engine.runKernel.bind(engine);
    engine.runKernel = (kernelName, ...rest) => { seen.add(kernelName); return run(kernelName, ...rest); };
    process.on('exit', () => fs.appendFileSync(process.env.GRADSPEC_TFJS_KERNELS, [...seen].join('\n') + '\n'));
  }
  const ops = {};
  for (const name of Object.keys(OPS)) {
    ops[name] = (inputs, params, cotangents, dtype) => {
      if (dtype !== 'float32') throw new Unsupported(`TensorFlow.js computes in float32, not ${dtype}`);
      return evaluate(name, inputs, params, cotangents);
    };
  }
  const order = CATALOGUE.map((o) => o.name).filter((n) => n in ops);
  await serve({ name: 'tfjs-core+cpu', version: tf.version_core, dtypes: ['float32'], ops: Object.fromEntries(order.map((n) => [n, ops[n]])) });
}

if (require.main === module) main();

module.exports = { tf, OPS, evaluate, KERNELS_WITH_GRADIENTS, loadGradients };
