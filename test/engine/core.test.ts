import { describe, expect, it } from 'vitest';
import { testEngine } from '#test-engine';
import { expandIncludes, parseShaderInterface, pipelineKey, specializeShader, type ShaderLibrary } from '../../src/engine/gpu/shader-source.js';
import { nodeShaders } from '../../src/engine/gpu/shaders-node.js';
import { bucketSize } from '../../src/engine/gpu/buffer-pool.js';
import { f16BitsToF32, f32ToF16Bits, toF16Array, bf16BitsToF32 } from '../../src/engine/f16.js';
import { residualForward } from '../../src/engine/kernels/residual.js';
import { f16PackForward } from '../../src/engine/kernels/f16-pack.js';
import { f16UnpackForward } from '../../src/engine/kernels/f16-unpack.js';
import { grid1d } from '../../src/engine/kernels/grid.js';
import { randn } from '../support/numeric.js';
import type { Tensor } from '../../src/engine/gpu/tensor.js';

describe('shader source', () => {
  it('substitutes placeholders and names the ones missing', () => {
    expect(specializeShader('k', 'var<workgroup> t: array<f32, {{TILE}}>; // {{FLAG}}', { TILE: 64, FLAG: true })).toBe(
      'var<workgroup> t: array<f32, 64>; // true',
    );
    expect(() => specializeShader('k', '{{A}} {{B}}', { A: 1 })).toThrow(/k: no value given for placeholder\(s\) \{\{B\}\}/);
  });

  it('keys pipelines by every substituted value, in a stable order', () => {
    expect(pipelineKey('matmul_forward', 'main', { TILE: 4, DT: 'f16' })).toBe('matmul_forward:main{DT=f16,TILE=4}');
    expect(pipelineKey('m', 'main', { B: 1, A: 2 })).toBe(pipelineKey('m', 'main', { A: 2, B: 1 }));
    expect(pipelineKey('m', 'main', { A: 1 })).not.toBe(pipelineKey('m', 'main', { A: 2 }));
  });

  it('reads storage bindings and the Params layout from WGSL', () => {
    const iface = parseShaderInterface(
      'x',
      `struct Params {
        N: u32,   // count, of rows
        eps: f32,
        off: i32,
      }
      @group(0) @binding(0) var<storage, read_write> out: array<f32>;
      @group(0) @binding(1) var<storage, read> inp: array<f32>;
      @group(0) @binding(2) var<uniform> params: Params;`,
    );
    expect([...iface.storage.entries()]).toEqual([
      ['out', { binding: 0, readOnly: false }],
      ['inp', { binding: 1, readOnly: true }],
    ]);
    expect(iface.params).toEqual({
      binding: 2,
      fields: [
        { name: 'N', type: 'u32' },
        { name: 'eps', type: 'f32' },
        { name: 'off', type: 'i32' },
      ],
    });
  });

  it('refuses Params fields that are not 4-byte scalars', () => {
    expect(() =>
      parseShaderInterface('y', 'struct Params { v: vec4<f32>, }\n@group(0) @binding(0) var<uniform> params: Params;'),
    ).toThrow(/y: Params field "v: vec4<f32>" must be a u32, i32 or f32 scalar/);
  });
});

describe('shader includes', () => {
  // A ShaderLibrary over in-memory files, failing as the real ones do.
  const libraryOf =
    (files: Record<string, string>): ShaderLibrary =>
    (name) => {
      const text = files[name];
      if (text === undefined) throw new Error(`no file shaders/${name}.wgsl`);
      return text;
    };

  it('replaces each #include line by the file, nested ones too, each file once', () => {
    const library = libraryOf({
      k: 'const A: u32 = 1u;\n#include "lib/outer.wgsl"\n  #include "lib/inner.wgsl"  // again: nothing\nfn main() {}',
      'lib/outer': '#include "lib/inner.wgsl"\nfn outer() -> f32 { return inner(); }\n',
      'lib/inner': 'fn inner() -> f32 { return 1.0; }\n',
    });
    expect(expandIncludes('k', library)).toBe(
      'const A: u32 = 1u;\nfn inner() -> f32 { return 1.0; }\nfn outer() -> f32 { return inner(); }\n\nfn main() {}',
    );
  });

  it('names the kernel, its line and the missing file', () => {
    const library = libraryOf({ k: 'fn f() {}\n#include "lib/nope.wgsl"' });
    expect(() => expandIncludes('k', library)).toThrow(
      'shader k: k.wgsl line 2 includes lib/nope.wgsl: no file shaders/lib/nope.wgsl',
    );
    expect(() => expandIncludes('gelu_forward', (n) => (n === 'gelu_forward' ? '#include "lib/nope.wgsl"' : nodeShaders(n)))).toThrow(
      /gelu_forward\.wgsl line 1 includes lib\/nope\.wgsl: no file shaders\/lib\/nope\.wgsl/,
    );
  });

  it('refuses include cycles, other directives and bindings in helper files', () => {
    const cycle = libraryOf({
      k: '#include "lib/a.wgsl"',
      'lib/a': '#include "lib/b.wgsl"',
      'lib/b': 'fn b() {}\n#include "lib/a.wgsl"',
    });
    expect(() => expandIncludes('k', cycle)).toThrow(
      'shader k: lib/b.wgsl line 2: include cycle k.wgsl -> lib/a.wgsl -> lib/b.wgsl -> lib/a.wgsl',
    );
    for (const line of ['#include <lib/a.wgsl>', '#include "a.wgsl"', '#include "lib/../k.wgsl"', '#define X 1']) {
      expect(() => expandIncludes('k', libraryOf({ k: line, 'lib/a': '' }))).toThrow(/k\.wgsl line 1: .* is not of the form #include "lib\/<file>\.wgsl"/);
    }
    const binding = libraryOf({
      k: '#include "lib/a.wgsl"',
      'lib/a': '// @binding(0) in a comment is fine\n@group(0) @binding(0) var<storage, read> x: array<f32>;',
    });
    expect(() => expandIncludes('k', binding)).toThrow(/k\.wgsl line 1: lib\/a\.wgsl line 2 declares a binding/);
  });

  it('leaves the binding interface to the kernel file', () => {
    const wgsl = specializeShader('gelu_backward', expandIncludes('gelu_backward', nodeShaders), { TANH: false });
    expect(wgsl).not.toMatch(/^\s*#/m);
    expect(wgsl).toContain('fn normal_cdf(x: f32) -> f32');
    const iface = parseShaderInterface('gelu_backward', wgsl);
    expect([...iface.storage.keys()]).toEqual(['dinp', 'dout', 'inp']);
    expect(iface.params?.fields).toEqual([{ name: 'N', type: 'u32' }]);
  });
});

describe('buffer pool', () => {
  it('buckets sizes so near sizes share buffers, never below the request', () => {
    for (const n of [1, 4, 255, 256, 257, 1000, 4096, 5000, 1 << 20, (1 << 20) + 1]) {
      const b = bucketSize(n);
      expect(b).toBeGreaterThanOrEqual(n);
      expect(b % 4).toBe(0);
      expect(b).toBeLessThanOrEqual(Math.max(256, n * 1.25 + 256));
    }
    expect(bucketSize(1000)).toBe(bucketSize(1010));
  });

  it('refuses a second release of the same buffer', async () => {
    const engine = await testEngine();
    const t = engine.zeros([8]);
    engine.release(t);
    expect(() => engine.release(t)).toThrow(/released twice/);
  });

  it('without reuse, and on trim, destroys a released buffer only after the work recorded on it is submitted', async () => {
    const engine = await testEngine();
    const N = 64;
    for (const mode of ['noBufferReuse', 'trim'] as const) {
      engine.debug.noBufferReuse = mode === 'noBufferReuse';
      const a = engine.fromArray(new Float32Array(N).fill(2), [N]);
      const b = engine.fromArray(new Float32Array(N).fill(3), [N]);
      const out = engine.tensor([N]);
      residualForward(engine, out, a, b, N); // recorded, not submitted
      engine.release(a, b);
      if (mode === 'trim') engine.pool.trim();
      expect(Array.from(await engine.readF32(out))).toEqual(new Array(N).fill(5));
      engine.release(out);
    }
    engine.debug.noBufferReuse = false;
    await engine.sync(); // throws any validation error seen, such as a destroyed buffer in a submit
  });

  it('reuses released buffers and counts bytes', async () => {
    const engine = await testEngine();
    engine.pool.trim();
    const before = engine.pool.stats.bytesAllocated;
    const a = engine.tensor([1000], 'f32', 'a');
    const allocated = engine.pool.stats.bytesAllocated - before;
    expect(allocated).toBe(bucketSize(4000));
    engine.release(a);
    const b = engine.tensor([1001], 'f32', 'b');
    expect(b.buffer).toBe(a.buffer);
    expect(engine.pool.stats.bytesAllocated - before).toBe(allocated);
    engine.release(b);
    engine.pool.trim();
    expect(engine.pool.stats.bytesAllocated).toBe(before);
  });
});

describe('f16', () => {
  it('converts known values like IEEE 754 binary16', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(-2)).toBe(0xc000);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(1e6)).toBe(0x7c00);
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001);
    expect(f32ToF16Bits(1e-9)).toBe(0);
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie rounds to even
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f16BitsToF32(0x3555)).toBeCloseTo(0.333251953125, 12);
    expect(bf16BitsToF32(0x3f80)).toBe(1);
  });

  it('host decoding equals the GPU unpack2x16float for every finite half', async () => {
    const engine = await testEngine();
    const bits = new Uint16Array(0x7c00 * 2);
    for (let i = 0; i < 0x7c00; i++) {
      bits[2 * i] = i;
      bits[2 * i + 1] = i | 0x8000;
    }
    const inp = engine.fromArray(bits, [bits.length], 'f16', 'halves');
    const out = engine.tensor([bits.length]);
    f16UnpackForward(engine, out, inp, bits.length);
    const gpu = await engine.readF32(out);
    let mismatches = 0;
    for (let i = 0; i < bits.length; i++) if (gpu[i] !== f16BitsToF32(bits[i]!)) mismatches++;
    expect(mismatches).toBe(0);
    engine.release(inp, out);
  });

  it.each([
    { N: 2, rows: 1, dstWords: [0], inpOffset: 0, size: 2 },
    { N: 130, rows: 1, dstWords: [3], inpOffset: 10, size: 200 },
    // Rows at their own, unordered word offsets (a KV cache's slots), one past a 256-word workgroup.
    { N: 6, rows: 3, dstWords: [40, 2, 17], inpOffset: 4, size: 100 },
    { N: 514, rows: 2, dstWords: [600, 0], inpOffset: 0, size: 2048 },
  ])('the GPU pack equals toF16Array at each row\'s word offset (N $N, rows $rows, dst $dstWords, inpOffset $inpOffset)', async ({ N, rows, dstWords, inpOffset, size }) => {
    const engine = await testEngine();
    const x = randn(inpOffset + rows * N, N + 3, 4);
    const inp = engine.fromArray(x, [x.length], 'f32', 'values');
    const before = toF16Array(randn(size, 7, 1)); // what was there: kept outside the written words
    const out = engine.fromArray(before, [size], 'f16', 'halves');
    const dst = engine.fromArray(Uint32Array.from(dstWords), [rows], 'u32', 'dst');
    f16PackForward(engine, out, inp, dst, N, rows, inpOffset);
    const gpu = Array.from(await engine.readF32(unpacked(engine, out, size)));
    const want = Array.from(before, f16BitsToF32);
    const halves = Array.from(toF16Array(x.subarray(inpOffset)), f16BitsToF32);
    for (let r = 0; r < rows; r++) for (let i = 0; i < N; i++) want[2 * dstWords[r]! + i] = halves[r * N + i]!;
    expect(gpu).toEqual(want);
    expect(() => f16PackForward(engine, out, inp, dst, N - 1, rows)).toThrow(/must be even/);
    expect(() => f16PackForward(engine, out, inp, dst, N, rows + 1)).toThrow(/must hold/);
    engine.release(inp, out, dst);
  });

  it('round-trips values through f16 within half an ulp', () => {
    const x = randn(1000, 11, 10);
    const back = Array.from(toF16Array(x), f16BitsToF32);
    x.forEach((v, i) => expect(Math.abs(back[i]! - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11 + 2 ** -25));
  });
});

describe('engine dispatch', () => {
  it('names a binding the kernel does not declare', async () => {
    const engine = await testEngine();
    const t = engine.tensor([4]);
    expect(() =>
      engine.dispatch({ shader: 'residual_forward' }, { out: t, inp1: t, nope: t }, { N: 4 }, [1]),
    ).toThrow(/residual_forward: no storage binding named "nope"/);
    expect(() => engine.dispatch({ shader: 'residual_forward' }, { out: t, inp1: t, inp2: t }, {}, [1])).toThrow(
      /residual_forward: Params.N not given/,
    );
    engine.release(t);
  });

  it('builds each pipeline once and keeps program order across uploads', async () => {
    const engine = await testEngine();
    const N = 300;
    const a = engine.fromArray(new Float32Array(N).fill(1), [N]);
    const b = engine.fromArray(new Float32Array(N).fill(2), [N]);
    const out = engine.tensor([N]);
    residualForward(engine, out, a, b, N);
    const count = engine.pipelineCount;
    // The upload must not overtake the dispatch recorded before it.
    engine.upload(a, new Float32Array(N).fill(10));
    residualForward(engine, b, out, a, N); // b = (1 + 2) + 10
    expect(engine.pipelineCount).toBe(count);
    expect(Array.from(await engine.readF32(out)).every((v) => v === 3)).toBe(true);
    expect(Array.from(await engine.readF32(b)).every((v) => v === 13)).toBe(true);
    engine.release(a, b, out);
  });

  it('runs more dispatches than one submission holds', async () => {
    const engine = await testEngine();
    const N = 64;
    const one = engine.fromArray(new Float32Array(N).fill(1), [N]);
    const acc = engine.zeros([N]);
    const tmp = engine.tensor([N]);
    for (let i = 0; i < 600; i++) {
      residualForward(engine, tmp, acc, one, N);
      engine.copy(acc, tmp);
    }
    expect(Array.from(await engine.readF32(acc)).every((v) => v === 600)).toBe(true);
    engine.release(one, acc, tmp);
  });

  it('splits large 1-D launches over two grid dimensions', () => {
    expect(grid1d(1000, 256)).toEqual([4, 1]);
    const [x, y] = grid1d(65535 * 256 + 1, 256);
    expect(x).toBeLessThanOrEqual(65535);
    expect(x * y * 256).toBeGreaterThanOrEqual(65535 * 256 + 1);
  });
});

/** A packed f16 tensor unpacked on the GPU into a new f32 tensor. */
function unpacked(engine: Awaited<ReturnType<typeof testEngine>>, halves: Tensor, n: number): Tensor {
  const out = engine.tensor([n]);
  f16UnpackForward(engine, out, halves, n);
  return out;
}
