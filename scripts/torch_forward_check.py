#!/usr/bin/python3
"""Check `alexnet forward` against PyTorch on full-size nets with random weights.

    /usr/bin/python3 scripts/torch_forward_check.py paper|torchvision [--seed S] [--batch N] [--backend cpu|webgpu]

Builds the architecture in PyTorch (paper: the 2012 net with LocalResponseNorm(5, alpha=5e-4,
beta=0.75, k=2), i.e. the paper's undivided alpha=1e-4; torchvision: torchvision.models.alexnet),
draws He-scaled random weights and an input of std 60 (mean-subtracted raw pixels, so LRN
matters), writes both as safetensors (torchvision: its own state_dict keys), runs
`node dist/src/cli/main.js forward --backend B` (cpu by default), and compares the logits with PyTorch's,
computed in float64. Prints one JSON line; exits 1 if the max relative error (largest absolute
difference over the largest absolute logit) exceeds 1e-4. The elementwise figure is printed too:
it is dominated by logits near zero, where float32 rounding of ~1e3-sized sums shows.
Needs Debian's python3-torch and python3-torchvision and a built project (npm run build).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
from make_goldens import read_safetensors, write_safetensors  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), '..')


def paper_net():
    lrn = lambda: nn.LocalResponseNorm(5, alpha=1e-4 * 5, beta=0.75, k=2.0)  # noqa: E731
    net = nn.Sequential(
        nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2, groups=2), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1, groups=2), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Flatten(), nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, 1000))
    names = ['conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'fc6', 'fc7', 'fc8']
    layers = [m for m in net if isinstance(m, (nn.Conv2d, nn.Linear))]
    keys = {}
    for name, layer in zip(names, layers):
        keys[name + '.weight'] = layer.weight
        keys[name + '.bias'] = layer.bias
    return net, keys, 227


def torchvision_net():
    net = torchvision.models.alexnet()
    return net, dict(net.named_parameters()), 224


def randomize(net, params):
    """The net in float64 evaluation mode with He-scaled random weights, biases N(0, 0.1^2), all float32 values."""
    net = net.double().eval()
    with torch.no_grad():
        for name, p in params.items():
            if name.endswith('weight'):
                fan_in = p[0].numel()
                p.copy_(torch.randn_like(p) * (2.0 / fan_in) ** 0.5)
            else:
                p.copy_(torch.randn_like(p) * 0.1)
            p.copy_(p.float().double())  # the float32 values we store
    return net


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('arch', choices=['paper', 'torchvision'])
    ap.add_argument('--seed', type=int, default=7)
    ap.add_argument('--batch', type=int, default=2)
    ap.add_argument('--backend', choices=['cpu', 'webgpu'], default='cpu')
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    net, params, side = paper_net() if args.arch == 'paper' else torchvision_net()
    net = randomize(net, params)
    with torch.no_grad():
        x = (torch.randn(args.batch, 3, side, side, dtype=torch.float64) * 60).float().double()
        logits = net(x)
    with tempfile.TemporaryDirectory() as tmp:
        weights, inputs, outputs = (os.path.join(tmp, n) for n in ('w.safetensors', 'x.safetensors', 'y.safetensors'))
        write_safetensors(weights, params, {'generator': 'scripts/torch_forward_check.py', 'seed': args.seed})
        write_safetensors(inputs, {'input': x}, {})
        subprocess.run(['node', os.path.join(ROOT, 'dist/src/cli/main.js'), 'forward', '--arch', args.arch,
                        '--weights', weights, '--input', inputs, '--output', outputs, '--backend', args.backend],
                       check=True, stdout=subprocess.DEVNULL)
        ours = read_safetensors(outputs)[0]['logits'].astype(np.float64)
    want = logits.numpy()
    elementwise = np.abs(ours - want) / np.maximum(np.abs(want), 1e-3 * np.abs(want).max())
    result = {
        'arch': args.arch, 'backend': args.backend, 'seed': args.seed, 'batch': args.batch, 'torch': torch.__version__,
        'logit_std': float(want.std()),
        'max_rel_err': float(np.abs(ours - want).max() / np.abs(want).max()),
        'max_elementwise_rel_err_floor_1e-3': float(elementwise.max()),
    }
    print(json.dumps(result))
    sys.exit(0 if result['max_rel_err'] <= 1e-4 else 1)


if __name__ == '__main__':
    main()
