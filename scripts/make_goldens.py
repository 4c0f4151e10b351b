#!/usr/bin/python3
"""Generate the PyTorch golden fixtures that the TypeScript tests compare against.

Run (from the repository root, with Debian's PyTorch):

    /usr/bin/python3 scripts/make_goldens.py test/fixtures

(or `npm run goldens`). The fixtures are committed to the repository, so CI and
the test suite never need PyTorch; this script is only rerun when a fixture is
added or changed.

Conventions (matching the TypeScript side):
  * PyTorch layouts: NCHW activations, OIHW conv weights, Linear weights [out, in].
  * Class labels are stored as float32 class indices.
  * Every tensor is stored as little-endian float32 in a hand-written
    safetensors file (no `safetensors` package needed). Inputs and parameters are
    drawn in float64, rounded to float32 (the stored values), and every result is
    computed in float64 from those rounded values before being stored as float32,
    so the stored outputs are the correctly rounded answers for the stored inputs.
  * Each fixture's __metadata__ holds "generator", "torch", "seed",
    "description" and the operation's hyper-parameters.

The output is deterministic: torch.manual_seed per fixture, a single CPU thread,
and a fixed tensor order in each file, so the same seed gives the same bytes.
"""

import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

GENERATOR = "scripts/make_goldens.py"

torch.set_num_threads(1)  # deterministic reduction order, light on the machine


# --------------------------------------------------------------------------
# safetensors writer / reader (format: u64 LE header length, JSON header padded
# with spaces to a multiple of 8, then the raw little-endian tensor bytes)
# --------------------------------------------------------------------------

def write_safetensors(path, tensors, metadata):
    """Write an ordered dict name -> tensor as F32 safetensors, in the given order."""
    header = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        arr = np.ascontiguousarray(t.detach().cpu().to(torch.float32).numpy(), dtype="<f4")
        data = arr.tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for data in blobs:
            f.write(data)


def read_safetensors(path):
    """Read back a file written by write_safetensors (used for self-checks)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    body = raw[8 + n:]
    out = {}
    for name, info in header.items():
        assert info["dtype"] == "F32"
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(body[b:e], dtype="<f4").reshape(info["shape"])
    return out, meta


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def f32(t):
    """Round to float32 (what gets stored) and return as float64 for computing."""
    return t.to(torch.float32).to(torch.float64)


def randn(*shape, std=1.0):
    return f32(torch.randn(*shape, dtype=torch.float64) * std)


def meta(seed, description, **params):
    m = {
        "generator": GENERATOR,
        "torch": torch.__version__,
        "seed": str(seed),
        "description": description,
    }
    m.update({k: str(v) for k, v in params.items()})
    return m


FIXTURES = []  # (file name, builder)


def fixture(name):
    def register(fn):
        FIXTURES.append((name, fn))
        return fn
    return register


# --------------------------------------------------------------------------
# 1. grouped convolutions
# --------------------------------------------------------------------------

def conv_case(seed, n, cin, h, w, cout, k, stride, padding, groups, description):
    torch.manual_seed(seed)
    x = randn(n, cin, h, w).requires_grad_()
    wt = randn(cout, cin // groups, k, k, std=0.3).requires_grad_()
    b = randn(cout, std=0.1).requires_grad_()
    y = F.conv2d(x, wt, b, stride=stride, padding=padding, groups=groups)
    dy = randn(*y.shape)
    (y * dy).sum().backward()
    tensors = {"x": x, "w": wt, "b": b, "y": y, "dy": dy,
               "dx": x.grad, "dw": wt.grad, "db": b.grad}
    return tensors, meta(seed, description, in_channels=cin, out_channels=cout,
                         kernel_size=k, stride=stride, padding=padding, groups=groups)


@fixture("conv_grouped.safetensors")
def conv_grouped():
    return conv_case(101, 2, 4, 7, 7, 6, 3, 2, 1, 2,
                     "conv2d in=4 out=6 k=3 stride=2 padding=1 groups=2 on x[2,4,7,7]; "
                     "y=conv(x,w)+b, dy random upstream grad, dx/dw/db = grads of sum(y*dy)")


@fixture("conv_groups3.safetensors")
def conv_groups3():
    return conv_case(102, 1, 6, 8, 9, 9, 5, 1, 2, 3,
                     "conv2d in=6 out=9 k=5 stride=1 padding=2 groups=3 on x[1,6,8,9]; "
                     "y=conv(x,w)+b, dy random upstream grad, dx/dw/db = grads of sum(y*dy)")


# --------------------------------------------------------------------------
# 2. local response normalisation (PyTorch: b = a / (k + alpha/n * sum a^2)^beta,
#    window padded size//2 before and (size-1)//2 after)
# --------------------------------------------------------------------------

def lrn_case(seed, shape, size, alpha, beta, k, description):
    torch.manual_seed(seed)
    x = randn(*shape, std=20.0).requires_grad_()
    y = nn.LocalResponseNorm(size, alpha=alpha, beta=beta, k=k)(x)
    dy = randn(*y.shape)
    (y * dy).sum().backward()
    tensors = {"x": x, "y": y, "dy": dy, "dx": x.grad}
    return tensors, meta(seed, description, size=size, alpha=alpha, beta=beta, k=k)


@fixture("lrn_paper.safetensors")
def lrn_paper():
    return lrn_case(201, (2, 7, 3, 4), 5, 5e-4, 0.75, 2.0,
                    "torch.nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2) = the paper's "
                    "LRN (n=5, alpha=1e-4 not divided by n, beta=0.75, k=2); x std 20")


@fixture("lrn_caffe.safetensors")
def lrn_caffe():
    return lrn_case(202, (2, 7, 3, 4), 5, 1e-4, 0.75, 1.0,
                    "torch.nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1) "
                    "(Caffe-style, alpha divided by n); x std 20")


@fixture("lrn_size3.safetensors")
def lrn_size3():
    return lrn_case(203, (1, 2, 2, 2), 3, 1e-3, 0.75, 1.0,
                    "torch.nn.LocalResponseNorm(3, alpha=1e-3, beta=0.75, k=1) on only 2 "
                    "channels (window wider than the channel count); x std 20")


@fixture("lrn_size4.safetensors")
def lrn_size4():
    return lrn_case(204, (1, 6, 2, 3), 4, 2e-3, 0.6, 1.5,
                    "torch.nn.LocalResponseNorm(4, alpha=2e-3, beta=0.6, k=1.5): even window, "
                    "padded size//2=2 channels before and (size-1)//2=1 after; x std 20")


# --------------------------------------------------------------------------
# 3. overlapping max pooling
# --------------------------------------------------------------------------

def distinct_input(*shape):
    """Distinct values (a random permutation of a uniform grid): no ties anywhere."""
    n = int(np.prod(shape))
    perm = torch.randperm(n).to(torch.float64)
    return f32((perm - n / 2) / 8.0).reshape(*shape)  # multiples of 1/8: exact in f32


def maxpool_case(seed, shape, kernel, stride, ceil_mode, description):
    torch.manual_seed(seed)
    x = distinct_input(*shape).requires_grad_()
    y = F.max_pool2d(x, kernel, stride, ceil_mode=ceil_mode)
    dy = randn(*y.shape)
    (y * dy).sum().backward()
    tensors = {"x": x, "y": y, "dy": dy, "dx": x.grad}
    return tensors, meta(seed, description, kernel_size=kernel, stride=stride,
                         ceil_mode=str(ceil_mode).lower())


@fixture("maxpool.safetensors")
def maxpool():
    return maxpool_case(301, (2, 3, 9, 9), 3, 2, False,
                        "max_pool2d kernel 3 stride 2 floor mode on x[2,3,9,9] -> [2,3,4,4]; "
                        "distinct input values (no ties); dx accumulates over overlapping windows")


@fixture("maxpool_ceil.safetensors")
def maxpool_ceil():
    return maxpool_case(302, (1, 2, 8, 8), 3, 2, True,
                        "max_pool2d kernel 3 stride 2 ceil_mode=True on x[1,2,8,8] -> [1,2,4,4] "
                        "(last window clipped at the border); distinct input values")


# --------------------------------------------------------------------------
# 4. softmax cross-entropy
# --------------------------------------------------------------------------

@fixture("softmax_ce.safetensors")
def softmax_ce():
    seed = 401
    torch.manual_seed(seed)
    logits = randn(5, 10, std=3.0).requires_grad_()
    labels = torch.randint(0, 10, (5,))
    loss = F.cross_entropy(logits, labels)  # mean over the batch
    loss.backward()
    tensors = {"logits": logits, "labels": labels.to(torch.float64),
               "loss": loss.reshape(1), "dlogits": logits.grad}
    return tensors, meta(seed, "F.cross_entropy(logits[5,10] (std 3), labels[5]) mean reduction; "
                               "labels stored as float32 class indices; dlogits = d loss / d logits",
                         reduction="mean")


@fixture("softmax_topk.safetensors")
def softmax_topk():
    seed = 402
    torch.manual_seed(seed)
    logits = randn(12, 10, std=3.0)
    # The last row is the one before it plus 1000: a softmax that does not subtract the row's
    # maximum overflows there.
    logits[11] = f32(logits[10] + 1000)
    # Each row's label is its class of rank i % 8 (0: the largest logit), so rows fall in the
    # top 1, in the top 5 but not the top 1, and outside the top 5.
    order = torch.argsort(logits, dim=1, descending=True)
    labels = order[torch.arange(12), torch.arange(12) % 8]
    top5 = torch.topk(logits, 5, dim=1).indices
    tensors = {"logits": logits, "labels": labels.to(torch.float64),
               "probabilities": torch.softmax(logits, dim=1),
               "in_top1": (top5[:, :1] == labels[:, None]).any(1).to(torch.float64),
               "in_top5": (top5 == labels[:, None]).any(1).to(torch.float64)}
    return tensors, meta(seed, "torch.softmax(logits[12,10] (std 3; row 11 = row 10 + 1000), dim=1); "
                               "labels of rank i % 8 in row i; in_top1/in_top5: 1 where torch.topk's "
                               "1 or 5 largest hold the label (no ties)")


# --------------------------------------------------------------------------
# 5. SGD with momentum and weight decay: PyTorch form vs the paper's form
# --------------------------------------------------------------------------

@fixture("sgd.safetensors")
def sgd():
    seed = 501
    torch.manual_seed(seed)
    lrs = (0.1, 0.01)
    momentum, wd = 0.9, 5e-4
    w0 = randn(20)
    g1 = randn(20)
    g2 = randn(20)

    # PyTorch: d = g + wd*w; buf = momentum*buf + d (buf = d at step 1); w -= lr*buf
    p = nn.Parameter(w0.clone())
    opt = torch.optim.SGD([p], lr=lrs[0], momentum=momentum, weight_decay=wd)
    pytorch_w = []
    for lr, g in zip(lrs, (g1, g2)):
        for group in opt.param_groups:
            group["lr"] = lr
        p.grad = g.clone()
        opt.step()
        pytorch_w.append(p.detach().clone())

    # Paper: v <- 0.9 v - 0.0005*lr*w - lr*g; w <- w + v (v starts at 0)
    w, v = w0.clone(), torch.zeros_like(w0)
    paper_w, paper_v = [], []
    for lr, g in zip(lrs, (g1, g2)):
        v = momentum * v - wd * lr * w - lr * g
        w = w + v
        paper_w.append(w.clone())
        paper_v.append(v.clone())

    tensors = {"w": w0, "g1": g1, "g2": g2,
               "pytorch_w1": pytorch_w[0], "pytorch_w2": pytorch_w[1],
               "paper_w1": paper_w[0], "paper_w2": paper_w[1], "paper_v2": paper_v[1]}
    return tensors, meta(seed, "two SGD steps (lr 0.1 then 0.01, momentum 0.9, weight decay 5e-4) "
                               "from w with grads g1, g2: torch.optim.SGD (lr outside the momentum "
                               "buffer) vs the paper's rule v <- 0.9v - 0.0005*lr*w - lr*g, w <- w+v "
                               "(identical at step 1, different at step 2)",
                         lr1=lrs[0], lr2=lrs[1], momentum=momentum, weight_decay=wd)


# --------------------------------------------------------------------------
# 6. reduced-width paper AlexNet, forward + backward
# --------------------------------------------------------------------------

class PaperSmall(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 12, 11, stride=4, padding=0)
        self.conv2 = nn.Conv2d(12, 32, 5, padding=2, groups=2)
        self.conv3 = nn.Conv2d(32, 48, 3, padding=1)
        self.conv4 = nn.Conv2d(48, 48, 3, padding=1, groups=2)
        self.conv5 = nn.Conv2d(48, 32, 3, padding=1, groups=2)
        self.fc6 = nn.Linear(32 * 6 * 6, 64)
        self.fc7 = nn.Linear(64, 64)
        self.fc8 = nn.Linear(64, 10)
        self.lrn = nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)
        self.pool = nn.MaxPool2d(3, 2)

    def forward(self, x, trace=None):
        def relu(name, z):
            if trace is not None:
                trace[name] = z.detach()
            return F.relu(z)
        x = self.pool(self.lrn(relu("conv1", self.conv1(x))))
        x = self.pool(self.lrn(relu("conv2", self.conv2(x))))
        x = relu("conv3", self.conv3(x))
        x = relu("conv4", self.conv4(x))
        x = self.pool(relu("conv5", self.conv5(x)))
        x = torch.flatten(x, 1)  # (C, H, W) order: 32*6*6 = 1152
        x = relu("fc6", self.fc6(x))
        x = relu("fc7", self.fc7(x))
        return self.fc8(x)


# Weight stds: conv1 is chosen so its pre-activations have std ~28 with an input
# of std ~60, large enough that LRN's normaliser matters (it shrinks the
# activations ~12% beyond the k^-beta factor); the rest are He-like
# sqrt(2/fan_in), and fc8 is scaled down so the logits are O(1).
PAPER_SMALL_STD = {
    "conv1": 0.025,  # fan_in 363
    "conv2": 0.115,  # fan_in 150
    "conv3": 0.083,  # fan_in 288
    "conv4": 0.096,  # fan_in 216
    "conv5": 0.096,  # fan_in 216
    "fc6": 0.042,    # fan_in 1152
    "fc7": 0.177,    # fan_in 64
    "fc8": 0.02,     # fan_in 64, scaled down
}
BIAS_STD = 0.1


def paper_small_model(seed):
    model = PaperSmall().double()
    torch.manual_seed(seed)
    with torch.no_grad():
        for name in PAPER_SMALL_STD:
            layer = getattr(model, name)
            layer.weight.copy_(randn(*layer.weight.shape, std=PAPER_SMALL_STD[name]))
            layer.bias.copy_(randn(*layer.bias.shape, std=BIAS_STD))
    x = randn(2, 3, 227, 227, std=60.0)
    labels = torch.randint(0, 10, (2,))
    return model, x, labels


@fixture("paper_small.safetensors")
def paper_small():
    seed = 601
    model, x, labels = paper_small_model(seed)
    model.eval()
    trace = {}
    logits = model(x, trace)
    loss = F.cross_entropy(logits, labels)
    loss.backward()

    # ---- checks (printed, not stored)
    print("  paper_small checks:")
    print(f"    logits std {logits.std().item():.4f}  (target 0.3..10)   loss {loss.item():.4f}")
    for name, z in trace.items():
        active = (z > 0).double().mean().item()
        margin = (z.abs().min() / z.abs().max()).item()
        print(f"    {name:6s} pre-act std {z.std().item():9.4f}  active {active:6.1%}  "
              f"min|z|/max|z| {margin:.2e}")
    std = logits.std().item()
    assert 0.3 <= std <= 10, std
    for name, z in trace.items():
        assert 0.05 < (z > 0).double().mean().item() < 0.95, name

    # float32 re-run of the same model/input: can a float32 implementation meet
    # |got - want| <= 1e-4*|want| + 1e-5*max|want| on every gradient element?
    m32, _, _ = paper_small_model(seed)
    m32 = m32.float().eval()
    trace32 = {}
    l32 = m32(x.float(), trace32)
    F.cross_entropy(l32, labels).backward()
    flips = sum(((trace[n] > 0) != (trace32[n] > 0)).sum().item() for n in trace)
    fails, normwise = 0, 0.0
    for (_, p64), (_, p32) in zip(model.named_parameters(), m32.named_parameters()):
        g, d = p64.grad, (p32.grad.double() - p64.grad).abs()
        fails += (d > 1e-4 * g.abs() + 1e-5 * g.abs().max()).sum().item()
        normwise = max(normwise, (d.max() / g.abs().max()).item())
    lerr = ((l32.double() - logits).abs().max() / logits.abs().max()).item()
    print(f"    float32 torch vs float64 golden: ReLU sign flips {flips}, logits max rel err "
          f"{lerr:.1e}, grads max|diff|/max|g| {normwise:.1e}, elements outside "
          f"1e-4*|g|+1e-5*max|g|: {fails}")

    tensors = {}
    for name, p in model.named_parameters():
        tensors[name] = p
    tensors["input"] = x
    tensors["labels"] = labels.to(torch.float64)
    tensors["logits"] = logits
    tensors["loss"] = loss.reshape(1)
    for name, p in model.named_parameters():
        tensors["grad." + name] = p.grad
    description = (
        "reduced-width paper AlexNet, eval mode (no dropout), computed in float64: "
        "conv1 3->12 k11 s4 p0, ReLU, LRN(5,5e-4,0.75,2), maxpool 3/2; "
        "conv2 12->32 k5 p2 g2, ReLU, LRN, maxpool 3/2; conv3 32->48 k3 p1, ReLU; "
        "conv4 48->48 k3 p1 g2, ReLU; conv5 48->32 k3 p1 g2, ReLU, maxpool 3/2; "
        "flatten CHW 1152; fc6 1152->64 ReLU; fc7 64->64 ReLU; fc8 64->10. "
        "input[2,3,227,227] std 60, labels float32 class indices, loss = mean cross-entropy, "
        "grad.<param> = d loss / d param")
    return tensors, meta(seed, description,
                         weight_std=json.dumps(PAPER_SMALL_STD), bias_std=BIAS_STD,
                         input_std=60.0, lrn="size=5 alpha=5e-4 beta=0.75 k=2")


# --------------------------------------------------------------------------

def main(argv):
    if len(argv) != 2:
        print(__doc__)
        print("usage: /usr/bin/python3 scripts/make_goldens.py OUTPUT_DIR", file=sys.stderr)
        return 2
    out_dir = argv[1]
    os.makedirs(out_dir, exist_ok=True)
    print(f"torch {torch.__version__}, writing to {out_dir}")
    total = 0
    for fname, build in FIXTURES:
        tensors, metadata = build()
        path = os.path.join(out_dir, fname)
        write_safetensors(path, tensors, metadata)
        # round-trip self-check
        back, bmeta = read_safetensors(path)
        assert list(back) == list(tensors) and bmeta == metadata
        for name, t in tensors.items():
            assert np.array_equal(back[name], t.detach().to(torch.float32).numpy()), name
        size = os.path.getsize(path)
        total += size
        shapes = ", ".join(f"{n}{list(a.shape)}" for n, a in back.items())
        print(f"{fname:28s} {size:9d} B  {shapes}")
    print(f"total {total} B ({total / 1e6:.2f} MB) in {len(FIXTURES)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
