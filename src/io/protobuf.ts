// Protocol Buffers wire format, the small part that .caffemodel (caffe.proto) and .onnx
// (onnx.proto) need. Reading is lazy: a ProtoMessage keeps its bytes and each accessor scans
// them for its field number, so decoding allocates nothing per field; only the values asked
// for are materialised, and every length is checked against the bytes actually present
// before anything is sliced or allocated. Any malformed input is a FormatError naming the
// file and the field path (e.g. "layer[3].blobs[0].data").
import { concatBytes } from '../core/bytes.js';
import { FormatError } from '../core/errors.js';

/** Deeper nesting than this is refused (our schemas nest 5 levels at most). */
export const MAX_DEPTH = 64;

const VARINT = 0;
const FIXED64 = 1;
const BYTES = 2;
const FIXED32 = 5;

interface Field {
  number: number;
  wire: number;
  /** The varint's value (wire 0); a number when it is a safe integer, else a bigint. */
  value: number | bigint;
  /** Payload bytes [start, end) for wire types 1, 2 and 5. */
  start: number;
  end: number;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reads the varint at `pos` (at most 10 bytes, at most 64 bits); returns [value, next position]. */
function readVarint(bytes: Uint8Array, pos: number, end: number, fail: (fault: string) => never): [number | bigint, number] {
  let value = 0;
  // 7 bytes carry 49 bits: exact in a double. Beyond that, continue in BigInt.
  for (let i = 0; i < 7; i++) {
    if (pos >= end) fail('varint runs past the end of the message (truncated?)');
    const b = bytes[pos++];
    value += (b & 0x7f) * 2 ** (7 * i);
    if (b < 0x80) return [value, pos];
  }
  let big = BigInt(value);
  for (let i = 7; i < 10; i++) {
    if (pos >= end) fail('varint runs past the end of the message (truncated?)');
    const b = bytes[pos++];
    if (i === 9 && b > 1) fail('varint exceeds 64 bits');
    big += BigInt(b & 0x7f) << BigInt(7 * i);
    if (b < 0x80) return [big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big, pos];
  }
  return fail('varint longer than 10 bytes');
}

/** A varint read as a signed 64-bit integer (two's complement), if it is a safe integer. */
function signed(v: number | bigint): number | undefined {
  const s = typeof v === 'bigint' ? BigInt.asIntN(64, v) : v;
  if (typeof s === 'number') return s;
  return s >= BigInt(Number.MIN_SAFE_INTEGER) && s <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(s) : undefined;
}

export class ProtoMessage {
  private constructor(
    readonly bytes: Uint8Array,
    readonly file: string,
    readonly path: string,
    readonly depth: number,
  ) {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH} levels`);
    for (const _ of this.scan()); // check the framing once, so that no later scan fails midway
  }

  /** The top-level message in `bytes`; `path` names it in error messages. */
  static decode(bytes: Uint8Array, file: string, path: string): ProtoMessage {
    return new ProtoMessage(bytes, file, path, 0);
  }

  fail(fault: string, field?: string): never {
    throw new FormatError(this.file, `${field ? `${this.path}.${field}` : this.path}: ${fault}`);
  }

  /** Every field in order, framing checked. */
  private *scan(): Generator<Field> {
    const { bytes } = this;
    const end = bytes.length;
    let pos = 0;
    const fail = (fault: string): never => this.fail(`at byte ${pos}: ${fault}`);
    while (pos < end) {
      const [key, afterKey] = readVarint(bytes, pos, end, fail);
      if (typeof key === 'bigint' || key > 0xffffffff) fail(`field key ${key} out of range`);
      const number = Math.floor((key as number) / 8);
      const wire = (key as number) % 8;
      if (number === 0) fail('field number 0 is invalid');
      pos = afterKey;
      if (wire === VARINT) {
        const [value, next] = readVarint(bytes, pos, end, fail);
        yield { number, wire, value, start: pos, end: next };
        pos = next;
      } else if (wire === BYTES) {
        const [length, start] = readVarint(bytes, pos, end, fail);
        if (typeof length === 'bigint' || length > end - start) {
          fail(`field ${number}: length ${length} exceeds the ${end - start} bytes left (truncated?)`);
        }
        yield { number, wire, value: 0, start, end: start + (length as number) };
        pos = start + (length as number);
      } else if (wire === FIXED32 || wire === FIXED64) {
        const size = wire === FIXED32 ? 4 : 8;
        if (size > end - pos) fail(`field ${number}: ${size}-byte value runs past the end (truncated?)`);
        yield { number, wire, value: 0, start: pos, end: pos + size };
        pos += size;
      } else {
        fail(`field ${number}: wire type ${wire} is not supported (groups are deprecated; 6 and 7 are invalid)`);
      }
    }
  }

  private *fields(number: number): Generator<Field> {
    for (const f of this.scan()) if (f.number === number) yield f;
  }

  private last(number: number, wire: number, name: string): Field | undefined {
    let found: Field | undefined;
    for (const f of this.fields(number)) {
      if (f.wire !== wire) this.fail(`wire type ${f.wire}, expected ${wire}`, name);
      found = f;
    }
    return found;
  }

  has(number: number): boolean {
    return !this.fields(number).next().done;
  }

  /** Every occurrence of a repeated embedded message. */
  messages(number: number, name: string, max: number): ProtoMessage[] {
    const out: ProtoMessage[] = [];
    for (const f of this.fields(number)) {
      if (f.wire !== BYTES) this.fail(`wire type ${f.wire}, expected ${BYTES}`, name);
      if (out.length === max) this.fail(`more than ${max} entries`, name);
      out.push(new ProtoMessage(this.bytes.subarray(f.start, f.end), this.file, `${this.path}.${name}[${out.length}]`, this.depth + 1));
    }
    return out;
  }

  /**
   * A singular embedded message. Protobuf merges repeated occurrences; concatenating their
   * bytes is exactly that merge for the last-wins and append-repeated accessors below.
   */
  message(number: number, name: string): ProtoMessage | undefined {
    const parts: Uint8Array[] = [];
    for (const f of this.fields(number)) {
      if (f.wire !== BYTES) this.fail(`wire type ${f.wire}, expected ${BYTES}`, name);
      parts.push(this.bytes.subarray(f.start, f.end));
    }
    if (parts.length === 0) return undefined;
    const bytes = parts.length === 1 ? parts[0] : concatBytes(parts);
    return new ProtoMessage(bytes, this.file, `${this.path}.${name}`, this.depth + 1);
  }

  /** An unsigned varint that must be a safe integer. */
  uint(number: number, name: string, fallback: number): number {
    const f = this.last(number, VARINT, name);
    if (!f) return fallback;
    if (typeof f.value === 'bigint') this.fail(`value ${f.value} is too large`, name);
    return f.value as number;
  }

  /** A signed int32/int64 varint (two's complement in 64 bits); must be a safe integer. */
  int(number: number, name: string, fallback: number): number {
    const f = this.last(number, VARINT, name);
    if (!f) return fallback;
    return signed(f.value) ?? this.fail(`value ${f.value} is out of range`, name);
  }

  bool(number: number, name: string, fallback: boolean): boolean {
    const f = this.last(number, VARINT, name);
    return f ? f.value !== 0 : fallback;
  }

  float(number: number, name: string, fallback: number): number {
    const f = this.last(number, FIXED32, name);
    if (!f) return fallback;
    return new DataView(this.bytes.buffer, this.bytes.byteOffset + f.start, 4).getFloat32(0, true);
  }

  string(number: number, name: string, fallback: string): string {
    const f = this.last(number, BYTES, name);
    if (!f) return fallback;
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.bytes.subarray(f.start, f.end));
    } catch {
      return this.fail('not valid UTF-8', name);
    }
  }

  /**
   * A repeated integer field, packed or not (parsers must accept both), at most `max`
   * values: the counts here are dimensions and kernel sizes, so a long list is an error.
   */
  ints(number: number, name: string, max: number): number[] {
    const out: number[] = [];
    const push = (v: number | bigint) => {
      if (out.length === max) this.fail(`more than ${max} values`, name);
      out.push(signed(v) ?? this.fail(`value ${v} is out of range`, name));
    };
    const fail = (fault: string): never => this.fail(fault, name);
    for (const f of this.fields(number)) {
      if (f.wire === VARINT) push(f.value);
      else if (f.wire === BYTES) {
        for (let pos = f.start; pos < f.end; ) {
          const [v, next] = readVarint(this.bytes, pos, f.end, fail);
          push(v);
          pos = next;
        }
      } else this.fail(`wire type ${f.wire}, expected ${VARINT} or ${BYTES}`, name);
    }
    return out;
  }

  /**
   * A repeated float (or, with `width` 8, double) field, packed or not, widened or narrowed
   * to float32. The result never holds more bytes than the field occupies in the file.
   */
  floats(number: number, name: string, width: 4 | 8 = 4): Float32Array {
    const single = width === 4 ? FIXED32 : FIXED64;
    let count = 0;
    for (const f of this.fields(number)) {
      if (f.wire === BYTES) {
        if ((f.end - f.start) % width !== 0) this.fail(`packed length ${f.end - f.start} is not a multiple of ${width}`, name);
        count += (f.end - f.start) / width;
      } else if (f.wire === single) count += 1;
      else this.fail(`wire type ${f.wire}, expected ${single} or ${BYTES}`, name);
    }
    const out = new Float32Array(count);
    let at = 0;
    for (const f of this.fields(number)) {
      const n = (f.end - f.start) / width;
      if (width === 4 && LITTLE_ENDIAN_HOST) {
        // Copy the bytes rather than view them: the field may sit at any alignment.
        new Uint8Array(out.buffer, at * 4, n * 4).set(this.bytes.subarray(f.start, f.end));
      } else {
        const view = new DataView(this.bytes.buffer, this.bytes.byteOffset + f.start, f.end - f.start);
        for (let i = 0; i < n; i++) out[at + i] = width === 4 ? view.getFloat32(4 * i, true) : view.getFloat64(8 * i, true);
      }
      at += n;
    }
    return out;
  }
}

/**
 * Builds a message. Small fields collect in a byte list; large payloads and embedded messages
 * are kept by reference and copied once, by finish(), so nesting costs no extra copies.
 */
export class ProtoWriter {
  private parts: Uint8Array[] = [];
  private pending: number[] = [];
  private size = 0;

  get length(): number {
    return this.size + this.pending.length;
  }

  private key(number: number, wire: number): void {
    this.rawVarint(number * 8 + wire);
  }

  /** An integer (safe, possibly negative) as a varint. */
  private rawVarint(value: number): void {
    if (value >= 0 && value <= 0xffffffff) {
      let n = value;
      while (n >= 0x80) {
        this.pending.push((n & 0x7f) | 0x80);
        n = Math.floor(n / 128);
      }
      this.pending.push(n);
      return;
    }
    // Larger values in BigInt; negative int32/int64 ones as 64-bit two's complement (10 bytes).
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.pending.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.pending.push(Number(v));
  }

  private append(bytes: Uint8Array): void {
    if (this.pending.length) {
      this.parts.push(Uint8Array.from(this.pending));
      this.size += this.pending.length;
      this.pending = [];
    }
    this.parts.push(bytes);
    this.size += bytes.length;
  }

  varint(number: number, value: number): this {
    this.key(number, VARINT);
    this.rawVarint(value);
    return this;
  }

  /** Each value as its own field: the proto2 default for unpacked repeated integers. */
  varints(number: number, values: readonly number[]): this {
    for (const v of values) this.varint(number, v);
    return this;
  }

  packedVarints(number: number, values: readonly number[]): this {
    const inner = new ProtoWriter();
    for (const v of values) inner.rawVarint(v);
    return this.message(number, inner);
  }

  float(number: number, value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.key(number, FIXED32);
    this.pending.push(...b);
    return this;
  }

  packedFloats(number: number, values: Float32Array): this {
    const bytes = new Uint8Array(values.length * 4);
    const view = new DataView(bytes.buffer);
    values.forEach((v, i) => view.setFloat32(4 * i, v, true));
    return this.bytes(number, bytes);
  }

  string(number: number, value: string): this {
    return this.bytes(number, new TextEncoder().encode(value));
  }

  /** A length-delimited field; `value` is kept by reference until finish(). */
  bytes(number: number, value: Uint8Array): this {
    this.key(number, BYTES);
    this.rawVarint(value.length);
    this.append(value);
    return this;
  }

  message(number: number, child: ProtoWriter): this {
    this.key(number, BYTES);
    this.rawVarint(child.length);
    for (const p of child.parts) this.append(p);
    if (child.pending.length) this.append(Uint8Array.from(child.pending));
    return this;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    out.set(this.pending, at);
    return out;
  }
}
