// A LoRA adapter as PEFT defines it, on the GPU, plugged into a TransformerModel's linear layers.
//
// PEFT (peft/tuners/lora/layer.py, Linear.forward): y = base(x) + lora_B(lora_A(dropout(x))) · s,
// s = lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora. lora_A.weight (r, in) starts
// kaiming_uniform(a = sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)); lora_B.weight (out, r) starts at
// zero, so a fresh adapter leaves the model unchanged. Tensor names as PEFT saves them:
//   base_model.model.<module path>.lora_A.weight / .lora_B.weight
// where <module path> is Hugging Face's: model.layers.N.self_attn.q_proj (Llama, Qwen2/3, Mistral,
// Gemma 2/3, OLMo 2), transformer.h.N.attn.c_attn (GPT-2: one module for q, k and v, whose B rows
// are q | k | v), model.layers.N.self_attn.qkv_proj and mlp.gate_up_proj (Phi-3: packed modules,
// B rows q | k | v and gate | up, over the split layers of the engine).
//
// The base stays frozen; A, B and their gradients are fp32 tensors. The LoRA terms are fused into
// the matmul kernels (kernels/matmul.ts): each targeted layer's LinearWeights.adapter is a
// LoraPart whose forward runs the small xa = s·dropout(x)·Aᵀ pass and then the base matmul with
// xa·Bᵀ in its K loop. The backward (transformer/backward.ts) reads the same parts.
//
// `enabled = false` switches every LoRA term off (the same model then gives the reference
// log-probs); `detach()` unplugs the adapter from the model.

import type { Engine } from '../gpu/engine.js';
import type { Tensor } from '../gpu/tensor.js';
import { matmulForward } from '../kernels/matmul.js';
import { loraXa, type LoraDropout } from '../kernels/lora.js';
import { pcgHash } from '../cpu/lora.js';
import { seededRandom } from '../transformer/sampling.js';
import type { LinearAdapter, LinearWeights, TransformerModel } from '../transformer/model.js';

export interface LoraConfig {
  /** Rank r (> 0). */
  r: number;
  /** lora_alpha. */
  alpha: number;
  /** lora_dropout: drop probability of the LoRA input while training, 0 <= p < 1 (default 0). */
  dropout?: number;
  /** rsLoRA: scale alpha / sqrt(r) instead of alpha / r (default false). */
  useRslora?: boolean;
  /**
   * Hugging Face module names matched against the end of each linear layer's module path, as
   * PEFT's target_modules: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj (Llama);
   * qkv_proj, o_proj, gate_up_proj, down_proj (Phi-3); c_attn, c_proj, c_fc (GPT-2); a full path
   * also works. 'all-linear': every linear layer but
   * the LM head. A single string other than 'all-linear' is a regular expression that must
   * match the whole module path (PEFT's rule for a string).
   */
  targetModules: readonly string[] | string;
  /** Seed of lora_A's initialisation (default 0). */
  seed?: number;
}

/** One trainable tensor: PEFT name, shape, value and gradient (both fp32 on the GPU). */
export interface LoraParam {
  name: string;
  shape: [number, number];
  value: Tensor;
  grad: Tensor;
}

/** One PEFT LoRA module: its A and B, and the model layers (parts) whose outputs its B rows feed. */
export class LoraModule {
  /** xa of the forward in progress (shared by the parts of a GPT-2 c_attn), and its input. */
  current: { xa: Tensor; inp: Tensor } | null = null;
  readonly parts: LoraPart[] = [];

  constructor(
    readonly owner: LoraAdapter,
    /** Hugging Face module path, e.g. model.layers.0.self_attn.q_proj. */
    readonly path: string,
    /** Position among the adapter's modules (mixes into the dropout seed). */
    readonly index: number,
    readonly inFeatures: number, // C
    readonly outFeatures: number, // OC of the whole module (GPT-2 c_attn: 3C)
    readonly a: Tensor, // (R, C)
    readonly b: Tensor, // (OC, R)
    readonly gradA: Tensor, // (R, C)
    readonly gradB: Tensor, // (OC, R)
  ) {}

  get R(): number {
    return this.owner.r;
  }

  /** This module's dropout mask for a forward/backward with the given seed (null: none). */
  dropout(seed: number | null): LoraDropout | null {
    const p = this.owner.dropoutP;
    if (seed === null || p === 0) return null;
    return { p, seed: pcgHash((pcgHash(seed >>> 0) ^ this.index) >>> 0) };
  }
}

/** The adapter on one model layer: rows rowOffset .. rowOffset + OC of its module's B. */
export class LoraPart implements LinearAdapter {
  constructor(
    readonly module: LoraModule,
    readonly linear: LinearWeights,
    readonly rowOffset: number,
    /** Index among the module's parts; parts run their forward in this order. */
    readonly partIndex: number,
  ) {}

  forward(engine: Engine, out: Tensor, inp: Tensor, lw: LinearWeights, M: number, accumulate: boolean): void {
    const mod = this.module;
    const ad = mod.owner;
    const C = lw.inFeatures, OC = lw.outFeatures, R = mod.R;
    if (!ad.enabled) {
      matmulForward(engine, out, inp, lw.weight, lw.bias, M, C, OC, { accumulate });
      return;
    }
    let cur = mod.current;
    if (this.partIndex === 0 || !cur) {
      if (this.partIndex !== 0) throw new Error(`lora: ${mod.path} part ${this.partIndex} ran before part 0`);
      const xa = engine.tensor([M, R], 'f32', `lora.${mod.path}.xa`);
      loraXa(engine, xa, inp, mod.a, M, C, R, { scale: ad.scale, dropout: mod.dropout(ad.dropoutSeed) });
      cur = mod.current = { xa, inp };
    } else if (cur.inp !== inp) {
      throw new Error(`lora: ${mod.path} part ${this.partIndex} got another input than part 0`);
    }
    matmulForward(engine, out, inp, lw.weight, lw.bias, M, C, OC, { accumulate, lora: { xa: cur.xa, b: mod.b, R, bOffset: this.rowOffset * R } });
    if (this.partIndex === mod.parts.length - 1) {
      mod.current = null;
      if (ad.saving) ad.saving.set(mod, cur.xa);
      else engine.release(cur.xa);
    }
  }
}

/** A model linear layer and the PEFT module path it belongs to (GPT-2's q/k/v: c_attn, Phi-3's q/k/v: qkv_proj and gate/up: gate_up_proj, rows offset). */
interface LayerSlot {
  linear: LinearWeights;
  path: string;
  rowOffset: number;
  moduleOut: number;
}

/** Every linear layer of the model but the LM head, with its Hugging Face module path. */
function layerSlots(model: TransformerModel): LayerSlot[] {
  const slots: LayerSlot[] = [];
  const c = model.config;
  model.weights.layers.forEach((l, i) => {
    if (c.arch === 'gpt2') {
      const p = `transformer.h.${i}.`;
      const qkvOut = l.q.outFeatures + l.k.outFeatures + l.v.outFeatures;
      slots.push({ linear: l.q, path: `${p}attn.c_attn`, rowOffset: 0, moduleOut: qkvOut });
      slots.push({ linear: l.k, path: `${p}attn.c_attn`, rowOffset: l.q.outFeatures, moduleOut: qkvOut });
      slots.push({ linear: l.v, path: `${p}attn.c_attn`, rowOffset: l.q.outFeatures + l.k.outFeatures, moduleOut: qkvOut });
      slots.push({ linear: l.o, path: `${p}attn.c_proj`, rowOffset: 0, moduleOut: l.o.outFeatures });
      slots.push({ linear: l.up, path: `${p}mlp.c_fc`, rowOffset: 0, moduleOut: l.up.outFeatures });
      slots.push({ linear: l.down, path: `${p}mlp.c_proj`, rowOffset: 0, moduleOut: l.down.outFeatures });
    } else if (c.packedProjections) {
      // Phi-3: PEFT's modules are HF's packed ones; their parts run in row order (model.ts).
      const p = `model.layers.${i}.`;
      const qkvOut = l.q.outFeatures + l.k.outFeatures + l.v.outFeatures;
      slots.push({ linear: l.q, path: `${p}self_attn.qkv_proj`, rowOffset: 0, moduleOut: qkvOut });
      slots.push({ linear: l.k, path: `${p}self_attn.qkv_proj`, rowOffset: l.q.outFeatures, moduleOut: qkvOut });
      slots.push({ linear: l.v, path: `${p}self_attn.qkv_proj`, rowOffset: l.q.outFeatures + l.k.outFeatures, moduleOut: qkvOut });
      slots.push({ linear: l.o, path: l.o.name, rowOffset: 0, moduleOut: l.o.outFeatures });
      const gateUpOut = l.gate!.outFeatures + l.up.outFeatures;
      slots.push({ linear: l.gate!, path: `${p}mlp.gate_up_proj`, rowOffset: 0, moduleOut: gateUpOut });
      slots.push({ linear: l.up, path: `${p}mlp.gate_up_proj`, rowOffset: l.gate!.outFeatures, moduleOut: gateUpOut });
      slots.push({ linear: l.down, path: l.down.name, rowOffset: 0, moduleOut: l.down.outFeatures });
    } else {
      for (const lw of [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]) {
        if (lw) slots.push({ linear: lw, path: lw.name, rowOffset: 0, moduleOut: lw.outFeatures });
      }
    }
  });
  return slots;
}

/** PEFT's matching of target_modules against a module path. */
export function matchesTarget(path: string, targets: LoraConfig['targetModules']): boolean {
  if (targets === 'all-linear') return true;
  if (typeof targets === 'string') return new RegExp(`^(?:${targets})$`).test(path);
  return targets.some((t) => path === t || path.endsWith(`.${t}`));
}

export function loraScale(config: Pick<LoraConfig, 'r' | 'alpha' | 'useRslora'>): number {
  return config.useRslora ? config.alpha / Math.sqrt(config.r) : config.alpha / config.r;
}

function checkConfig(c: LoraConfig): void {
  const bad = (field: string, why: string): never => {
    throw new Error(`lora config: ${field} ${why}`);
  };
  if (!Number.isInteger(c.r) || c.r < 1) bad('r', `= ${c.r} must be a positive integer`);
  if (!(Number.isFinite(c.alpha) && c.alpha > 0)) bad('alpha', `= ${c.alpha} must be a positive number`);
  const p = c.dropout ?? 0;
  if (!(p >= 0 && p < 1)) bad('dropout', `= ${p} must be in [0, 1)`);
  if (typeof c.targetModules !== 'string' && c.targetModules.length === 0) bad('targetModules', 'is empty');
}

/** What an adapter would hold on a model, known before any buffer exists (planLora). */
export interface LoraPlan {
  /** One entry per PEFT module: its input and output features (GPT-2 c_attn: 3C out). */
  modules: { path: string; inFeatures: number; outFeatures: number }[];
  /** Trainable values (A and B of every module). */
  parameterCount: number;
  /** Σ r over the modules of one layer (the LoRA rows the forward keeps per token and layer). */
  rankSumPerLayer: number;
  /** The largest single tensor (A or B) and its size in bytes. */
  largest: { name: string; bytes: number };
  /** The largest rank any targeted module can use: max over modules of min(in, out). */
  maxUsefulRank: number;
}

/** A LoRA rank that cannot be used on this model (too large for its layers or its memory). */
export class LoraRankError extends Error {
  override readonly name = 'LoraRankError';
}

/**
 * The adapter `config` would make on `model`, without allocating: its modules, sizes, and the
 * checks that need no GPU (the config's values; r no larger than the widest targeted layer can
 * use: past min(in, out) a rank adds nothing, and a huge one would allocate gigabytes first).
 */
export function planLora(model: TransformerModel, config: LoraConfig): LoraPlan {
  checkConfig(config);
  const byPath = new Map<string, { path: string; inFeatures: number; outFeatures: number }>();
  for (const slot of layerSlots(model)) {
    if (!matchesTarget(slot.path, config.targetModules)) continue;
    if (!byPath.has(slot.path)) byPath.set(slot.path, { path: slot.path, inFeatures: slot.linear.inFeatures, outFeatures: slot.moduleOut });
  }
  const modules = [...byPath.values()];
  if (modules.length === 0) {
    const names = [...new Set(layerSlots(model).map((s) => s.path.split('.').pop()))].join(', ');
    throw new Error(`lora config: targetModules ${JSON.stringify(config.targetModules)} match no linear layer of this ${model.config.arch} model (its modules: ${names})`);
  }
  const R = config.r;
  let parameterCount = 0;
  let maxUsefulRank = 0;
  let largest = { name: '', bytes: 0 };
  for (const m of modules) {
    parameterCount += R * (m.inFeatures + m.outFeatures);
    maxUsefulRank = Math.max(maxUsefulRank, Math.min(m.inFeatures, m.outFeatures));
    const bytes = 4 * R * Math.max(m.inFeatures, m.outFeatures);
    if (bytes > largest.bytes) largest = { name: `base_model.model.${m.path}.lora_${m.inFeatures >= m.outFeatures ? 'A' : 'B'}`, bytes };
  }
  if (R > maxUsefulRank) {
    throw new LoraRankError(
      `LoRA rank r = ${R} is larger than any targeted layer can use: the widest has min(in, out) = ${maxUsefulRank} features, so r must be at most ${maxUsefulRank} on this model`,
    );
  }
  return { modules, parameterCount, rankSumPerLayer: (R * modules.length) / Math.max(1, model.config.layers), largest, maxUsefulRank };
}

export class LoraAdapter {
  readonly r: number;
  readonly scale: number;
  readonly dropoutP: number;
  readonly modules: LoraModule[] = [];
  /** False: every LoRA term is off (reference log-probs from the same model). */
  enabled = true;
  /** Seed of the dropout masks of the forward in progress; null = no dropout (evaluation). */
  dropoutSeed: number | null = null;
  /** While set, each module's xa goes here for the backward instead of back to the pool. */
  saving: Map<LoraModule, Tensor> | null = null;
  private attached = true;

  private constructor(
    readonly engine: Engine,
    readonly model: TransformerModel,
    readonly config: LoraConfig,
  ) {
    this.r = config.r;
    this.scale = loraScale(config);
    this.dropoutP = config.dropout ?? 0;
  }

  /**
   * Creates A (PEFT's kaiming-uniform init from a seeded generator) and B (zeros) for every
   * targeted linear layer of `model` and plugs them in. Throws if nothing matches or a layer
   * already has an adapter.
   */
  static create(model: TransformerModel, config: LoraConfig): LoraAdapter {
    // Every check that needs no buffer comes first (planLora), then the largest tensor against the
    // device's largest binding: nothing is allocated for an adapter that cannot be made.
    const plan = planLora(model, config);
    const maxBinding = model.engine.report.limits.maxStorageBufferBindingSize;
    if (plan.largest.bytes > maxBinding) {
      throw new LoraRankError(
        `LoRA rank r = ${config.r} makes ${plan.largest.name} ${plan.largest.bytes} bytes, more than this GPU's largest storage binding (${maxBinding} bytes): lower r`,
      );
    }
    const e = model.engine;
    const ad = new LoraAdapter(e, model, config);
    const random = seededRandom(config.seed ?? 0);
    const R = config.r;
    const byPath = new Map<string, LoraModule>();
    for (const slot of layerSlots(model)) {
      if (!matchesTarget(slot.path, config.targetModules)) continue;
      if (slot.linear.adapter) throw new Error(`lora: ${slot.linear.name} already has an adapter (detach it first)`);
      let mod = byPath.get(slot.path);
      if (!mod) {
        const C = slot.linear.inFeatures, OC = slot.moduleOut;
        const bound = 1 / Math.sqrt(C);
        const a = Float32Array.from({ length: R * C }, () => (2 * random() - 1) * bound);
        const name = `base_model.model.${slot.path}`;
        mod = new LoraModule(
          ad, slot.path, ad.modules.length, C, OC,
          e.fromArray(a, [R, C], 'f32', `${name}.lora_A`),
          e.zeros([OC, R], 'f32', `${name}.lora_B`),
          e.zeros([R, C], 'f32', `${name}.lora_A.grad`),
          e.zeros([OC, R], 'f32', `${name}.lora_B.grad`),
        );
        byPath.set(slot.path, mod);
        ad.modules.push(mod);
      }
      const part = new LoraPart(mod, slot.linear, slot.rowOffset, mod.parts.length);
      mod.parts.push(part);
      slot.linear.adapter = part;
    }
    if (ad.modules.length === 0) {
      const names = [...new Set(layerSlots(model).map((s) => s.path.split('.').pop()))].join(', ');
      throw new Error(`lora config: targetModules ${JSON.stringify(config.targetModules)} match no linear layer of this ${model.config.arch} model (its modules: ${names})`);
    }
    return ad;
  }

  /** The distinct module names targeted (q_proj, c_attn, ...), for adapter_config.json. */
  get targetModuleNames(): string[] {
    return [...new Set(this.modules.map((m) => m.path.split('.').pop()!))];
  }

  /** GPT-2's Conv1D layers: PEFT's fan_in_fan_out flag (LoRA shapes are the same either way). */
  get fanInFanOut(): boolean {
    return this.model.config.arch === 'gpt2';
  }

  /** A then B of every module, in model order, under PEFT's tensor names. */
  params(): LoraParam[] {
    return this.modules.flatMap((m) => [
      { name: `base_model.model.${m.path}.lora_A.weight`, shape: [this.r, m.inFeatures] as [number, number], value: m.a, grad: m.gradA },
      { name: `base_model.model.${m.path}.lora_B.weight`, shape: [m.outFeatures, this.r] as [number, number], value: m.b, grad: m.gradB },
    ]);
  }

  /** Number of trainable values. */
  get parameterCount(): number {
    return this.params().reduce((s, p) => s + p.shape[0] * p.shape[1], 0);
  }

  /**
   * Sets every tensor from host values by PEFT name (e.g. read from adapter_model.safetensors).
   * Every adapter tensor must be given with its exact size; unknown names throw.
   */
  load(values: ReadonlyMap<string, Float32Array> | Readonly<Record<string, Float32Array>>): void {
    const map = values instanceof Map ? values : new Map(Object.entries(values));
    const params = this.params();
    const known = new Set(params.map((p) => p.name));
    for (const name of map.keys()) {
      if (!known.has(name)) throw new Error(`lora load: tensor ${name} is not in this adapter (r = ${this.r}, modules: ${this.targetModuleNames.join(', ')})`);
    }
    for (const p of params) {
      const v = map.get(p.name);
      if (!v) throw new Error(`lora load: tensor ${p.name} is missing`);
      const n = p.shape[0] * p.shape[1];
      if (v.length !== n) throw new Error(`lora load: tensor ${p.name} has ${v.length} values, shape [${p.shape.join(', ')}] needs ${n}`);
      this.engine.upload(p.value, v);
    }
  }

  /** Every tensor's values by PEFT name, read back from the GPU. */
  async save(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const p of this.params()) out.set(p.name, (await this.engine.readF32(p.value)).slice());
    return out;
  }

  /** Every gradient by its tensor's PEFT name, read back from the GPU. */
  async readGrads(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const p of this.params()) out.set(p.name, (await this.engine.readF32(p.grad)).slice());
    return out;
  }

  /** Sets every gradient to zero (the backward accumulates). */
  zeroGrads(): void {
    for (const p of this.params()) this.engine.upload(p.grad, new Float32Array(p.grad.size));
  }

  /** Unplugs the adapter from the model's layers (its tensors stay). */
  detach(): void {
    if (!this.attached) return;
    for (const m of this.modules) for (const part of m.parts) if (part.linear.adapter === part) part.linear.adapter = null;
    this.attached = false;
  }

  /** Plugs it back in after detach(). */
  attach(): void {
    if (this.attached) return;
    for (const m of this.modules) {
      for (const part of m.parts) {
        if (part.linear.adapter) throw new Error(`lora: ${part.linear.name} already has another adapter`);
      }
    }
    for (const m of this.modules) for (const part of m.parts) part.linear.adapter = part;
    this.attached = true;
  }

  get isAttached(): boolean {
    return this.attached;
  }

  /** Detaches and frees every tensor. */
  destroy(): void {
    this.detach();
    for (const m of this.modules) {
      if (m.current) this.engine.release(m.current.xa);
      this.engine.release(m.a, m.b, m.gradA, m.gradB);
    }
    this.modules.length = 0;
  }
}
