// Model folders, adapters and data files read through the real CLI on the real filesystem (issue
// 17: symlinks out of a model folder, a linked directory, /dev/zero and FIFOs, files past their
// role's size limit, export --merged copying link targets). Each case runs `prefstudio` as a
// child process on a copy of a fixture in a fresh temporary folder and checks the exit code, the
// one-line message, bounded peak memory where a read could run away, and that no file that
// existed before changed (src/data/io/node-read.ts, src/engine/model/source-node.ts).
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { peftFiles } from '../../src/engine/export/peft.js';
import { loadModel } from '../../src/engine/model/load.js';
import { MODEL_FILE_LIMITS, nodeDirSource } from '../../src/engine/model/source-node.js';
import { randomAdapter } from '../export/helpers.js';
import { TINY_LLAMA, TINY_QWEN2, fileBytes, rewrite } from '../model/helpers.js';
import { changes, lines, runCli, snapshot, type CliResult } from '../support/cli.js';

const ADAPTER = new URL('../fixtures/export/tiny-llama-adapter', import.meta.url).pathname;

const root = mkdtempSync(join(tmpdir(), 'prefstudio-model-files-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const d = join(root, `case-${n++}`);
  mkdirSync(d);
  return d;
};
/** A copy of a fixture model in `d/model`. */
const copyModel = (d: string, from = TINY_LLAMA) => {
  const m = join(d, 'model');
  cpSync(from, m, { recursive: true });
  return m;
};

/**
 * A refusal: one line on stderr matching `re` (besides progress lines such as "export: adapter
 * ..."), exit `code`, no stack.
 */
function expectOneLine(r: CliResult, code: number, re: RegExp): void {
  const l = lines(r.stderr).filter((x) => !/^(export|train|eval|logprobs|sample): /.test(x));
  expect(l, r.stderr).toHaveLength(1);
  expect(l[0]).toMatch(re);
  expect(r.stderr).not.toMatch(/\n\s+at |node:internal/);
  expect(r.code, r.stderr).toBe(code);
}

/** Peak memory of a child that must not read a runaway file: well under what a runaway read takes. */
const BOUNDED_KIB = 512 * 1024;

describe('links out of a model folder are refused', () => {
  it('external data linked to a file outside (a copy of the real data, or /etc/passwd): inspect exits 1 naming the link', async () => {
    const d = fresh();
    const model = copyModel(d, TINY_QWEN2);
    // Control: the folder as it is loads.
    expect((await runCli(['inspect', model])).code).toBe(0);
    mkdirSync(join(d, 'outside'));
    renameSync(join(model, 'onnx', 'model.onnx_data'), join(d, 'outside', 'model.onnx_data'));
    symlinkSync(join(d, 'outside', 'model.onnx_data'), join(model, 'onnx', 'model.onnx_data'));
    const r = await runCli(['inspect', model]);
    expectOneLine(r, 1, /^cannot load .*model: onnx\/model\.onnx_data in .*model resolves to .*outside\/model\.onnx_data, outside the folder \(a symbolic link out of it\): refused \[file-refused\]$/);
    rmSync(join(model, 'onnx', 'model.onnx_data'));
    symlinkSync('/etc/passwd', join(model, 'onnx', 'model.onnx_data'));
    const passwd = await runCli(['inspect', model]);
    expectOneLine(passwd, 1, /resolves to \/etc\/passwd, outside the folder .*\[file-refused\]$/);
    // The same through the commands that read weights.
    const before = snapshot(d);
    const gguf = await runCli(['export', '--model', model, '--adapter', ADAPTER, '--gguf', join(d, 'a.gguf')]);
    expect(gguf.code).toBe(1);
    expect(gguf.stderr).toMatch(/outside the folder/);
    expect(changes(before, snapshot(d))).toEqual({ removed: [], changed: [], added: [] });
  }, 60_000);

  it('external data in a linked directory: refused when it points outside, read when it stays inside', async () => {
    const d = fresh();
    const model = copyModel(d, TINY_QWEN2);
    // The graph keeps its data in onnx/weights/; onnx/weights is a link to a folder.
    const onnx = join(model, 'onnx', 'model.onnx');
    writeFileSync(onnx, rewrite(fileBytes(onnx), (m) => {
      for (const t of m.graph!.initializer!) for (const kv of t.externalData ?? []) if (kv.key === 'location') kv.value = 'weights/model.onnx_data';
    }));
    mkdirSync(join(d, 'elsewhere'));
    renameSync(join(model, 'onnx', 'model.onnx_data'), join(d, 'elsewhere', 'model.onnx_data'));
    symlinkSync(join(d, 'elsewhere'), join(model, 'onnx', 'weights'));
    const r = await runCli(['inspect', model]);
    expectOneLine(r, 1, /^cannot load .*: onnx\/weights\/model\.onnx_data in .* resolves to .*elsewhere\/model\.onnx_data, outside the folder .*\[file-refused\]$/);
    // The same folder of data moved inside the model: the link is followed.
    rmSync(join(model, 'onnx', 'weights'));
    renameSync(join(d, 'elsewhere'), join(model, 'store'));
    symlinkSync('../store', join(model, 'onnx', 'weights'));
    const inside = await runCli(['inspect', model]);
    expect(inside.code, inside.stderr).toBe(0);
    expect(inside.stdout).toMatch(/external data onnx\/weights\/model\.onnx_data/);
  }, 60_000);

  it('a Hugging Face cache snapshot (every file a link into ../../blobs) loads', async () => {
    const d = fresh();
    const repo = join(d, 'models--org--tiny');
    const snap = join(repo, 'snapshots', 'abc123');
    mkdirSync(join(repo, 'blobs'), { recursive: true });
    mkdirSync(snap, { recursive: true });
    for (const f of readdirSync(TINY_LLAMA)) {
      cpSync(join(TINY_LLAMA, f), join(repo, 'blobs', `blob-${f}`));
      symlinkSync(`../../blobs/blob-${f}`, join(snap, f));
    }
    const r = await runCli(['inspect', snap]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/architecture: +llama/);
  });

  it('export --merged copies regular files, never a link target from outside; a link inside is copied as a file', async () => {
    const d = fresh();
    const model = copyModel(d);
    writeFileSync(join(d, 'secret.txt'), 'not part of the model');
    symlinkSync(join(d, 'secret.txt'), join(model, 'README.md'));
    const before = snapshot(d);
    const r = await runCli(['export', '--model', model, '--adapter', ADAPTER, '--merged', join(d, 'merged')]);
    expectOneLine(r, 1, /^prefstudio export: README\.md in .*model resolves to .*secret\.txt, outside the folder .*: refused$/);
    expect(changes(before, snapshot(d))).toEqual({ removed: [], changed: [], added: [] });
    // A link that stays in the folder is content of the model: copied as a regular file.
    rmSync(join(model, 'README.md'));
    mkdirSync(join(model, 'docs'));
    writeFileSync(join(model, 'docs', 'README.md'), 'about the model');
    symlinkSync('docs/README.md', join(model, 'README.md'));
    const ok = await runCli(['export', '--model', model, '--adapter', ADAPTER, '--merged', join(d, 'merged')]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(lstatSync(join(d, 'merged', 'README.md')).isFile()).toBe(true);
    expect(readFileSync(join(d, 'merged', 'README.md'), 'utf8')).toBe('about the model');
    expect(readFileSync(join(d, 'merged', 'tokenizer.json'))).toEqual(readFileSync(join(model, 'tokenizer.json')));
    expect(readdirSync(d).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }, 60_000);
});

describe('devices, FIFOs and oversized files fail fast with bounded memory', () => {
  it('model.onnx, tokenizer.json or config.json linked to /dev/zero: refused at once', async () => {
    const d = fresh();
    const models = ['model.onnx', 'tokenizer.json', 'config.json'].map((f) => {
      const m = join(d, f);
      cpSync(TINY_LLAMA, m, { recursive: true });
      rmSync(join(m, f));
      symlinkSync('/dev/zero', join(m, f));
      return [f, m] as const;
    });
    const results = await Promise.all(models.map(([, m]) => runCli(['inspect', m], { timeoutMs: 60_000 })));
    for (const [i, r] of results.entries()) {
      const f = models[i]![0].replace('.', '\\.');
      expectOneLine(r, 1, new RegExp(`^cannot load .*: ${f} in .* resolves to /dev/zero, outside the folder .*\\[file-refused\\]$`));
      expect(r.signal).toBeNull();
      expect(r.peakKiB).toBeGreaterThan(0);
      expect(r.peakKiB).toBeLessThan(BOUNDED_KIB);
    }
  }, 120_000);

  it('a FIFO inside the folder (config.json, the .onnx) is refused without blocking; so is convert /dev/zero or a FIFO', async () => {
    const d = fresh();
    const model = copyModel(d);
    rmSync(join(model, 'config.json'));
    execFileSync('mkfifo', [join(model, 'config.json')]);
    const onnxFifo = copyModel(fresh());
    rmSync(join(onnxFifo, 'model.onnx'));
    execFileSync('mkfifo', [join(onnxFifo, 'model.onnx')]);
    execFileSync('mkfifo', [join(d, 'data.jsonl')]);
    const [cfg, onnx, zero, fifo] = await Promise.all([
      runCli(['inspect', model], { timeoutMs: 60_000 }),
      runCli(['inspect', onnxFifo], { timeoutMs: 60_000 }),
      runCli(['convert', '/dev/zero', '--to', 'trl', '--out', join(d, 'out.jsonl')], { timeoutMs: 60_000 }),
      runCli(['convert', join(d, 'data.jsonl'), '--to', 'trl', '--out', join(d, 'out2.jsonl')], { timeoutMs: 60_000 }),
    ]);
    expectOneLine(cfg, 1, /^cannot load .*: config\.json in .*model is a FIFO \(named pipe\).*, not a regular file: refused \[file-refused\]$/);
    expectOneLine(onnx, 1, /model\.onnx in .* is a FIFO \(named pipe\).*refused \[file-refused\]$/);
    expectOneLine(zero, 1, /^prefstudio convert: \/dev\/zero is a character device, not a regular file: refused$/);
    expectOneLine(fifo, 1, /^prefstudio convert: .*data\.jsonl is a FIFO \(named pipe\), not a regular file: refused$/);
    for (const r of [cfg, onnx, zero, fifo]) expect(r.peakKiB).toBeLessThan(BOUNDED_KIB);
    expect(existsSync(join(d, 'out.jsonl')) || existsSync(join(d, 'out2.jsonl'))).toBe(false);
  }, 120_000);

  it('a config.json, tokenizer.json or .onnx past its limit is refused before reading, naming the file and the limit', async () => {
    const d = fresh();
    // Sparse files: the size is there, the bytes are not (nothing is written to disk).
    const cfg = copyModel(fresh());
    truncateSync(join(cfg, 'config.json'), MODEL_FILE_LIMITS.json + 1);
    const tok = copyModel(fresh());
    truncateSync(join(tok, 'tokenizer.json'), MODEL_FILE_LIMITS.tokenizer + 1);
    const onnx = copyModel(d);
    truncateSync(join(onnx, 'model.onnx'), MODEL_FILE_LIMITS.onnx + 1);
    const [a, b, c] = (await Promise.all([cfg, tok, onnx].map((m) => runCli(['inspect', m], { timeoutMs: 60_000 })))) as [CliResult, CliResult, CliResult];
    expectOneLine(a, 1, /^cannot load .*: config\.json in .* is 16\.0 MiB, over the 16 MiB limit for a JSON settings file: refused before reading \[file-refused\]$/);
    expectOneLine(b, 1, /tokenizer\.json in .* is 128\.0 MiB, over the 128 MiB limit for a tokenizer\.json: refused before reading \[file-refused\]$/);
    expectOneLine(c, 1, /model\.onnx in .* is 2\.0 GiB, over the 2 GiB limit for an \.onnx file .*: refused before reading \[file-refused\]$/);
    for (const r of [a, b, c]) expect(r.peakKiB).toBeLessThan(BOUNDED_KIB);
  }, 120_000);

  it('external data is read up to the bytes the graph declares: a 900 MiB tail after them is never read', async () => {
    const d = fresh();
    const model = copyModel(d, TINY_QWEN2);
    const data = join(model, 'onnx', 'model.onnx_data');
    const declared = statSync(data).size;
    // Under the size past which data is read tensor by tensor (1 GiB): the file would be read whole.
    truncateSync(data, declared + 900 * 1024 ** 2);
    // A qwen2 adapter for the merged export, which reads every weight.
    const adapter = join(d, 'adapter');
    mkdirSync(adapter);
    const loaded = await loadModel(nodeDirSource(TINY_QWEN2));
    for (const [k, v] of Object.entries(peftFiles(loaded, randomAdapter(loaded)))) writeFileSync(join(adapter, k), v);
    const r = await runCli(['export', '--model', model, '--adapter', adapter, '--merged', join(d, 'merged.onnx')], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.peakKiB).toBeLessThan(BOUNDED_KIB);
    expect(statSync(join(d, 'merged.onnx.data')).size).toBeLessThan(2 * declared);
  }, 180_000);
});

describe('adapters are read within bounds', () => {
  it('an adapter whose weights link out of its folder, or /dev/zero as the adapter zip: refused, one line', async () => {
    const d = fresh();
    const adapter = join(d, 'adapter');
    cpSync(ADAPTER, adapter, { recursive: true });
    renameSync(join(adapter, 'adapter_model.safetensors'), join(d, 'weights.safetensors'));
    symlinkSync(join(d, 'weights.safetensors'), join(adapter, 'adapter_model.safetensors'));
    const [out, zero] = await Promise.all([
      runCli(['export', '--model', TINY_LLAMA, '--adapter', adapter, '--gguf', join(d, 'a.gguf')]),
      runCli(['export', '--model', TINY_LLAMA, '--adapter', '/dev/zero', '--gguf', join(d, 'b.gguf')], { timeoutMs: 60_000 }),
    ]);
    expectOneLine(out, 1, /^prefstudio export: adapter_model\.safetensors in .*adapter resolves to .*weights\.safetensors, outside the folder .*: refused$/);
    expectOneLine(zero, 1, /^prefstudio export: \/dev\/zero is a character device, not a regular file: refused$/);
    expect(zero.peakKiB).toBeLessThan(BOUNDED_KIB);
    expect(existsSync(join(d, 'a.gguf')) || existsSync(join(d, 'b.gguf'))).toBe(false);
  }, 60_000);
});
