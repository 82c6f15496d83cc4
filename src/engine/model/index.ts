// Model loading (issue "Models"): ONNX + config + tokenizer → a recognised llama / gpt2 model.
// Browser-safe; the Node directory source is in ./source-node.ts.

export { ModelLoadError, isModelLoadError, formatBytes, type ModelErrorCode, type ModelWarning } from './errors.js';
export { memorySource, fileListSource, urlSource, readJson, type ModelSource, type FileLike, type UrlSourceOptions } from './source.js';
export { detectLayout, type ModelLayout } from './layout.js';
export { parseOnnx, type OnnxGraph, type OnnxNode, type OnnxTensor, type ValueInfo } from './onnx.js';
export { loadModel, LoadedModel, type LoadOptions } from './load.js';
export type { CanonicalWeight, Family, GraphSummary, Provenance, WeightDType } from './recognize.js';
export { estimateMemory, checkFits, assertFits, type AdapterLimits, type FitReport, type MemoryEstimate, type GpuWeightDType } from './memory.js';
export { ModelTokenizer, type ChatMessage, type SpecialToken } from './tokenizer.js';
export { promptTokenIds, promptMessages, promptText, usesChatTemplate, PromptError, type PromptInput, type PromptTokenizer, type ChatTemplateChoice } from './prompt.js';
export { toWeightTensor, weightF32, weightF16, type WeightDTypeRequest } from './weights.js';
export { referenceSession, referenceLogits, referenceFeeds, type OrtModule, type ReferenceBatch } from './ort-reference.js';
