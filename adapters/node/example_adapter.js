#!/usr/bin/env node
'use strict';
/**
 * Example gradspec adapter built on gradspec_adapter.js: softmax and layer_norm, forward and backward
 * (hand-written vector-Jacobian products), in float64 or in float32 as the request asks.
 *
 *   gradspec run --suite cases/standard/softmax.json --adapter 'node adapters/node/example_adapter.js' --dtype float32
 *
 * float32 arithmetic: `r` is Math.fround for a float32 request (identity for float64), applied to
 * the result of every operation, which gives exactly float32's correctly rounded + - * / and sqrt;
 * exp is computed in double and rounded once.
 *
 * GRADSPEC_EXAMPLE_BUG plants failures for the kit's tests (tests/kits/check_kit.py): "1" makes
 * softmax backward drop the "- <dy, y>" term (gradspec must report each case), "throw" makes
 * layer_norm throw a RangeError and "unsupported" makes it throw Unsupported.
 */

const path = require('path');
const { serve, realParam, Unsupported } = require(path.join(__dirname, 'gradspec_adapter.js'));

const BUG = process.env.GRADSPEC_EXAMPLE_BUG || '';

const rounding = (dtype) => (dtype === 'float32' ? Math.fround : (v) => v);
const alloc = (dtype, n) => (dtype === 'float32' ? new Float32Array(n) : new Float64Array(n));
const lastAxis = (t) => (t.shape.length ? t.shape[t.shape.length - 1] : 1);

// y = softmax(x) over the last axis; an all -inf row gives zeros (the catalogue's safe softmax, docs/verdicts.md).
// dx = y (dy - <dy, y>). x, y, dy, dx: [..., N].
function softmax(inputs, params, cotangents, dtype) {
  const r = rounding(dtype);
  const x = inputs.x.values, dy = cotangents.y.values;
  const n = lastAxis(inputs.x), rows = n ? x.length / n : 0;
  const y = alloc(dtype, x.length), dx = alloc(dtype, x.length);
  for (let row = 0; row < rows; ++row) {
    const o = row * n;
    let m = -Infinity;
    for (let j = 0; j < n; ++j) m = x[o + j] > m || Number.isNaN(x[o + j]) ? x[o + j] : m;
    if (m === -Infinity) continue;  // all -inf: zeros
    let sum = 0;
    for (let j = 0; j < n; ++j) {
      y[o + j] = r(Math.exp(r(x[o + j] - m)));  // max subtracted: exp never overflows
      sum = r(sum + y[o + j]);
    }
    let dot = 0;
    for (let j = 0; j < n; ++j) {
      y[o + j] = r(y[o + j] / sum);
      dot = r(dot + r(dy[o + j] * y[o + j]));
    }
    if (BUG === '1') dot = 0;
    for (let j = 0; j < n; ++j) dx[o + j] = r(y[o + j] * r(dy[o + j] - dot));
  }
  return { outputs: { y: { shape: inputs.x.shape, values: y } }, gradients: { x: { shape: inputs.x.shape, values: dx } } };
}

// y = (x - mean) · rstd · gamma + beta over the last axis (C), biased variance,
// rstd = 1/sqrt(var + eps), two passes (never E[x²] - E[x]², which cancels).
// dx = rstd · (g - mean(g) - xhat · mean(g · xhat)) with g = dy · gamma.
// x, y: [..., C]; gamma, beta: [C]; intermediates mean, rstd: [...].
function layer_norm(inputs, params, cotangents, dtype) {
  if (BUG === 'throw') throw new RangeError('planted failure');
  if (BUG === 'unsupported') throw new Unsupported('planted: layer_norm declined');
  const r = rounding(dtype);
  const x = inputs.x.values, gamma = inputs.gamma.values, beta = inputs.beta.values, dy = cotangents.y.values;
  const eps = r(realParam(params, 'eps', 1e-5));
  const c = lastAxis(inputs.x), rows = c ? x.length / c : 0;
  if (gamma.length !== c || beta.length !== c) throw new RangeError('gamma and beta must be [C]');
  const y = alloc(dtype, x.length), dx = alloc(dtype, x.length), xhat = alloc(dtype, c);
  const dgamma = alloc(dtype, c), dbeta = alloc(dtype, c), mean = alloc(dtype, rows), rstd = alloc(dtype, rows);
  for (let row = 0; row < rows; ++row) {
    const o = row * c;
    let sum = 0, sq = 0;
    for (let j = 0; j < c; ++j) sum = r(sum + x[o + j]);
    const mu = r(sum / c);
    for (let j = 0; j < c; ++j) sq = r(sq + r(r(x[o + j] - mu) * r(x[o + j] - mu)));
    const rs = r(1 / r(Math.sqrt(r(r(sq / c) + eps))));
    let gsum = 0, gxsum = 0;
    for (let j = 0; j < c; ++j) {
      xhat[j] = r(r(x[o + j] - mu) * rs);
      y[o + j] = r(r(xhat[j] * gamma[j]) + beta[j]);
      const g = r(dy[o + j] * gamma[j]);
      gsum = r(gsum + g);
      gxsum = r(gxsum + r(g * xhat[j]));
      dgamma[j] = r(dgamma[j] + r(dy[o + j] * xhat[j]));
      dbeta[j] = r(dbeta[j] + dy[o + j]);
    }
    const gmean = r(gsum / c), gxmean = r(gxsum / c);
    for (let j = 0; j < c; ++j) dx[o + j] = r(rs * r(r(r(dy[o + j] * gamma[j]) - gmean) - r(xhat[j] * gxmean)));
    mean[row] = mu;
    rstd[row] = rs;
  }
  const lead = inputs.x.shape.slice(0, -1);
  return {
    outputs: { y: { shape: inputs.x.shape, values: y } },
    gradients: { x: { shape: inputs.x.shape, values: dx }, gamma: { shape: [c], values: dgamma }, beta: { shape: [c], values: dbeta } },
    intermediates: { mean: { shape: lead, values: mean }, rstd: { shape: lead, values: rstd } },
  };
}

serve({ name: 'example-node', version: process.versions.node, dtypes: ['float64', 'float32'], ops: { softmax, layer_norm } });
