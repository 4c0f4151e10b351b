// `alexnet forward` against PyTorch on the full-size paper and torchvision nets with random
// weights (scripts/torch_forward_check.py). Needs Debian's python3-torch: skipped, with the
// reason printed, where it is absent (never in CI).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { PYTHON, torchSkip } from './helpers.js';

const skip = torchSkip();

// The WebGPU run needs an adapter (Mesa's llvmpipe in CI; see test/webgpu_harness.ts).
for (const [arch, backend] of [['paper', 'cpu'], ['torchvision', 'cpu'], ['paper', 'webgpu']]) {
  test(`alexnet forward --arch ${arch} --backend ${backend} matches PyTorch within 1e-4 relative`, { skip }, () => {
    const root = new URL('../../', import.meta.url).pathname;
    const run = spawnSync(PYTHON, ['scripts/torch_forward_check.py', arch, '--backend', backend], { cwd: root, encoding: 'utf8' });
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
    const result = JSON.parse(run.stdout.trim().split('\n').pop()!);
    assert.ok(result.max_rel_err <= 1e-4, JSON.stringify(result));
    console.log(JSON.stringify(result));
  });
}
