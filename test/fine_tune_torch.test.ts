// One SGD step of a fine-tune (a new fc8 for 3 classes, frozen through conv5, the new layer at
// 10x the rate) against PyTorch doing the same with its own parameter groups and
// torch.optim.SGD (scripts/torch_finetune_step.py), on the same starting weights, batch and
// dropout masks: for the torchvision and mini architectures. Debian's torch; never skipped in CI.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CpuBackend } from '../src/backend/cpu/index.js';
import { product } from '../src/core/geometry.js';
import { readSafetensors, writeSafetensors } from '../src/io/files.js';
import type { NamedTensor } from '../src/io/safetensors.js';
import { architecture, parameterNames } from '../src/nn/architectures.js';
import { initialTensors, Net } from '../src/nn/net.js';
import { dropoutParams } from '../src/nn/stack.js';
import { startingTensors, trainableOptions, type FineTuneConfig } from '../src/train/fine_tune.js';
import { TORCHVISION_PREPROCESSING } from '../src/data/preprocessing.js';
import { Rng } from '../src/rng/hash.js';
import { assertClose, PYTHON, torchSkip } from './helpers.js';

const skip = torchSkip();
const ROOT = new URL('../../', import.meta.url).pathname;
const H = { lr: 0.01, momentum: 0.9, weightDecay: 5e-4, form: 'pytorch' as const };
const SEED = 3;
const STEP = 0;

for (const name of ['mini', 'torchvision']) {
  test(`a fine-tune step of ${name} (new fc8, --freeze conv5, --lr-mult-new 10) equals PyTorch's within 1e-5`, { skip }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ft-torch-'));
    const batch = 2;
    const arch = architecture(name, undefined, 3);
    // The source: a trained net of the architecture's own classes (random weights stand in).
    const source = new Map(initialTensors(architecture(name), { scheme: 'he', seed: 5 }).map((t) => [t.name, t]));
    const ft: FineTuneConfig = {
      source: { name: 'source', sha256: '0', format: 'safetensors', arch: name, input: arch.input, classes: null, preprocessing: TORCHVISION_PREPROCESSING },
      freeze: 'conv5', lrMultNew: 10, newLast: true,
    };
    const start = startingTensors(arch, source, 'source', ft, { scheme: arch.defaultInit, seed: 1 });
    // mini in Float64 on the reference loops: the step's arithmetic exactly (elementwise); the
    // torchvision net at 224 on the fast float32 path, compared at each tensor's scale.
    const exact = name === 'mini';
    const backend = new CpuBackend({ float64: exact });
    const net = new Net(backend, arch, batch, trainableOptions(arch, ft));
    net.importTensors(start, 'start');
    const rng = new Rng(9);
    const input = Float32Array.from({ length: batch * product(arch.input) }, () => rng.normal() * (name === 'mini' ? 1.5 : 1));
    const labels = Float32Array.of(2, 0);
    backend.write(net.input, input);
    backend.write(net.labels, labels);
    net.forward(batch, 'train', SEED, STEP);
    net.backward();
    net.update(H);
    const after = new Map((await net.exportTensors('value')).map((t) => [t.name, t]));

    // Our dropout masks (scaled by 1 / (1 - p)), from the backend's own op on ones.
    const masks: NamedTensor[] = [];
    for (const l of net.layers) {
      if (l.spec.kind !== 'dropout' || l.index < net.frozenBefore) continue;
      const count = batch * product(l.inShape);
      const ones = backend.allocate('ones', count);
      backend.fill(ones, 1);
      backend.dropoutForward(count, dropoutParams(l.spec.p, { batch, mode: 'train', seed: SEED, step: STEP, firstImage: 0 }, l), ones, ones);
      masks.push({ name: `mask.${l.index}`, shape: [batch, ...l.inShape], data: await backend.read(ones) });
    }
    assert.ok(masks.length >= 1, 'the trained part has dropout');
    const fc8 = parameterNames(arch, 'fc8');
    // What --freeze conv5 means, named independently of the code under test: conv1 ... conv5.
    const frozen = ['conv1', 'conv2', 'conv3', 'conv4', 'conv5'].flatMap((l) => Object.values(parameterNames(arch, l)));
    assert.deepEqual(net.parameters.filter((p) => p.grad === null).map((p) => p.name), frozen, 'exactly conv1-conv5 are frozen');
    await writeSafetensors(join(dir, 'in.safetensors'), [
      ...start.values(),
      { name: 'input', shape: [batch, ...arch.input], data: input },
      { name: 'labels', shape: [batch], data: labels },
      ...masks,
    ]);
    writeFileSync(join(dir, 'spec.json'), JSON.stringify({
      layers: arch.layers, input: arch.input, fileNames: arch.fileNames ?? {}, frozenFiles: frozen, newFiles: [fc8.weight, fc8.bias],
      lr: H.lr, momentum: H.momentum, weightDecay: H.weightDecay, lrMultNew: ft.lrMultNew,
    }));
    const run = spawnSync(PYTHON, ['scripts/torch_finetune_step.py', join(dir, 'spec.json'), join(dir, 'in.safetensors'), join(dir, 'out.safetensors')], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const want = (await readSafetensors(join(dir, 'out.safetensors'))).tensors;
    for (const p of net.parameters) {
      const ours = after.get(p.name)!.data;
      const before = start.get(p.name)!.data;
      if (frozen.includes(p.name)) {
        assert.deepEqual(ours, before, `${p.name} is frozen`);
        assert.ok(want.get(`delta.${p.name}`)!.data.every((d) => d === 0), `PyTorch left ${p.name} as it was too`);
        continue;
      }
      const w = want.get(p.name)!.data;
      assertClose(`${name} ${p.name}`, ours, w, 1e-5, exact ? 1e-3 : w.reduce((m, v) => Math.max(m, Math.abs(v)), 0));
      // The change itself, which a wrong gradient or rate would get wrong by far more.
      const delta = ours.map((w, i) => w - before[i]);
      assertClose(`${name} ${p.name} change`, delta, want.get(`delta.${p.name}`)!.data, exact ? 1e-5 : 2e-3, 1e-2);
    }
  });
}
