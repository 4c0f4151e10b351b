// Reading a user's file whole, with every failure a FormatError that names it.
import { readFile } from 'node:fs/promises';
import { FormatError } from '../core/errors.js';

/** The bytes of `path`; `expected` says what it should be ("an IDX file"), for the directory case. */
export async function readInputFile(path: string, expected: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new FormatError(path, 'file not found');
    if (code === 'EISDIR') throw new FormatError(path, `is a directory, expected ${expected}`);
    throw new FormatError(path, `cannot read file (${(err as Error).message})`);
  }
}
