// Counter-based random numbers: every value is a pure function of (seed, stream, index), so
// dropout masks are regenerated in the backward pass instead of stored, and a WGSL twin
// (u32 arithmetic wraps the same way as Math.imul) gives bit-identical masks on the GPU.

/** A 32-bit integer finaliser with good avalanche (Wellons' "lowbias32"). */
export function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  x = (x ^ (x >>> 16)) >>> 0;
  return x;
}

/** The largest seed: seeds are u32, so a larger one would wrap onto a smaller one's run. */
export const MAX_SEED = 2 ** 32 - 1;

/** The u32 at position `index` of stream `stream` under `seed`. */
export function randomU32(seed: number, stream: number, index: number): number {
  return mix32((mix32((mix32(index >>> 0) ^ (seed >>> 0)) >>> 0) + (stream >>> 0)) >>> 0);
}

/** Dropout keeps an element when its u32 is at or above this threshold: P(drop) = p. */
export function dropThreshold(p: number): number {
  return Math.min(0xffffffff, Math.floor(p * 4294967296));
}

/**
 * A small seeded generator for host-side choices (initialisation, shuffling): a counter run
 * through mix32, with Box-Muller for normals. Its state is one integer, so it checkpoints exactly.
 */
export class Rng {
  constructor(
    readonly seed: number,
    public counter = 0,
  ) {}

  /** Uniform u32. */
  nextU32(): number {
    return randomU32(this.seed, 0x5eed, this.counter++);
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  /** Standard normal. */
  normal(): number {
    const u1 = (this.nextU32() + 1) / 4294967297; // in (0, 1): log is finite
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(items: T[] | Int32Array | Uint32Array): void {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = items[i];
      items[i] = items[j];
      items[j] = t;
    }
  }
}
