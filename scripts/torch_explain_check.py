#!/usr/bin/python3
"""Check `alexnet explain` against PyTorch on full-size nets with random weights.

    /usr/bin/python3 scripts/torch_explain_check.py paper|torchvision [--backends cpu,webgpu] [--seed S]
        [--patch P] [--stride S]

Builds the net as scripts/torch_forward_check.py does (the same random weights, in float64),
with fc8 scaled so that the logits have a standard deviation of 3 (a top class with a
probability that an occluder can move), and one input: noise of std 60 on its left half, 0 (the
mean) on its right. PyTorch computes, in float64:
  - every layer's output with forward hooks (each layer after the ReLU that follows it, as ours);
  - saliency: max over channels of |d logit_c / d input| by autograd;
  - Grad-CAM at conv5: hooks on the ReLU after conv5 give A and d logit_c / d A;
    ReLU(sum_k mean(dA_k) A_k) at conv5's resolution. The class c explained by every map is the
    one among the top 5 whose Grad-CAM map before the ReLU is nearest to half negative (so
    that the ReLU matters);
  - occlusion: a loop over the positions, each copy of the input with a patch x patch square of
    0 at (row * stride, col * stride), the softmax probability of c without it less with it.
Then runs `node dist/src/cli/main.js explain --input X --method all --class c --save MAPS` on
each backend and compares: activations, saliency and Grad-CAM within 1e-4 relative (the largest
absolute difference over the largest absolute value of the tensor), occlusion within 1e-5
absolute. Prints one JSON line per backend; exits 1 if any tolerance is exceeded or a map is
degenerate (all zero, or an occlusion map that moves no probability).
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

sys.path.insert(0, os.path.dirname(__file__))
from make_goldens import read_safetensors, write_safetensors  # noqa: E402
from torch_forward_check import paper_net, randomize, torchvision_net  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), '..')
KINDS = {nn.Conv2d: 'conv', nn.ReLU: 'relu', nn.LocalResponseNorm: 'lrn', nn.MaxPool2d: 'maxpool',
         nn.AdaptiveAvgPool2d: 'adaptiveavgpool', nn.Flatten: 'flatten', nn.Dropout: 'dropout', nn.Linear: 'linear'}
NAMES = ['conv1', 'conv2', 'conv3', 'conv4', 'conv5', 'fc6', 'fc7', 'fc8']


def layers_of(arch, net):
    """The modules in the order our layer list has them (torchvision's flatten is no module)."""
    if arch == 'paper':
        return list(net)
    return list(net.features) + [net.avgpool, nn.Flatten()] + list(net.classifier)


def our_names(modules):
    """Our name for each layer whose output is its own (not in place), and the module whose output it holds."""
    kinds = [KINDS[type(m)] for m in modules]
    in_place = [k in ('dropout', 'flatten') or (k == 'relu' and (i == 0 or kinds[i - 1] != 'lrn')) for i, k in enumerate(kinds)]
    out, named = {}, iter(NAMES)
    for i, k in enumerate(kinds):
        name = next(named) if k in ('conv', 'linear') else f'{k}{i}'
        if in_place[i]:
            continue
        last = i  # ours is read after the forward pass: the ReLU after it has run on it (dropout is the identity)
        while last + 1 < len(kinds) and in_place[last + 1] and kinds[last + 1] != 'flatten':
            last += 1
        out[name] = last
    return out


def grad_cam(modules, net, x, logits):
    """Grad-CAM at conv5 (hooks on the ReLU after it) for the class among the top 5 whose map before
    the ReLU is nearest to half negative, so that the ReLU matters; that class and its map."""
    conv5_relu = [i for i, m in enumerate(modules) if isinstance(m, nn.Conv2d)][-1] + 1
    saved = {}

    def keep(_mod, _inp, out):
        saved['a'] = out.detach()[0]
        out.register_hook(lambda g: saved.__setitem__('g', g.detach()[0]))
    h = modules[conv5_relu].register_forward_hook(keep)
    best = None
    for cls in logits[0].argsort(descending=True)[:5].tolist():
        net(x)[0, cls].backward()
        alpha = saved['g'].mean(dim=(1, 2))
        cam = (alpha[:, None, None] * saved['a']).sum(dim=0)
        balance = abs(float((cam < 0).double().mean()) - 0.5)
        if best is None or balance < best[0]:
            best = (balance, cls, torch.relu(cam).numpy())
    h.remove()
    return best[1], best[2]


def reference(arch, net, x, patch, stride):
    modules = layers_of(arch, net)
    for m in modules:
        if isinstance(m, nn.ReLU):
            m.inplace = False  # hooks see each layer's own output
    outputs = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, at=at: outputs.__setitem__(at, o.detach().clone()))
             for at, m in enumerate(modules) if not isinstance(m, nn.Flatten)]
    with torch.no_grad():
        logits = net(x)
    for h in hooks:
        h.remove()
    acts = {name: outputs[at][0].numpy() for name, at in our_names(modules).items()}

    cls, cam = grad_cam(modules, net, x, logits)
    xg = x.clone().requires_grad_(True)
    net(xg)[0, cls].backward()
    sal = xg.grad[0].abs().amax(dim=0).numpy()

    side = x.shape[2]
    rows = (side - patch) // stride + 1
    occ = np.zeros((rows, rows))
    with torch.no_grad():
        p0 = torch.softmax(logits[0], 0)[cls]
        for r in range(rows):
            for c in range(rows):
                y = x.clone()
                y[:, :, r * stride:r * stride + patch, c * stride:c * stride + patch] = 0
                occ[r, c] = float(p0 - torch.softmax(net(y)[0], 0)[cls])
    return cls, float(p0), acts, sal, cam, occ


def rel(ours, want):
    return float(np.abs(ours.astype(np.float64) - want).max() / np.abs(want).max())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('arch', choices=['paper', 'torchvision'])
    ap.add_argument('--backends', default='cpu')
    ap.add_argument('--seed', type=int, default=11)
    ap.add_argument('--patch', type=int, default=64)
    ap.add_argument('--stride', type=int, default=70)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    net, params, side = paper_net() if args.arch == 'paper' else torchvision_net()
    net = randomize(net, params)
    x = (torch.randn(1, 3, side, side, dtype=torch.float64) * 60).float().double()
    x[:, :, :, side // 2:] = 0  # the mean: conv5's maps then differ across the image, and Grad-CAM's changes sign
    fc8w, fc8b = list(params.values())[-2:]
    with torch.no_grad():
        k = 3 / float(net(x).std())
        fc8w.mul_(k).copy_(fc8w.float().double())
        fc8b.mul_(k).copy_(fc8b.float().double())
    cls, p0, acts, sal, cam, occ = reference(args.arch, net, x, args.patch, args.stride)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        weights, inputs = os.path.join(tmp, 'w.safetensors'), os.path.join(tmp, 'x.safetensors')
        write_safetensors(weights, params, {'generator': 'scripts/torch_explain_check.py', 'seed': args.seed})
        write_safetensors(inputs, {'input': x}, {})
        for backend in args.backends.split(','):
            maps = os.path.join(tmp, f'maps-{backend}.safetensors')
            subprocess.run(['node', os.path.join(ROOT, 'dist/src/cli/main.js'), 'explain', '--arch', args.arch, '--weights', weights,
                            '--input', inputs, '--method', 'all', '--class', str(cls), '--patch', str(args.patch),
                            '--stride', str(args.stride), '--out', os.path.join(tmp, f'out-{backend}'), '--save', maps,
                            '--backend', backend], check=True, stdout=subprocess.DEVNULL)
            ours = read_safetensors(maps)[0]
            act_err = {name: rel(ours[f'activations.{name}'], want) for name, want in acts.items()}
            result = {
                'arch': args.arch, 'backend': backend, 'seed': args.seed, 'class': cls, 'probability': p0, 'torch': torch.__version__,
                'layers_compared': len(act_err), 'layers_ours': sum(1 for n in ours if n.startswith('activations.')),
                'activations_max_rel_err': max(act_err.values()), 'worst_layer': max(act_err, key=act_err.get),
                'saliency_max_rel_err': rel(ours['saliency'], sal),
                'gradcam_max_rel_err': rel(ours['gradcam'], cam), 'gradcam_shape': list(cam.shape),
                'gradcam_positive_cells': int((cam > 0).sum()),
                'occlusion_max_abs_err': float(np.abs(ours['occlusion'].astype(np.float64) - occ).max()),
                'occlusion_shape': list(occ.shape), 'occlusion_largest_abs_drop': float(np.abs(occ).max()),
            }
            print(json.dumps(result), flush=True)
            failed |= (result['activations_max_rel_err'] > 1e-4 or result['saliency_max_rel_err'] > 1e-4
                       or result['gradcam_max_rel_err'] > 1e-4 or result['occlusion_max_abs_err'] > 1e-5
                       or result['layers_compared'] != result['layers_ours'] or not 0 < result['gradcam_positive_cells'] < cam.size
                       or result['occlusion_largest_abs_drop'] < 1e-3 or ours['saliency'].max() <= 0)
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
