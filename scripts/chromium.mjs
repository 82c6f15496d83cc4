// Where Debian's Chromium lives and the flags it needs for WebGPU on a machine without a GPU
// and without a network (see ../shared/docs/webgpu-on-this-machine.md).
import { existsSync } from 'node:fs';

export function chromiumPath() {
  for (const p of [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser']) {
    if (p && existsSync(p)) return p;
  }
  return '/usr/bin/chromium';
}

export function chromiumArgs() {
  return [
    '--enable-unsafe-webgpu',
    '--no-sandbox',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-quic',
    '--no-first-run',
  ];
}
