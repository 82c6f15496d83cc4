#!/usr/bin/env node
// Makes a fresh clone runnable: installs npm dependencies when they are missing or stale, and,
// with --test, the system packages the tests need (Debian's chromium for the browser tests and
// libvulkan1, the Vulkan loader Dawn needs to reach Chromium's SwiftShader in Node).
// Installs system packages only as root or with password-less sudo; otherwise says what to run.
import { execSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { installLavapipe, lavapipeIcd } from './lavapipe.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const wantTest = process.argv.includes('--test');

function say(msg) {
  process.stderr.write(`[prefstudio setup] ${msg}\n`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status})`);
}

const [major] = process.versions.node.split('.').map(Number);
if (major < 20) {
  say(`Node ${process.versions.node} is too old: PrefStudio needs Node 20 or newer.`);
  process.exit(1);
}

// npm dependencies: install when node_modules is missing or older than the lockfile.
const lock = join(root, 'package-lock.json');
const installed = join(root, 'node_modules', '.package-lock.json');
if (!existsSync(installed) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(installed).mtimeMs)) {
  say('installing npm dependencies (npm ci)...');
  run('npm', existsSync(lock) ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund']);
}

if (wantTest) {
  const missing = [];
  const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (!existsSync(chromium)) missing.push('chromium');
  if (!hasLibrary('libvulkan.so.1')) missing.push('libvulkan1');
  if (missing.length > 0) installSystemPackages(missing);
  // Optional: without it the tests pass but the native f16 kernel paths go untested.
  if (!lavapipeIcd() && process.arch === 'x64') {
    const apt = aptArgv();
    const why = apt ? installLavapipe(apt) : 'needs root or password-less sudo for apt-get';
    if (why) say(`native f16 kernels will not be tested (no adapter with shader-f16): ${why}.`);
  }
}

/** argv prefix that runs apt-get with the needed privileges, or null when there is none. */
function aptArgv() {
  if (!existsSync('/usr/bin/apt-get')) return null;
  if (process.getuid?.() === 0) return ['apt-get'];
  return spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0 ? ['sudo', '-n', 'apt-get'] : null;
}

function hasLibrary(name) {
  try {
    return execSync('/sbin/ldconfig -p', { encoding: 'utf8' }).includes(name);
  } catch {
    return ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib'].some((d) => existsSync(join(d, name)));
  }
}

function installSystemPackages(pkgs) {
  const apt = aptArgv();
  const command = `apt-get update && apt-get install -y ${pkgs.join(' ')}`;
  if (!apt) {
    say(`the tests need these Debian packages: ${pkgs.join(', ')}.`);
    say(existsSync('/usr/bin/apt-get') ? `run: sudo ${command}` : 'install Chromium and the Vulkan loader (libvulkan.so.1) with your system package manager, and set CHROMIUM_PATH if chromium is not at /usr/bin/chromium.');
    process.exit(1);
  }
  say(`installing ${pkgs.join(', ')} with apt-get...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run(apt[0], [...apt.slice(1), 'update'], { env });
  run(apt[0], [...apt.slice(1), 'install', '-y', ...pkgs], { env });
}
