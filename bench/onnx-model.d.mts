export type OnnxOp = 'gemm' | 'matmul';
/** Serialized one-node model: Gemm(A, W, transB=1) or MatMul(A, Wᵀ), weight (OC, C) as an initializer. */
export function matmulModel(op: OnnxOp, M: number, C: number, OC: number, weight?: Float32Array): Uint8Array;
