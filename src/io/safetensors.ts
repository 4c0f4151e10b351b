// The safetensors weight format: an 8-byte little-endian header length N, N bytes of UTF-8
// JSON describing each tensor, then one byte buffer that the JSON's offsets point into.
// Weight files come from outside, so the reader checks every field against the file's real
// size before it allocates anything: a hostile or truncated file gives a FormatError that
// names the file and the field, never a RangeError or an out-of-memory crash.
import { AlexNetError, FormatError, ShapeError } from '../core/errors.js';
import { product, shapeString } from '../core/geometry.js';
import { checkJsonDepth } from '../core/json.js';

export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Bytes per element of each dtype we can widen to float32. A Map, so "toString" is no dtype. */
const DTYPE_SIZES = new Map([
  ['F32', 4],
  ['F64', 8],
  ['F16', 2],
  ['BF16', 2],
]);

/**
 * A larger header is certainly not a weight file of these nets (theirs are under 2 KB; one entry
 * per tensor): refused before decoding, as is one nested deeper than JSON_DEPTH, so that a 40 MB
 * header of brackets costs milliseconds, not 40 s and 2 GB of parsing.
 */
const MAX_HEADER_BYTES = 16 * 2 ** 20;
const JSON_DEPTH = 8;

const METADATA_KEY = '__metadata__';

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A header entry whose fields have all been checked. */
interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A found value for an error message, cut short so a hostile header can neither flood it nor,
 * nested 200,000 arrays deep, overflow the stack (JSON.stringify would recurse that deep).
 */
function describe(v: unknown): string {
  if (v === undefined) return 'nothing (field missing)';
  const text = brief(v, 3);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** JSON-like text of `v`, at most `depth` levels and 4 items per level deep. */
function brief(v: unknown, depth: number): string {
  if (Array.isArray(v)) {
    if (depth === 0) return '[...]';
    return `[${v.slice(0, 4).map((x) => brief(x, depth - 1)).join(',')}${v.length > 4 ? ',...' : ''}]`;
  }
  if (typeof v === 'object' && v !== null) {
    if (depth === 0) return '{...}';
    const entries = Object.entries(v);
    const shown = entries.slice(0, 4).map(([k, x]) => `${JSON.stringify(k)}:${brief(x, depth - 1)}`);
    return `{${shown.join(',')}${entries.length > 4 ? ',...' : ''}}`;
  }
  return JSON.stringify(v) ?? String(v);
}

function checkMetadata(value: unknown, file: string): Record<string, string> {
  if (!isPlainObject(value)) {
    throw new FormatError(file, `"${METADATA_KEY}" must be an object of strings, found ${describe(value)}`);
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw new FormatError(file, `"${METADATA_KEY}" entry "${key}" must be a string, found ${describe(v)}`);
    }
  }
  return value as Record<string, string>;
}

/** Checks one tensor entry's types, shape, offsets and size against the data section. */
function checkEntry(name: string, value: unknown, dataLength: number, file: string): Entry {
  function fail(fault: string): never {
    throw new FormatError(file, `tensor "${name}": ${fault}`);
  }
  if (!isPlainObject(value)) fail(`expected an object with dtype, shape and data_offsets, found ${describe(value)}`);
  const { dtype, shape, data_offsets: offsets } = value;

  if (typeof dtype !== 'string') fail(`dtype must be a string, found ${describe(dtype)}`);
  const size = DTYPE_SIZES.get(dtype);
  if (size === undefined) fail(`dtype ${describe(dtype)} is not supported (expected F32, F64, F16 or BF16)`);

  if (!Array.isArray(shape)) fail(`shape must be an array, found ${describe(shape)}`);
  shape.forEach((d: unknown, i: number) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      fail(`shape[${i}] must be a non-negative integer, found ${describe(d)}`);
    }
  });

  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o))) {
    fail(`data_offsets must be two integers [begin, end], found ${describe(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  const where = `data_offsets [${begin}, ${end}]`;
  if (begin < 0 || end < begin) fail(`${where} must satisfy 0 <= begin <= end`);
  if (end > dataLength) fail(`${where} end beyond the ${dataLength}-byte data section (file truncated?)`);

  // Multiply dimension by dimension, stopping as soon as the size exceeds the whole data
  // section, so a shape like [2^40, 2^40] can neither overflow nor be believed.
  const shapeNums = shape as number[];
  let bytes = shapeNums.includes(0) ? 0 : size;
  for (const d of shapeNums) {
    bytes *= d;
    if (bytes > dataLength) {
      fail(`shape ${shapeString(shapeNums)} of ${dtype} needs more than the ${dataLength}-byte data section`);
    }
  }
  if (end - begin !== bytes) {
    fail(`${where} span ${end - begin} bytes, but shape ${shapeString(shapeNums)} of ${dtype} needs ${bytes}`);
  }
  return { name, dtype, shape: shapeNums, begin, end };
}

/** Rejects two tensors that claim the same bytes. Empty tensors own no bytes. */
function checkNoOverlap(entries: Entry[], file: string): void {
  const sorted = entries.filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (cur.begin < prev.end) {
      const here = `data_offsets [${cur.begin}, ${cur.end}]`;
      const there = `[${prev.begin}, ${prev.end}]`;
      throw new FormatError(file, `tensor "${cur.name}": ${here} overlap tensor "${prev.name}" at ${there}`);
    }
  }
}

/** IEEE 754 half precision to number, including subnormals, infinities and NaN. */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Widens the bytes [begin, end) of `bytes` (already checked) to float32. */
function decode(bytes: Uint8Array, dtype: string, begin: number, end: number): Float32Array {
  const size = DTYPE_SIZES.get(dtype) as number;
  const n = (end - begin) / size;
  if (dtype === 'F32' && LITTLE_ENDIAN_HOST) {
    // Copying into a fresh buffer makes the data aligned whatever its offset in the file.
    return new Float32Array(new Uint8Array(bytes.subarray(begin, end)).buffer);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + begin, end - begin);
  const out = new Float32Array(n);
  if (dtype === 'F32') {
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  } else if (dtype === 'F64') {
    for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
  } else if (dtype === 'F16') {
    for (let i = 0; i < n; i++) out[i] = halfToNumber(view.getUint16(2 * i, true));
  } else {
    // bfloat16 is the top half of a float32.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = view.getUint16(2 * i, true) << 16;
  }
  return out;
}

export function parseSafetensors(
  bytes: Uint8Array,
  file: string,
): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  if (bytes.length < 8) {
    throw new FormatError(file, `file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  }
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  const available = bytes.length - 8;
  if (headerLength > BigInt(available)) {
    throw new FormatError(
      file,
      `header length ${headerLength} exceeds the ${available} bytes after it (file truncated?)`,
    );
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    throw new FormatError(file, `header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const n = Number(headerLength);
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;

  let header: unknown;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart));
  } catch (err) {
    throw new FormatError(file, `header is not valid UTF-8 JSON (${(err as Error).message})`);
  }
  checkJsonDepth(text, file, JSON_DEPTH);
  try {
    header = JSON.parse(text);
  } catch (err) {
    throw new FormatError(file, `header is not valid UTF-8 JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(header)) {
    throw new FormatError(file, `header must be a JSON object, found ${describe(header)}`);
  }

  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) metadata = checkMetadata(value, file);
    else entries.push(checkEntry(name, value, dataLength, file));
  }
  checkNoOverlap(entries, file);

  const tensors = new Map<string, NamedTensor>();
  for (const e of entries) {
    const data = decode(bytes, e.dtype, dataStart + e.begin, dataStart + e.end);
    tensors.set(e.name, { name: e.name, shape: e.shape, data });
  }
  return { tensors, metadata };
}

/** Lays the tensors out as F32 in the given order, after a header padded to 8 bytes. */
export function encodeSafetensors(tensors: NamedTensor[], metadata?: Record<string, string>): Uint8Array {
  // No prototype, so a tensor named "__proto__" is stored like any other.
  const header: Record<string, unknown> = Object.create(null);
  if (metadata !== undefined) header[METADATA_KEY] = metadata;
  let offset = 0;
  for (const t of tensors) {
    if (t.name === METADATA_KEY || Object.hasOwn(header, t.name)) {
      throw new AlexNetError(`cannot encode tensor "${t.name}": name is reserved or repeated`);
    }
    if (t.data.length !== product(t.shape)) {
      const needs = `shape ${shapeString(t.shape)} needs ${product(t.shape)} values`;
      throw new ShapeError(`cannot encode tensor "${t.name}": ${needs}, found ${t.data.length}`);
    }
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }

  const json = new TextEncoder().encode(JSON.stringify(header));
  // Padding keeps the data section 8-byte aligned within the file, as the format recommends.
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);

  let at = 8 + headerLength;
  for (const t of tensors) {
    if (LITTLE_ENDIAN_HOST) {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    } else {
      t.data.forEach((v, i) => view.setFloat32(at + 4 * i, v, true));
    }
    at += t.data.byteLength;
  }
  return out;
}

/** The tensor `name`, which must exist and have exactly `shape`. */
export function expectTensor(
  tensors: Map<string, NamedTensor>,
  name: string,
  shape: readonly number[],
  file: string,
): NamedTensor {
  const t = tensors.get(name);
  if (t === undefined) throw new FormatError(file, `missing tensor "${name}"`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new FormatError(
      file,
      `tensor "${name}": expected shape ${shapeString(shape)}, found ${shapeString(t.shape)}`,
    );
  }
  return t;
}
