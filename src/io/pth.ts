// PyTorch weight files written by torch.save, read without Python and without running the
// pickle inside them (see pickle.ts):
//  - zip format (PyTorch >= 1.6): <dir>/data.pkl, the pickled state_dict whose tensors point
//    at storages by key, and <dir>/data/<key>, each storage's raw little-endian bytes;
//  - legacy format (_use_new_zipfile_serialization=False): five pickles in a row (magic
//    number, protocol version, system info, the state_dict, the storage keys), then each
//    storage as an int64 element count followed by its bytes.
// A tensor is (storage, offset, size, stride); any strides are gathered into a contiguous
// Float32Array. Every size is checked against the bytes present before anything is allocated.
import { FormatError } from '../core/errors.js';
import { product, shapeString } from '../core/geometry.js';
import { describePy, isTuple, PyDict, unpickle, type PyGlobal, type UnpickleOptions } from './pickle.js';
import { halfToNumber, type NamedTensor } from './safetensors.js';
import { ZipArchive } from './zip.js';

/** The storage classes torch pickles: element type and size. Only the float ones decode. */
const STORAGE_TYPES: Record<string, [dtype: string, size: number]> = {
  FloatStorage: ['float32', 4], DoubleStorage: ['float64', 8], HalfStorage: ['float16', 2], BFloat16Storage: ['bfloat16', 2],
  LongStorage: ['int64', 8], IntStorage: ['int32', 4], ShortStorage: ['int16', 2], CharStorage: ['int8', 1], ByteStorage: ['uint8', 1], BoolStorage: ['bool', 1],
};

const scratch = new DataView(new ArrayBuffer(4));
/** Element index -> number, for each decodable dtype. */
const READERS: Record<string, (v: DataView, i: number) => number> = {
  float32: (v, i) => v.getFloat32(4 * i, true),
  float64: (v, i) => v.getFloat64(8 * i, true),
  float16: (v, i) => halfToNumber(v.getUint16(2 * i, true)),
  // bfloat16 is the top half of a float32.
  bfloat16: (v, i) => (scratch.setUint32(0, v.getUint16(2 * i, true) << 16), scratch.getFloat32(0)),
};

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;
const MAX_RANK = 8;
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

interface StorageRef {
  key: string;
  dtype: string;
  elementSize: number;
  numel: number;
}

class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function counts(v: unknown, what: string, fail: (fault: string) => never): number[] {
  if (!Array.isArray(v) || v.length > MAX_RANK || !v.every(isCount)) fail(`${what} must be a tuple of at most ${MAX_RANK} integers >= 0, found ${describePy(v)}`);
  return [...v];
}

/** The allow-list of globals and the storage bookkeeping for one file's pickle. */
function torchUnpickler(legacy: boolean): { options: UnpickleOptions; storages: Map<string, StorageRef> } {
  const storages = new Map<string, StorageRef>();
  const storageTypes = new Map<PyGlobal, [string, number]>();
  const globals = new Map<string, PyGlobal>();
  const add = (g: PyGlobal) => globals.set(g.name, g);
  for (const [cls, type] of Object.entries(STORAGE_TYPES)) {
    const g: PyGlobal = { name: `torch.${cls}` };
    storageTypes.set(g, type);
    add(g);
  }
  add({
    name: 'collections.OrderedDict',
    call: (args, fail) => (args.length === 0 ? new PyDict() : fail('OrderedDict with arguments is not supported')),
  });
  add({
    // _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
    name: 'torch._utils._rebuild_tensor_v2',
    call: (args, fail): TensorRef => {
      if (args.length < 6 || args.length > 7) fail(`_rebuild_tensor_v2 takes 6 or 7 arguments, found ${args.length}`);
      const [storage, offset, size, stride] = args;
      if (storages.get((storage as StorageRef | null)?.key as string) !== storage) {
        fail(`_rebuild_tensor_v2: first argument is ${describePy(storage)}, expected a storage`);
      }
      if (!isCount(offset)) fail(`_rebuild_tensor_v2: storage offset ${describePy(offset)} is not an integer >= 0`);
      const t = new TensorRef(storage as StorageRef, offset as number, counts(size, 'size', fail), counts(stride, 'stride', fail));
      if (t.size.length !== t.stride.length) fail(`size ${shapeString(t.size)} and stride ${shapeString(t.stride)} differ in rank`);
      return t;
    },
  });
  add({
    // A pickled nn.Parameter: _rebuild_parameter(tensor, requires_grad, backward_hooks).
    name: 'torch._utils._rebuild_parameter',
    call: (args, fail) => (args.length === 3 ? args[0] : fail(`_rebuild_parameter takes 3 arguments, found ${args.length}`)),
  });
  // ('storage', storage type, key, location, element count), plus view metadata (None) in legacy files.
  const persistentLoad = (pid: unknown, fail: (fault: string) => never): StorageRef => {
    const length = legacy ? 6 : 5;
    if (!isTuple(pid) || pid.length !== length || pid[0] !== 'storage') fail(`persistent id ${describePy(pid)} is not a ${length}-tuple ('storage', ...)`);
    const [, type, key, , numel] = pid;
    const storageType = storageTypes.get(type as PyGlobal);
    if (storageType === undefined) fail(`storage type ${describePy(type)} is not a torch storage class`);
    const [dtype, elementSize] = storageType;
    if (typeof key !== 'string' || !isCount(numel)) fail(`storage key ${describePy(key)} / size ${describePy(numel)} malformed`);
    if (legacy && pid[5] !== null) fail(`storage "${key}" is a view of another storage (pre-1.0 file), not supported`);
    const known = storages.get(key);
    if (known && (known.dtype !== dtype || known.numel !== numel)) fail(`storage "${key}" is described twice, differently`);
    const ref = known ?? { key, dtype, elementSize, numel };
    storages.set(key, ref);
    return ref;
  };
  return { options: { globals, persistentLoad }, storages };
}

/** The tensors of a state_dict (or of a checkpoint dict's "state_dict" entry), by name. */
function stateDict(root: unknown, file: string): [string, TensorRef][] {
  let dict = root;
  if (dict instanceof PyDict && dict.items.get('state_dict') instanceof PyDict) dict = dict.items.get('state_dict');
  if (!(dict instanceof PyDict)) throw new FormatError(file, `expected a state_dict (a dict of tensors), found ${describePy(dict)}`);
  const out: [string, TensorRef][] = [];
  for (const [key, value] of dict.items) {
    if (typeof key !== 'string' || !(value instanceof TensorRef)) {
      throw new FormatError(file, `state_dict entry ${describePy(key)} is ${describePy(value)}, expected a tensor`);
    }
    out.push([key, value]);
  }
  return out;
}

/** Copies a (possibly strided) tensor out of its storage's bytes into a contiguous Float32Array. */
function gather(name: string, t: TensorRef, bytes: Uint8Array, file: string): Float32Array {
  const fail = (fault: string): never => {
    throw new FormatError(file, `tensor "${name}": ${fault}`);
  };
  const read = READERS[t.storage.dtype];
  if (!read) fail(`dtype ${t.storage.dtype} is not supported (float32, float64, float16 or bfloat16)`);
  const n = product(t.size);
  // Each element must be backed by its own stored element: a view that repeats elements
  // (stride 0) could otherwise claim far more memory than the file holds.
  if (n > t.storage.numel) fail(`size ${shapeString(t.size)} has more elements than its ${t.storage.numel}-element storage`);
  if (n === 0) return new Float32Array(0);
  const last = t.offset + t.size.reduce((s, d, i) => s + (d - 1) * t.stride[i], 0);
  if (last >= t.storage.numel) fail(`offset ${t.offset}, size ${shapeString(t.size)}, stride ${shapeString(t.stride)} reach element ${last} of a ${t.storage.numel}-element storage`);
  let expected = 1;
  const contiguous = t.size.every((_, i, size) => {
    const d = size.length - 1 - i;
    const ok = size[d] === 1 || t.stride[d] === expected;
    expected *= size[d];
    return ok;
  });
  if (contiguous && t.storage.dtype === 'float32' && LITTLE_ENDIAN_HOST) {
    // Copy into a fresh buffer: aligned whatever the offset (and Buffer.slice would not copy).
    return new Float32Array(new Uint8Array(bytes.subarray(4 * t.offset, 4 * (t.offset + n))).buffer);
  }
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rank = t.size.length;
  const index = new Array<number>(rank).fill(0);
  let src = t.offset;
  for (let i = 0; i < n; i++) {
    out[i] = read(view, src);
    // Advance the multi-index like an odometer, moving `src` by the strides.
    for (let d = rank - 1; d >= 0; d--) {
      src += t.stride[d];
      if (++index[d] < t.size[d]) break;
      src -= t.stride[d] * t.size[d];
      index[d] = 0;
    }
  }
  return out;
}

/**
 * Decodes every tensor; one tensor saved under two names (tied weights) is decoded once.
 * Together the distinct tensors may not hold more elements than their storages do, so the
 * output stays within twice the file's size (float16 widened to float32).
 */
function decodeAll(entries: [string, TensorRef][], bytesOf: (s: StorageRef) => Uint8Array, file: string): Map<string, NamedTensor> {
  const identity = (t: TensorRef) => `${t.storage.key}|${t.offset}|${t.size}|${t.stride}`;
  const distinct = new Map(entries.map(([, t]) => [identity(t), t]));
  const budget = [...new Set([...distinct.values()].map((t) => t.storage))].reduce((s, st) => s + st.numel, 0);
  const claimed = [...distinct.values()].reduce((s, t) => s + product(t.size), 0);
  if (claimed > budget) throw new FormatError(file, `tensors claim ${claimed} elements but their storages hold ${budget} (overlapping views are not supported)`);
  const storageBytes = new Map<StorageRef, Uint8Array>();
  const decoded = new Map<string, Float32Array>();
  // A DataParallel model's state_dict prefixes every key with "module.".
  const strip = entries.length > 0 && entries.every(([k]) => k.startsWith('module.'));
  const out = new Map<string, NamedTensor>();
  for (const [key, t] of entries) {
    if (!storageBytes.has(t.storage)) storageBytes.set(t.storage, bytesOf(t.storage));
    if (!decoded.has(identity(t))) decoded.set(identity(t), gather(key, t, storageBytes.get(t.storage)!, file));
    const name = strip ? key.slice('module.'.length) : key;
    out.set(name, { name, shape: t.size, data: decoded.get(identity(t))! });
  }
  return out;
}

function parseZip(bytes: Uint8Array, file: string): Map<string, NamedTensor> {
  const zip = new ZipArchive(bytes, file);
  const pickles = zip.names().filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pickles.length !== 1) throw new FormatError(file, `expected one <dir>/data.pkl in the archive, found ${pickles.length}`);
  const dir = pickles[0].slice(0, -'data.pkl'.length);
  if (zip.has(`${dir}byteorder`)) {
    const order = new TextDecoder().decode(zip.read(`${dir}byteorder`));
    if (order !== 'little') throw new FormatError(file, `byte order "${order.slice(0, 20)}" is not supported (little only)`);
  }
  const { options } = torchUnpickler(false);
  const pkl = zip.read(pickles[0]);
  const { value, end } = unpickle(pkl, 0, file, options);
  if (end !== pkl.length) throw new FormatError(file, `${pkl.length - end} bytes after the pickle's STOP`);
  return decodeAll(stateDict(value, file), (s) => {
    const name = `${dir}data/${s.key}`;
    if (!zip.has(name)) throw new FormatError(file, `storage "${s.key}" has no entry ${name}`);
    const data = zip.read(name);
    if (data.length !== s.numel * s.elementSize) {
      throw new FormatError(file, `storage "${s.key}": ${data.length} bytes, but ${s.numel} ${s.dtype} elements need ${s.numel * s.elementSize}`);
    }
    return data;
  }, file);
}

function parseLegacy(bytes: Uint8Array, file: string): Map<string, NamedTensor> {
  const none: UnpickleOptions = { globals: new Map(), persistentLoad: (_, fail) => fail('unexpected persistent id') };
  const magic = unpickle(bytes, 0, file, none);
  if (magic.value !== LEGACY_MAGIC) throw new FormatError(file, 'not a torch.save file (magic number differs)');
  const protocol = unpickle(bytes, magic.end, file, none);
  if (protocol.value !== LEGACY_PROTOCOL) throw new FormatError(file, `legacy protocol ${describePy(protocol.value)} is not supported (${LEGACY_PROTOCOL})`);
  const info = unpickle(bytes, protocol.end, file, none);
  if (!(info.value instanceof PyDict) || info.value.items.get('little_endian') !== true) {
    throw new FormatError(file, 'system info must say little_endian=True');
  }
  const { options, storages } = torchUnpickler(true);
  const root = unpickle(bytes, info.end, file, options);
  const keys = unpickle(bytes, root.end, file, none);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) {
    throw new FormatError(file, `storage key list is ${describePy(keys.value)}, expected a list of strings`);
  }
  // The storages follow in the order of the key list: an int64 element count, then the bytes.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const located = new Map<StorageRef, Uint8Array>();
  let at = keys.end;
  for (const key of keys.value as string[]) {
    const s = storages.get(key);
    if (!s) throw new FormatError(file, `storage "${key}" is listed but never used`);
    if (at + 8 > bytes.length) throw new FormatError(file, `storage "${key}": header at byte ${at} runs past the end (truncated?)`);
    const count = view.getBigInt64(at, true);
    if (count !== BigInt(s.numel)) throw new FormatError(file, `storage "${key}": ${count} elements in the file, ${s.numel} in the pickle`);
    const length = s.numel * s.elementSize;
    if (at + 8 + length > bytes.length) throw new FormatError(file, `storage "${key}": ${length} bytes at byte ${at + 8} run past the end (truncated?)`);
    located.set(s, bytes.subarray(at + 8, at + 8 + length));
    at += 8 + length;
  }
  return decodeAll(stateDict(root.value, file), (s) => {
    const data = located.get(s);
    if (!data) throw new FormatError(file, `storage "${s.key}" is missing from the key list`);
    return data;
  }, file);
}

const isZip = (bytes: Uint8Array) => bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;

/** A torch.save file: a ZIP archive, or a legacy file (pickle protocol 2 starting with a LONG1). */
export function isPth(bytes: Uint8Array): boolean {
  return isZip(bytes) || (bytes[0] === 0x80 && bytes[1] === 0x02 && bytes[2] === 0x8a);
}

/** The float tensors of a torch.save'd state_dict, by key ("module." prefixes removed). */
export function parsePth(bytes: Uint8Array, file: string): Map<string, NamedTensor> {
  if (isZip(bytes)) return parseZip(bytes, file);
  if (isPth(bytes)) return parseLegacy(bytes, file);
  throw new FormatError(file, 'not a torch.save file: neither a ZIP archive nor a legacy pickle');
}
