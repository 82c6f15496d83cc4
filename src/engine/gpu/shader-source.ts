// WGSL sources and their placeholder vocabulary. Kernels are whole `.wgsl` files in `shaders/`;
// the only text steps are `#include` lines (`expandIncludes`) and `{{NAME}}` (`specializeShader`),
// both here and nowhere else.

/**
 * Returns the WGSL text of `shaders/<name>.wgsl`: a kernel (`gelu_forward`) or a helper file
 * (`lib/gelu_math`). Throws `no file shaders/<name>.wgsl` when there is none.
 */
export type ShaderLibrary = (name: string) => string;

// WGSL has no include. A line `#include "lib/<file>.wgsl"` (alone on its line) is replaced by
// that file's text; the line is not WGSL, so a kernel read without this step fails to compile
// at the directive instead of at some missing helper.
const DIRECTIVE = /^[ \t]*#/;
const INCLUDE = /^\s*#include[ \t]+"(lib\/[a-z0-9_]+)\.wgsl"\s*(?:\/\/.*)?$/;
// Helper files hold functions, constants, workgroup scratch and structs, so the bindings that
// `parseShaderInterface` reads are the kernel's own. A helper may declare the uniform struct
// (`struct Params`) that a forward/backward pair shares, so that it is written once; the
// `var<uniform> params: Params` binding itself stays in each kernel.
const NOT_IN_LIBRARY = /@group\s*\(|@binding\s*\(|@compute|var\s*<\s*(?:storage|uniform)/;

/**
 * The text of kernel `name` with its `#include` lines replaced by the files they name. Includes
 * may nest; each file is included once per kernel (a repeat expands to nothing) and a cycle is
 * an error that lists it.
 */
export function expandIncludes(name: string, library: ShaderLibrary): string {
  const included = new Set<string>();
  const expand = (file: string, text: string, chain: readonly string[]): string =>
    text
      .split('\n')
      .map((line, index) => {
        if (!DIRECTIVE.test(line)) return line;
        const where = `shader ${name}: ${file}.wgsl line ${index + 1}`;
        const m = INCLUDE.exec(line.trimEnd());
        if (!m) throw new Error(`${where}: "${line.trim()}" is not of the form #include "lib/<file>.wgsl"`);
        const lib = m[1]!;
        if (chain.includes(lib)) throw new Error(`${where}: include cycle ${[...chain, lib].map((f) => `${f}.wgsl`).join(' -> ')}`);
        if (included.has(lib)) return '';
        let source: string;
        try {
          source = library(lib);
        } catch (e) {
          throw new Error(`${where} includes ${lib}.wgsl: ${e instanceof Error ? e.message : String(e)}`);
        }
        const bad = source.split('\n').findIndex((l) => NOT_IN_LIBRARY.test(l.replace(/\/\/.*$/, '')));
        if (bad >= 0) {
          throw new Error(`${where}: ${lib}.wgsl line ${bad + 1} declares a binding or an entry point; helper files hold functions, constants and structs only`);
        }
        included.add(lib);
        return expand(lib, source, [...chain, lib]).replace(/\n$/, '');
      })
      .join('\n');
  return expand(name, library(name), [name]);
}

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
