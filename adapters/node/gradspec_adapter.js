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
 *   were JSON numbers or "inf", "-inf", "nan" and are exact in the dtype. float16 tensors arrive as a
 *   Float32Array holding the float16 values exactly (every float16 value is a float32 value; a value
 *   not exact in float16 is a bad request); `toFloat16Bits` gives their IEEE binary16 bit patterns
 *   (a Uint16Array, what ONNX Runtime's 'float16' tensors take) and `fromFloat16Bits` reads them back.
 *   Integer tensors
 *   ("dtype": "int64") arrive as {shape, dtype: 'int64', values: Array of safe integers}.
 *   A scalar has shape [] and one value. Row-major.
 * - `params` is the request's JSON object; `realParam(params, name, fallback)` reads a real param
 *   given as a JSON number or a decimal string ("1e-5").
 * - Gradients are vector-Jacobian products: cotangents.y is the cotangent of output "y".
 * - Answers are encoded for you: tensors are {shape, values} with any array-like values, rounded
 *   to float32 (Math.fround) for a float32 request (a no-op for float32 results), to float16
 *   (`roundFloat16`: round to nearest, ties to even, from the Number itself, overflow to ±inf,
 *   subnormals, -0 and NaN kept) for a float16 request, NaN/Inf sent as
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
const REAL_DTYPES = ['float64', 'float32', 'float16'];
const DEFAULT_DTYPES = ['float64', 'float32'];

// ---------------------------------------------------------------------------------------------
// float16 (IEEE 754 binary16: 1 sign bit, 5 exponent bits with bias 15, 10 fraction bits)

const F16_MAX = 65504;              // (2 - 2^-10) * 2^15
const F16_OVERFLOW = 65520;         // the midpoint between 65504 and 2^16: ties to even round it up, to inf
const F16_MIN_NORMAL = 2 ** -14;
const F16_SUBNORMAL_STEP = 2 ** -24;

/** Round half to even of a non-negative Number whose integer part is exact (below 2^52). */
function roundHalfEven(y) {
  const n = Math.floor(y);
  const rest = y - n;  // exact: y and n are close and both below 2^52
  if (rest > 0.5) return n + 1;
  if (rest < 0.5) return n;
  return n % 2 === 0 ? n : n + 1;
}

/**
 * The float16 value nearest to x (a Number, rounded once, directly: no float32 step in between),
 * ties to even; |x| >= 65520 gives ±inf, NaN stays NaN, the sign of zero is kept.
 */
function roundFloat16(x) {
  x = Number(x);
  if (Number.isNaN(x)) return NaN;
  const neg = x < 0 || Object.is(x, -0);
  const a = Math.abs(x);
  let r;
  if (a >= F16_OVERFLOW) {
    r = Infinity;
  } else if (a < F16_MIN_NORMAL) {
    r = roundHalfEven(a / F16_SUBNORMAL_STEP) * F16_SUBNORMAL_STEP;  // scaling by powers of 2 is exact
  } else {
    let e = Math.floor(Math.log2(a));
    if (2 ** e > a) --e;
    else if (2 ** (e + 1) <= a) ++e;
    const q = 2 ** (e - 10);  // the spacing of float16 values in [2^e, 2^(e+1))
    r = roundHalfEven(a / q) * q;
  }
  return neg ? -r : r;
}

/** float16 bit patterns (Uint16Array) of the values, each rounded with roundFloat16 first. */
function toFloat16Bits(values) {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; ++i) {
    const v = roundFloat16(values[i]);
    let bits;
    if (Number.isNaN(v)) {
      bits = 0x7e00;  // the quiet NaN
    } else {
      const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
      const a = Math.abs(v);
      if (a === Infinity) {
        bits = 0x7c00;
      } else if (a < F16_MIN_NORMAL) {
        bits = a / F16_SUBNORMAL_STEP;  // 0 to 1023, exact
      } else {
        let e = Math.floor(Math.log2(a));
        if (2 ** e > a) --e;
        else if (2 ** (e + 1) <= a) ++e;
        bits = ((e + 15) << 10) | (a / 2 ** (e - 10) - 1024);
      }
      bits |= sign;
    }
    out[i] = bits;
  }
  return out;
}

/** The values (Float32Array, exact) of float16 bit patterns (Uint16Array or any array-like). */
function fromFloat16Bits(bits) {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; ++i) {
    const h = bits[i] & 0xffff;
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f, f = h & 0x3ff;
    let v;
    if (e === 0x1f) v = f ? NaN : Infinity;
    else if (e === 0) v = f * F16_SUBNORMAL_STEP;
    else v = (1024 + f) * 2 ** (e - 25);
    out[i] = sign * v;
  }
  return out;
}

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
  const values = dtype === 'float64' ? new Float64Array(count) : new Float32Array(count);
  obj.values.forEach((v, i) => {
    const x = typeof v === 'number' ? v : number(v, `${where}/values/${i}`);
    if (dtype === 'float16' && !Object.is(roundFloat16(x), x) && !Number.isNaN(x)) {
      throw new BadRequest(`${where}/values/${i}: ${JSON.stringify(v)} is not exact in float16`);
    }
    values[i] = x;
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
  const round = dtype === 'float32' ? Math.fround : dtype === 'float16' ? roundFloat16 : (v) => v;
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
 * options: {name, version, dtypes = ['float64', 'float32'] (any of 'float64', 'float32', 'float16'),
 *           ops: {name: f}, gradients = true,
 *           input = process.stdin, output = process.stdout}
 */
async function serve(options) {
  const { name, version, ops, gradients = true } = options;
  const dtypes = options.dtypes || DEFAULT_DTYPES.slice();
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

module.exports = { serve, realParam, Unsupported, BadRequest, PROTOCOL,
                   roundFloat16, toFloat16Bits, fromFloat16Bits, F16_MAX };
