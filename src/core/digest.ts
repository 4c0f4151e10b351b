// SHA-256 through the platform's Web Crypto (Node >= 19 and every browser), so checksums need
// no Node module: checkpoints record one per tensor file and verify it on load.

import { unshared } from './bytes.js';

/** The SHA-256 of `bytes`, as 64 lowercase hex digits. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', unshared(bytes)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}
