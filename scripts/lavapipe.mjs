// Mesa's lavapipe, a software Vulkan driver that (unlike SwiftShader) offers `shader-f16`, so the
// native f16 kernel paths run in the tests too. Debian bookworm's Mesa 22.3 lavapipe lacks
// features Dawn requires, so this takes Mesa 25's driver library from bookworm-backports
// (a Debian package, fetched with apt-get download into .cache/lavapipe, never installed
// system-wide); its dependencies come from bookworm's own mesa-vulkan-drivers package.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, '.cache', 'lavapipe');
const icd = join(dir, 'icd.json');

/** The ICD file to point VK_ICD_FILENAMES at, or null when lavapipe has not been set up. */
export function lavapipeIcd() {
  return existsSync(icd) ? icd : null;
}

function debianCodename() {
  try {
    return /^VERSION_CODENAME=(\w+)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}

/**
 * Fetches and unpacks the driver. `apt` is the argv prefix that runs apt-get with the right
 * privileges (['apt-get'] as root, ['sudo', '-n', 'apt-get'] otherwise). Returns why not, or null.
 */
export function installLavapipe(apt) {
  if (lavapipeIcd()) return null;
  if (debianCodename() !== 'bookworm') return 'lavapipe setup is scripted for Debian bookworm only';
  const run = (argv, opts = {}) => spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'], ...opts }).status === 0;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // Dependencies of the driver library (LLVM, xcb, wayland) through bookworm's own package.
  if (!run([...apt, 'install', '-y', '-q', 'mesa-vulkan-drivers'], { env })) return 'apt-get install mesa-vulkan-drivers failed';
  // A private apt state so the backports source never touches the system's configuration.
  const state = join(dir, 'apt');
  rmSync(dir, { recursive: true, force: true });
  for (const d of ['lists/partial', 'cache/archives/partial', 'debs']) mkdirSync(join(state, d), { recursive: true });
  writeFileSync(join(state, 'sources.list'), 'deb http://deb.debian.org/debian bookworm-backports main\n');
  const opts = [
    `-o=Dir::Etc::SourceList=${join(state, 'sources.list')}`, '-o=Dir::Etc::SourceParts=/dev/null',
    `-o=Dir::State::Lists=${join(state, 'lists')}`, `-o=Dir::Cache=${join(state, 'cache')}`,
    '-o=APT::Sandbox::User=root',
  ];
  if (!run([...apt, ...opts, 'update'], { env })) return 'apt-get update of bookworm-backports failed';
  if (!run([...apt, ...opts, 'download', 'mesa-vulkan-drivers/bookworm-backports'], { env, cwd: join(state, 'debs') })) {
    return 'apt-get download mesa-vulkan-drivers/bookworm-backports failed';
  }
  const deb = readdirSync(join(state, 'debs')).find((f) => f.endsWith('.deb'));
  if (!deb || !run(['dpkg-deb', '-x', join(state, 'debs', deb), join(dir, 'root')])) return 'unpacking the lavapipe package failed';
  const lib = join(dir, 'root', 'usr', 'lib', 'x86_64-linux-gnu', 'libvulkan_lvp.so');
  if (!existsSync(lib)) return `the package has no ${lib}`;
  rmSync(state, { recursive: true, force: true });
  writeFileSync(icd, JSON.stringify({ file_format_version: '1.0.0', ICD: { library_path: lib, api_version: '1.4.0' } }, null, 2));
  return null;
}
