// Planning for the tiled GEMM body (wgsl/gemm.wgsl): tile sizes, split-K, and the dispatch grid.
import { GpuError } from './errors.js';

export interface TileConfig {
  BM: number;
  BN: number;
  BK: number;
  TM: number;
  TN: number;
}

/**
 * Named tile shapes. Each thread owns TM x TN elements in vec4 groups (see gemm.wgsl for the
 * rules that tileProblems checks); skinny runs 64 threads, narrow 128, the rest 256.
 */
export const TILES: Readonly<Record<'skinny' | 'narrow' | 'square' | 'wide' | 'large', TileConfig>> = {
  skinny: { BM: 16, BN: 64, BK: 32, TM: 4, TN: 4 }, // M <= 16: batch-1 linear layers
  narrow: { BM: 32, BN: 64, BK: 32, TM: 4, TN: 4 },
  square: { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 },
  wide: { BM: 128, BN: 64, BK: 16, TM: 8, TN: 4 },
  large: { BM: 128, BN: 128, BK: 16, TM: 8, TN: 8 },
};

/** auto, a named shape, or any shape that passes tileProblems (for tuning runs). */
export type TileChoice = 'auto' | keyof typeof TILES | TileConfig;

const TILE_SPEC = /^(\d+)x(\d+)x(\d+)\/(\d+)x(\d+)$/;

/**
 * Reads a tile choice: auto, a name from TILES, or BMxBNxBK/TMxTN, e.g. 128x128x8/8x8. `what`
 * names the source in errors.
 */
export function parseTileChoice(text: string, what: string): TileChoice {
  if (text === 'auto' || text in TILES) return text as TileChoice;
  const m = TILE_SPEC.exec(text);
  if (!m) throw new GpuError(`${what}: expected auto, ${Object.keys(TILES).join(', ')} or BMxBNxBK/TMxTN; found "${text}"`);
  const [BM, BN, BK, TM, TN] = m.slice(1, 6).map(Number);
  const t: TileConfig = { BM, BN, BK, TM, TN };
  const problems = tileProblems(t);
  if (problems.length > 0) throw new GpuError(`${what}: tiles "${text}" break the kernel's rules: ${problems.join('; ')}`);
  return t;
}

/** A tile shape as parseTileChoice reads it: BMxBNxBK/TMxTN. */
export const tileName = (t: TileConfig) => `${t.BM}x${t.BN}x${t.BK}/${t.TM}x${t.TN}`;

export interface GemmProblem {
  M: number;
  N: number;
  K: number;
  groups: number;
}

export interface GemmPlan {
  tiles: TileConfig;
  params: { M: number; N: number; K: number; m_tiles: number; n_tiles: number; splits: number; k_chunk: number };
  grid: [number, number, number];
}

export interface PlanOptions {
  choice: TileChoice;
  /** A software adapter: few cores, so fewer, larger pieces of work. */
  fallback: boolean;
  maxGroups: number;
  /** Split K into this many slices at most (1: no split-K). */
  maxSplits: number;
  /** Workgroups wanted in flight; split-K is used to reach it when the output is small. */
  targetWorkgroups: number;
  /** The device's maxComputeWorkgroupStorageSize. */
  workgroupBytes: number;
}

/** Workgroup memory of a tile: the A and B slices (rows padded by one vec4) and two k tables (KInfo is at most 16 bytes). */
export function tileBytes(t: TileConfig): number {
  return ((t.BM / 4 + 1 + t.BN / 4 + 1) * t.BK + 2 * t.BK) * 16;
}

/** What makes `t` unusable by gemm.wgsl (empty when it is fine). */
export function tileProblems(t: TileConfig): string[] {
  const threads = (t.BM / t.TM) * (t.BN / t.TN);
  const problems: string[] = [];
  const need = (ok: boolean, what: string) => ok || problems.push(what);
  need(t.TM % 4 === 0 && t.TN % 4 === 0, 'TM and TN are multiples of 4');
  need(t.BM % t.TM === 0 && t.BN % t.TN === 0, 'TM divides BM and TN divides BN');
  need(((t.BK * t.BM) / 4) % threads === 0 && ((t.BK * t.BN) / 4) % threads === 0, 'each thread stages whole vec4s of a slice');
  need(threads % t.BK === 0 && threads % (t.BM / 4) === 0 && threads % (t.BN / 4) === 0, 'the threads cover whole k columns and row groups');
  need(threads <= 256, 'at most 256 threads (the WebGPU default limit)');
  need([t.BM, t.BN, t.BK, t.TM, t.TN].every((v) => Number.isInteger(v) && v > 0), 'positive integers');
  return problems;
}

export function chooseTiles(p: GemmProblem, o: PlanOptions): TileConfig {
  if (typeof o.choice === 'object') {
    // A spec is taken as it is, so that a tuning run measures what it names.
    if (tileBytes(o.choice) > o.workgroupBytes) throw new GpuError(`GEMM tiles need ${tileBytes(o.choice)} bytes of workgroup memory, over the adapter's ${o.workgroupBytes}`);
    return o.choice;
  }
  let t = pickTiles(p, o.choice, o.fallback);
  if (tileBytes(t) > o.workgroupBytes) t = TILES.square;
  // llvmpipe runs a workgroup's invocations as coroutines that switch at every barrier: deeper
  // slices mean fewer barriers per multiply-add (1.3x on mini's conv2).
  const deeper = { ...t, BK: 32 };
  return o.fallback && t.BK < 32 && tileBytes(deeper) <= o.workgroupBytes ? deeper : t;
}

function pickTiles(p: GemmProblem, choice: 'auto' | keyof typeof TILES, fallback: boolean): TileConfig {
  if (choice !== 'auto') return TILES[choice];
  if (p.M <= 16) return TILES.skinny;
  if (p.M <= 32) return TILES.narrow;
  // 128-row tiles when they waste no more rows than 64-row ones (M = 48 or 192 would idle a
  // quarter or a third of a 128-row tile) and still leave enough workgroups to fill a real GPU.
  // (On an H200, BENCHMARKS.md: 2,385-2,547 img/s training the paper net; 128x128 everywhere
  // was slower, 1,781 against 2,271 with an experimental kernel.)
  const rows128 = Math.ceil(p.M / 128) * 128;
  const bigTiles = (rows128 / 128) * Math.ceil(p.N / 128) * p.groups;
  return !fallback && rows128 <= Math.ceil(p.M / 64) * 64 && bigTiles >= 256 ? TILES.large : TILES.square;
}

/** Workgroups a GEMM should offer before split-K is used: a software adapter has few cores. */
export const defaultTargetWorkgroups = (fallback: boolean) => (fallback ? 8 : 1024);

export function planGemm(p: GemmProblem, o: PlanOptions): GemmPlan {
  const tiles = chooseTiles(p, o);
  const mTiles = Math.ceil(p.M / tiles.BM);
  const nTiles = Math.ceil(p.N / tiles.BN);
  const base = mTiles * nTiles * p.groups;
  let splits = 1;
  if (o.maxSplits > 1 && base < o.targetWorkgroups) {
    // Each slice keeps at least 256 values of K, so the partial sums stay cheap to fold.
    splits = Math.max(1, Math.min(o.maxSplits, Math.ceil(o.targetWorkgroups / base), Math.floor(p.K / 256)));
  }
  let kChunk = Math.ceil(Math.ceil(p.K / splits) / tiles.BK) * tiles.BK;
  if (kChunk === 0) kChunk = tiles.BK;
  splits = Math.max(1, Math.ceil(p.K / kChunk));
  const y = p.groups * mTiles * splits;
  if (y > o.maxGroups) throw new GpuError(`GEMM ${p.M}x${p.N}x${p.K} (groups ${p.groups}) needs ${y} workgroup rows, over ${o.maxGroups}`);
  const x = Math.min(nTiles, o.maxGroups);
  const z = Math.ceil(nTiles / x);
  return {
    tiles,
    params: { M: p.M, N: p.N, K: p.K, m_tiles: mTiles, n_tiles: nTiles, splits, k_chunk: kChunk },
    grid: [x, y, z],
  };
}

/** Replacements for gemm.wgsl's tile constants (ROLLED: keep loops rolled, for llvmpipe). */
export function tileConsts(t: TileConfig, rolled: boolean): Record<string, string> {
  return { BM: `${t.BM}u`, BN: `${t.BN}u`, BK: `${t.BK}u`, TM: `${t.TM}u`, TN: `${t.TN}u`, ROLLED: String(rolled) };
}

/** Workgroups for `count` threads in groups of `size`, as a 2-D grid when over the per-dimension limit. */
export function grid1d(count: number, size: number, maxGroups: number): [number, number, number] {
  const groups = Math.ceil(count / size);
  if (groups <= maxGroups) return [groups, 1, 1];
  const y = Math.ceil(groups / maxGroups);
  const x = Math.ceil(groups / y);
  if (y > maxGroups) throw new GpuError(`${count} threads need more than ${maxGroups}^2 workgroups`);
  return [x, y, 1];
}
