// Shader library: the .wgsl files (bundled by scripts/build-wgsl.mjs), composed into kernels.
// A kernel is one file with an entry point `main`, preceded by the parts it needs (files
// without an entry point: gemm.wgsl's op parts, hash.wgsl). Specialisation is by name:
// `const NAME = ...;` lines are replaced (tile sizes), and `var<storage, read> NAME` becomes
// read_write where the same buffer is also written in one dispatch (WebGPU forbids mixing a
// read-only and a writable binding of one buffer in a dispatch). The parameters struct
// `Params` and the bindings are read from the final source, so the WGSL is the one place
// where a kernel's interface is written down.
import { GpuError } from './errors.js';
import { WGSL } from './wgsl/shaders.generated.js';

export interface KernelSpec {
  /** Files, in order; the last one holds the entry point. */
  files: readonly string[];
  /** Replacements for `const NAME = ...;` declarations. */
  consts?: Readonly<Record<string, string>>;
  /** Storage bindings declared `read` that must be bound `read_write`. */
  readWrite?: readonly string[];
}

export interface ParamField {
  name: string;
  type: 'u32' | 'i32' | 'f32';
}

export interface BindingDecl {
  binding: number;
  name: string;
  kind: 'uniform' | 'read' | 'read_write';
}

export interface ComposedShader {
  source: string;
  fields: ParamField[];
  /** Bytes of Params, rounded up to 16. */
  uniformBytes: number;
  bindings: BindingDecl[];
  /** Where each file starts in `source` (1-based line), for error messages. */
  segments: { file: string; firstLine: number; lines: number }[];
}

function wgsl(file: string): string {
  const s = WGSL[file];
  if (s === undefined) throw new GpuError(`WGSL file ${file}.wgsl is not in the bundle (run scripts/build-wgsl.mjs)`);
  return s;
}

export function composeShader(spec: KernelSpec): ComposedShader {
  const segments: ComposedShader['segments'] = [];
  const pieces: string[] = [];
  let line = 1;
  for (const file of spec.files) {
    const text = wgsl(file).replace(/\n?$/, '\n');
    const lines = text.split('\n').length - 1;
    segments.push({ file: `${file}.wgsl`, firstLine: line, lines });
    pieces.push(text);
    line += lines;
  }
  let source = pieces.join('');
  for (const [name, value] of Object.entries(spec.consts ?? {})) {
    const re = new RegExp(`^const ${name} = [^;]*;`, 'gm');
    const hits = source.match(re)?.length ?? 0;
    if (hits !== 1) throw new GpuError(`${spec.files.join('+')}: expected one "const ${name} = ...;", found ${hits}`);
    source = source.replace(re, `const ${name} = ${value};`);
  }
  for (const name of spec.readWrite ?? []) {
    const re = new RegExp(`var<storage, read> ${name}:`);
    if (re.test(source)) source = source.replace(re, `var<storage, read_write> ${name}:`);
  }
  const struct = /struct Params\s*\{([^}]*)\}/.exec(source);
  const fields: ParamField[] = [];
  if (struct) {
    for (const m of struct[1].matchAll(/(\w+)\s*:\s*(\w+)/g)) {
      if (m[2] !== 'u32' && m[2] !== 'i32' && m[2] !== 'f32') {
        throw new GpuError(`${spec.files.join('+')}: Params.${m[1]} has type ${m[2]}; only u32, i32 and f32 scalars are packed`);
      }
      fields.push({ name: m[1], type: m[2] });
    }
  }
  const bindings: BindingDecl[] = [];
  for (const m of source.matchAll(/@group\(0\)\s*@binding\((\d+)\)\s*var<(uniform|storage,\s*(read|read_write))>\s*(\w+)\s*:/g)) {
    bindings.push({ binding: Number(m[1]), name: m[4], kind: m[2] === 'uniform' ? 'uniform' : (m[3] as 'read' | 'read_write') });
  }
  return { source, fields, uniformBytes: Math.max(16, Math.ceil((fields.length * 4) / 16) * 16), bindings, segments };
}

/** Writes `values` into `view` at `offset` in the order of `fields`; every field must be given. */
export function packParams(what: string, fields: readonly ParamField[], values: Readonly<Record<string, number>>, view: DataView, offset: number): void {
  let at = offset;
  for (const f of fields) {
    const v = values[f.name];
    if (v === undefined || !Number.isFinite(v)) throw new GpuError(`${what}: parameter ${f.name} is ${v}`);
    if (f.type === 'f32') view.setFloat32(at, v, true);
    else if (f.type === 'u32') {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new GpuError(`${what}: parameter ${f.name} = ${v} is not a u32`);
      view.setUint32(at, v, true);
    } else {
      if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new GpuError(`${what}: parameter ${f.name} = ${v} is not an i32`);
      view.setInt32(at, v, true);
    }
    at += 4;
  }
  if (Object.keys(values).length !== fields.length) {
    const extra = Object.keys(values).filter((k) => !fields.some((f) => f.name === k));
    if (extra.length) throw new GpuError(`${what}: unknown parameters ${extra.join(', ')}`);
  }
}

/** Compilation messages as "file.wgsl:line:column: error: message" (file lines, not the composed source's). */
export function formatCompilationMessages(op: string, shader: ComposedShader, messages: readonly GPUCompilationMessage[]): string {
  const lines = messages.map((m) => {
    const seg = shader.segments.find((s) => m.lineNum >= s.firstLine && m.lineNum < s.firstLine + s.lines);
    const where = seg ? `${seg.file}:${m.lineNum - seg.firstLine + 1}:${m.linePos}` : `${m.lineNum}:${m.linePos}`;
    const text = shader.source.split('\n')[m.lineNum - 1];
    return `${where}: ${m.type}: ${m.message}${text !== undefined ? `\n    ${text.trim()}` : ''}`;
  });
  return `${op}: WGSL does not compile:\n${lines.join('\n')}`;
}
