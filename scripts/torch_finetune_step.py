#!/usr/bin/python3
"""One SGD step of a fine-tune in PyTorch, to compare with ours (test/fine_tune_torch.test.ts).

    /usr/bin/python3 scripts/torch_finetune_step.py SPEC.json IN.safetensors OUT.safetensors

SPEC: {"layers": [...], "input": [C, H, W], "fileNames": {...}, "frozenFiles": [...], "newFiles":
[...], "lr": .., "momentum": .., "weightDecay": .., "lrMultNew": ..}. IN holds every parameter (our file
names) as the run starts, "input" [N, C, H, W], "labels" [N] and "mask.<layer index>" for each
dropout layer that drops in training (ours, scaled by 1 / (1 - p)). The step is PyTorch's own:
frozen parameters with requires_grad False and left out of the optimizer, two parameter groups
(the new layer at lrMultNew times the rate), torch.optim.SGD with momentum and weight decay, mean
cross-entropy; in float64. OUT receives every parameter after the step, and its change as
"delta.<name>" (formed in float64).
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from make_goldens import read_safetensors, write_safetensors  # noqa: E402
from torch_arch import build, named_parameters  # noqa: E402


def main():
    spec_path, in_path, out_path = sys.argv[1:4]
    with open(spec_path) as f:
        spec = json.load(f)
    tensors = read_safetensors(in_path)[0]
    net = build(spec['layers'], spec['input'])
    params = named_parameters(net, spec.get('fileNames') or {})
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(torch.from_numpy(tensors[name]).double())
    frozen = set(spec['frozenFiles'])
    for name, p in params.items():
        p.requires_grad_(name not in frozen)
    new_names = set(spec['newFiles'])
    old = [p for n, p in params.items() if p.requires_grad and n not in new_names]
    new = [p for n, p in params.items() if p.requires_grad and n in new_names]
    lr = spec['lr']
    opt = torch.optim.SGD([{'params': old}, {'params': new, 'lr': lr * spec['lrMultNew']}], lr=lr, momentum=spec['momentum'], weight_decay=spec['weightDecay'])
    net.masks = {int(k.split('.')[1]): torch.from_numpy(v).double() for k, v in tensors.items() if k.startswith('mask.')}
    x = torch.from_numpy(tensors['input']).double()
    labels = torch.from_numpy(tensors['labels']).long()
    before = {n: p.detach().clone() for n, p in params.items()}
    loss = F.cross_entropy(net(x), labels)
    opt.zero_grad()
    loss.backward()
    opt.step()
    out = {n: p.detach() for n, p in params.items()}
    out.update({'delta.' + n: p.detach() - before[n] for n, p in params.items()})  # in float64, before rounding
    write_safetensors(out_path, out, {'loss': float(loss)})


if __name__ == '__main__':
    main()
