#!/usr/bin/python3
"""PyTorch on the CPU, the same nets and batches as bench/cpu.js, for bench/side_by_side.js.

    /usr/bin/python3 bench/torch_cpu.py --arch mini --mode train --batch 32 [--threads 2] [--steps 3]

Prints one JSON line like bench/cpu.js's: {"arch","mode","batch","img_per_s","ms_per_step",
"threads","torch"}: the median of `steps` timed steps after one warm-up step, random data, SGD
with momentum 0.9 and weight decay 5e-4 included in a training step. The nets are SPEC.md's
paper net (LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2) is the paper's undivided 1e-4) and
src/nn/architectures.ts's mini (widths 48-96-128-128-96, fc 512, dropout 0.25).
Needs Debian's python3-torch (with libopenblas0-pthread for a fair figure).
"""
import argparse
import json

import torch
import torch.nn as nn

from torch_timing import timed_steps


def family(c_in, conv, k1, s1, p1, hidden, classes, dropout, flat):
    lrn = lambda: nn.LocalResponseNorm(5, alpha=1e-4 * 5, beta=0.75, k=2.0)  # noqa: E731
    return nn.Sequential(
        nn.Conv2d(c_in, conv[0], k1, stride=s1, padding=p1), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(conv[0], conv[1], 5, padding=2, groups=2), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(conv[1], conv[2], 3, padding=1), nn.ReLU(),
        nn.Conv2d(conv[2], conv[3], 3, padding=1, groups=2), nn.ReLU(),
        nn.Conv2d(conv[3], conv[4], 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, classes))


NETS = {
    'paper': (lambda: family(3, [96, 256, 384, 384, 256], 11, 4, 0, 4096, 1000, 0.5, 9216), (3, 227, 227), 1000),
    'mini': (lambda: family(1, [48, 96, 128, 128, 96], 5, 1, 2, 512, 10, 0.25, 384), (1, 28, 28), 10),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--arch', choices=list(NETS), required=True)
    ap.add_argument('--mode', choices=['train', 'infer'], required=True)
    ap.add_argument('--batch', type=int, required=True)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--steps', type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    build, shape, classes = NETS[a.arch]
    net = build()
    x = torch.randn(a.batch, *shape)
    y = torch.randint(0, classes, (a.batch,))
    opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9, weight_decay=5e-4)

    def train():
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def infer():
        with torch.no_grad():
            net(x)

    net.train(a.mode == 'train')
    step = train if a.mode == 'train' else infer
    step()
    ms, _ = timed_steps(step, a.steps)
    print(json.dumps({'arch': a.arch, 'mode': a.mode, 'batch': a.batch, 'img_per_s': a.batch * 1000 / ms,
                      'ms_per_step': ms, 'threads': torch.get_num_threads(), 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
