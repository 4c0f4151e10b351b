"""Any of our architectures as a PyTorch module, for tests that compare with PyTorch.

The layer list is the JSON of an Architecture's `layers` (src/nn/layers.ts), so the same
description builds both nets. Dropout layers multiply by masks the test gives (our counter-based
masks, already scaled by 1 / (1 - p)), keyed by layer index, so a training step can be compared
exactly; without a mask a dropout layer is the identity (evaluation).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class OurNet(nn.Module):
    def __init__(self, layers, input_shape):
        super().__init__()
        self.specs = layers
        self.mods = nn.ModuleDict()
        self.masks = {}
        self.names = {}
        channels = input_shape[0]
        for i, s in enumerate(layers):
            if s['kind'] == 'conv':
                self.mods[str(i)] = nn.Conv2d(channels, s['outChannels'], s['kernel'], stride=s['stride'], padding=s['pad'], groups=s['groups'])
                channels = s['outChannels']
            elif s['kind'] == 'linear':
                self.mods[str(i)] = nn.LazyLinear(s['outFeatures'])  # its input size is known after flatten
            if s['kind'] in ('conv', 'linear'):
                self.names[s['name']] = str(i)

    def forward(self, x, stop_after=None, start_at=0):
        """The logits; with `stop_after` (a layer index), that layer's output instead; with
        `start_at`, `x` is the input of that layer (the output of the one before it)."""
        for i, s in enumerate(self.specs):
            if i < start_at:
                continue
            kind = s['kind']
            if kind in ('conv', 'linear'):
                x = self.mods[str(i)](x)
            elif kind == 'relu':
                x = F.relu(x)
            elif kind == 'lrn':
                p = s['params']
                alpha = p['alpha'] if p['alphaDividedBySize'] else p['alpha'] * p['size']
                x = F.local_response_norm(x, p['size'], alpha=alpha, beta=p['beta'], k=p['k'])
            elif kind == 'maxpool':
                x = F.max_pool2d(x, s['size'], s['stride'], ceil_mode=s['rounding'] == 'ceil')
            elif kind == 'adaptiveavgpool':
                x = F.adaptive_avg_pool2d(x, s['outSize'])
            elif kind == 'flatten':
                x = torch.flatten(x, 1)
            elif kind == 'dropout':
                if i in self.masks:
                    x = x * self.masks[i]
            if stop_after == i:
                return x
        return x

    def layer(self, name):
        return self.mods[self.names[name]]


def build(layers, input_shape, dtype=torch.float64):
    """The net, its lazy layers materialised by one pass on zeros."""
    net = OurNet(layers, input_shape)
    with torch.no_grad():
        net(torch.zeros(1, *input_shape))
    return net.to(dtype)


def named_parameters(net, file_names):
    """Our file names (conv1.weight ... or torchvision's keys) -> the module's parameters."""
    out = {}
    for name, mod_key in net.names.items():
        mod = net.mods[mod_key]
        names = file_names.get(name, {'weight': name + '.weight', 'bias': name + '.bias'})
        out[names['weight']] = mod.weight
        out[names['bias']] = mod.bias
    return out
