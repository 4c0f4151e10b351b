// GEMM tiles chosen per problem by measurement (issue 16): one step of the caller's is timed op
// by op (timestamp queries) under each candidate tile shape, and each GEMM op keeps the shape
// under which it ran fastest. A tile shape changes only the order of a GEMM's sums, so every
// candidate computes the same op within float32 rounding; split-K and its fold are timed with
// the op. The choice is per problem (Launcher.gemmKey: op part, precision, M x N x K x groups),
// so it holds for the batch it was measured at; src/backend/webgpu/tile_cache.ts keeps it on disk.
import { GpuError } from './errors.js';
import { parseTileChoice, tileBytes, tileName, TILES, type TileConfig } from './gemm.js';
import type { WebGpuBackend } from './index.js';

export interface TuneResult {
  /** The candidates, as BMxBNxBK/TMxTN. */
  candidates: string[];
  /** Each GEMM op of the step: its problems, its GPU milliseconds under each candidate, the one kept. */
  ops: { op: string; problems: string[]; ms: number[]; best: string }[];
}

/** Bytes of workgroup memory a kernel may use on this device (WebGPU's default where unsaid). */
const workgroupLimit = (backend: WebGpuBackend) => backend.limits.maxComputeWorkgroupStorageSize ?? 16384;

/** The named shapes that fit this device's workgroup memory. */
export function tileCandidates(backend: WebGpuBackend): TileConfig[] {
  return Object.values(TILES).filter((t) => tileBytes(t) <= workgroupLimit(backend));
}

/** The GEMM problems (Launcher.gemmKey) that `step` dispatches, learned by running it once. */
export async function gemmProblems(backend: WebGpuBackend, step: () => Promise<void>): Promise<string[]> {
  const seen = new Map<string, Set<string>>();
  backend.launch.seen = seen;
  try {
    await step();
    await backend.synchronize();
  } finally {
    backend.launch.seen = null;
  }
  return [...new Set([...seen.values()].flatMap((keys) => [...keys]))].sort();
}

/**
 * Times `step` (work on this backend, e.g. a forward and backward pass) twice per candidate, the
 * first to build its pipelines, and keeps each GEMM op's fastest candidate for its problems.
 * `step` must leave nothing behind that matters: parameters untouched (gradients and activations
 * are recomputed by the next real step). Null where the device has no timestamp-query.
 */
export async function autotune(backend: WebGpuBackend, step: () => Promise<void>, candidates = tileCandidates(backend)): Promise<TuneResult | null> {
  if (candidates.length === 0) throw new GpuError('autotune: no candidate tile shapes');
  if (!backend.startProfile()) return null;
  const launch = backend.launch;
  const asked = launch.options.tiles;
  const seen = new Map<string, Set<string>>();
  const times = new Map<string, number[]>();
  try {
    launch.seen = seen;
    for (const [i, tiles] of candidates.entries()) {
      launch.options.tiles = tiles;
      await step();
      await backend.profile(true);
      await step();
      for (const e of await backend.profile(true)) {
        if (!seen.has(e.op)) continue;
        const row = times.get(e.op) ?? Array<number>(candidates.length).fill(Infinity);
        row[i] = e.ms;
        times.set(e.op, row);
      }
    }
  } finally {
    launch.options.tiles = asked;
    launch.seen = null;
    backend.stopProfile();
  }
  const ops = [...seen].map(([op, keys]) => {
    const ms = times.get(op) ?? Array<number>(candidates.length).fill(Infinity);
    const best = candidates[ms.indexOf(Math.min(...ms))];
    for (const key of keys) launch.tuned.set(key, best);
    return { op, problems: [...keys].sort(), ms, best: tileName(best) };
  });
  return { candidates: candidates.map(tileName), ops };
}

/** The tuned tiles by problem, as BMxBNxBK/TMxTN (for the tile cache). */
export function tunedTiles(backend: WebGpuBackend): Record<string, string> {
  return Object.fromEntries([...backend.launch.tuned].map(([key, t]) => [key, tileName(t)]).sort());
}

/** Takes tuned tiles back (`what` names their source in errors: a shape the kernel cannot run is refused). */
export function useTunedTiles(backend: WebGpuBackend, tiles: Readonly<Record<string, unknown>>, what: string): void {
  const limit = workgroupLimit(backend);
  for (const [key, spec] of Object.entries(tiles)) {
    const t = typeof spec === 'string' ? parseTileChoice(spec, `${what}: "${key}"`) : null;
    if (t === null || typeof t !== 'object') throw new GpuError(`${what}: "${key}": expected tiles as BMxBNxBK/TMxTN, found ${JSON.stringify(spec)}`);
    if (tileBytes(t) > limit) throw new GpuError(`${what}: "${key}": tiles ${spec} need ${tileBytes(t)} bytes of workgroup memory, over this adapter's ${limit}`);
    backend.launch.tuned.set(key, t);
  }
}
