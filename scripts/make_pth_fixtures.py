#!/usr/bin/python3
"""PyTorch .pth files for the reader in src/io/pth.ts, made with Debian's PyTorch.

    /usr/bin/python3 scripts/make_pth_fixtures.py fixtures test/fixtures/pth
        Small committed fixtures (a few KB each; CI needs no PyTorch):
          small_zip.pth       state_dict in the zip format (PyTorch >= 1.6): float32,
                              float64, float16 and bfloat16 tensors, a transposed
                              (non-contiguous) tensor, a slice at a storage offset, one
                              tensor under two names (shared storage), and the _metadata
                              attribute that Module.state_dict() sets
          small_legacy.pth    the same state_dict with _use_new_zipfile_serialization=False
          small.safetensors   the expected values (float32) of both
          checkpoint.pth      {"epoch": 3, "state_dict": ...} whose keys carry DataParallel's
                              "module." prefix
          checkpoint.safetensors  its expected values, under the unprefixed names
          evil_global.pth     a zip whose pickle would call os.system if unpickled by Python

    /usr/bin/python3 scripts/make_pth_fixtures.py torchvision OUT_DIR [--seed S]
        At test time: a full torchvision AlexNet with He-scaled random weights saved by
        torch.save (alexnet.pth), an input of std 60 (input.safetensors) and PyTorch's logits
        for it computed in float64 (logits.safetensors).

The output is deterministic for a given seed and torch version.
"""
import argparse
import collections
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from make_goldens import write_safetensors  # noqa: E402

GENERATOR = 'scripts/make_pth_fixtures.py'


def small_state_dict():
    torch.manual_seed(11)
    base = torch.randn(4, 5)
    tied = torch.randn(3)
    sd = collections.OrderedDict()
    sd['f32'] = torch.randn(2, 3)
    sd['f64'] = torch.randn(3, dtype=torch.float64)
    sd['f16'] = torch.randn(2, 2).half()
    sd['bf16'] = torch.randn(4).bfloat16()
    sd['transposed'] = torch.randn(3, 4).t()  # size (4, 3), stride (1, 4)
    sd['sliced'] = base[1:3, 1:4]  # storage offset 6, stride (5, 1); base itself is not saved
    sd['tied.a'] = tied
    sd['tied.b'] = tied
    sd['empty'] = torch.zeros(0, 3)
    sd._metadata = collections.OrderedDict([('', {'version': 1}), ('tied', {'version': 2})])
    assert not sd['transposed'].is_contiguous() and sd['sliced'].storage_offset() == 6
    return sd


class Evil:
    """Unpickled by Python, this would run a shell command: the reader must refuse it."""

    def __reduce__(self):
        return (os.system, ('exit 1',))


def fixtures(out):
    os.makedirs(out, exist_ok=True)
    meta = {'generator': GENERATOR, 'torch': torch.__version__}
    sd = small_state_dict()
    torch.save(sd, os.path.join(out, 'small_zip.pth'))
    torch.save(sd, os.path.join(out, 'small_legacy.pth'), _use_new_zipfile_serialization=False)
    write_safetensors(os.path.join(out, 'small.safetensors'), sd, meta)

    torch.manual_seed(12)
    inner = collections.OrderedDict([('module.conv.weight', torch.randn(2, 1, 3, 3)), ('module.conv.bias', torch.randn(2))])
    torch.save({'epoch': 3, 'state_dict': inner}, os.path.join(out, 'checkpoint.pth'))
    write_safetensors(os.path.join(out, 'checkpoint.safetensors'),
                      collections.OrderedDict((k[len('module.'):], v) for k, v in inner.items()), meta)

    torch.save({'weight': Evil()}, os.path.join(out, 'evil_global.pth'))
    for name in sorted(os.listdir(out)):
        print(f'{name:24s} {os.path.getsize(os.path.join(out, name)):6d} B')


def torchvision_alexnet(out, seed):
    import torchvision
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(seed)
    net = torchvision.models.alexnet().eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            std = (2.0 / p[0].numel()) ** 0.5 if name.endswith('weight') else 0.1
            p.copy_(torch.randn_like(p) * std)
        torch.save(net.state_dict(), os.path.join(out, 'alexnet.pth'))
        x = (torch.randn(2, 3, 224, 224) * 60)
        logits = net.double()(x.double())  # float64 from the stored float32 values
    meta = {'generator': GENERATOR, 'torch': torch.__version__, 'seed': str(seed)}
    write_safetensors(os.path.join(out, 'input.safetensors'), {'input': x}, meta)
    write_safetensors(os.path.join(out, 'logits.safetensors'), {'logits': logits}, meta)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('what', choices=['fixtures', 'torchvision'])
    ap.add_argument('out')
    ap.add_argument('--seed', type=int, default=5)
    args = ap.parse_args()
    if args.what == 'fixtures':
        fixtures(args.out)
    else:
        torchvision_alexnet(args.out, args.seed)


if __name__ == '__main__':
    main()
