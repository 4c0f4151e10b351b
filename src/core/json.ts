// JSON from files: checked for nesting depth before it is parsed, so a damaged or hostile file
// (200,000 nested arrays, a 40 MB header of brackets) costs one linear scan and one line naming
// the file, never seconds of parsing, gigabytes, or a stack overflow in code that walks the
// value later. Sizes are bounded by whoever reads the bytes (files.ts readInputFile).
import { FormatError } from './errors.js';

/** Deeper than any file this program writes or reads (state.json is 5 levels deep). */
export const MAX_JSON_DEPTH = 32;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = new Set([0x5b, 0x7b]); // [ {
const CLOSE = new Set([0x5d, 0x7d]); // ] }

/** Throws a FormatError naming `file` when `text` nests arrays and objects deeper than `maxDepth`. */
export function checkJsonDepth(text: string, file: string, maxDepth = MAX_JSON_DEPTH): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (OPEN.has(c)) {
      if (++depth > maxDepth) throw new FormatError(file, `JSON nested more than ${maxDepth} levels deep (at character ${i}), deeper than any file alexnet reads`);
    } else if (CLOSE.has(c)) {
      depth--;
    }
  }
}

/** `text` parsed as JSON after the depth check; faults are one FormatError naming `file`. */
export function parseJson(text: string, file: string, maxDepth = MAX_JSON_DEPTH): unknown {
  checkJsonDepth(text, file, maxDepth);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new FormatError(file, `not valid JSON (${(err as Error).message})`);
  }
}
