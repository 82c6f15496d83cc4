// The architectures beside llama / gpt2 (issue 12), on replicas written from their Hugging Face
// definitions (scripts/fixtures/make_arch_fixtures.py: Gemma 3, Gemma 2, Qwen3, Phi-4-mini, OLMo 2,
// Mistral's sliding window, Llama 3.2's llama3 rope and tied embeddings; real head layouts and
// special features, narrow hidden size, two layers):
//   - what the loader recognises, against the config.json each folder carries;
//   - onnxruntime-web runs the very file and agrees with PyTorch (reference.json): the export is
//     faithful;
//   - our GPU logits equal onnxruntime-web's on a right-padded batch whose rows cross the sliding
//     windows (fp32: within 1e-4 of the largest logit);
//   - each special feature matters: the same model with that feature switched off is far from
//     onnxruntime, so a kernel that ignored it would fail the comparison above.
import * as ort from 'onnxruntime-web';
import { afterAll, describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { loadModel, type LoadedModel } from '../../src/engine/model/load.js';
import { referenceLogits, referenceSession } from '../../src/engine/model/ort-reference.js';
import { nodeDirSource } from '../../src/engine/model/source-node.js';
import { expectedWeightShapes, type TransformerConfig } from '../../src/engine/transformer/config.js';
import { TransformerModel } from '../../src/engine/transformer/model.js';
import { rng } from '../support/numeric.js';
import { LOCAL, f32FromB64, maxLogitDiff, readJsonFile, type ReferenceFile } from './helpers.js';

ort.env.wasm.numThreads = 1;

const dir = (name: string) => `${LOCAL}arch-${name}`;

/** fp32 on both sides, different summation orders: a few ulps of the largest logit. */
const REL_TOL = 1e-4;

interface Arch {
  name: string;
  family: string;
  /** What the config.json asks for, as the loader must have it. */
  expect: (c: TransformerConfig, hf: Record<string, unknown>) => void;
  /** Variants with one special feature switched off: each must move the logits far past the tolerance. */
  without: Record<string, (c: TransformerConfig) => TransformerConfig>;
  /**
   * Position of token t is t · positionStride (default 1). Rope is relative, and Llama 3.2's llama3
   * scaling changes only wavelengths past 2048 positions: its rows need tokens that far apart.
   */
  positionStride?: number;
}

const ARCHS: Arch[] = [
  {
    name: 'gemma3',
    family: 'gemma3',
    expect: (c, hf) => {
      expect(c).toMatchObject({ activation: 'gelu_tanh', normWeightOffset: 1, normPlacement: 'sandwich', qkNorm: 'head', headDim: 256, heads: 4, kvHeads: 1, tiedEmbeddings: true });
      expect(c.embedScale).toBe(Math.fround(Math.sqrt(hf.hidden_size as number)));
      expect(c.attentionScale).toBeCloseTo((hf.query_pre_attn_scalar as number) ** -0.5, 12);
      expect(c.layerTypes).toEqual(['sliding', 'full']);
      expect(c.slidingWindow).toBe(hf.sliding_window);
      expect(c.localRope).toEqual({ theta: hf.rope_local_base_freq, scaling: null });
      expect(c.ropeTheta).toBe(hf.rope_theta);
      expect(c.attnSoftcap ?? 0).toBe(0);
      expect(c.finalSoftcap ?? 0).toBe(0);
    },
    without: {
      'q/k norms': (c) => ({ ...c, qkNorm: 'none' }),
      'the local rope base': (c) => ({ ...c, localRope: undefined }),
      'the sliding window': (c) => ({ ...c, layerTypes: undefined }),
      'the embedding scale': (c) => ({ ...c, embedScale: undefined }),
      'GeGLU (SwiGLU instead)': (c) => ({ ...c, activation: 'silu' }),
    },
  },
  {
    name: 'gemma2',
    family: 'gemma2',
    expect: (c, hf) => {
      expect(c).toMatchObject({ activation: 'gelu_tanh', normWeightOffset: 1, normPlacement: 'sandwich', headDim: 256, heads: 8, kvHeads: 4 });
      expect(c.qkNorm ?? 'none').toBe('none');
      expect(c.attnSoftcap).toBe(hf.attn_logit_softcapping);
      expect(c.finalSoftcap).toBe(hf.final_logit_softcapping);
      expect(c.layerTypes).toEqual(['sliding', 'full']);
      expect(c.slidingWindow).toBe(hf.sliding_window);
    },
    without: {
      'the attention soft-cap': (c) => ({ ...c, attnSoftcap: 0 }),
      'the final soft-cap': (c) => ({ ...c, finalSoftcap: 0 }),
      'the (1 + w) norm weights': (c) => ({ ...c, normWeightOffset: 0 }),
      'the sliding window': (c) => ({ ...c, layerTypes: undefined }),
      'query_pre_attn_scalar (1/sqrt(head_dim) instead)': (c) => ({ ...c, attentionScale: 1 / 8 }),
    },
  },
  {
    name: 'qwen3',
    family: 'qwen3',
    expect: (c) => {
      expect(c).toMatchObject({ qkNorm: 'head', heads: 16, kvHeads: 8, headDim: 128, tiedEmbeddings: true, qkvBias: false });
      expect(c.normPlacement ?? 'pre').toBe('pre');
    },
    without: { 'q/k norms': (c) => ({ ...c, qkNorm: 'none' }) },
  },
  {
    name: 'phi3',
    family: 'phi3',
    expect: (c, hf) => {
      expect(c).toMatchObject({ packedProjections: true, heads: 24, kvHeads: 8, headDim: 128, rotaryDim: 96, tiedEmbeddings: true });
      expect(c.ropeScaling).toMatchObject({ type: 'longrope', original_max_position_embeddings: hf.original_max_position_embeddings });
      expect(c.layerTypes?.every((t) => t === 'sliding')).toBe(true);
      expect(c.slidingWindow).toBe(hf.sliding_window);
    },
    without: {
      'partial rotary (all 128 dims)': (c) => ({ ...c, rotaryDim: 128, ropeScaling: null }),
      'longrope (plain rope)': (c) => ({ ...c, ropeScaling: null }),
    },
  },
  {
    name: 'olmo2',
    family: 'olmo2',
    expect: (c) => expect(c).toMatchObject({ normPlacement: 'post', qkNorm: 'proj', heads: 16, kvHeads: 16, headDim: 128, tiedEmbeddings: false }),
    without: { 'q/k norms': (c) => ({ ...c, qkNorm: 'none' }) },
  },
  {
    name: 'mistral',
    family: 'mistral',
    expect: (c, hf) => {
      expect(c.layerTypes).toEqual(['sliding', 'sliding']);
      expect(c.slidingWindow).toBe(hf.sliding_window);
    },
    without: { 'the sliding window': (c) => ({ ...c, layerTypes: undefined }) },
  },
  {
    name: 'llama32',
    family: 'llama',
    expect: (c, hf) => {
      expect(c).toMatchObject({ heads: 32, kvHeads: 8, headDim: 64, tiedEmbeddings: true, ropeTheta: hf.rope_theta });
      expect(c.ropeScaling).toMatchObject(hf.rope_scaling as object);
    },
    without: { 'llama3 rope scaling': (c) => ({ ...c, ropeScaling: null }) },
    positionStride: 400,
  },
];

/** Right-padded rows of 9, 4 and 12 tokens (past the windows of 4); padding ids are not 0. */
function paddedBatch(V: number, stride = 1) {
  const lengths = [9, 4, 12];
  const r = rng(23);
  const B = lengths.length, T = Math.max(...lengths);
  const ids = new Int32Array(B * T).fill(7);
  const mask = new Int32Array(B * T);
  lengths.forEach((n, b) => {
    for (let t = 0; t < n; t++) ids[b * T + t] = 3 + Math.floor(r() * (V - 3));
    mask.fill(1, b * T, b * T + n);
  });
  const positions = Int32Array.from({ length: B * T }, (_, i) => stride * (i % T));
  return { B, T, ids, mask, positions };
}

const loaded = new Map<string, LoadedModel>();
async function load(name: string): Promise<LoadedModel> {
  let m = loaded.get(name);
  if (!m) {
    m = await loadModel(nodeDirSource(dir(name)));
    loaded.set(name, m);
  }
  return m;
}

describe('architectures: recognition, onnxruntime against PyTorch, our logits against onnxruntime', () => {
  afterAll(async () => (await testEngine()).pool.trim());

  it.each(ARCHS)('$name: recognised as config.json says, no warnings', async (a) => {
    const m = await load(a.name);
    const hf = readJsonFile(`${dir(a.name)}/config.json`);
    expect(m.family).toBe(a.family);
    expect(m.arch).toBe('llama');
    expect(m.warnings.map((w) => w.message)).toEqual([]);
    expect(m.config).toMatchObject({ hidden: hf.hidden_size, layers: hf.num_hidden_layers, vocabSize: hf.vocab_size, intermediate: hf.intermediate_size });
    a.expect(m.config, hf);
  });

  it.each(ARCHS)('$name: onnxruntime-web runs the file as PyTorch computed it', async (a) => {
    const m = await load(a.name);
    const ref = readJsonFile<ReferenceFile>(`${dir(a.name)}/reference.json`);
    const session = await referenceSession(ort, m);
    try {
      for (const b of ref.batches) {
        const got = await referenceLogits(ort, session, m, { B: b.B, T: b.T, ids: b.ids.flat(), mask: b.mask.flat(), positions: b.positions.flat() });
        const { diff, scale } = maxLogitDiff(got, f32FromB64(b.logits_f32_b64), m.config.vocabSize, b.mask.flat());
        expect(diff, `${a.name} B=${b.B} T=${b.T}`).toBeLessThanOrEqual(REL_TOL * scale);
      }
    } finally {
      await session.release();
    }
  }, 60_000);

  it.each(ARCHS)('$name: our GPU logits equal onnxruntime-web, and each special feature matters', async (a) => {
    const engine = await testEngine();
    const m = await load(a.name);
    const V = m.config.vocabSize;
    const batch = paddedBatch(V, a.positionStride);
    const session = await referenceSession(ort, m);
    const want = await referenceLogits(ort, session, m, batch);
    await session.release();
    const weights = m.transformerWeights();
    const run = async (config: TransformerConfig) => {
      // A variant without a feature drops that feature's weights (q/k norms).
      const wanted = expectedWeightShapes(config);
      const model = TransformerModel.create(engine, config, new Map([...weights].filter(([n]) => wanted.has(n))));
      try {
        return await model.logits(batch);
      } finally {
        model.destroy();
      }
    };
    const { diff, scale } = maxLogitDiff(await run(m.config), want, V, batch.mask);
    const tol = REL_TOL * scale;
    console.log(`${a.name}: max |ours - ort| ${diff.toExponential(2)} (tolerance ${tol.toExponential(2)}), max |logit| ${scale.toFixed(2)}`);
    expect(scale).toBeGreaterThan(0.5);
    expect(diff).toBeLessThanOrEqual(tol);
    const off: string[] = [];
    for (const [what, change] of Object.entries(a.without)) {
      const d = maxLogitDiff(await run(change(m.config)), want, V, batch.mask).diff;
      off.push(`${what}: ${d.toExponential(2)}`);
      expect(d, `${a.name} without ${what}`).toBeGreaterThan(100 * tol);
    }
    console.log(`${a.name} without: ${off.join('; ')}`);
  }, 120_000);

  it('phi3: positions past longrope\'s original_max_position_embeddings are refused (HF would switch to long_factor)', async () => {
    const engine = await testEngine();
    const m = await load('phi3');
    const model = TransformerModel.create(engine, m.config, m.transformerWeights());
    try {
      await expect(model.logits({ B: 1, T: 2, ids: Int32Array.of(5, 6), mask: null, positions: Int32Array.of(4095, 4096) })).rejects.toThrow(/position 4096 is past longrope's original_max_position_embeddings \(4096\)/);
      expect((await model.logits({ B: 1, T: 2, ids: Int32Array.of(5, 6), mask: null, positions: Int32Array.of(4094, 4095) })).every(Number.isFinite)).toBe(true);
    } finally {
      model.destroy();
    }
  });
});
