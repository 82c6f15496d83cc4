// Node: WGSL read from the repository's shaders/ folder.
import { readFileSync } from 'node:fs';
import type { ShaderLibrary } from './shader-source.js';

const SHADER_DIR = new URL('../../../shaders/', import.meta.url);
const cache = new Map<string, string>();

export const nodeShaders: ShaderLibrary = (name) => {
  let text = cache.get(name);
  if (text === undefined) {
    text = readFileSync(new URL(`${name}.wgsl`, SHADER_DIR), 'utf8');
    cache.set(name, text);
  }
  return text;
};
