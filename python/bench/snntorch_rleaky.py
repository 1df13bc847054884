"""snnTorch's side of the recurrent benchmark: a 256-unit recurrent LIF network
(``RLeaky``, all-to-all recurrent weights) on row-wise sequential MNIST — 28 steps of
28 pixel values as input currents — trained with BPTT, as Spikelab's
``spikelab bench train --arch 28-256R-10 --encoding sequence --steps 28 --loss
ce-membrane`` (Linear 28→256, recurrent LIF β 0.9 with reset by subtraction, Linear
256→10, leaky-integrator readout β 0.9, cross-entropy on the readout membrane at every
step, Adam, batch 128, 2 threads).

Run it in the peers' venv (``bash ../shared/peers/setup.sh``)::

    ~/.cache/spikelab-peers/venv/bin/python python/bench/snntorch_rleaky.py
    target/release/spikelab bench train --arch 28-256R-10 --encoding sequence --steps 28 --loss ce-membrane

Prints one JSON line with training and inference samples/s (after ``--warmup``
untimed batches, ``--iters`` timed ones on real MNIST test images).
"""

import argparse
import gzip
import json
import os
import time

import numpy as np

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--mnist", default=os.path.join(os.path.dirname(__file__), "../../../shared/data/mnist"))
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--batch", type=int, default=128)
ap.add_argument("--hidden", type=int, default=256)
ap.add_argument("--warmup", type=int, default=3)
ap.add_argument("--iters", type=int, default=20)
ap.add_argument("--lr", type=float, default=1e-3)
args = ap.parse_args()

import torch
import torch.nn as nn
import snntorch as snn
from snntorch import surrogate

torch.set_num_threads(args.threads)
torch.manual_seed(0)


def images(root):
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"):
        p = os.path.join(root, name)
        if os.path.exists(p):
            raw = (gzip.open if p.endswith(".gz") else open)(p, "rb").read()
            return np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
    raise SystemExit(f"MNIST test images not found in {root}")


def labels(root):
    for name in ("t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte"):
        p = os.path.join(root, name)
        if os.path.exists(p):
            raw = (gzip.open if p.endswith(".gz") else open)(p, "rb").read()
            return np.frombuffer(raw, np.uint8, offset=8)
    raise SystemExit(f"MNIST test labels not found in {root}")


class Net(nn.Module):
    def __init__(self, n):
        super().__init__()
        grad = surrogate.fast_sigmoid(slope=25)
        self.fc1 = nn.Linear(28, n)
        self.rlif = snn.RLeaky(beta=0.9, linear_features=n, spike_grad=grad, all_to_all=True)
        self.fc2 = nn.Linear(n, 10)
        self.readout = snn.Leaky(beta=0.9, reset_mechanism="none")

    def forward(self, x):  # x: [T, B, 28]
        spk, mem = self.rlif.init_rleaky()
        mem_out = self.readout.init_leaky()
        outs = []
        for t in range(x.shape[0]):
            spk, mem = self.rlif(self.fc1(x[t]), spk, mem)
            _, mem_out = self.readout(self.fc2(spk), mem_out)
            outs.append(mem_out)
        return torch.stack(outs)


x_all = torch.tensor(images(args.mnist), dtype=torch.float32) / 255.0
y_all = torch.tensor(labels(args.mnist), dtype=torch.long)
net = Net(args.hidden)
opt = torch.optim.Adam(net.parameters(), lr=args.lr)
loss_fn = nn.CrossEntropyLoss()
B = args.batch


def batch(i):
    lo = (i * B) % (len(x_all) - B)
    return x_all[lo:lo + B].permute(1, 0, 2).contiguous(), y_all[lo:lo + B]


def train_step(i):
    x, y = batch(i)
    mem = net(x)
    loss = sum(loss_fn(mem[t], y) for t in range(mem.shape[0]))
    opt.zero_grad()
    loss.backward()
    opt.step()


for i in range(args.warmup):
    train_step(i)
t0 = time.perf_counter()
for i in range(args.iters):
    train_step(args.warmup + i)
train_s = time.perf_counter() - t0
with torch.no_grad():
    for i in range(args.warmup):
        net(batch(i)[0])
    t0 = time.perf_counter()
    for i in range(args.iters):
        net(batch(i)[0])
    infer_s = time.perf_counter() - t0
print(json.dumps({
    "tool": "snntorch", "version": snn.__version__, "torch": torch.__version__,
    "model": f"28-{args.hidden}R-10 row-wise sMNIST", "threads": args.threads, "batch": B,
    "train_samples_per_s": args.iters * B / train_s,
    "infer_samples_per_s": args.iters * B / infer_s,
}))
