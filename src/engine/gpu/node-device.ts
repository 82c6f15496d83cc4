// Node: WebGPU through the `webgpu` npm package (Dawn). Imported only by Node entry points
// (CLI, tests, benchmarks), never by the browser bundle.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { acquireFrom, adapterReportFrom, type AcquireOptions, type AdapterReport, type GpuHandle } from './device.js';

/** Chromium's bundled SwiftShader ICD: Debian 12's own lavapipe gives Dawn no adapter. */
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

let dawn: Promise<GPU> | undefined;

/** A GPU device node: then the system's Vulkan drivers are left to find the real GPU. */
function hasGpuDevice(): boolean {
  if (existsSync('/dev/nvidia0')) return true;
  try {
    return readdirSync('/dev/dri').some((f) => f.startsWith('renderD'));
  } catch {
    return false;
  }
}

function loadDawn(): Promise<GPU> {
  dawn ??= (async () => {
    // The Vulkan loader reads this when Dawn creates its instance, so it must be set first.
    // Only on machines without a GPU: SwiftShader must not shadow a real one.
    const chosen = process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES;
    if (!chosen && !hasGpuDevice() && existsSync(SWIFTSHADER_ICD)) {
      process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    }
    // Vulkan's window-system probing complains on stderr without one; headless needs none.
    if (!process.env.XDG_RUNTIME_DIR) {
      const dir = join(tmpdir(), `prefstudio-xdg-${process.getuid?.() ?? 'user'}`);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      process.env.XDG_RUNTIME_DIR = dir;
    }
    const webgpu = await import('webgpu');
    Object.assign(globalThis, webgpu.globals);
    return webgpu.create([]) as unknown as GPU;
  })();
  return dawn;
}

export async function acquireNodeGpu(options: AcquireOptions = {}): Promise<GpuHandle> {
  return acquireFrom(await loadDawn(), { hostMemoryBytes: totalmem(), ...options });
}

/** The report of the adapter acquireNodeGpu gets, without opening a device (the CLI's budget before its engine exists). */
export async function nodeAdapterReport(): Promise<AdapterReport> {
  return adapterReportFrom(await loadDawn(), { hostMemoryBytes: totalmem() });
}
