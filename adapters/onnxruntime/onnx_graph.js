'use strict';
/**
 * A small builder of in-memory ONNX models with onnx-proto (the ModelProto protobuf classes) and a
 * runner on onnxruntime-node: the adapter writes each catalogue op as the ONNX graph a user would
 * export, serializes it and runs it in an ort.InferenceSession (default session options).
 *
 * Every graph has static shapes (the session cache key includes them). Constants are initializers in
 * the graph's dtype (or int64); nothing is computed in JavaScript except constant index/shape tensors
 * and masks, which a user would also build on the host.
 */

const path = require('path');
const { onnx } = require('onnx-proto');
const ort = require('onnxruntime-node');
const { toFloat16Bits, fromFloat16Bits } = require(path.join(__dirname, '..', 'node', 'gradspec_adapter.js'));

const OPSET = 23;  // Attention, RMSNormalization, RotaryEmbedding (23), Gelu (20), SoftmaxCrossEntropyLoss (13)

const ELEM = { float32: onnx.TensorProto.DataType.FLOAT, float64: onnx.TensorProto.DataType.DOUBLE,
               float16: onnx.TensorProto.DataType.FLOAT16, int64: onnx.TensorProto.DataType.INT64,
               bool: onnx.TensorProto.DataType.BOOL };
const AT = onnx.AttributeProto.AttributeType;

function typedArray(dtype, values) {
  if (dtype === 'float32') return Float32Array.from(values);
  if (dtype === 'float64') return Float64Array.from(values);
  if (dtype === 'float16') return toFloat16Bits(values);  // bit patterns, as ORT's float16 tensors take
  if (dtype === 'int64') return BigInt64Array.from(values, (v) => BigInt(v));
  throw new Error(`typedArray: dtype ${dtype}`);
}

function attribute(name, v) {
  if (typeof v === 'number' && Number.isInteger(v) && !Object.is(v, -0) && !(v instanceof Float)) {
    return { name, type: AT.INT, i: v };
  }
  if (v instanceof Float) return { name, type: AT.FLOAT, f: v.value };
  if (typeof v === 'number') return { name, type: AT.FLOAT, f: v };
  if (typeof v === 'string') return { name, type: AT.STRING, s: Buffer.from(v) };
  if (Array.isArray(v)) return { name, type: AT.INTS, ints: v };
  throw new Error(`attribute ${name}: ${v}`);
}

/** A float attribute even when the value is an integer (epsilon: 1, softcap: 30, ...). */
class Float {
  constructor(value) { this.value = value; }
}

class Graph {
  /** dtype: the real dtype of the graph ('float32' | 'float64' | 'float16'). */
  constructor(dtype) {
    this.dtype = dtype;
    this.nodes = [];
    this.inits = [];
    this.inputs = [];
    this.outputs = [];
    this.feeds = {};
    this.count = 0;
  }

  fresh(hint) { return `${hint || 't'}_${this.count++}`; }

  /** A graph input fed with the request's tensor t ({shape, values} of the graph dtype or int64). */
  input(name, t, dtype) {
    const dt = dtype || (t.dtype === 'int64' ? 'int64' : this.dtype);
    const safe = name.replace(/[^A-Za-z0-9_]/g, '_');
    this.inputs.push(valueInfo(safe, dt, t.shape));
    this.feeds[safe] = new ort.Tensor(dt, typedArray(dt, t.values), t.shape);
    return safe;
  }

  /** An initializer: values in dtype (default: the graph's real dtype). */
  constant(values, shape, dtype) {
    const dt = dtype || this.dtype;
    const name = this.fresh('c');
    const arr = typedArray(dt, values);
    this.inits.push({ name, dims: shape, dataType: ELEM[dt],
                      rawData: new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength) });
    return name;
  }

  scalar(v, dtype) { return this.constant([v], [], dtype); }
  ints(values) { return this.constant(values, [values.length], 'int64'); }

  /** One node; returns its output name (or names when nOut > 1). */
  op(type, inputs, attrs, nOut, domain) {
    const outs = [];
    for (let i = 0; i < (nOut || 1); ++i) outs.push(this.fresh(type));
    this.nodes.push({ opType: type, input: inputs, output: outs, name: this.fresh(`n_${type}`),
                      attribute: Object.entries(attrs || {}).filter(([, v]) => v !== undefined && v !== null)
                        .map(([k, v]) => attribute(k, v)),
                      domain: domain || '' });
    return nOut && nOut > 1 ? outs : outs[0];
  }

  /** The TensorProto element type of the graph's real dtype (for Cast's `to`). */
  get elemType() { return ELEM[this.dtype]; }

  reshape(x, shape) { return this.op('Reshape', [x, this.ints(shape)]); }
  transpose(x, perm) { return this.op('Transpose', [x], { perm }); }

  /** Declares a graph output under `name` (rank only: ORT checks no output shape). */
  output(name, x, dtype) {
    this.nodes.push({ opType: 'Identity', input: [x], output: [name], name: this.fresh('n_out') });
    this.outputs.push({ name, type: { tensorType: { elemType: ELEM[dtype || this.dtype] } } });
    return name;
  }

  bytes() {
    const model = onnx.ModelProto.create({
      irVersion: 10, producerName: 'gradspec-onnxruntime-adapter',
      opsetImport: [{ domain: '', version: OPSET }],
      graph: { name: 'g', node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name, dtype, shape) {
  return { name, type: { tensorType: { elemType: ELEM[dtype],
    shape: { dim: shape.map((d) => ({ dimValue: d })) } } } };
}

/** A missing CPU kernel becomes an Unsupported with ORT's own message. */
function missingKernel(err) {
  const m = String(err && err.message || err);
  return /NOT_IMPLEMENTED|Could not find an implementation|Failed to find kernel|not implemented|no kernel/i.test(m) ? m : null;
}

/** The op type a missing-kernel message names ("Could not find an implementation for Erf(13) node ..."). */
function missingKernelOp(message) {
  const m = /implementation for (\w+)\(\d+\)/.exec(message) || /kernel for (?:op(?:type)? )?'?(\w+)/i.exec(message);
  return m ? m[1] : null;
}

/**
 * ONNX Runtime's CPU execution provider does not fail on a float16 node it has no float16 kernel
 * for: its InsertCastTransformer wraps the node in Casts to float32 and back (nodes named
 * "InsertedPrecisionFreeCast_*") and runs the float32 kernel. Given an optimized model ORT saved
 * (optimizedModelFilePath), returns the op types that would run that way, in graph order: the
 * original node's type when the node is ours ("n_<Type>_<k>"), the function's op type when ORT inlined
 * a function body ("_inlfunc_<Type>_..." value names), else the node's own type (a fused contrib op).
 */
function float32Fallbacks(modelBytes) {
  const model = onnx.ModelProto.decode(modelBytes);
  const inserted = (name) => name.startsWith('InsertedPrecisionFreeCast_');
  const types = [];
  for (const node of model.graph.node) {
    if (node.opType === 'Cast' && inserted(node.name)) continue;
    const names = [...node.input, ...node.output];
    if (!names.some(inserted)) continue;
    let type = (/^n_([A-Za-z0-9]+)_\d+$/.exec(node.name) || [])[1];
    if (!type) {
      for (const v of names) {
        const m = /_inlfunc_([A-Za-z0-9]+)_/.exec(v);
        if (m) { type = m[1]; break; }
      }
    }
    type = type || (node.domain ? `${node.domain}.${node.opType}` : node.opType);
    if (!types.includes(type)) types.push(type);
  }
  return types;
}

/**
 * Op types that have a float16 CPU kernel in onnxruntime-node 1.30.0 (x86-64), measured with one-node
 * float16 graphs (no Casts inserted). ORT still moves such a node to float32 when it sits between
 * nodes that run in float32 (an isolated float16 node costs two Casts); fallback messages name these
 * apart from the ops that lack a kernel. Only the wording depends on this list: whether a case is
 * skipped is read from the model ORT optimizes.
 */
const FLOAT16_CPU_KERNELS = new Set(['LayerNormalization', 'RMSNormalization', 'Attention', 'RotaryEmbedding', 'Gather',
  'Reshape', 'Transpose', 'Concat', 'Slice', 'Expand', 'Cast', 'Identity', 'Max', 'Clip']);

/** An ORT output tensor's values: float16 bit patterns read back as exact float32 values. */
function tensorValues(t) {
  return t.type === 'float16' && t.data instanceof Uint16Array ? fromFloat16Bits(t.data) : t.data;
}

module.exports = { Graph, Float, OPSET, ort, onnx, missingKernel, missingKernelOp, tensorValues, float32Fallbacks,
                   FLOAT16_CPU_KERNELS };
