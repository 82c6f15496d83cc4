// The real CLI as a child process (bin/prefstudio.mjs, as a user runs it), with its peak memory
// measured from /proc/<pid>/status (VmHWM, polled while it runs), and snapshots of a folder's
// files so a test can say that every file that existed before is byte for byte the same after.
import { spawn, type ChildProcess } from 'node:child_process';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export const BIN = new URL('../../bin/prefstudio.mjs', import.meta.url).pathname;

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The child's peak resident memory (VmHWM), KiB; 0 when /proc could not be read. */
  peakKiB: number;
  ms: number;
}

function vmHwm(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export interface RunOptions {
  cwd?: string;
  /** Killed with SIGKILL past this (a hang is a failure, not a stuck test). */
  timeoutMs?: number;
  /** Called every poll with the child; e.g. to kill it once it has started writing. */
  onPoll?: (child: ChildProcess) => void;
  pollMs?: number;
  /** Variables added to the environment (limits such as PREFSTUDIO_MAX_INFLATE_RATIO). */
  env?: Record<string, string>;
}

/** Runs `prefstudio <args>` to the end. */
export function runCli(args: string[], options: RunOptions = {}): Promise<CliResult> {
  const started = performance.now();
  const env = options.env ? { ...process.env, ...options.env } : undefined;
  const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += String(d)));
  child.stderr!.on('data', (d) => (stderr += String(d)));
  let peak = 0;
  const poll = setInterval(() => {
    peak = Math.max(peak, vmHwm(child.pid!));
    options.onPoll?.(child);
  }, options.pollMs ?? 20);
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', () => {
      // The exit status is known; /proc still holds the zombie's status until it is reaped.
      peak = Math.max(peak, vmHwm(child.pid!));
    });
    child.on('close', (code, signal) => {
      clearInterval(poll);
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, peakKiB: peak, ms: performance.now() - started });
    });
  });
}

/** Every entry under `dir` (files as bytes, links as their target, folders as null), by relative path. */
export function snapshot(dir: string): Map<string, Buffer | string | null> {
  const out = new Map<string, Buffer | string | null>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel))) {
      const p = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(dir, p));
      if (st.isSymbolicLink()) out.set(p, `-> ${readlinkSync(join(dir, p))}`);
      else if (st.isDirectory()) {
        out.set(p, null);
        walk(p);
      } else if (st.isFile()) out.set(p, readFileSync(join(dir, p)));
      else out.set(p, `special ${st.mode}`);
    }
  };
  walk('');
  return out;
}

/** What changed between two snapshots: paths removed, changed and added. */
export function changes(before: Map<string, Buffer | string | null>, after: Map<string, Buffer | string | null>): { removed: string[]; changed: string[]; added: string[] } {
  const same = (a: Buffer | string | null, b: Buffer | string | null) => (Buffer.isBuffer(a) && Buffer.isBuffer(b) ? a.equals(b) : a === b);
  return {
    removed: [...before.keys()].filter((k) => !after.has(k)),
    changed: [...before.keys()].filter((k) => after.has(k) && !same(before.get(k)!, after.get(k)!)),
    added: [...after.keys()].filter((k) => !before.has(k)),
  };
}

/** The message lines of stderr (blank lines dropped). */
export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}
