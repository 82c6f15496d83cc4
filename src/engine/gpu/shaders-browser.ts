// Browser and Worker: WGSL bundled by Vite as strings (kernels, and helper files in lib/).
import type { ShaderLibrary } from './shader-source.js';

const sources = import.meta.glob(['../../../shaders/*.wgsl', '../../../shaders/lib/*.wgsl'], {
  query: '?raw',
  import: 'default',
  eager: true,
}) as Record<string, string>;

// Keyed as the ShaderLibrary is asked: the path below shaders/ without `.wgsl`.
const byName = new Map<string, string>();
for (const [path, text] of Object.entries(sources)) {
  byName.set(path.slice(path.indexOf('/shaders/') + '/shaders/'.length, -'.wgsl'.length), text);
}

export const browserShaders: ShaderLibrary = (name) => {
  const text = byName.get(name);
  if (text === undefined) throw new Error(`no file shaders/${name}.wgsl`);
  return text;
};
