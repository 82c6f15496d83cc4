// Outputs through the real CLI on the real filesystem (issue 17, the file cases of "High" and
// "Medium"): an output that is an input, existing outputs, a kill mid-write, --strict with a bad
// row, bad --out paths. Each case runs `prefstudio` as a child process in a fresh temporary
// folder and checks the exit code, the one-line message and the bytes of every file that existed
// before (src/cli/output.ts).
import { cpSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TINY_LLAMA } from '../model/helpers.js';
import { changes, lines, runCli, snapshot } from '../support/cli.js';

const ADAPTER = new URL('../fixtures/export/tiny-llama-adapter', import.meta.url).pathname;
const PAIRS = new URL('../fixtures/training/pairs.jsonl', import.meta.url).pathname;

const root = mkdtempSync(join(tmpdir(), 'prefstudio-output-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
/** A fresh folder for one case. */
const fresh = () => {
  const d = join(root, `case-${n++}`);
  mkdirSync(d);
  return d;
};

const PAIR_LINES = ['{"prompt":"Q1","chosen":" yes","rejected":" no"}', '{"prompt":"Q2","chosen":" good","rejected":" bad"}'].join('\n') + '\n';
/** Temporary files an interrupted write could leave (ours, and the old `<out>.tmp-<pid>`). */
const temps = (dir: string) => readdirSync(dir).filter((f) => /\.tmp$|\.tmp-\d+$|\.old$/.test(f));

/** The CLI failed with exactly one line on stderr matching `re`, no stack. */
function expectOneLine(r: { stderr: string; code: number | null }, code: number, re: RegExp): void {
  const l = lines(r.stderr);
  expect(l, r.stderr).toHaveLength(1);
  expect(l[0]).toMatch(re);
  expect(r.stderr).not.toMatch(/\n\s+at |Unhandled 'error' event|node:internal/);
  expect(r.code, r.stderr).toBe(code);
}

describe('an output that is an input is refused before anything is read or written', () => {
  it('convert x.jsonl --out x.jsonl (and the same file by another spelling, a symbolic or a hard link): exit 2, the input unchanged', async () => {
    const d = fresh();
    const input = join(d, 'x.jsonl');
    writeFileSync(input, PAIR_LINES);
    symlinkSync(input, join(d, 'link.jsonl'));
    linkSync(input, join(d, 'hard.jsonl'));
    const before = snapshot(d);
    for (const out of [input, `${d}/./x.jsonl`, join(d, 'link.jsonl'), join(d, 'hard.jsonl')]) {
      const r = await runCli(['convert', input, '--to', 'trl', '--out', out, '--force']);
      expectOneLine(r, 2, /^prefstudio convert: --out .* is the input .*x\.jsonl: write the output somewhere else$/);
    }
    // Relative, from the folder itself.
    const r = await runCli(['convert', 'x.jsonl', '--to', 'trl', '--out', './x.jsonl'], { cwd: d });
    expectOneLine(r, 2, /is the input x\.jsonl/);
    expect(changes(before, snapshot(d))).toEqual({ removed: [], changed: [], added: [] });
  });

  it('logprobs --data y.jsonl --out y.jsonl, or --out inside --model: exit 2, data and model unchanged', async () => {
    const d = fresh();
    const data = join(d, 'y.jsonl');
    writeFileSync(data, PAIR_LINES);
    const model = join(d, 'model');
    cpSync(TINY_LLAMA, model, { recursive: true });
    const before = snapshot(d);
    const same = await runCli(['logprobs', '--model', model, '--data', data, '--out', data]);
    expectOneLine(same, 2, /^prefstudio logprobs: --out .*y\.jsonl is the input --data .*y\.jsonl: write the output somewhere else$/);
    const inside = await runCli(['logprobs', '--model', model, '--data', data, '--out', join(model, 'scores.jsonl')]);
    expectOneLine(inside, 2, /^prefstudio logprobs: --out .*scores\.jsonl is inside the input --model .*model: write the output somewhere else$/);
    const config = await runCli(['logprobs', '--model', model, '--data', data, '--out', join(model, 'config.json'), '--force']);
    expectOneLine(config, 2, /is inside the input --model/);
    expect(changes(before, snapshot(d))).toEqual({ removed: [], changed: [], added: [] });
  });

  it("export --merged into the model's own folder is refused, with --force too: the base model.onnx unchanged", async () => {
    const d = fresh();
    const model = join(d, 'model');
    cpSync(TINY_LLAMA, model, { recursive: true });
    const before = snapshot(d);
    for (const target of [model, join(model, 'model.onnx'), join(model, 'merged')]) {
      const r = await runCli(['export', '--model', model, '--adapter', ADAPTER, '--merged', target, '--force']);
      expectOneLine(r, 2, /^prefstudio export: --merged .* (is|is inside) the input --model .*model: write the output somewhere else$/);
    }
    // Nor into the adapter it reads.
    const adapter = join(d, 'adapter');
    cpSync(ADAPTER, adapter, { recursive: true });
    const withAdapter = snapshot(d);
    const r = await runCli(['export', '--model', model, '--adapter', adapter, '--peft', adapter, '--force']);
    expectOneLine(r, 2, /^prefstudio export: --peft .*adapter is the input --adapter/);
    expect(changes(withAdapter, snapshot(d))).toEqual({ removed: [], changed: [], added: [] });
    expect(changes(before, snapshot(d)).changed).toEqual([]);
  });
});

describe('existing outputs are kept unless --force', () => {
  it('convert: refused without --force (kept byte for byte), replaced with it', async () => {
    const d = fresh();
    const input = join(d, 'in.jsonl');
    writeFileSync(input, PAIR_LINES);
    const out = join(d, 'out.jsonl');
    writeFileSync(out, 'an earlier output\n');
    const before = snapshot(d);
    const r = await runCli(['convert', input, '--to', 'trl', '--out', out]);
    expectOneLine(r, 2, /^prefstudio convert: --out .*out\.jsonl exists; pass --force to replace it$/);
    expect(r.stdout).toBe('');
    expect(changes(before, snapshot(d))).toEqual({ removed: [], changed: [], added: [] });
    const forced = await runCli(['convert', input, '--to', 'trl', '--out', out, '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(PAIR_LINES);
    expect(temps(d)).toEqual([]);
  });

  it('export --gguf over a file and --trl over a folder: refused without --force, each kept', async () => {
    const d = fresh();
    writeFileSync(join(d, 'a.gguf'), 'old gguf');
    mkdirSync(join(d, 'trl'));
    writeFileSync(join(d, 'trl', 'recipe.json'), '{"old": true}');
    const before = snapshot(d);
    const gguf = await runCli(['export', '--model', TINY_LLAMA, '--adapter', ADAPTER, '--gguf', join(d, 'a.gguf')]);
    expectOneLine(gguf, 2, /^prefstudio export: --gguf .*a\.gguf exists; pass --force to replace it$/);
    const trl = await runCli(['export', '--model', TINY_LLAMA, '--adapter', ADAPTER, '--trl', join(d, 'trl'), '--data', PAIRS, '--method', 'dpo', '--base-model', 'my-org/tiny-llama']);
    expectOneLine(trl, 2, /^prefstudio export: --trl .*trl exists; pass --force to replace it$/);
    // Two outputs on one path.
    const both = await runCli(['export', '--model', TINY_LLAMA, '--adapter', ADAPTER, '--gguf', join(d, 'b.out'), '--peft', join(d, 'b.out')]);
    expectOneLine(both, 2, /are the same path/);
    expect(changes(before, snapshot(d))).toEqual({ removed: [], changed: [], added: [] });
    // With --force the folder is replaced whole: no old file is left in it.
    const forced = await runCli(['export', '--model', TINY_LLAMA, '--adapter', ADAPTER, '--trl', join(d, 'trl'), '--data', PAIRS, '--method', 'dpo', '--base-model', 'my-org/tiny-llama', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(d, 'trl', 'recipe.json'), 'utf8')).trainer).toBeDefined();
    expect(temps(d)).toEqual([]);
  }, 60_000);

  it('train into a non-empty --out is refused without --resume or --force, the old run kept', async () => {
    const d = fresh();
    const run = join(d, 'run');
    mkdirSync(run);
    writeFileSync(join(run, 'adapter_model.safetensors'), 'old adapter');
    writeFileSync(join(run, 'metrics.jsonl'), '{"step":1}\n');
    const before = snapshot(d);
    const r = await runCli(['train', '--model', TINY_LLAMA, '--data', PAIRS, '--method', 'dpo', '--out', run]);
    expectOneLine(r, 2, /^prefstudio train: --out .*run exists; pass --resume .*checkpoint\.safetensors to continue the run there, or --force to replace it$/);
    // Inside the model folder, or onto the data file: refused whatever the flags.
    const inside = await runCli(['train', '--model', TINY_LLAMA, '--data', PAIRS, '--method', 'dpo', '--out', join(TINY_LLAMA, 'run'), '--force']);
    expectOneLine(inside, 2, /is inside the input --model/);
    expect(changes(before, snapshot(d))).toEqual({ removed: [], changed: [], added: [] });
  });
});

describe('a train run folder', () => {
  it('--force replaces an earlier run (its run files, not other files); --resume continues in the run folder itself', async () => {
    const d = fresh();
    const run = join(d, 'run');
    mkdirSync(run);
    writeFileSync(join(run, 'adapter_model.safetensors'), 'old adapter');
    writeFileSync(join(run, 'checkpoint.safetensors'), 'old checkpoint');
    writeFileSync(join(run, 'notes.txt'), 'kept');
    const r = await runCli(['train', '--model', TINY_LLAMA, '--data', PAIRS, '--method', 'dpo', '--steps', '1', '--batch-size', '2', '--out', run, '--force'], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(run).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'checkpoint.safetensors', 'metrics.jsonl', 'notes.txt', 'training_config.json']);
    expect(readFileSync(join(run, 'notes.txt'), 'utf8')).toBe('kept');
    expect(readFileSync(join(run, 'adapter_model.safetensors')).byteLength).toBeGreaterThan(100);
    expect(readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(1);
    expect(temps(run)).toEqual([]);
    // The run's own checkpoint continues it in place, without --force.
    const resumed = await runCli(['train', '--model', TINY_LLAMA, '--data', PAIRS, '--resume', join(run, 'checkpoint.safetensors'), '--out', run], { timeoutMs: 120_000 });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/done, 1 steps/);
    // Another run's checkpoint into a non-empty folder is refused like any other run.
    const other = join(d, 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'x'), 'x');
    const refused = await runCli(['train', '--model', TINY_LLAMA, '--data', PAIRS, '--resume', join(run, 'checkpoint.safetensors'), '--out', other]);
    expectOneLine(refused, 2, /^prefstudio train: --out .*other exists; pass --resume/);
  }, 240_000);
});

describe('bad output paths are one line, exit 2', () => {
  it('a folder where a file is wanted, a missing folder, a file where a folder is wanted', async () => {
    const d = fresh();
    const input = join(d, 'in.jsonl');
    writeFileSync(input, PAIR_LINES);
    mkdirSync(join(d, 'dir'));
    writeFileSync(join(d, 'file'), 'x');
    const before = snapshot(d);
    const cases: [string[], RegExp][] = [
      [['convert', input, '--to', 'trl', '--out', join(d, 'dir')], /^prefstudio convert: --out .*dir is a folder: give a file name$/],
      [['convert', input, '--to', 'trl', '--out', join(d, 'missing', 'x.jsonl')], /^prefstudio convert: --out .*x\.jsonl: the folder .*missing does not exist$/],
      [['convert', input, '--to', 'trl', '--out', join(d, 'file', 'x.jsonl')], /^prefstudio convert: --out .*x\.jsonl: .*file is not a folder$/],
      [['logprobs', '--model', TINY_LLAMA, '--data', input, '--out', join(d, 'dir')], /^prefstudio logprobs: --out .*dir is a folder: give a file name$/],
      [['logprobs', '--model', TINY_LLAMA, '--data', input, '--out', join(d, 'missing', 'x.jsonl')], /^prefstudio logprobs: --out .*: the folder .*missing does not exist$/],
      [['export', '--model', TINY_LLAMA, '--adapter', ADAPTER, '--gguf', join(d, 'missing', 'a.gguf')], /^prefstudio export: --gguf .*a\.gguf: the folder .*missing does not exist$/],
      [['export', '--model', TINY_LLAMA, '--adapter', ADAPTER, '--trl', join(d, 'file'), '--data', PAIRS, '--method', 'dpo', '--base-model', 'my-org/x', '--force'], /^prefstudio export: --trl .*file is a file, not a folder$/],
      [['eval', '--model', TINY_LLAMA, '--adapter', ADAPTER, '--data', PAIRS, '--method', 'dpo', '--out', join(d, 'dir')], /^prefstudio eval: --out .*dir is a folder: give a file name$/],
      [['train', '--model', TINY_LLAMA, '--data', PAIRS, '--method', 'dpo', '--out', join(d, 'missing', 'run')], /^prefstudio train: --out .*run: the folder .*missing does not exist$/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    results.forEach((r, i) => expectOneLine(r, 2, cases[i]![1]));
    expect(changes(before, snapshot(d))).toEqual({ removed: [], changed: [], added: [] });
  }, 120_000);
});

describe('failures and kills leave earlier output untouched and no temporary file', () => {
  it('--strict with a bad row: exit 1, an --out that existed before kept byte for byte', async () => {
    const d = fresh();
    const input = join(d, 'in.jsonl');
    writeFileSync(input, PAIR_LINES + '{"prompt":"Q3","chosen":" only chosen"}\n');
    const out = join(d, 'out.jsonl');
    writeFileSync(out, 'an earlier output\n');
    const before = snapshot(d);
    const r = await runCli(['convert', input, '--to', 'trl', '--out', out, '--strict', '--force']);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toContain('nothing written: bad rows and --strict');
    expect(changes(before, snapshot(d))).toEqual({ removed: [], changed: [], added: [] });
  });

  /** A JSON Lines file of `rows` pairs (about 130 bytes each). */
  function bigInput(file: string, rows: number): void {
    const parts: string[] = [];
    for (let i = 0; i < rows; i++) parts.push(JSON.stringify({ prompt: `Question ${i} about something?`, chosen: ` A helpful answer number ${i}.`, rejected: ` A bad one ${i}` }));
    writeFileSync(file, parts.join('\n') + '\n');
  }

  /** Runs convert and kills it with `signal` once its temporary output holds a megabyte. */
  async function killMidWrite(d: string, out: string, signal: NodeJS.Signals, extra: string[] = []) {
    let sent = false;
    let tempSeen = 0;
    const r = await runCli(['convert', join(d, 'big.jsonl'), '--to', 'trl', '--out', out, ...extra], {
      timeoutMs: 120_000,
      onPoll: (child) => {
        if (sent) return;
        for (const t of temps(d)) {
          const size = statSync(join(d, t), { throwIfNoEntry: false })?.size ?? 0;
          tempSeen = Math.max(tempSeen, size);
          if (size >= 1 << 20) {
            sent = true;
            child.kill(signal);
          }
        }
      },
    });
    return { r, sent, tempSeen };
  }

  /** Temporary files are gone (the watcher removes a killed process's within moments). */
  async function expectNoTemps(d: string): Promise<void> {
    for (let i = 0; i < 100 && temps(d).length; i++) await new Promise((res) => setTimeout(res, 50));
    expect(temps(d)).toEqual([]);
  }

  it('SIGKILL mid-write: no output (or the old file) and no temporary file left; memory bounded', async () => {
    const d = fresh();
    bigInput(join(d, 'big.jsonl'), 150_000);
    const fresh1 = await killMidWrite(d, join(d, 'out.jsonl'), 'SIGKILL');
    expect(fresh1.sent, `the temporary file reached ${fresh1.tempSeen} bytes`).toBe(true);
    expect(fresh1.r.signal).toBe('SIGKILL');
    expect(existsSync(join(d, 'out.jsonl'))).toBe(false);
    await expectNoTemps(d);
    expect(fresh1.r.peakKiB).toBeGreaterThan(0);
    expect(fresh1.r.peakKiB).toBeLessThan(768 * 1024);

    // Over an earlier output (--force): the old bytes stay until the new file is complete.
    writeFileSync(join(d, 'old.jsonl'), 'the earlier output\n');
    const before = snapshot(d);
    const over = await killMidWrite(d, join(d, 'old.jsonl'), 'SIGKILL', ['--force']);
    expect(over.sent).toBe(true);
    await expectNoTemps(d);
    expect(changes(before, snapshot(d))).toEqual({ removed: [], changed: [], added: [] });
  }, 240_000);

  it('SIGTERM and SIGINT mid-write: the temporary file removed at once, the process ends by the signal', async () => {
    const d = fresh();
    bigInput(join(d, 'big.jsonl'), 150_000);
    writeFileSync(join(d, 'old.jsonl'), 'the earlier output\n');
    const before = snapshot(d);
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const k = await killMidWrite(d, join(d, 'old.jsonl'), signal, ['--force']);
      expect(k.sent).toBe(true);
      expect(k.r.signal, k.r.stderr).toBe(signal);
      expect(temps(d)).toEqual([]);
      expect(changes(before, snapshot(d))).toEqual({ removed: [], changed: [], added: [] });
    }
  }, 240_000);
});
