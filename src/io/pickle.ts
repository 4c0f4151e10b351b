// A pickle reader that executes nothing. Python's pickle is a small stack machine whose
// GLOBAL and REDUCE opcodes import and call arbitrary functions, which is how a hostile
// .pth file runs code. This VM knows only the opcodes that torch.save's state_dicts use
// (protocol 2+), resolves GLOBAL only through the caller's allow-list, and "calls" only the
// allow-listed entries' TypeScript stand-ins. Anything else is a FormatError naming the
// opcode or global and its byte offset, raised as soon as it is read.
import { FormatError } from '../core/errors.js';

/**
 * Every push consumes input bytes, so these only matter for inputs made to exhaust memory: a
 * container costs a few hundred bytes of heap for one or two bytes of pickle, so their number
 * is capped too (a state_dict needs about six per tensor).
 */
const MAX_STACK = 1 << 18;
const MAX_MEMO = 1 << 18;
const MAX_CONTAINERS = 1 << 18;

/** A Python dict (or OrderedDict) with primitive keys; `state` holds what BUILD set on it. */
export class PyDict {
  readonly items = new Map<string | number | boolean | null, unknown>();
  state: unknown = undefined;
}

/**
 * An allow-listed global. With `call`, REDUCE may apply it to an argument tuple; without, it is
 * only a value (as torch.FloatStorage is inside a storage reference).
 */
export interface PyGlobal {
  readonly name: string;
  readonly call?: (args: readonly unknown[], fail: (fault: string) => never) => unknown;
}

export interface UnpickleOptions {
  /** "module.name" -> the stand-in for it. */
  globals: ReadonlyMap<string, PyGlobal>;
  /** BINPERSID: turns a persistent id (torch: a storage reference tuple) into a value. */
  persistentLoad: (pid: unknown, fail: (fault: string) => never) => unknown;
}

/** Tuples are frozen arrays, lists are plain arrays: APPEND must refuse a tuple. */
export const isTuple = (v: unknown): v is readonly unknown[] => Array.isArray(v) && Object.isFrozen(v);

/** A short description of a value for error messages (never recursive). */
export function describePy(v: unknown): string {
  if (v === null) return 'None';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v);
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `${isTuple(v) ? 'tuple' : 'list'} of ${v.length}`;
  if (v instanceof PyDict) return `dict of ${v.items.size}`;
  if (typeof v === 'object' && 'name' in v) return `global ${(v as PyGlobal).name}`;
  return typeof v;
}

/**
 * Runs the pickle that starts at `start` up to its STOP; returns the value and the offset
 * just past STOP (a legacy torch.save file holds several pickles in a row).
 */
export function unpickle(bytes: Uint8Array, start: number, file: string, options: UnpickleOptions): { value: unknown; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = start;
  let opStart = start;
  let stack: unknown[] = [];
  const marks: unknown[][] = [];
  const memo = new Map<number, unknown>();
  let containers = 0;
  const decoder = new TextDecoder('utf-8', { fatal: true });

  function fail(fault: string): never {
    throw new FormatError(file, `pickle at byte ${opStart}: ${fault}`);
  }
  function take(n: number): number {
    if (n > bytes.length - pos) fail(`needs ${n} bytes, only ${bytes.length - pos} left (truncated?)`);
    const at = pos;
    pos += n;
    return at;
  }
  const u8 = () => bytes[take(1)];
  const u16 = () => view.getUint16(take(2), true);
  const u32 = () => view.getUint32(take(4), true);
  function u64(): number {
    const v = view.getBigUint64(take(8), true);
    if (v > BigInt(bytes.length)) fail(`length ${v} exceeds the file`);
    return Number(v);
  }
  function text(length: number): string {
    const at = take(length);
    try {
      return decoder.decode(bytes.subarray(at, at + length));
    } catch {
      return fail('string is not valid UTF-8');
    }
  }
  function line(): string {
    const length = bytes.subarray(pos, pos + 256).indexOf(0x0a);
    if (length < 0) fail('GLOBAL name is not a short newline-terminated line');
    return text(length + 1).slice(0, -1);
  }
  function push(v: unknown): void {
    if (stack.length >= MAX_STACK) fail(`stack exceeds ${MAX_STACK} items`);
    stack.push(v);
  }
  /** Pushes a new dict, list, tuple or call result, counting it. */
  function pushNew(v: unknown): void {
    if (++containers > MAX_CONTAINERS) fail(`more than ${MAX_CONTAINERS} containers`);
    push(v);
  }
  function pop(): unknown {
    if (stack.length === 0) fail('stack underflow');
    return stack.pop();
  }
  function top(): unknown {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  }
  function popMark(): unknown[] {
    const items = stack;
    const previous = marks.pop();
    if (previous === undefined) fail('no MARK to pop to');
    stack = previous;
    return items;
  }
  function put(index: number): void {
    if (!memo.has(index) && memo.size >= MAX_MEMO) fail(`memo exceeds ${MAX_MEMO} entries`);
    memo.set(index, top());
  }
  function get(index: number): void {
    if (!memo.has(index)) fail(`memo entry ${index} was never stored`);
    push(memo.get(index));
  }
  function global(module: string, name: string): void {
    const g = options.globals.get(`${module}.${name}`);
    if (!g) fail(`global ${module}.${name} is not on the allow-list (refused; nothing was run)`);
    push(g);
  }
  function setItems(dict: unknown, pairs: readonly unknown[]): void {
    if (!(dict instanceof PyDict)) fail(`SETITEM(S) on ${describePy(dict)}, expected a dict`);
    if (pairs.length % 2 !== 0) fail('SETITEMS with an odd number of items');
    for (let i = 0; i < pairs.length; i += 2) {
      const key = pairs[i];
      if (key !== null && !['string', 'number', 'boolean'].includes(typeof key)) fail(`dict key ${describePy(key)} is not supported`);
      dict.items.set(key as string | number | boolean | null, pairs[i + 1]);
    }
  }
  function appendItems(list: unknown, items: readonly unknown[]): void {
    if (!Array.isArray(list) || isTuple(list)) fail(`APPEND(S) on ${describePy(list)}, expected a list`);
    for (const item of items) (list as unknown[]).push(item);
  }
  function long(n: number): number | bigint {
    if (n === 0) return 0;
    const at = take(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[at + i]);
    if (bytes[at + n - 1] & 0x80) v -= 1n << BigInt(8 * n); // two's complement
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  for (;;) {
    opStart = pos;
    const op = u8();
    switch (op) {
      case 0x80: { // PROTO
        const version = u8();
        if (version < 2 || version > 5) fail(`pickle protocol ${version} is not supported (2 to 5)`);
        break;
      }
      case 0x95: u64(); break; // FRAME: a length hint only
      case 0x28: // MARK
        if (marks.length >= MAX_STACK) fail(`more than ${MAX_STACK} nested MARKs`);
        marks.push(stack);
        stack = [];
        break;
      case 0x2e: // STOP
        if (marks.length) fail('STOP inside an unclosed MARK');
        return { value: pop(), end: pos };
      case 0x7d: pushNew(new PyDict()); break; // EMPTY_DICT
      case 0x5d: pushNew([]); break; // EMPTY_LIST
      case 0x29: pushNew(Object.freeze([])); break; // EMPTY_TUPLE
      case 0x74: pushNew(Object.freeze(popMark())); break; // TUPLE
      case 0x85: pushNew(Object.freeze([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(); pushNew(Object.freeze([pop(), b])); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); pushNew(Object.freeze([pop(), b, c])); break; } // TUPLE3
      case 0x71: put(u8()); break; // BINPUT
      case 0x72: put(u32()); break; // LONG_BINPUT
      case 0x94: put(memo.size); break; // MEMOIZE
      case 0x68: get(u8()); break; // BINGET
      case 0x6a: get(u32()); break; // LONG_BINGET
      case 0x4a: push(view.getInt32(take(4), true)); break; // BININT
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x8a: push(long(u8())); break; // LONG1
      case 0x47: push(view.getFloat64(take(8), false)); break; // BINFLOAT (big-endian)
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x8c: case 0x55: push(text(u8())); break; // SHORT_BINUNICODE, SHORT_BINSTRING
      case 0x58: push(text(u32())); break; // BINUNICODE
      case 0x54: { // BINSTRING: a signed length
        const n = view.getInt32(take(4), true);
        if (n < 0) fail(`negative string length ${n}`);
        push(text(n));
        break;
      }
      case 0x8d: push(text(u64())); break; // BINUNICODE8
      case 0x63: { const module = line(); global(module, line()); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        global(module, name);
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const callable = pop() as PyGlobal | undefined;
        if (!isTuple(args)) fail(`REDUCE arguments are ${describePy(args)}, expected a tuple`);
        if (typeof callable?.call !== 'function') fail(`REDUCE on ${describePy(callable)}, which is not callable here`);
        pushNew(callable.call(args, fail));
        break;
      }
      case 0x62: { // BUILD: only a dict's attributes (an OrderedDict's _metadata) are accepted
        const state = pop();
        const target = top();
        if (!(target instanceof PyDict)) fail(`BUILD on ${describePy(target)} is not supported`);
        target.state = state;
        break;
      }
      case 0x73: { const value = pop(); const key = pop(); setItems(top(), [key, value]); break; } // SETITEM
      case 0x75: { const pairs = popMark(); setItems(top(), pairs); break; } // SETITEMS
      case 0x61: { const item = pop(); appendItems(top(), [item]); break; } // APPEND
      case 0x65: { const items = popMark(); appendItems(top(), items); break; } // APPENDS
      case 0x51: pushNew(options.persistentLoad(pop(), fail)); break; // BINPERSID
      default: {
        const printable = op >= 0x20 && op < 0x7f ? ` ('${String.fromCharCode(op)}')` : '';
        fail(`opcode 0x${op.toString(16).padStart(2, '0')}${printable} is not supported`);
      }
    }
  }
}
