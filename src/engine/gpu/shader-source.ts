// WGSL sources and their placeholder vocabulary. Kernels are whole `.wgsl` files in `shaders/`;
// the only text substitution is `{{NAME}}`, done in `specializeShader` and nowhere else.

/** Returns the WGSL text of `shaders/<name>.wgsl`. */
export type ShaderLibrary = (name: string) => string;

export type ShaderConstants = Readonly<Record<string, string | number | boolean>>;

const PLACEHOLDER = /\{\{([A-Z0-9_]+)\}\}/g;

export function specializeShader(name: string, source: string, constants: ShaderConstants = {}): string {
  const missing = new Set<string>();
  const text = source.replace(PLACEHOLDER, (_, key: string) => {
    if (!(key in constants)) {
      missing.add(key);
      return '';
    }
    const value = constants[key]!;
    return typeof value === 'boolean' ? (value ? 'true' : 'false') : String(value);
  });
  if (missing.size > 0) {
    throw new Error(`shader ${name}: no value given for placeholder(s) ${[...missing].map((m) => `{{${m}}}`).join(', ')}`);
  }
  return text;
}

/** Cache key that encodes every substituted value, e.g. `matmul_forward:main{TILE=4}`. */
export function pipelineKey(name: string, entryPoint: string, constants: ShaderConstants = {}): string {
  const parts = Object.keys(constants)
    .sort()
    .map((k) => `${k}=${String(constants[k])}`);
  return `${name}:${entryPoint}{${parts.join(',')}}`;
}

export interface ParamField {
  name: string;
  type: 'u32' | 'i32' | 'f32';
}

export interface ShaderInterface {
  /** Storage bindings of group 0 by variable name. */
  storage: Map<string, { binding: number; readOnly: boolean }>;
  /** The `var<uniform> params: Params` binding, if any, and the layout of `struct Params`. */
  params?: { binding: number; fields: ParamField[] };
}

const STORAGE_DECL = /@group\(0\)\s*@binding\((\d+)\)\s*var<storage\s*(?:,\s*(read_write|read))?\s*>\s*(\w+)\s*:/g;
const UNIFORM_DECL = /@group\(0\)\s*@binding\((\d+)\)\s*var<uniform>\s*(\w+)\s*:\s*(\w+)/;

/**
 * Reads the binding interface from the WGSL text so that the host binds resources by the
 * names the kernel declares, and packs uniforms by the fields of its `Params` struct.
 * Params may only hold 4-byte scalars (u32, i32, f32).
 */
export function parseShaderInterface(name: string, wgsl: string): ShaderInterface {
  const storage = new Map<string, { binding: number; readOnly: boolean }>();
  for (const m of wgsl.matchAll(STORAGE_DECL)) {
    storage.set(m[3]!, { binding: Number(m[1]), readOnly: m[2] !== 'read_write' });
  }
  const u = UNIFORM_DECL.exec(wgsl);
  if (!u) return { storage };
  const structName = u[3]!;
  const body = new RegExp(`struct\\s+${structName}\\s*\\{([^}]*)\\}`).exec(wgsl);
  if (!body) throw new Error(`shader ${name}: uniform struct ${structName} not found`);
  const fields: ParamField[] = [];
  // Comments first: a comma inside one must not split a field.
  for (const raw of body[1]!.replace(/\/\/.*$/gm, '').split(',')) {
    const line = raw.trim();
    if (!line) continue;
    const f = /^(\w+)\s*:\s*(\w+)$/.exec(line);
    if (!f || !['u32', 'i32', 'f32'].includes(f[2]!)) {
      throw new Error(`shader ${name}: Params field "${line}" must be a u32, i32 or f32 scalar`);
    }
    fields.push({ name: f[1]!, type: f[2] as ParamField['type'] });
  }
  return { storage, params: { binding: Number(u[1]), fields } };
}
