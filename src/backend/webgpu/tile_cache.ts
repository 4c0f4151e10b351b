// The autotuned GEMM tiles on disk (Node): one JSON file per user, an entry per adapter and
// driver (what the adapter says of itself, and the Dawn package's version), each mapping GEMM
// problems to tile shapes. A run looks its problems up; the first run that meets one not there
// tunes the step (autotune.ts) and writes the entry back, atomically. A forced shape (--tiles,
// ALEXNET_GEMM_TILES) skips all of this; so does a backend created with autotune false, the
// default on software adapters (WebGpuOptions.autotune).
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Backend } from '../backend.js';
import { FormatError } from '../../core/errors.js';
import { parseJson } from '../../core/json.js';
import { makeDirectories, readInputFile, writeFileAtomic } from '../../io/files.js';
import { autotune, gemmProblems, tunedTiles, useTunedTiles, type TuneResult } from './autotune.js';
import type { TileConfig } from './gemm.js';
import { WebGpuBackend } from './index.js';

const FORMAT = 'alexnet-ts gemm tiles 1';
/** A cache file is small (a few hundred problems); anything much larger is not ours. */
const MAX_CACHE_BYTES = 4 * 2 ** 20;

interface CacheFile {
  format: typeof FORMAT;
  adapters: Record<string, Record<string, string>>;
}

/** $ALEXNET_CACHE_DIR, else $XDG_CACHE_HOME/alexnet-ts, else ~/.cache/alexnet-ts; then gemm-tiles.json. */
export function tileCachePath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.ALEXNET_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'alexnet-ts');
  return join(dir, 'gemm-tiles.json');
}

/** The adapter and driver, as the cache names them. */
export function adapterKey(backend: WebGpuBackend): string {
  const a = backend.adapter;
  let dawn = 'unknown';
  try {
    dawn = (createRequire(import.meta.url)('webgpu/package.json') as { version: string }).version;
  } catch {
    // an install whose package hides package.json: the adapter's own words still separate drivers
  }
  return `${a.vendor} | ${a.architecture} | ${a.device} | ${a.description} | webgpu ${dawn}`;
}

async function readCache(path: string, notice: (line: string) => void): Promise<CacheFile> {
  const empty: CacheFile = { format: FORMAT, adapters: {} };
  let text: string;
  try {
    text = new TextDecoder().decode(await readInputFile(path, 'a GEMM tile cache', MAX_CACHE_BYTES));
  } catch (e) {
    if (!/file not found/.test((e as Error).message)) notice(`GEMM tile cache ignored: ${(e as Error).message}`);
    return empty;
  }
  try {
    const parsed = parseJson(text, path) as Partial<CacheFile>;
    if (parsed?.format !== FORMAT || typeof parsed.adapters !== 'object' || parsed.adapters === null) throw new FormatError(path, `expected "format": "${FORMAT}"`);
    return parsed as CacheFile;
  } catch (e) {
    notice(`GEMM tile cache ignored: ${(e as Error).message}; it is rewritten after tuning`);
    return empty;
  }
}

export interface FirstUseOptions {
  notice: (line: string) => void;
  path?: string;
  /** The shapes to try (default: every named shape that fits, autotune.ts). */
  candidates?: TileConfig[];
}

/**
 * Uses the cached tiles of this adapter for the problems `step` dispatches, tuning (and caching)
 * them first where any is missing. Returns what tuning measured, or null when nothing was tuned.
 */
export async function tuneOnFirstUse(backend: Backend, step: () => Promise<void>, o: FirstUseOptions): Promise<TuneResult | null> {
  if (!(backend instanceof WebGpuBackend) || backend.launch.options.tiles !== 'auto') return null;
  if (!backend.autotuneOnFirstUse) return null;
  const path = o.path ?? tileCachePath();
  const key = adapterKey(backend);
  const cache = await readCache(path, o.notice);
  try {
    useTunedTiles(backend, cache.adapters[key] ?? {}, path);
  } catch (e) {
    o.notice(`GEMM tile cache entry ignored: ${(e as Error).message}`);
    backend.launch.tuned.clear();
  }
  const missing = (await gemmProblems(backend, step)).filter((p) => !backend.launch.tuned.has(p));
  if (missing.length === 0) return null;
  o.notice(`tuning GEMM tiles for ${missing.length} new problem(s) on ${backend.device} (once per adapter; cached in ${path})`);
  const result = await autotune(backend, step, o.candidates);
  if (!result) {
    o.notice(`${backend.device} has no timestamp-query: GEMM tiles stay the heuristic ones`);
    return null;
  }
  cache.adapters[key] = { ...cache.adapters[key], ...tunedTiles(backend) };
  try {
    await makeDirectories(dirname(path), 'the GEMM tile cache');
    await writeFileAtomic(path, `${JSON.stringify(cache, null, 1)}\n`);
  } catch (e) {
    o.notice(`GEMM tiles tuned but not cached (${(e as Error).message}): the next run tunes again`);
  }
  return result;
}
