'use strict';
// Self-test of gradspec_adapter.js without gradspec: streams in-process, so that backpressure is
// real (an output whose buffer is always full, drained slowly) and end of input is seen.
//   node adapters/node/selftest.js        exit 0 when every check holds
const assert = require('assert');
const path = require('path');
const { Readable, Writable } = require('stream');
const { serve, Unsupported } = require(path.join(__dirname, 'gradspec_adapter.js'));

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

(async () => {
  for (const t of [backpressureAndOrder, encodingAndErrors]) {
    const start = Date.now();
    console.log(`${t.name}: ok (${await t()}; ${Date.now() - start} ms)`);
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
