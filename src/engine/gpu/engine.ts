// The engine: one device, a pipeline cache, a buffer pool and a command stream. Kernel host
// functions (src/engine/kernels/) call `dispatch` with tensors and uniforms named as the WGSL
// declares them; dispatches are recorded in order and submitted together.

import type { GpuHandle, AdapterReport } from './device.js';
import { BufferPool } from './buffer-pool.js';
import {
  expandIncludes,
  parseShaderInterface,
  pipelineKey,
  specializeShader,
  type ShaderConstants,
  type ShaderInterface,
  type ShaderLibrary,
} from './shader-source.js';
import { byteLength, hostArrayFor, numel, type DType, type HostArray, type Tensor } from './tensor.js';
import { KernelChoices } from '../tuning/choices.js';

export interface KernelRef {
  /** File name in shaders/ without `.wgsl`. */
  shader: string;
  /** Entry point (default `main`). */
  entry?: string;
  constants?: ShaderConstants;
}

export interface EngineDebug {
  /** Print the final WGSL of each pipeline as it is built. */
  printWgsl: boolean;
  /** Never reuse a released buffer (hunting aliasing bugs). */
  noBufferReuse: boolean;
}

interface CachedPipeline {
  pipeline: GPUComputePipeline;
  iface: ShaderInterface;
  layout: GPUBindGroupLayout;
}

const UNIFORM_ALIGN = 256;
const UNIFORM_ARENA_BYTES = 64 * 1024;
/** Dispatches recorded before an automatic submit, to bound the size of one command buffer. */
const MAX_DISPATCHES_PER_SUBMIT = 256;

const STORAGE_USAGE = GPU_BUFFER_USAGE().STORAGE | GPU_BUFFER_USAGE().COPY_SRC | GPU_BUFFER_USAGE().COPY_DST;

function GPU_BUFFER_USAGE() {
  // GPUBufferUsage is a global in browsers and is installed on globalThis by the Node loader;
  // read it lazily so this module can be imported before the Node globals exist.
  return (globalThis as unknown as { GPUBufferUsage: typeof GPUBufferUsage }).GPUBufferUsage ?? {
    MAP_READ: 0x1, MAP_WRITE: 0x2, COPY_SRC: 0x4, COPY_DST: 0x8, INDEX: 0x10, VERTEX: 0x20,
    UNIFORM: 0x40, STORAGE: 0x80, INDIRECT: 0x100, QUERY_RESOLVE: 0x200,
  };
}

export class Engine {
  readonly device: GPUDevice;
  readonly report: AdapterReport;
  readonly pool: BufferPool;
  readonly debug: EngineDebug = { printWgsl: false, noBufferReuse: false };
  /** Which variant of each tuned kernel to dispatch (src/engine/tuning): measured, cached or forced. */
  readonly choices = new KernelChoices();
  private readonly pipelines = new Map<string, CachedPipeline>();
  private encoder: GPUCommandEncoder | null = null;
  /** The open compute pass: consecutive dispatches share one (a pass per dispatch costs each its own begin/end). */
  private pass: GPUComputePassEncoder | null = null;
  private pendingDispatches = 0;
  private uniformArenas: GPUBuffer[] = [];
  private uniformStaging = new ArrayBuffer(UNIFORM_ARENA_BYTES);
  private uniformArenaIndex = 0;
  private uniformOffset = 0;
  private errors: string[] = [];
  private lost: string | null = null;

  constructor(
    private readonly gpu: GpuHandle,
    private readonly shaders: ShaderLibrary,
  ) {
    this.device = gpu.device;
    this.report = gpu.report;
    this.pool = new BufferPool(this.device, () => this.submit());
    this.device.addEventListener('uncapturederror', (event) => {
      this.errors.push((event as GPUUncapturedErrorEvent).error.message);
    });
    void this.device.lost.then((info) => {
      this.lost = `GPU device lost (${info.reason}): ${info.message}`;
    });
  }

  get hasF16(): boolean {
    return this.report.features.shaderF16;
  }

  // ---- tensors ----

  tensor(shape: readonly number[], dtype: DType = 'f32', label = 'tensor'): Tensor {
    const size = numel(shape);
    const buffer = this.pool.acquire(byteLength(dtype, size), STORAGE_USAGE, label);
    return { buffer, dtype, shape: [...shape], size, label };
  }

  /** A tensor filled with zeros (pooled buffers come back with stale contents). */
  zeros(shape: readonly number[], dtype: DType = 'f32', label = 'zeros'): Tensor {
    const t = this.tensor(shape, dtype, label);
    this.commandEncoder().clearBuffer(t.buffer, 0, byteLength(dtype, t.size));
    return t;
  }

  fromArray(data: HostArray, shape: readonly number[], dtype: DType = 'f32', label = 'tensor'): Tensor {
    const t = this.tensor(shape, dtype, label);
    this.upload(t, data);
    return t;
  }

  upload(t: Tensor, data: HostArray): void {
    if (data.length !== t.size) {
      throw new Error(`upload to ${t.label}: got ${data.length} values, tensor holds ${t.size}`);
    }
    // Work recorded before this upload must run before it: submit it first.
    this.submit();
    const bytes = byteLength(t.dtype, t.size);
    if (data.byteLength === bytes) {
      this.device.queue.writeBuffer(t.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    } else {
      const padded = new Uint8Array(bytes);
      padded.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      this.device.queue.writeBuffer(t.buffer, 0, padded);
    }
  }

  release(...tensors: (Tensor | null | undefined)[]): void {
    this.pool.noReuse = this.debug.noBufferReuse;
    for (const t of tensors) if (t) this.pool.release(t.buffer);
  }

  /** Copies a tensor back to the host (f16 tensors come back as raw half bits). */
  async read(t: Tensor): Promise<HostArray> {
    const bytes = byteLength(t.dtype, t.size);
    const staging = this.device.createBuffer({
      size: bytes,
      usage: GPU_BUFFER_USAGE().MAP_READ | GPU_BUFFER_USAGE().COPY_DST,
      label: `readback:${t.label}`,
    });
    this.commandEncoder().copyBufferToBuffer(t.buffer, 0, staging, 0, bytes);
    this.submit();
    await staging.mapAsync(GPUMapMode.READ);
    const copy = staging.getMappedRange().slice(0);
    staging.unmap();
    staging.destroy();
    this.throwIfFailed();
    return hostArrayFor(t.dtype, copy, t.size);
  }

  async readF32(t: Tensor): Promise<Float32Array> {
    if (t.dtype !== 'f32') throw new Error(`readF32: ${t.label} is ${t.dtype}`);
    return (await this.read(t)) as Float32Array;
  }

  // ---- kernels ----

  /**
   * Records one compute dispatch. `bindings` name the kernel's storage variables; `params`
   * the fields of its uniform `Params` struct (every field must be given).
   */
  dispatch(
    kernel: KernelRef,
    bindings: Record<string, Tensor>,
    params: Record<string, number>,
    workgroups: readonly [number, number?, number?],
  ): void {
    const { pipeline, iface, layout } = this.pipeline(kernel);
    const entries: GPUBindGroupEntry[] = [];
    for (const [name, t] of Object.entries(bindings)) {
      const slot = iface.storage.get(name);
      if (!slot) throw new Error(`${kernel.shader}: no storage binding named "${name}"`);
      entries.push({ binding: slot.binding, resource: { buffer: t.buffer, size: byteLength(t.dtype, t.size) } });
    }
    if (iface.params) {
      entries.push({ binding: iface.params.binding, resource: this.writeUniforms(kernel.shader, iface, params) });
    }
    let bindGroup: GPUBindGroup;
    try {
      bindGroup = this.device.createBindGroup({ layout, entries, label: kernel.shader });
    } catch (e) {
      throw new Error(`${kernel.shader}: bind group failed (${(e as Error).message})`);
    }
    const [x, y = 1, z = 1] = workgroups;
    const limit = this.report.limits.maxComputeWorkgroupsPerDimension;
    if (x > limit || y > limit || z > limit) {
      throw new Error(`${kernel.shader}: ${x}x${y}x${z} workgroups exceed the adapter's ${limit} per dimension`);
    }
    if (x === 0 || y === 0 || z === 0) return;
    const pass = this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    if (++this.pendingDispatches >= MAX_DISPATCHES_PER_SUBMIT) this.submit();
  }

  /** Copies `src` into `dst` (same byte size or smaller) in stream order. */
  copy(dst: Tensor, src: Tensor): void {
    this.commandEncoder().copyBufferToBuffer(src.buffer, 0, dst.buffer, 0, byteLength(src.dtype, src.size));
  }

  /**
   * Copies `count` elements of `src` from `srcOffset` into `dst` at `dstOffset`, in stream order
   * (KV-cache writes, row gathers). Offsets and count in elements; 32-bit dtypes only, since an
   * f16 element is half a word and copies move whole 4-byte words.
   */
  copyRange(dst: Tensor, dstOffset: number, src: Tensor, srcOffset: number, count: number): void {
    for (const t of [dst, src]) {
      if (t.dtype === 'f16') throw new Error(`copyRange: ${t.label} is f16 (32-bit dtypes only)`);
    }
    if (srcOffset < 0 || dstOffset < 0 || count < 0 || srcOffset + count > src.size || dstOffset + count > dst.size) {
      throw new Error(
        `copyRange: ${count} values from ${src.label}[${srcOffset}] (size ${src.size}) ` +
          `to ${dst.label}[${dstOffset}] (size ${dst.size}) is out of bounds`,
      );
    }
    if (count === 0) return;
    this.commandEncoder().copyBufferToBuffer(src.buffer, srcOffset * 4, dst.buffer, dstOffset * 4, count * 4);
  }

  submit(): void {
    if (!this.encoder) return;
    this.endPass();
    if (this.uniformOffset > 0 || this.uniformArenaIndex > 0) this.flushUniforms();
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.pendingDispatches = 0;
    this.uniformArenaIndex = 0;
    this.uniformOffset = 0;
  }

  /** Submits and waits until the GPU is idle; throws any validation error seen meanwhile. */
  async sync(): Promise<void> {
    this.submit();
    await this.device.queue.onSubmittedWorkDone();
    this.throwIfFailed();
  }

  destroy(): void {
    this.submit();
    this.pool.trim();
    for (const b of this.uniformArenas) b.destroy();
    this.uniformArenas = [];
    this.gpu.destroy();
  }

  /** Number of distinct pipelines built so far. */
  get pipelineCount(): number {
    return this.pipelines.size;
  }

  /**
   * Runs `record` (which records and submits GPU work) inside validation and internal error
   * scopes and waits for the verdict: null when everything compiled and validated, else the
   * first error's message (a thrown error counts too). The tuner checks each variant this way
   * before it times it.
   */
  async captureErrors(record: () => void): Promise<string | null> {
    this.submit();
    this.device.pushErrorScope('validation');
    this.device.pushErrorScope('internal');
    let thrown: string | null = null;
    try {
      record();
      this.submit();
    } catch (e) {
      thrown = (e as Error).message;
    }
    const internal = await this.device.popErrorScope();
    const validation = await this.device.popErrorScope();
    return thrown ?? internal?.message ?? validation?.message ?? null;
  }

  private throwIfFailed(): void {
    if (this.lost) throw new Error(this.lost);
    if (this.errors.length > 0) {
      const all = this.errors.splice(0);
      throw new Error(`WebGPU error: ${all.join('\n')}`);
    }
  }

  /** The encoder for copies and clears, which cannot be recorded inside a compute pass. */
  private commandEncoder(): GPUCommandEncoder {
    this.endPass();
    this.encoder ??= this.device.createCommandEncoder({ label: 'prefstudio' });
    return this.encoder;
  }

  // Within a compute pass each dispatch is its own usage scope: WebGPU orders a dispatch's
  // storage writes before the next dispatch's reads, so sharing a pass changes no result.
  private computePass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.commandEncoder().beginComputePass({ label: 'prefstudio' });
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  private pipeline(kernel: KernelRef): CachedPipeline {
    const entry = kernel.entry ?? 'main';
    const key = pipelineKey(kernel.shader, entry, kernel.constants);
    const cached = this.pipelines.get(key);
    if (cached) return cached;
    const wgsl = specializeShader(kernel.shader, expandIncludes(kernel.shader, this.shaders), kernel.constants);
    if (this.debug.printWgsl) console.log(`// ---- ${key}\n${wgsl}`);
    const iface = parseShaderInterface(kernel.shader, wgsl);
    const module = this.device.createShaderModule({ code: wgsl, label: key });
    const pipeline = this.device.createComputePipeline({
      layout: 'auto',
      compute: { module, entryPoint: entry },
      label: key,
    });
    const made = { pipeline, iface, layout: pipeline.getBindGroupLayout(0) };
    this.pipelines.set(key, made);
    return made;
  }

  private writeUniforms(shader: string, iface: ShaderInterface, params: Record<string, number>): GPUBufferBinding {
    const fields = iface.params!.fields;
    for (const name of Object.keys(params)) {
      if (!fields.some((f) => f.name === name)) throw new Error(`${shader}: Params has no field "${name}"`);
    }
    const size = Math.max(16, Math.ceil((fields.length * 4) / 16) * 16);
    if (this.uniformOffset + size > UNIFORM_ARENA_BYTES) {
      this.flushUniforms();
      this.uniformArenaIndex += 1;
      this.uniformOffset = 0;
    }
    const view = new DataView(this.uniformStaging, this.uniformOffset, size);
    fields.forEach((f, i) => {
      const v = params[f.name];
      if (v === undefined || Number.isNaN(v)) throw new Error(`${shader}: Params.${f.name} not given`);
      if (f.type === 'f32') view.setFloat32(i * 4, v, true);
      else if (f.type === 'i32') view.setInt32(i * 4, v, true);
      else {
        if (!Number.isInteger(v) || v < 0) throw new Error(`${shader}: Params.${f.name} = ${v} is not a u32`);
        view.setUint32(i * 4, v, true);
      }
    });
    const binding = { buffer: this.uniformArena(this.uniformArenaIndex), offset: this.uniformOffset, size };
    this.uniformOffset += Math.ceil(size / UNIFORM_ALIGN) * UNIFORM_ALIGN;
    return binding;
  }

  private uniformArena(i: number): GPUBuffer {
    while (this.uniformArenas.length <= i) {
      this.uniformArenas.push(
        this.device.createBuffer({
          size: UNIFORM_ARENA_BYTES,
          usage: GPU_BUFFER_USAGE().UNIFORM | GPU_BUFFER_USAGE().COPY_DST,
          label: `uniforms#${this.uniformArenas.length}`,
        }),
      );
    }
    return this.uniformArenas[i]!;
  }

  // Queue writes are ordered before the submit that follows them, and after earlier submits,
  // so an arena can be rewritten as soon as the previous command buffer is submitted.
  private flushUniforms(): void {
    if (this.uniformOffset === 0) return;
    this.device.queue.writeBuffer(this.uniformArena(this.uniformArenaIndex), 0, this.uniformStaging, 0, this.uniformOffset);
  }
}
