// The package as a user gets it: `npm pack`, unpacked into a new Vite app's node_modules, and
// bundled for browsers by Vite, which takes the `browser` entry of package.json `exports`. The
// bundle must hold no Node module (Vite would stub it as __vite-browser-external) and must run:
// it builds the mini net, reads a safetensors file from bytes and runs a forward pass.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const ROOT = new URL('../../', import.meta.url).pathname;

test('npm pack, then a Vite app imports the browser entry from the tarball, bundles it without Node modules, and runs it', async () => {
  const work = mkdtempSync(join(tmpdir(), 'alexnet-pack-'));
  const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'error' } })
    .trim()
    .split('\n')
    .pop()!;
  const app = join(work, 'app');
  const installed = join(app, 'node_modules/alexnet-ts');
  mkdirSync(installed, { recursive: true });
  execFileSync('tar', ['-xzf', join(work, tarball), '-C', installed, '--strip-components=1']);
  // The browser entry's one dependency, as npm would install it.
  symlinkSync(join(ROOT, 'node_modules/fflate'), join(app, 'node_modules/fflate'));
  const packaged = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
  assert.equal(packaged.exports['.'].browser.default, './dist/src/browser.js');
  assert.ok(!readdirSync(join(installed, 'dist')).includes('test'), 'the tarball leaves the tests out');

  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', type: 'module', private: true }));
  writeFileSync(
    join(app, 'main.js'),
    `import { architecture, CpuBackend, encodeSafetensors, Net, parseSafetensors } from 'alexnet-ts';
export async function run() {
  const backend = new CpuBackend();
  const net = new Net(backend, architecture('mini'), 2);
  net.initialize({ scheme: 'he', seed: 1 });
  const bytes = encodeSafetensors(await net.exportTensors(), { arch: 'mini' });
  const again = new Net(backend, architecture('mini'), 2);
  again.importTensors(parseSafetensors(bytes, 'weights').tensors, 'weights');
  backend.write(again.input, new Float32Array(2 * 28 * 28).fill(0.5));
  again.forward(2, 'eval');
  return Array.from(await again.readLogits(2));
}
`,
  );
  const { build } = await import('vite');
  const warnings: string[] = [];
  await build({
    root: app,
    logLevel: 'silent',
    customLogger: { info() {}, warn: (m: string) => warnings.push(m), warnOnce: (m: string) => warnings.push(m), error: (m: string) => warnings.push(m), clearScreen() {}, hasErrorLogged: () => false, hasWarned: false },
    build: { lib: { entry: join(app, 'main.js'), formats: ['es'], fileName: 'bundle' }, outDir: join(app, 'dist'), minify: false },
  });
  const bundle = readFileSync(join(app, 'dist/bundle.js'), 'utf8');
  assert.doesNotMatch(bundle, /__vite-browser-external|from ["']node:|require\(["']node:/, 'the bundle pulled in a Node module');
  assert.deepEqual(warnings.filter((w) => /externalized for browser compatibility/.test(w)), []);
  const logits: number[] = await (await import(join(app, 'dist/bundle.js'))).run();
  assert.equal(logits.length, 20);
  assert.ok(logits.every(Number.isFinite));
});
