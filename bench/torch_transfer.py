#!/usr/bin/python3
"""PyTorch beside bench/transfer.js: the same fine-tuning recipes on the same images.

    /usr/bin/python3 bench/torch_transfer.py SPEC.json

SPEC (bench/transfer.ts writes it): {"fashionMnist": DIR, "test": [indices], "labelOffset": 5,
"threads": 2, "batch": .., "momentum": .., "weightDecay": .., "source": {"weights": FILE,
"layers": [...], "input": [C, H, W], "mean": [..], "scale": [..]}, "scratch": {"layers": [...],
"input": [C, H, W], "scale": s}, "runs": [{"size", "recipe", "seed", "train": [indices], "freeze":
null | LAYER, "lr", "lrMultNew", "epochs"}], "checks": [{"size", "recipe", "seed", "weights": FILE,
"train": [indices], "ours": top1}]}.

The nets are built from our architectures' layer lists (scripts/torch_arch.py). A fine-tune loads
every layer from our source checkpoint but fc8, which is drawn afresh as ours draws it (He normal,
the spec's bias); from scratch, every layer so. Inputs are (pixel - the source's channel mean) *
scale for a fine-tune, (pixel - the training images' mean image) * scale from scratch (three equal
channels, as ours decodes a folder of grey PNGs). torch.optim.SGD with momentum and weight decay in
two parameter groups (a new fc8 at lrMultNew times the rate), constant rate, mean cross-entropy,
shuffled batches (torch.randperm), PyTorch's own dropout masks in the trained layers. Frozen layers
take no gradient and run in evaluation mode (no dropout), except a dropout layer right before the
first trained layer, which keeps dropping what that layer sees (as ours: src/nn/net.ts's
frozenBefore). With no augmentation the frozen layers give each image the same output every epoch,
so they run once per image (and per source, over runs) here and the trained layers run on those
outputs: the same arithmetic as running them every step. One JSON line per run: test top-1 on the
test images; then, per check, our trained weights scored by this script's evaluation (it must
agree with our own score: the same images, preprocessing and net).
"""
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'scripts'))
from make_goldens import read_safetensors  # noqa: E402
from torch_arch import build, named_parameters  # noqa: E402


def read_idx(directory, prefix):
    with gzip.open(os.path.join(directory, prefix + '-images-idx3-ubyte.gz')) as f:
        images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(directory, prefix + '-labels-idx1-ubyte.gz')) as f:
        labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    return images, labels


def parameterised(layers):
    return [i for i, s in enumerate(layers) if s['kind'] in ('conv', 'linear')]


def first_trained(layers, freeze):
    """The index of the first trained layer: the conv or linear layer after `freeze` (0 without)."""
    if freeze is None:
        return 0
    at = parameterised(layers)
    names = [layers[i]['name'] for i in at]
    return at[names.index(freeze) + 1]


def frozen_before(layers, trained_from):
    """Where the frozen front ends: the first trained layer, less the dropout layers just before it."""
    front = trained_from
    while front > 0 and layers[front - 1]['kind'] == 'dropout':
        front -= 1
    return front


# The frozen front's outputs by (front end, images): the same source layers in every run.
FRONTS = {}


def draw(net, layers, which):
    """Layers `which` (indices) drawn as our 'he' scheme draws them: N(0, 2 / fan_in), the spec's bias."""
    with torch.no_grad():
        for i in which:
            mod = net.mods[str(i)]
            mod.weight.normal_(0, (2 / mod.weight[0].numel()) ** 0.5)
            mod.bias.fill_(layers[i]['biasInit'])


def inputs(images, mean, scale, channels):
    x = (torch.from_numpy(images.astype(np.float32)) - mean) * scale
    return x.unsqueeze(1).expand(-1, channels, -1, -1).contiguous()


class Task:
    """One recipe's net and its images as the net's input (the frozen layers' outputs where frozen)."""

    def __init__(self, spec, recipe, train, freeze, weights=None):
        scratch = recipe == 'scratch'
        arch = spec['scratch'] if scratch else spec['source']
        self.layers = arch['layers']
        self.net = build(self.layers, arch['input'], dtype=torch.float32)
        trained_from = first_trained(self.layers, freeze)
        self.start = frozen_before(self.layers, trained_from)
        images, labels = spec['_train']
        if scratch:
            # The training images' mean image (ours: over the stored images, cropped alike).
            mean = torch.from_numpy(images[train].astype(np.float64).mean(axis=0).astype(np.float32))
            scale = arch['scale']
        else:
            mean, scale = arch['mean'][0], arch['scale'][0]
        params = named_parameters(self.net, {})
        fc8 = parameterised(self.layers)[-1]
        if weights is not None:
            self.load(params, read_safetensors(weights)[0])
        elif scratch:
            draw(self.net, self.layers, parameterised(self.layers))
        else:
            self.load(params, {k: v for k, v in read_safetensors(spec['source']['weights'])[0].items() if not k.startswith('fc8.')})
            draw(self.net, self.layers, [fc8])
        channels = arch['input'][0]
        self.y = torch.from_numpy(labels[train].astype(np.int64) - spec['labelOffset'])
        self.x = self.front(tuple(train), lambda: inputs(images[train], mean, scale, channels))
        test_images, test_labels = spec['_test']
        self.test_x = self.front('test', lambda: inputs(test_images, mean, scale, channels))
        self.test_y = torch.from_numpy(test_labels.astype(np.int64) - spec['labelOffset'])
        trained = [p for i in parameterised(self.layers) if i >= trained_from for p in self.net.mods[str(i)].parameters()]
        for p in self.net.parameters():
            p.requires_grad_(False)
        for p in trained:
            p.requires_grad_(True)
        self.new = list(self.net.mods[str(fc8)].parameters()) if not scratch else []
        self.old = [p for p in trained if all(p is not q for q in self.new)]

    def load(self, params, tensors):
        with torch.no_grad():
            for name, t in tensors.items():
                if name in params:
                    params[name].copy_(torch.from_numpy(t.copy()))

    def front(self, images, make_inputs):
        """The frozen layers' outputs for `images` (evaluation mode), in batches; the inputs without any."""
        if self.start == 0:
            return make_inputs()
        key = (self.start, images)
        if key not in FRONTS:
            x = make_inputs()
            with torch.no_grad():
                FRONTS[key] = torch.cat([self.net(x[i:i + 500], stop_after=self.start - 1) for i in range(0, len(x), 500)])
        return FRONTS[key]

    def dropout_masks(self, batch):
        """PyTorch's own dropout (nn.Dropout's masks and 1 / (1 - p)) for each dropout layer that trains."""
        masks = {}
        for i, s in enumerate(self.layers):
            if s['kind'] == 'dropout' and i >= self.start:
                width = next(self.layers[j]['outFeatures'] for j in range(i - 1, -1, -1) if self.layers[j]['kind'] == 'linear')
                masks[i] = F.dropout(torch.ones(batch, width), s['p'], training=True)
        return masks

    def train(self, spec, run):
        groups = [{'params': self.old}] if self.old else []
        if self.new:
            groups.append({'params': self.new, 'lr': run['lr'] * run['lrMultNew']})
        opt = torch.optim.SGD(groups, lr=run['lr'], momentum=spec['momentum'], weight_decay=spec['weightDecay'])
        n, b = len(self.y), spec['batch']
        steps = 0
        for _ in range(run['epochs']):
            order = torch.randperm(n)
            for at in range(0, n, b):
                pick = order[at:at + b]
                self.net.masks = self.dropout_masks(len(pick))
                loss = F.cross_entropy(self.net(self.x[pick], start_at=self.start), self.y[pick])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                steps += 1
        self.net.masks = {}
        return steps

    def test_top1(self):
        with torch.no_grad():
            logits = torch.cat([self.net(self.test_x[i:i + 500], start_at=self.start) for i in range(0, len(self.test_x), 500)])
        return float((logits.argmax(1) == self.test_y).float().mean())


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    torch.set_num_threads(spec['threads'])
    train_images, train_labels = read_idx(spec['fashionMnist'], 'train')
    test_images, test_labels = read_idx(spec['fashionMnist'], 't10k')
    spec['_train'] = (train_images, train_labels)
    spec['_test'] = (test_images[spec['test']], test_labels[spec['test']])
    for run in spec['runs']:
        t0 = time.perf_counter()
        torch.manual_seed(run['seed'])
        task = Task(spec, run['recipe'], run['train'], run['freeze'])
        steps = task.train(spec, run)
        print(json.dumps({'framework': 'pytorch', 'size': run['size'], 'recipe': run['recipe'], 'seed': run['seed'], 'test_top1': task.test_top1(),
                          'test_n': len(task.test_y), 'steps': steps, 'seconds': time.perf_counter() - t0, 'torch': torch.__version__}), flush=True)
    for check in spec.get('checks', []):
        task = Task(spec, check['recipe'], check['train'], None, weights=check['weights'])
        print(json.dumps({'check': True, 'size': check['size'], 'recipe': check['recipe'], 'seed': check['seed'], 'ours': check['ours'],
                          'scored_by_pytorch': task.test_top1()}), flush=True)


if __name__ == '__main__':
    main()
