"""Writes the small Fashion-MNIST subset bundled in data/fashion-mnist-subset/.

The first TRAIN images of the training set and the first TEST of the test set, as gzipped IDX
files with the original names, so `--data fashion-mnist` works offline on a fresh machine.
Source: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist). Run:
    python3 scripts/make_fashion_subset.py
"""
import gzip
import os
import struct

SRC = '/usr/share/datasets/fashion-mnist'
DST = os.path.join(os.path.dirname(__file__), '..', 'data', 'fashion-mnist-subset')
TRAIN, TEST = 4000, 1000


def copy(name, count):
    with gzip.open(os.path.join(SRC, name + '.gz'), 'rb') as f:
        raw = f.read()
    ndim = raw[3]
    dims = list(struct.unpack('>' + 'I' * ndim, raw[4:4 + 4 * ndim]))
    item = 1
    for d in dims[1:]:
        item *= d
    dims[0] = count
    body = raw[4 + 4 * ndim:4 + 4 * ndim + count * item]
    header = raw[:4] + struct.pack('>' + 'I' * ndim, *dims)
    # mtime=0 keeps the bytes reproducible.
    with gzip.GzipFile(os.path.join(DST, name + '.gz'), 'wb', mtime=0) as f:
        f.write(header + body)


os.makedirs(DST, exist_ok=True)
for prefix, count in (('train', TRAIN), ('t10k', TEST)):
    copy(prefix + '-images-idx3-ubyte', count)
    copy(prefix + '-labels-idx1-ubyte', count)
