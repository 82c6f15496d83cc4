// Node: WGSL read from the repository's shaders/ folder (kernels, and helper files in lib/).
import { readFileSync } from 'node:fs';
import type { ShaderLibrary } from './shader-source.js';

const SHADER_DIR = new URL('../../../shaders/', import.meta.url);
const cache = new Map<string, string>();

export const nodeShaders: ShaderLibrary = (name) => {
  let text = cache.get(name);
  if (text === undefined) {
    try {
      text = readFileSync(new URL(`${name}.wgsl`, SHADER_DIR), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`no file shaders/${name}.wgsl`);
      throw e;
    }
    cache.set(name, text);
  }
  return text;
};
