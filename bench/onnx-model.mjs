// One-node ONNX models for the benchmark, written with the onnx-proto package (no Python):
//   gemm:   Y (M, OC) = Gemm(A (M, C), W (OC, C), transB=1)  — x · Wᵀ, exactly our kernel's product
//   matmul: Y (M, OC) = MatMul(A (M, C), Wt (C, OC))          — ORT's MatMul has no transposed B
// The weight is a constant initializer (as a model's weights are), A a graph input with static
// dims, so ORT may pre-pack the weight once at session creation, as it would for a real model.
import onnxProto from 'onnx-proto';
import { benchWeight } from './data.mjs';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

function valueInfo(name, dims) {
  return {
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  };
}

function floatInitializer(name, dims, values) {
  return {
    name,
    dims,
    dataType: FLOAT,
    // Little-endian float32 bytes, as ONNX raw_data requires (every supported host is little-endian).
    rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  };
}

// weight (OC, C) → (C, OC)
function transpose(weight, OC, C) {
  const t = new Float32Array(C * OC);
  for (let o = 0; o < OC; o++) for (let c = 0; c < C; c++) t[c * OC + o] = weight[o * C + c];
  return t;
}

/**
 * Serialized model for `op` ('gemm' | 'matmul') at (M, C, OC). `weight` (OC, C) defaults to the
 * benchmark's seeded weight for that shape (bench/data.mjs), the one the page gives our kernel.
 */
export function matmulModel(op, M, C, OC, weight = benchWeight(M, C, OC)) {
  if (weight.length !== OC * C) throw new Error(`weight holds ${weight.length} values, (OC, C) needs ${OC * C}`);
  let node;
  let init;
  if (op === 'gemm') {
    init = floatInitializer('W', [OC, C], weight);
    node = {
      opType: 'Gemm',
      input: ['A', 'W'],
      output: ['Y'],
      attribute: [{ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 1 }],
    };
  } else if (op === 'matmul') {
    init = floatInitializer('Wt', [C, OC], transpose(weight, OC, C));
    node = { opType: 'MatMul', input: ['A', 'Wt'], output: ['Y'] };
  } else {
    throw new Error(`unknown op ${op} (gemm | matmul)`);
  }
  const model = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'prefstudio-bench',
    graph: {
      name: `${op}_${M}x${C}x${OC}`,
      node: [node],
      initializer: [init],
      input: [valueInfo('A', [M, C])],
      output: [valueInfo('Y', [M, OC])],
    },
  };
  const err = onnx.ModelProto.verify(model);
  if (err) throw new Error(`onnx model: ${err}`);
  return onnx.ModelProto.encode(onnx.ModelProto.fromObject(model)).finish();
}
