import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { failsWith } from '../support/cli-checks.js';

// prefstudio gpu --tune: the kernel variants chosen on this adapter, kept in the tuning cache
// file by adapter identity; a second run repeats the choice from the file without measuring.
describe('prefstudio gpu --tune', () => {
  const dir = mkdtempSync(join(tmpdir(), 'prefstudio-tune-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('measures, writes the cache, then repeats its choice from it', async () => {
    const cache = join(dir, 'tuning.json');
    // A budget and limits that outlast every variant's compile with a cold shader cache (a fresh
    // CI machine: seconds to tens of seconds each on lavapipe under load).
    const args = ['gpu', '--tune', '--shapes', '9x20x36', '--kernels', 'matmul_forward', '--tune-cache', cache, '--budget-ms', '400000', '--json'];
    const first = await runCli(args, { timeoutMs: 500_000 });
    expect(first.code, first.stderr).toBe(0);
    const a = JSON.parse(first.stdout);
    expect(a.from_cache).toBe(false);
    expect(a.choices).toHaveLength(1);
    expect(a.choices[0]).toMatchObject({ kernel: 'matmul_forward', shapeClass: 'm16:20x36' });
    // Every applicable variant was measured (9 rows: the decoding layout too where subgroups exist).
    const applicable = a.variants.matmul_forward.filter((v: { applicable: boolean }) => v.applicable).map((v: { name: string }) => v.name);
    expect(Object.keys(a.choices[0].measured).sort()).toEqual([...applicable].sort());
    expect(first.stderr).toMatch(/tuning 1\/\d+: matmul_forward 9x20x36: safe [\d.]+ ms/);
    const file = JSON.parse(readFileSync(cache, 'utf8'));
    expect(file.format).toBe('prefstudio-kernel-tuning');
    expect(Object.values(file.records)).toHaveLength(1);

    const second = await runCli(args, { timeoutMs: 120_000 });
    expect(second.code, second.stderr).toBe(0);
    const b = JSON.parse(second.stdout);
    expect(b.from_cache).toBe(true);
    expect(b.choices).toEqual(a.choices);
    expect(second.stderr).not.toMatch(/tuning \d+\//);
  }, 700_000);

  it('a forced variant is reported; bad settings are refused naming them', async () => {
    const r = await runCli(['gpu', '--tune', '--shapes', '9x20x36', '--kernels', 'matmul_forward', '--tune-cache', 'off', '--json'], {
      env: { PREFSTUDIO_KERNEL_VARIANTS: 'matmul_forward=tiled8' }, timeoutMs: 120_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).forced).toEqual({ matmul_forward: 'tiled8' });
    failsWith(await runCli(['gpu', '--tune', '--shapes', '9x20x36'], { env: { PREFSTUDIO_KERNEL_VARIANTS: 'matmul_forward=warp' } }), 1,
      /PREFSTUDIO_KERNEL_VARIANTS: kernel variant "warp" of matmul_forward does not exist/);
    failsWith(await runCli(['gpu', '--tune', '--shapes', '9x20']), 1, /--shapes: "9x20" is not MxCxOC/);
    failsWith(await runCli(['gpu', '--tune']), 1, /--tune needs --model DIR or --shapes/);
  });
});
