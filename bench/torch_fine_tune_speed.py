#!/usr/bin/python3
"""PyTorch fine-tuning torchvision's AlexNet at 224 on the CPU, for bench/fine_tune_speed.js.

    /usr/bin/python3 bench/torch_fine_tune_speed.py --pth FILE [--classes 3] [--batch 32]
        [--threads 2] [--steps 10] [--warmup 3] [--kept]

torchvision.models.alexnet with the weights of FILE, its last layer replaced by one for
`classes`; the features (conv1-conv5) frozen (requires_grad False, evaluation mode, run under
no_grad), the classifier trained in training mode (its dropout on) with torch.optim.SGD, momentum
0.9, weight decay 5e-4, the new layer at 10x the rate (two parameter groups), mean cross-entropy.
Each step runs the features on a batch and trains the classifier; with --kept the features'
outputs of the batch are computed once beforehand and each step trains the classifier alone
(what our kept features do after the first epoch). Prints one JSON line: the median img/s of
`steps` timed steps after `warmup` untimed ones, on one fixed batch of random normalised images.
Needs Debian's python3-torch and python3-torchvision (with libopenblas0-pthread for a fair figure).
"""
import argparse
import json

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

from torch_timing import timed_steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--pth', required=True)
    ap.add_argument('--classes', type=int, default=3)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--kept', action='store_true')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net = torchvision.models.alexnet()
    net.load_state_dict(torch.load(a.pth))
    net.classifier[6] = nn.Linear(4096, a.classes)
    for p in net.features.parameters():
        p.requires_grad_(False)
    net.features.eval()
    net.classifier.train()
    new = list(net.classifier[6].parameters())
    old = [p for p in net.classifier.parameters() if all(p is not q for q in new)]
    lr = 0.001
    opt = torch.optim.SGD([{'params': old}, {'params': new, 'lr': 10 * lr}], lr=lr, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(a.batch, 3, 224, 224)
    y = torch.randint(0, a.classes, (a.batch,))

    def features(images):
        with torch.no_grad():
            return torch.flatten(net.avgpool(net.features(images)), 1)

    kept = features(x) if a.kept else None

    def step():
        loss = F.cross_entropy(net.classifier(kept if a.kept else features(x)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(a.warmup):
        step()
    ms, times = timed_steps(step, a.steps)
    print(json.dumps({'framework': 'pytorch', 'kept': a.kept, 'batch': a.batch, 'img_per_s': a.batch * 1000 / ms, 'ms_per_step': ms,
                      'steps_ms': times, 'threads': torch.get_num_threads(), 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
