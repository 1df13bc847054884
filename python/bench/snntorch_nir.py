"""NIR interoperability between snnTorch and Spikelab (a benchmark, not a test).

Two halves, run in two Python environments:

    # 1. train + export in the peers' venv (bash ../shared/peers/setup.sh; pip install nir nirtorch)
    ~/.cache/spikelab-peers/venv/bin/python python/bench/snntorch_nir.py export [--out target/snntorch_nir]
    # 2. read the .nir files with Spikelab and compare, in Spikelab's venv
    target/venv/bin/python python/bench/snntorch_nir.py compare [--out target/snntorch_nir]

`export` trains three small snnTorch 1.0 networks on MNIST (Bernoulli rate input,
p = pixel/255 per step, T steps; Adam 5e-4; loss = sum_t CE(output membrane_t), as in
../shared/peers/snntorch_bench.py; batch 128; 2 torch threads; beta 0.9, threshold 1):

* mlp_zero     Linear(784,128) - Leaky(zero)            - Linear(128,10) - Leaky(zero)
* mlp_subtract Linear(784,128) - Leaky(subtract)        - Linear(128,10) - Leaky(subtract)
* rnn_zero     Linear(784,64)  - RLeaky(zero, 64 -> 64) - Linear(64,10)  - Leaky(zero)

then rate-codes the first N test images once (seeded; `inputs.npy`, uint8 [N, T, 784],
`labels.npy`), runs every trained net on exactly those spikes (`<name>_snntorch_spikes.npy`,
float32 [N, T, 10]), exports it with `snntorch.export_nir.export_to_nir` and writes
`<name>.nir` and `snntorch.json`. `compare` reads each graph with `spikelab.nir.read`, runs
the same inputs and writes `compare.json`: the fraction of (sample, step, neuron) output
spikes equal to snnTorch's, the fraction of samples with the same prediction (argmax of
the spike count, ties -> lowest index) and both accuracies.

Expected differences. snnTorch (reset_delay=True) computes the reset from the previous
step's membrane: zero reset is mem <- beta*(1 - s_prev)*mem + x, which is NIR's discrete
LIF with v_reset = 0, so the zero-reset MLP should agree exactly apart from float rounding
(NIR stores tau = dt/(1 - beta) and r = tau/dt with dt = 1e-4, not beta). Reset by
subtraction is mem <- beta*mem + x - theta*s_prev: snnTorch subtracts theta *after* the
decay, while Spikelab and NIR's discrete form subtract it before (beta*(mem - theta) + x),
so mlp_subtract is expected to agree less. RLeaky's zero reset differs too: snnTorch zeroes
the whole new membrane, mem <- (1 - s_prev)*(beta*mem + x + W_rec s_prev), i.e. the input
of the step after a spike is dropped, so rnn_zero need not agree exactly either (the
graph writes RLeaky flattened into the top level as "1.lif" LIF plus a "1.w_rec" Affine
with edges 1.lif -> 1.w_rec -> 1.lif; the recurrent bias is added every step). With this
loss the zero-reset nets leave about half of the test samples without any output spike
(predicted class 0), which inflates both agreement figures for them.
"""

import argparse
import gzip
import json
import os
import pathlib
import time

import numpy as np

NETS = ("mlp_zero", "mlp_subtract", "rnn_zero")
CHUNK = 256


def predict(spikes):
    """argmax of the spike count over steps; np.argmax picks the lowest index on ties."""
    return spikes.sum(axis=1).argmax(axis=1)


# ----------------------------------------------------------------------------- export

def read_idx(path):
    """A gzip'd IDX file as a numpy array (the logic of ../shared/peers/mnist_data.py)."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * k:8 + 4 * k], "big") for k in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist(directory):
    """(train images uint8 [60000, 784], train labels, test images [10000, 784], test labels)."""
    read = lambda name: read_idx(os.path.join(directory, name))
    return (read("train-images-idx3-ubyte.gz").reshape(-1, 784), read("train-labels-idx1-ubyte.gz"),
            read("t10k-images-idx3-ubyte.gz").reshape(-1, 784), read("t10k-labels-idx1-ubyte.gz"))


def build(name):
    """The snnTorch net. beta and threshold are per-neuron tensors (0.9 and 1 everywhere, not
    learned): with Python scalars export_to_nir writes 0-d tau/r/v_threshold and NIR's type
    inference fails ("type mismatch: 0.output: [[128]] -> 1.input: []", snnTorch issue #410)."""
    import torch
    import torch.nn as nn
    import snntorch as snn
    reset = "subtract" if name.endswith("subtract") else "zero"
    hidden = 64 if name.startswith("rnn") else 128
    par = lambda n: dict(beta=torch.full((n,), 0.9), threshold=torch.ones(n),
                         reset_mechanism=reset, init_hidden=True)
    if name.startswith("rnn"):
        lif1 = snn.RLeaky(all_to_all=True, linear_features=hidden, **par(hidden))
    else:
        lif1 = snn.Leaky(**par(hidden))
    # init_hidden=True: the state lives in the modules, so the Sequential is called once
    # per step with a [B, 784] tensor, which is what nirtorch's tracer needs.
    return nn.Sequential(nn.Linear(784, hidden), lif1, nn.Linear(hidden, 10), snn.Leaky(**par(10)))


def run_steps(net, x_seq):
    """x_seq: [T, B, 784] -> (output spikes, output membranes), both [T, B, 10]."""
    import torch
    from snntorch import utils
    utils.reset(net)
    spk, mem = [], []
    for t in range(x_seq.shape[0]):
        spk.append(net(x_seq[t]))
        mem.append(net[-1].mem)
    return torch.stack(spk), torch.stack(mem)


def train(net, x, y, args):
    import torch
    import torch.nn as nn
    opt = torch.optim.Adam(net.parameters(), lr=5e-4, betas=(0.9, 0.999))
    ce = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(args.seed)
    net.train()
    for _ in range(args.epochs):
        perm = torch.randperm(x.shape[0], generator=gen)
        for s in range(0, x.shape[0], 128):
            idx = perm[s:s + 128]
            p = x[idx].float().div(255.0)
            x_seq = torch.bernoulli(p.expand(args.steps, *p.shape), generator=gen)
            _, mem = run_steps(net, x_seq)
            loss = sum(ce(mem[t], y[idx]) for t in range(args.steps))
            opt.zero_grad()
            loss.backward()
            opt.step()


def infer(net, inputs):
    """inputs: uint8 [N, T, 784] -> float32 output spikes [N, T, 10]."""
    import torch
    net.eval()
    out = []
    with torch.no_grad():
        for s in range(0, inputs.shape[0], CHUNK):
            x = torch.from_numpy(inputs[s:s + CHUNK]).float().transpose(0, 1)
            out.append(run_steps(net, x)[0].transpose(0, 1).numpy())
    return np.concatenate(out).astype(np.float32)


def export(args):
    import torch
    import nir
    import snntorch as snn
    from snntorch import utils as snn_utils
    from snntorch.export_nir import export_to_nir
    torch.set_num_threads(2)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    xtr, ytr, xte, yte = load_mnist(args.mnist)
    xtr = torch.from_numpy(xtr[:args.train_limit].copy())
    ytr = torch.from_numpy(ytr[:args.train_limit].astype(np.int64))
    n = min(args.test_limit, xte.shape[0])
    # test inputs: drawn once, from their own seeded generator, identical for every net
    gen = torch.Generator().manual_seed(args.seed + 1)
    p = torch.from_numpy(xte[:n].copy()).float().div(255.0)
    inputs = torch.bernoulli(p.unsqueeze(1).expand(n, args.steps, 784).contiguous(), generator=gen)
    inputs = inputs.to(torch.uint8).numpy()
    labels = yte[:n].astype(np.int64)
    np.save(out / "inputs.npy", inputs)
    np.save(out / "labels.npy", labels)
    res = dict(tool="snntorch", snntorch=snn.__version__, torch=torch.__version__,
               nir=nir.__version__ if hasattr(nir, "__version__") else None,
               steps=args.steps, n_test=n, n_train=int(xtr.shape[0]), epochs=args.epochs,
               seed=args.seed, threads=torch.get_num_threads(), nets={})
    for name in NETS:
        torch.manual_seed(args.seed)
        net = build(name)
        t0 = time.perf_counter()
        train(net, xtr, ytr, args)
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        spikes = infer(net, inputs)
        infer_s = time.perf_counter() - t0
        np.save(out / f"{name}_snntorch_spikes.npy", spikes)
        acc = float((predict(spikes) == labels).mean())
        snn_utils.reset(net)
        graph = export_to_nir(net, torch.zeros(1, 784), ignore_dims=[0])
        nir.write(str(out / f"{name}.nir"), graph)
        check_weights(nir.read(str(out / f"{name}.nir")), net)
        res["nets"][name] = dict(accuracy=acc, train_s=train_s, infer_s=infer_s,
                                 nodes={k: type(v).__name__ for k, v in graph.nodes.items()})
        print(f"{name:13s} snnTorch test acc {acc:.4f}  train {train_s:6.1f} s  "
              f"infer {infer_s:5.1f} s  out spikes/sample {spikes.sum() / n:.1f}", flush=True)
    with open(out / "snntorch.json", "w") as f:
        json.dump(res, f, indent=1)
    print(f"wrote {out}/", flush=True)


def check_weights(graph, net):
    """Every trained Linear weight must be in the graph read back (top level or nested)."""
    def arrays(g):
        for node in g.nodes.values():
            if hasattr(node, "nodes"):
                yield from arrays(node)
            elif hasattr(node, "weight"):
                yield np.asarray(node.weight)
    found = list(arrays(graph))
    for mod in net.modules():
        if type(mod).__name__ == "Linear":
            w = mod.weight.detach().numpy()
            assert any(a.shape == w.shape and np.array_equal(a, w) for a in found), \
                f"trained weight {w.shape} not in the written graph"


# ----------------------------------------------------------------------------- compare

def compare(args):
    import spikelab as sl
    out = pathlib.Path(args.out)
    inputs = np.load(out / "inputs.npy")
    labels = np.load(out / "labels.npy")
    n, steps = inputs.shape[0], inputs.shape[1]
    rows = {}
    print(f"{'net':13s} {'spikes equal':>12s} {'pred equal':>10s} {'acc snnTorch':>12s} "
          f"{'acc Spikelab':>12s}  notes")
    for path in sorted(out.glob("*.nir")):
        name = path.stem
        ref_path = out / f"{name}_snntorch_spikes.npy"
        if not ref_path.exists():
            continue
        ref = np.load(ref_path)
        reset = "subtract" if name.endswith("subtract") else "zero"
        t0 = time.perf_counter()
        clf = sl.nir.read(str(path), reset=reset, steps=steps)
        got = np.concatenate([np.asarray(clf.run(inputs[s:s + CHUNK].astype(np.float32)))
                              for s in range(0, n, CHUNK)])
        run_s = time.perf_counter() - t0
        assert got.shape == ref.shape, f"{name}: Spikelab gave {got.shape}, snnTorch {ref.shape}"
        pl, pr = predict(got), predict(ref)
        notes = list(getattr(clf, "nir_notes", []))
        rows[name] = dict(reset=reset, spikes_equal=float((got == ref).mean()),
                          pred_equal=float((pl == pr).mean()),
                          acc_snntorch=float((pr == labels).mean()),
                          acc_spikelab=float((pl == labels).mean()),
                          spikes_per_sample_snntorch=float(ref.sum() / n),
                          spikes_per_sample_spikelab=float(got.sum() / n),
                          run_s=run_s, nir_notes=notes)
        r = rows[name]
        print(f"{name:13s} {r['spikes_equal']:12.6f} {r['pred_equal']:10.4f} "
              f"{r['acc_snntorch']:12.4f} {r['acc_spikelab']:12.4f}  {'; '.join(notes)}", flush=True)
    with open(out / "compare.json", "w") as f:
        json.dump(dict(tool="spikelab", version=sl.__version__, steps=steps, n_test=n, nets=rows),
                  f, indent=1)
    print(f"wrote {out}/compare.json")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("export", help="train snnTorch nets, write .nir + reference spikes")
    ex.add_argument("--out", default="target/snntorch_nir")
    ex.add_argument("--mnist", default="../shared/data/mnist")
    ex.add_argument("--train-limit", type=int, default=10000)
    ex.add_argument("--test-limit", type=int, default=1000)
    ex.add_argument("--epochs", type=int, default=1)
    ex.add_argument("--steps", type=int, default=25)
    ex.add_argument("--seed", type=int, default=0)
    co = sub.add_parser("compare", help="read the .nir files with Spikelab, compare spikes")
    co.add_argument("--out", default="target/snntorch_nir")
    args = ap.parse_args()
    export(args) if args.cmd == "export" else compare(args)


if __name__ == "__main__":
    main()
