// The browser entry imports no Node module: its module graph (static imports, re-exports and
// dynamic imports, followed through every relative path) reaches no node: module, no Node
// built-in, and neither sharp nor webgpu (Dawn). The Node entry, by contrast, must reach them:
// the walk is checked on it too, so a walker that found nothing would fail.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const DIST = fileURLToPath(new URL('../src/', import.meta.url));
const FORBIDDEN = new Set(['sharp', 'webgpu', ...builtinModules]);

/** Every bare specifier the graph from `entry` imports, with the file that imports it. */
function bareImports(entry: string): Map<string, string> {
  const found = new Map<string, string>();
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    const specifiers = [
      ...source.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s*['"]([^'"]+)['"]/gm),
      ...source.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm),
      ...source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
      ...source.matchAll(/new URL\(\s*['"]([^'"]+\.js)['"]\s*,\s*import\.meta\.url\s*\)/g),
    ].map((m) => m[1]);
    for (const s of specifiers) {
      if (s.startsWith('.')) visit(join(dirname(file), s));
      else if (!found.has(s)) found.set(s, relative(DIST, file));
    }
  };
  visit(join(DIST, entry));
  return found;
}

const forbiddenIn = (imports: Map<string, string>) =>
  [...imports].filter(([s]) => s.startsWith('node:') || FORBIDDEN.has(s.split('/')[0])).map(([s, from]) => `${s} (imported by ${from})`);

test('the browser entry reaches no node: module, Node built-in, sharp or webgpu', () => {
  const imports = bareImports('browser.js');
  assert.deepEqual(forbiddenIn(imports), []);
  assert.ok(imports.has('fflate'), 'the walk reached the parsers (fflate)');
});

test('the Node entry does reach them (the walk finds what is there)', () => {
  const bad = forbiddenIn(bareImports('index.js')).map((s) => s.split(' ')[0]);
  for (const name of ['node:fs/promises', 'node:worker_threads', 'webgpu']) assert.ok(bad.includes(name), `${name} in ${bad.join(', ')}`);
});
