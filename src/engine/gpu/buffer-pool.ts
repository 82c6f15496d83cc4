// GPU buffers pooled by (byte size, usage). Sizes are rounded up to a bucket so that buffers of
// slightly different sizes can be reused; counters say how many bytes the GPU holds.

export interface PoolStats {
  /** Bytes of every live buffer the pool created (in use or free). */
  bytesAllocated: number;
  /** Bytes handed out and not yet released. */
  bytesInUse: number;
  /** Highest bytesAllocated seen. */
  peakBytesAllocated: number;
  buffersAllocated: number;
}

/** Rounds up to the next 1/8 step of the power of two above, at least 256 bytes. */
export function bucketSize(bytes: number): number {
  const n = Math.max(256, Math.ceil(bytes / 4) * 4);
  const pow = 2 ** Math.floor(Math.log2(n));
  const step = Math.max(256, pow / 8);
  return Math.ceil(n / step) * step;
}

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly sizes = new WeakMap<GPUBuffer, number>();
  /** Buffers handed out and not yet released: a second release would let two tensors alias. */
  private readonly inUse = new WeakSet<GPUBuffer>();
  readonly stats: PoolStats = { bytesAllocated: 0, bytesInUse: 0, peakBytesAllocated: 0, buffersAllocated: 0 };
  /** Debug switch: destroy released buffers instead of reusing them (hunting aliasing bugs). */
  noReuse = false;

  /**
   * `submitPending` submits work recorded but not yet submitted: a buffer it reads must not be
   * destroyed before that (already-submitted work keeps its buffers alive; recorded work does not).
   */
  constructor(
    private readonly device: GPUDevice,
    private readonly submitPending: () => void = () => {},
  ) {}

  acquire(byteLength: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    const size = bucketSize(byteLength);
    const key = `${size}:${usage}`;
    const list = this.free.get(key);
    let buffer = list?.pop();
    if (buffer) {
      buffer.label = label;
    } else {
      buffer = this.device.createBuffer({ size, usage, label });
      this.sizes.set(buffer, size);
      this.stats.bytesAllocated += size;
      this.stats.buffersAllocated += 1;
      this.stats.peakBytesAllocated = Math.max(this.stats.peakBytesAllocated, this.stats.bytesAllocated);
    }
    this.stats.bytesInUse += size;
    this.inUse.add(buffer);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const size = this.sizes.get(buffer);
    if (size === undefined) throw new Error(`buffer ${buffer.label} was not made by this pool`);
    if (!this.inUse.delete(buffer)) throw new Error(`buffer ${buffer.label} released twice`);
    this.stats.bytesInUse -= size;
    if (this.noReuse) {
      this.submitPending();
      this.destroyBuffer(buffer, size);
      return;
    }
    const key = `${size}:${buffer.usage}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(buffer);
  }

  /** Frees every pooled buffer not in use. */
  trim(): void {
    this.submitPending();
    for (const list of this.free.values()) {
      for (const b of list) this.destroyBuffer(b, this.sizes.get(b)!);
    }
    this.free.clear();
  }

  private destroyBuffer(buffer: GPUBuffer, size: number): void {
    buffer.destroy();
    this.stats.bytesAllocated -= size;
    this.stats.buffersAllocated -= 1;
  }
}
