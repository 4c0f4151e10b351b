// `alexnet explain` against PyTorch on the full-size paper and torchvision nets with random
// weights, on the CPU and on WebGPU (scripts/torch_explain_check.py): every layer's activations
// (forward hooks), saliency (autograd) and Grad-CAM (hooks on conv5's ReLU) within 1e-4
// relative, occlusion (a loop over the occluded copies) within 1e-5 absolute. Needs Debian's
// python3-torch: skipped, with the reason printed, where it is absent (never in CI).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { PYTHON, torchSkip } from './helpers.js';

const skip = torchSkip();

for (const arch of ['paper', 'torchvision']) {
  test(`alexnet explain --arch ${arch} on the CPU and WebGPU equals PyTorch's maps`, { skip }, () => {
    const root = new URL('../../', import.meta.url).pathname;
    const run = spawnSync(PYTHON, ['scripts/torch_explain_check.py', arch, '--backends', 'cpu,webgpu'], { cwd: root, encoding: 'utf8' });
    const results = run.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    for (const r of results) console.log(JSON.stringify(r));
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
    assert.deepEqual(results.map((r) => r.backend), ['cpu', 'webgpu']);
    for (const r of results) {
      assert.ok(r.activations_max_rel_err <= 1e-4 && r.saliency_max_rel_err <= 1e-4 && r.gradcam_max_rel_err <= 1e-4, JSON.stringify(r));
      assert.ok(r.occlusion_max_abs_err <= 1e-5, JSON.stringify(r));
      assert.equal(r.layers_compared, arch === 'paper' ? 13 : 12);
      assert.deepEqual([r.gradcam_shape, r.occlusion_shape], [[13, 13], [3, 3]]);
    }
  });
}
