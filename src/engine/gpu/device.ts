// One way to get a WebGPU device, in a browser (navigator.gpu), a Worker, or Node (Dawn).
// Required features and limits are checked up front so a missing capability fails with a
// message that says what is missing, instead of a shader error later.

export interface AdapterReport {
  vendor: string;
  architecture: string;
  description: string;
  /** The driver, where the browser's GPUAdapterInfo names it (non-standard; else absent). */
  driver?: string;
  isFallbackAdapter: boolean;
  /**
   * The fewest invocations a subgroup of this adapter may have (GPUAdapterInfo.subgroupMinSize;
   * absent where the browser does not say): variants that share values within groups of 8 lanes
   * need at least 8 (src/engine/tuning/variants.ts).
   */
  subgroupMinSize?: number;
  features: {
    shaderF16: boolean;
    subgroups: boolean;
    timestampQuery: boolean;
  };
  limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupSizeX: number;
    maxComputeWorkgroupsPerDimension: number;
    maxStorageBuffersPerShaderStage: number;
  };
  /** The host's memory where the platform says it (Node: os.totalmem(); browsers: navigator.deviceMemory); budget.ts reads it for software adapters. */
  hostMemoryBytes?: number;
}

export interface GpuHandle {
  device: GPUDevice;
  adapter: GPUAdapter;
  report: AdapterReport;
  /** Releases the device; in Node this also lets the process exit. */
  destroy(): void;
}

export interface AcquireOptions {
  /** Ask for shader-f16 when the adapter has it (default true). */
  preferF16?: boolean;
  /** Ask for timestamp-query when the adapter has it (default true). */
  preferTimestamps?: boolean;
  powerPreference?: GPUPowerPreference;
  /** Limits to ask for below the adapter's (tests: a small maxStorageBufferBindingSize); each must be at least REQUIRED_LIMITS'. */
  limits?: Partial<AdapterReport['limits']>;
  /** The host's memory in bytes (Node passes os.totalmem()); browsers read navigator.deviceMemory. */
  hostMemoryBytes?: number;
}

/** The limits our kernels are written against: below these the engine refuses to start. */
export const REQUIRED_LIMITS = {
  maxStorageBufferBindingSize: 128 * 1024 * 1024,
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxStorageBuffersPerShaderStage: 8,
} as const;

export class GpuUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GpuUnavailableError';
  }
}

export function describeAdapter(adapter: GPUAdapter): AdapterReport {
  const info = adapter.info;
  const l = adapter.limits;
  return {
    vendor: info?.vendor ?? '',
    architecture: info?.architecture ?? '',
    description: info?.description ?? '',
    driver: (info as { driver?: string } | undefined)?.driver ?? '',
    isFallbackAdapter: Boolean((info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ??
      (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter),
    ...subgroupMinSizeOf(info),
    features: {
      shaderF16: adapter.features.has('shader-f16'),
      subgroups: adapter.features.has('subgroups'),
      timestampQuery: adapter.features.has('timestamp-query'),
    },
    limits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    },
  };
}

function subgroupMinSizeOf(info: GPUAdapterInfo | undefined): { subgroupMinSize?: number } {
  const n = (info as { subgroupMinSize?: number } | undefined)?.subgroupMinSize;
  return typeof n === 'number' && n > 0 ? { subgroupMinSize: n } : {};
}

/** Names every required limit the adapter falls short of; empty when it meets them all. */
export function missingLimits(report: AdapterReport): string[] {
  const out: string[] = [];
  for (const [name, need] of Object.entries(REQUIRED_LIMITS)) {
    const have = report.limits[name as keyof AdapterReport['limits']];
    if (have < need) out.push(`${name}: adapter has ${have}, PrefStudio needs ${need}`);
  }
  return out;
}

/** The adapter `gpu` gives (as acquireFrom asks for it) and its report, the host's memory included; no device is opened. */
async function requestAdapterFrom(gpu: GPU | undefined, options: Pick<AcquireOptions, 'powerPreference' | 'hostMemoryBytes'>): Promise<{ adapter: GPUAdapter; report: AdapterReport }> {
  if (!gpu) {
    throw new GpuUnavailableError(
      'WebGPU is not available here. Use Chrome or Edge 113+ (or Chromium with --enable-unsafe-webgpu ' +
        'on Linux), Safari 26+, or Firefox 141+ on Windows; the page must be served over https or from localhost.',
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new GpuUnavailableError(
      'The browser exposes WebGPU but found no GPU adapter. Check that hardware acceleration is enabled ' +
        '(chrome://gpu) or start Chromium with --enable-unsafe-webgpu.',
    );
  }
  const report = describeAdapter(adapter);
  const deviceMemory = (globalThis as { navigator?: { deviceMemory?: number } }).navigator?.deviceMemory;
  const host = options.hostMemoryBytes ?? (typeof deviceMemory === 'number' && deviceMemory > 0 ? deviceMemory * 1024 ** 3 : undefined);
  if (host !== undefined) report.hostMemoryBytes = host;
  return { adapter, report };
}

/**
 * What the adapter acquireFrom would get reports, without opening a device: the CLI's GPU memory
 * budget (budget.ts) for choosing a model variant before the engine exists.
 */
export async function adapterReportFrom(gpu: GPU | undefined, options: Pick<AcquireOptions, 'powerPreference' | 'hostMemoryBytes'> = {}): Promise<AdapterReport> {
  return (await requestAdapterFrom(gpu, options)).report;
}

/** Acquires a device from any object shaped like `navigator.gpu`. */
export async function acquireFrom(gpu: GPU | undefined, options: AcquireOptions = {}): Promise<GpuHandle> {
  const { adapter, report } = await requestAdapterFrom(gpu, options);
  const missing = missingLimits(report);
  if (missing.length > 0) {
    throw new GpuUnavailableError(`The GPU adapter is too small for PrefStudio: ${missing.join('; ')}.`);
  }
  const requiredFeatures: GPUFeatureName[] = [];
  if (report.features.shaderF16 && options.preferF16 !== false) requiredFeatures.push('shader-f16');
  if (report.features.timestampQuery && options.preferTimestamps !== false) requiredFeatures.push('timestamp-query');
  // Subgroup operations, for the kernel variants that use them (src/engine/tuning/variants.ts).
  if (report.features.subgroups) requiredFeatures.push('subgroups' as GPUFeatureName);
  // Ask for the adapter's full limits: the defaults (128 MiB bindings) are far below real GPUs.
  const requiredLimits: Record<string, number> = {};
  for (const name of Object.keys(report.limits) as (keyof AdapterReport['limits'])[]) {
    const asked = options.limits?.[name];
    if (asked !== undefined) {
      const floor = (REQUIRED_LIMITS as Record<string, number>)[name] ?? 0;
      if (!(asked >= floor && asked <= report.limits[name])) throw new GpuUnavailableError(`limit ${name} = ${asked} asked for, but it must lie between ${floor} and the adapter's ${report.limits[name]}`);
      report.limits[name] = asked;
    }
    requiredLimits[name] = report.limits[name];
  }
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits, label: 'prefstudio' });
  // Record what the device actually has (a feature we did not ask for is not usable).
  report.features.shaderF16 = device.features.has('shader-f16');
  report.features.timestampQuery = device.features.has('timestamp-query');
  report.features.subgroups = device.features.has('subgroups');
  return {
    device,
    adapter,
    report,
    destroy: () => device.destroy(),
  };
}

/** Browser and Worker: `navigator.gpu`. */
export function acquireBrowserGpu(options: AcquireOptions = {}): Promise<GpuHandle> {
  const nav = (globalThis as { navigator?: Navigator }).navigator;
  return acquireFrom(nav?.gpu, options);
}
