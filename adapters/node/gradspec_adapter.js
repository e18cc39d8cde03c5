'use strict';
/**
 * A small kit for writing gradspec adapters in JavaScript (Node >= 12, CommonJS, no dependencies).
 *
 * You write one function per op; `serve` speaks the adapter protocol ("gradspec-adapter/1",
 * docs/adapter_protocol.md) over stdin/stdout:
 *
 *   const { serve, Unsupported } = require('./gradspec_adapter');
 *   serve({
 *     name: 'my-lib', version: '1.0', dtypes: ['float64', 'float32'],
 *     ops: {
 *       relu(inputs, params, cotangents, dtype) {     // may also be async (return a Promise)
 *         const x = inputs.x;                          // {shape, values: Float32Array | Float64Array}
 *         ...
 *         return { outputs: { y }, gradients: { x: dx } };
 *       },
 *     },
 *   });
 *
 * The protocol, one JSON object per line:
 *
 *   adapter  -> {"adapter": "gradspec-adapter/1", "implementation": {"name", "version"},
 *                "dtypes": [...], "ops": [...]}          (+ "gradients": false when forward-only)
 *   gradspec -> {"id", "op", "params", "inputs", "cotangents", "dtype"}
 *   adapter  -> {"id", "dtype", "outputs", "gradients"[, "intermediates"]}   or   {"id", "error": "..."}
 *
 * gradspec closes stdin when done; the promise `serve` returns then resolves and the process exits 0.
 *
 * What the kit does for you:
 * - Real tensors arrive as {shape, values: Float64Array} (float64) or Float32Array (float32); values
 *   were JSON numbers or "inf", "-inf", "nan" and are exact in the dtype. Integer tensors
 *   ("dtype": "int64") arrive as {shape, dtype: 'int64', values: Array of safe integers}.
 *   A scalar has shape [] and one value. Row-major.
 * - `params` is the request's JSON object; `realParam(params, name, fallback)` reads a real param
 *   given as a JSON number or a decimal string ("1e-5").
 * - Gradients are vector-Jacobian products: cotangents.y is the cotangent of output "y".
 * - Answers are encoded for you: tensors are {shape, values} with any array-like values, rounded
 *   to float32 (Math.fround) for a float32 request (a no-op for float32 results), NaN/Inf sent as
 *   "nan"/"inf"/"-inf", "dtype" echoed. "intermediates" is optional.
 * - Errors never stop the adapter: throwing `new Unsupported('why')` answers "unsupported: why"
 *   (gradspec skips the case); any other throw (or rejected promise) answers "<Error name>: message"
 *   (the case is an error) and the next request is served. Ops not in `ops` and dtypes not in
 *   `dtypes` are answered "unsupported: ...".
 * - Requests are answered one at a time, in order; when stdout's buffer is full (write() returns
 *   false) the next request waits for 'drain'. While `serve` runs, console.log/info/debug go to
 *   stderr (gradspec's log) so that a stray log line cannot corrupt the protocol.
 */

const readline = require('readline');

const PROTOCOL = 'gradspec-adapter/1';
const REAL_DTYPES = ['float64', 'float32'];

/** Thrown by an op that does not handle a request: answered "unsupported: <message>" (skipped). */
class Unsupported extends Error {
  constructor(message) {
    super(message);
    this.name = 'Unsupported';
  }
}

/** A request that does not follow the protocol: answered "bad request: <message>". */
class BadRequest extends Error {
  constructor(message) {
    super(message);
    this.name = 'BadRequest';
  }
}

const SPECIAL = { inf: Infinity, '+inf': Infinity, '-inf': -Infinity, nan: NaN };

function number(v, where) {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (v in SPECIAL) return SPECIAL[v];
    if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v)) return Number(v);
  }
  throw new BadRequest(`${where}: expected a number or "inf"/"-inf"/"nan", got ${JSON.stringify(v)}`);
}

/** A real param (JSON number or decimal string) as a Number; `fallback` when absent or null. */
function realParam(params, name, fallback) {
  const v = params[name];
  return v === undefined || v === null ? fallback : number(v, `params/${name}`);
}

function decodeTensor(obj, where, dtype) {
  if (obj === null || typeof obj !== 'object' || !Array.isArray(obj.shape) || !Array.isArray(obj.values)) {
    throw new BadRequest(`${where}: expected an object with "shape" and "values"`);
  }
  let count = 1;
  for (const n of obj.shape) {
    if (!Number.isInteger(n) || n < 0) throw new BadRequest(`${where}/shape: expected a list of non-negative integers`);
    count *= n;
  }
  if (obj.values.length !== count) {
    throw new BadRequest(`${where}: shape [${obj.shape}] holds ${count} values, got ${obj.values.length}`);
  }
  if (obj.dtype === 'int64') {
    obj.values.forEach((v, i) => {
      if (!Number.isSafeInteger(v)) throw new BadRequest(`${where}/values/${i}: expected an integer`);
    });
    return { shape: obj.shape, dtype: 'int64', values: obj.values };
  }
  const values = dtype === 'float32' ? new Float32Array(count) : new Float64Array(count);
  obj.values.forEach((v, i) => {
    values[i] = typeof v === 'number' ? v : number(v, `${where}/values/${i}`);
  });
  return { shape: obj.shape, values };
}

function decodeGroup(msg, key, dtype) {
  const raw = msg[key] === undefined || msg[key] === null ? {} : msg[key];
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new BadRequest(`${key}: expected an object`);
  const out = {};
  for (const [name, t] of Object.entries(raw)) out[name] = decodeTensor(t, `${key}/${name}`, dtype);
  return out;
}

function encodeTensor(t, where, dtype) {
  if (t === null || typeof t !== 'object' || !Array.isArray(t.shape) || t.values === undefined ||
      typeof t.values.length !== 'number') {
    throw new TypeError(`${where}: expected {shape, values}`);
  }
  const count = t.shape.reduce((a, n) => a * n, 1);
  if (t.values.length !== count) {
    throw new RangeError(`${where}: shape [${t.shape}] holds ${count} values, got ${t.values.length}`);
  }
  const round = dtype === 'float32' ? Math.fround : (v) => v;
  const values = new Array(count);
  for (let i = 0; i < count; ++i) {
    const v = round(Number(t.values[i]));
    values[i] = Number.isFinite(v) ? v : Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
  }
  return { shape: Array.from(t.shape), values };
}

function encodeGroup(tensors, key, dtype) {
  const out = {};
  for (const [name, t] of Object.entries(tensors || {})) out[name] = encodeTensor(t, `${key}/${name}`, dtype);
  return out;
}

/** One request line -> one answer object (never throws). */
async function respond(line, ops, dtypes) {
  let id = null;
  try {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch (e) {
      throw new BadRequest(`not JSON (${e.message})`);
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) throw new BadRequest('expected a JSON object');
    if (msg.id !== undefined) id = msg.id;
    const dtype = msg.dtype === undefined ? 'float64' : msg.dtype;
    if (!Object.prototype.hasOwnProperty.call(ops, msg.op)) throw new Unsupported(`op ${JSON.stringify(msg.op)}`);
    if (!dtypes.includes(dtype)) throw new Unsupported(`dtype ${JSON.stringify(dtype)}`);
    const params = msg.params === undefined || msg.params === null ? {} : msg.params;
    if (typeof params !== 'object' || Array.isArray(params)) throw new BadRequest('params: expected an object');
    const inputs = decodeGroup(msg, 'inputs', dtype);
    const cotangents = decodeGroup(msg, 'cotangents', dtype);
    const answer = await ops[msg.op](inputs, params, cotangents, dtype);
    if (answer === null || typeof answer !== 'object') throw new TypeError('the op returned no {outputs, gradients} object');
    const reply = { id, dtype, outputs: encodeGroup(answer.outputs, 'outputs', dtype),
                    gradients: encodeGroup(answer.gradients, 'gradients', dtype) };
    if (answer.intermediates) reply.intermediates = encodeGroup(answer.intermediates, 'intermediates', dtype);
    return reply;
  } catch (e) {
    if (e instanceof Unsupported) return { id, error: `unsupported: ${e.message}` };
    if (e instanceof BadRequest) return { id, error: `bad request: ${e.message}` };
    if (e instanceof Error) return { id, error: `${e.name}: ${e.message}` };
    return { id, error: `thrown: ${String(e)}` };
  }
}

/**
 * Speaks the adapter protocol until stdin closes. Returns a promise that resolves when done.
 * options: {name, version, dtypes = ['float64', 'float32'], ops: {name: f}, gradients = true,
 *           input = process.stdin, output = process.stdout}
 */
async function serve(options) {
  const { name, version, ops, gradients = true } = options;
  const dtypes = options.dtypes || REAL_DTYPES.slice();
  const input = options.input || process.stdin;
  const output = options.output || process.stdout;
  for (const d of dtypes) {
    if (!REAL_DTYPES.includes(d)) throw new Error(`serve: dtype ${JSON.stringify(d)} is not one of ${REAL_DTYPES}`);
  }
  let closed = false;
  output.on('error', () => { closed = true; });  // EPIPE: gradspec went away
  const write = async (obj) => {
    if (!closed && !output.write(JSON.stringify(obj) + '\n')) {
      await new Promise((resolve) => {  // backpressure: wait until the buffer drains
        const done = () => { output.off('drain', done); output.off('error', done); output.off('close', done); resolve(); };
        output.on('drain', done);
        output.on('error', done);
        output.on('close', done);
      });
    }
  };
  const saved = { log: console.log, info: console.info, debug: console.debug };
  console.log = console.info = console.debug = console.error;  // stray logs go to gradspec's log
  try {
    const handshake = { adapter: PROTOCOL, implementation: { name: String(name), version: String(version) },
                        dtypes, ops: Object.keys(ops).sort() };
    if (!gradients) handshake.gradients = false;
    await write(handshake);
    const lines = readline.createInterface({ input, crlfDelay: Infinity, terminal: false });
    for await (const line of lines) {  // one request at a time: the next line waits for this answer
      if (closed) break;
      if (line.trim() === '') continue;
      await write(await respond(line, ops, dtypes));
    }
  } finally {
    Object.assign(console, saved);
  }
}

module.exports = { serve, realParam, Unsupported, BadRequest, PROTOCOL };
