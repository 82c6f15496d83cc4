// Browser and Worker: WGSL bundled by Vite as strings.
import type { ShaderLibrary } from './shader-source.js';

const sources = import.meta.glob('../../../shaders/*.wgsl', { query: '?raw', import: 'default', eager: true }) as Record<
  string,
  string
>;

const byName = new Map<string, string>();
for (const [path, text] of Object.entries(sources)) {
  byName.set(path.slice(path.lastIndexOf('/') + 1, -'.wgsl'.length), text);
}

export const browserShaders: ShaderLibrary = (name) => {
  const text = byName.get(name);
  if (text === undefined) throw new Error(`no shader named ${name} in shaders/`);
  return text;
};
