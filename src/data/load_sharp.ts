// sharp (libvips) is an optional dependency: GPU machines often get node_modules without it. The
// modules that decode image files are loaded through here, so that a machine without it gets one
// clear line instead of an internal error from module resolution.
import { AlexNetError } from '../core/errors.js';

export async function loadWithSharp<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const message = (err as Error)?.message ?? String(err);
    if (!/sharp/i.test(message)) throw err;
    throw new AlexNetError(`decoding image files needs the optional package sharp, which could not be loaded (${message}); install it with: npm install sharp`);
  }
}
