// Backend selection (src/backend/select.ts). `--backend auto`, the command line's default, takes
// WebGPU only on a hardware adapter: the rule with injected adapter probes (none, a software
// one, a hardware one, a probe that fails), which adapters count as software, and the command
// line on this machine's own adapter (Mesa's llvmpipe where installed: software, so the CPU,
// said on stderr).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { selectBackend } from '../src/backend/select.js';
import { describeInfo, WebGpuBackend, type AdapterProbe, type InfoFields } from '../src/backend/webgpu/index.js';
import { probeAdapter } from '../src/backend/webgpu/dawn.js';
import { NO_WEBGPU, skipUnless } from './helpers.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const here = await probeAdapter();

const LLVMPIPE: InfoFields = { vendor: 'mesa', architecture: '', device: 'llvmpipe-llvm-15-0-6-256-bits-', description: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)' };
const H200: InfoFields = { vendor: 'nvidia', architecture: 'hopper', device: 'NVIDIA H200', description: 'NVIDIA H200', isFallbackAdapter: false };

test('software adapters: llvmpipe, lavapipe, SwiftShader, any that calls itself software or a fallback; a GPU is not', () => {
  const software: InfoFields[] = [
    LLVMPIPE,
    { vendor: 'mesa', description: 'Lavapipe (LLVM 15.0.6)' },
    { vendor: 'google', device: 'SwiftShader Device (Subzero)' },
    { vendor: 'mesa', architecture: 'software' },
    { vendor: 'example', description: 'Example GPU', isFallbackAdapter: true },
  ];
  for (const info of software) assert.equal(describeInfo(info).fallback, true, JSON.stringify(info));
  assert.equal(describeInfo(H200).fallback, false);
});

/** What `auto` picks, and the lines it says, when the adapter probe gives `found`. */
async function auto(found: () => Promise<AdapterProbe | null>) {
  const lines: string[] = [];
  const backend = await selectBackend('auto', (line) => lines.push(line), { probe: found });
  return { backend, lines };
}

const adapter = (info: InfoFields) => async (): Promise<AdapterProbe> => ({ info: describeInfo(info), features: [], limits: {} });

test('--backend auto takes the CPU without an adapter, on a software one, or when the probe fails, and says why', async () => {
  const none = await auto(async () => null);
  assert.equal(none.backend.name, 'cpu');
  assert.deepEqual(none.lines, ['backend: CPU (no WebGPU adapter found)']);
  const software = await auto(adapter(LLVMPIPE));
  assert.equal(software.backend.name, 'cpu');
  assert.deepEqual(software.lines, [
    'backend: CPU (the only WebGPU adapter, llvmpipe: Mesa 25.0.7 (LLVM 15.0.6), is a software one and slower than the CPU backend; --backend webgpu uses it anyway)',
  ]);
  const failing = await auto(async () => {
    throw new Error('Dawn could not start');
  });
  assert.equal(failing.backend.name, 'cpu');
  assert.deepEqual(failing.lines, ['backend: CPU (WebGPU is unavailable: Dawn could not start)']);
});

test('--backend auto takes WebGPU when the probe finds a hardware adapter', { skip: skipUnless(here !== null, 'WebGPU', NO_WEBGPU) }, async () => {
  // The probe reports an H200; the device opened is this machine's.
  const { backend, lines } = await auto(adapter(H200));
  try {
    assert.ok(backend instanceof WebGpuBackend, backend.name);
    assert.deepEqual(lines, [`backend: WebGPU on ${backend.device}`]);
  } finally {
    (backend as WebGpuBackend).dispose();
  }
});

test("the command line's default backend on this machine's adapter: the CPU on a software one, said on stderr", () => {
  const r = spawnSync(process.execPath, [MAIN, 'bench', '--arch', 'mini', '--batch', '2', '--mode', 'infer', '--steps', '1', '--warmup', '0', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const used = JSON.parse(r.stdout).backend;
  console.log(`adapter here: ${here ? `${here.info.description || here.info.device}${here.info.fallback ? ' (software)' : ''}` : 'none'}; auto used ${used}`);
  if (here && !here.info.fallback) {
    assert.equal(used, 'webgpu');
    assert.match(r.stderr, /^backend: WebGPU on /);
    return;
  }
  const reason = here
    ? `the only WebGPU adapter, ${here.info.description || here.info.device}, is a software one and slower than the CPU backend; --backend webgpu uses it anyway`
    : 'no WebGPU adapter found';
  assert.equal(used, 'cpu');
  assert.deepEqual(r.stderr.trim().split('\n'), [`backend: CPU (${reason})`]);
});
