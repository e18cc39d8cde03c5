'use strict';
// Self-test of gradspec_adapter.js without gradspec: streams in-process, so that backpressure is
// real (an output whose buffer is always full, drained slowly) and end of input is seen.
//   node adapters/node/selftest.js        exit 0 when every check holds
const assert = require('assert');
const path = require('path');
const { Readable, Writable } = require('stream');
const { serve, Unsupported, roundFloat16, toFloat16Bits, fromFloat16Bits } = require(path.join(__dirname, 'gradspec_adapter.js'));

const N = 200;  // requests, each answered with 1000 values: far beyond the output's 64-byte buffer

async function backpressureAndOrder() {
  const lines = [];
  for (let i = 0; i < N; ++i) {
    lines.push(JSON.stringify({ id: `r${i}`, op: i % 10 === 9 ? 'nope' : 'fill', params: { k: i },
                                inputs: {}, cotangents: {}, dtype: i % 2 ? 'float32' : 'float64' }) + '\n');
  }
  const input = Readable.from(lines);
  let text = '', drains = 0, full = 0, buffered = 0, longest = 0;
  const output = new Writable({
    highWaterMark: 64,
    write(chunk, enc, done) { text += chunk; setTimeout(done, 0); },  // a slow reader
  });
  const write = output.write.bind(output);
  output.write = (chunk) => {
    buffered = Math.max(buffered, output.writableLength);  // what is still waiting for the reader
    longest = Math.max(longest, chunk.length);
    const ok = write(chunk);
    if (!ok) ++full;
    return ok;
  };
  output.on('drain', () => ++drains);
  let inFlight = 0, maxInFlight = 0;
  await serve({
    name: 'selftest', version: '0', input, output,
    ops: {
      async fill(inputs, params, cotangents, dtype) {
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await new Promise((r) => setImmediate(r));
        --inFlight;
        return { outputs: { y: { shape: [1000], values: new Array(1000).fill(params.k + 0.1) } }, gradients: {} };
      },
      boom() { throw new Unsupported('never'); },
    },
  });
  await new Promise((r) => output.end(r));
  const out = text.trim().split('\n').map((l) => JSON.parse(l));
  assert.strictEqual(out.length, N + 1, 'one handshake and one answer per request');
  assert.deepStrictEqual(out[0].ops, ['boom', 'fill']);
  for (let i = 0; i < N; ++i) {
    const a = out[i + 1];
    assert.strictEqual(a.id, `r${i}`, 'answers in request order');
    if (i % 10 === 9) {
      assert.strictEqual(a.error, 'unsupported: op "nope"');
      continue;
    }
    assert.strictEqual(a.dtype, i % 2 ? 'float32' : 'float64');
    const want = i % 2 ? Math.fround(i + 0.1) : i + 0.1;
    assert.strictEqual(a.outputs.y.values.length, 1000);
    assert.ok(a.outputs.y.values.every((v) => v === want), `r${i}: values rounded to the dtype`);
  }
  assert.ok(full > 0 && drains > 0, `write() returned false (${full}) and 'drain' came (${drains})`);
  assert.ok(buffered <= longest, `a full buffer is drained before the next answer (${buffered} bytes waiting)`);
  assert.strictEqual(maxInFlight, 1, 'one request at a time');
  return `${N} requests, write() full ${full} times, ${drains} drains, at most ${buffered} bytes waiting`;
}

async function encodingAndErrors() {
  const req = (o) => JSON.stringify(Object.assign({ params: {}, inputs: {}, cotangents: {}, dtype: 'float64' }, o)) + '\n';
  const input = Readable.from([
    req({ id: 'a', op: 'echo', inputs: { x: { shape: [2, 2], values: [1, 'inf', '-inf', 'nan'] },
                                         ids: { shape: [2], dtype: 'int64', values: [7, -100] } },
          cotangents: { y: { shape: [2, 2], values: [0.5, 0, 0, 0] } } }),
    req({ id: 'b', op: 'echo', dtype: 'bfloat16' }),
    req({ id: 'c', op: 'bad' }),
    '\n',
    req({ id: 'd', op: 'echo', inputs: { x: { shape: [3], values: [1, 2] } } }),
    req({ id: 'e', op: 'echo', dtype: 'float32', inputs: { x: { shape: [], values: [0.5] } } }),
  ]);
  let text = '';
  const output = new Writable({ write(chunk, enc, done) { text += chunk; done(); } });
  await serve({
    name: 'selftest', version: '0', dtypes: ['float64', 'float32'], gradients: false, input, output,
    ops: {
      echo(inputs, params, cotangents, dtype) {
        const x = inputs.x;
        assert.ok(x.values instanceof (dtype === 'float32' ? Float32Array : Float64Array));
        if (inputs.ids) assert.deepStrictEqual(inputs.ids, { shape: [2], dtype: 'int64', values: [7, -100] });
        return { outputs: { y: x }, intermediates: { z: { shape: [], values: [1 / 3] } } };
      },
      bad() { throw new TypeError('planted'); },
    },
  });
  const [hs, a, b, c, d, e, ...rest] = text.trim().split('\n').map((l) => JSON.parse(l));
  assert.strictEqual(hs.gradients, false);
  assert.deepStrictEqual(a.outputs.y, { shape: [2, 2], values: [1, 'inf', '-inf', 'nan'] });
  assert.deepStrictEqual(a.gradients, {});
  assert.strictEqual(a.intermediates.z.values[0], 1 / 3);
  assert.strictEqual(b.error, 'unsupported: dtype "bfloat16"');
  assert.strictEqual(c.error, 'TypeError: planted');
  assert.ok(d.error.startsWith('bad request: inputs/x: shape [3] holds 3 values, got 2'), d.error);
  assert.strictEqual(e.intermediates.z.values[0], Math.fround(1 / 3));
  assert.strictEqual(rest.length, 0);
  return 'non-finite values, int64 inputs, errors, forward-only handshake';
}

// float16 expectations written down from the binary16 definition (sign, 5 exponent bits biased by 15,
// 10 fraction bits), not computed by the kit: [input Number, expected bit pattern, why].
const F16_CASES = [
  [1, 0x3c00, '1 = 2^0: exponent 15'],
  [-2, 0xc000, '-2: sign, exponent 16'],
  [0.333251953125, 0x3555, 'the float16 nearest 1/3 is exact'],
  [1 / 3, 0x3555, '1/3 rounds to 0x3555 (1/3 - 0.333251953125 < half a step 2^-12)'],
  [1 + 2 ** -11, 0x3c00, 'midpoint of 1 and 1+2^-10: tie to the even fraction 0'],
  [1 + 3 * 2 ** -11, 0x3c02, 'midpoint of 1+2^-10 (odd) and 1+2^-9 (even): up'],
  [1 + 2 ** -11 + 2 ** -40, 0x3c01, 'just above the midpoint: up (a float32 step first would give 0x3c00)'],
  [1 + 2 ** -11 - 2 ** -40, 0x3c00, 'just below the midpoint: down'],
  [2048 + 1, 0x6800, '2049: midpoint of 2048 and 2050 (step 2), tie to even 2048'],
  [2048 + 3, 0x6802, '2051: midpoint of 2050 (odd) and 2052: up to 2052'],
  [65504, 0x7bff, 'the largest finite float16 (2-2^-10)*2^15'],
  [65519, 0x7bff, 'below the overflow midpoint: 65504'],
  [65519.99999, 0x7bff, 'still below 65520'],
  [65520, 0x7c00, '65520 = midpoint of 65504 (odd) and 2^16: ties to even give inf'],
  [-65520, 0xfc00, '-65520: -inf'],
  [1e6, 0x7c00, 'overflow: inf'],
  [Infinity, 0x7c00, 'inf'],
  [-Infinity, 0xfc00, '-inf'],
  [2 ** -14, 0x0400, 'the smallest normal'],
  [2 ** -14 - 2 ** -24, 0x03ff, 'the largest subnormal'],
  [2 ** -24, 0x0001, 'the smallest subnormal'],
  [-(2 ** -24), 0x8001, 'the smallest negative subnormal'],
  [2 ** -25, 0x0000, '2^-25: midpoint of 0 and 2^-24, tie to even 0'],
  [-(2 ** -25), 0x8000, '-2^-25: -0'],
  [2 ** -25 + 2 ** -40, 0x0001, 'just above 2^-25: 2^-24'],
  [3 * 2 ** -25, 0x0002, '1.5 * 2^-24: tie between 1 and 2 steps, to even 2'],
  [5 * 2 ** -25, 0x0002, '2.5 * 2^-24: tie between 2 and 3 steps, to even 2'],
  [1e-10, 0x0000, 'underflow: 0'],
  [0, 0x0000, '+0'],
  [-0, 0x8000, '-0 keeps its sign'],
];

async function float16() {
  for (const [x, bits, why] of F16_CASES) {
    const got = toFloat16Bits([x])[0];
    assert.strictEqual(got, bits, `toFloat16Bits(${x}): got 0x${got.toString(16)}, want 0x${bits.toString(16)} (${why})`);
    const back = fromFloat16Bits(Uint16Array.of(bits))[0];
    assert.ok(Object.is(roundFloat16(x), back), `roundFloat16(${x}) = ${roundFloat16(x)}, want ${back} (${why})`);
  }
  for (const [bits, want] of [[0x7bff, 65504], [0x0001, 5.9604644775390625e-8], [0x3555, 0.333251953125],
                              [0x0400, 6.103515625e-5], [0x03ff, 6.097555160522461e-5], [0xc000, -2],
                              [0x7c00, Infinity], [0xfc00, -Infinity], [0x8000, -0], [0x3bff, 0.99951171875]]) {
    assert.ok(Object.is(fromFloat16Bits(Uint16Array.of(bits))[0], want), `fromFloat16Bits(0x${bits.toString(16)}) = ${want}`);
  }
  const nan = toFloat16Bits(Float32Array.of(NaN))[0];
  assert.ok((nan & 0x7c00) === 0x7c00 && (nan & 0x3ff) !== 0, `NaN -> a NaN pattern (0x${nan.toString(16)})`);
  assert.ok(Number.isNaN(roundFloat16(NaN)) && Number.isNaN(fromFloat16Bits(Uint16Array.of(0x7e01))[0]));
  // Every non-NaN pattern reads back to a Float32Array value that encodes to the same pattern.
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const values = fromFloat16Bits(all), again = toFloat16Bits(values);
  let patterns = 0;
  for (let i = 0; i < 65536; ++i) {
    if (Number.isNaN(values[i])) continue;
    assert.strictEqual(again[i], i, `pattern 0x${i.toString(16)} -> ${values[i]} -> 0x${again[i].toString(16)}`);
    ++patterns;
  }

  // Through serve: float16 inputs arrive as exact Float32Array values, answers are rounded to float16.
  const req = (o) => JSON.stringify(Object.assign({ params: {}, inputs: {}, cotangents: {}, dtype: 'float16' }, o)) + '\n';
  const input = Readable.from([
    req({ id: 'a', op: 'echo', inputs: { x: { shape: [5], values: [0.333251953125, 65504, 'inf', 'nan', -5.9604644775390625e-8] } } }),
    req({ id: 'b', op: 'echo', inputs: { x: { shape: [1], values: [0.1] } } }),
    req({ id: 'c', op: 'echo', dtype: 'float32', inputs: { x: { shape: [1], values: [0.1] } } }),
  ]);
  let text = '';
  const output = new Writable({ write(chunk, enc, done) { text += chunk; done(); } });
  await serve({
    name: 'selftest', version: '0', dtypes: ['float32', 'float16'], gradients: false, input, output,
    ops: {
      echo(inputs, params, cotangents, dtype) {
        const x = inputs.x;
        assert.ok(x.values instanceof Float32Array, 'float16 and float32 inputs are Float32Array');
        if (dtype === 'float16') {
          assert.ok(Object.is(x.values[4], -(2 ** -24)) && x.values[1] === 65504 && Number.isNaN(x.values[3]));
        }
        return { outputs: { y: x },
                 intermediates: { z: { shape: [8], values: [1 / 3, 65519, 65520, -1e6, 2 ** -25, -(2 ** -25), 3 * 2 ** -25, 1 + 2 ** -11 + 2 ** -40] } } };
      },
    },
  });
  const [hs, a, b, c, ...rest] = text.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepStrictEqual(hs.dtypes, ['float32', 'float16']);
  assert.strictEqual(a.dtype, 'float16');
  assert.deepStrictEqual(a.outputs.y.values, [0.333251953125, 65504, 'inf', 'nan', -5.9604644775390625e-8]);
  assert.deepStrictEqual(a.intermediates.z.values, [0.333251953125, 65504, 'inf', '-inf', 0, 0, 1.1920928955078125e-7, 1.0009765625]);
  // -2^-25 rounds to -0 (checked above); JSON.stringify writes -0 as 0, as for every dtype.
  assert.ok(b.error.startsWith('bad request: inputs/x/values/0: 0.1 is not exact in float16'), b.error);
  assert.strictEqual(c.outputs.y.values[0], Math.fround(0.1));
  assert.strictEqual(rest.length, 0);
  await assert.rejects(serve({ name: 'x', version: '0', dtypes: ['bfloat16'], ops: {}, input: Readable.from([]), output }));
  return `${F16_CASES.length} roundings, ${patterns} patterns round-trip, serve in float16`;
}

(async () => {
  for (const t of [backpressureAndOrder, encodingAndErrors, float16]) {
    const start = Date.now();
    console.log(`${t.name}: ok (${await t()}; ${Date.now() - start} ms)`);
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
