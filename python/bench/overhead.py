"""Overhead of the Python layer (a benchmark, not a test): the same work through
the CLI and through `import spikelab`, on the same machine, in the same run.

    python python/bench/overhead.py [--cli target/release/spikelab] [--mnist DIR]

1. COBA, 4,000 neurons, 1 s simulated, 1 thread: `spikelab run
   examples/vogels_abbott_coba.toml` (its printed wall time) vs `Network.run`.
2. MLP 784-1000-10 training, T = 25, batch 128: `spikelab bench train` samples/s
   vs `SpikingClassifier.fit` samples/s on the same number of MNIST images.
"""

import argparse
import json
import os
import pathlib
import re
import subprocess
import tempfile
import time

import spikelab as sl

root = pathlib.Path(__file__).resolve().parents[2]
ap = argparse.ArgumentParser()
ap.add_argument("--cli", default=str(root / "target" / "release" / "spikelab"))
ap.add_argument("--mnist", default=str(root.parent / "shared" / "data" / "mnist"))
ap.add_argument("--repeats", type=int, default=5)
ap.add_argument("--train-samples", type=int, default=6400)
args = ap.parse_args()

model = root / "examples" / "vogels_abbott_coba.toml"
cli_s, py_s = [], []
for _ in range(args.repeats):
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([args.cli, "run", str(model), "--threads", "1", "--no-plot", "--quiet",
                        "--out", os.path.join(out, "o")], check=True, stdout=subprocess.DEVNULL)
        summary = json.load(open(os.path.join(out, "o", "summary.json")))
        cli_s.append(summary["wall_s"])
    net = sl.Network.load(str(model), threads=1)
    net.build()
    t0 = time.perf_counter()
    net.run(1000.0)
    py_s.append(time.perf_counter() - t0)
print(f"COBA 4k, 1 s, 1 thread: CLI {min(cli_s):.4f} s, Python {min(py_s):.4f} s "
      f"(Python/CLI {min(py_s) / min(cli_s):.3f})")

batches = args.train_samples // 128
r = subprocess.run([args.cli, "bench", "train", "--arch", "784-1000-10", "--batches", str(batches),
                    "--data", args.mnist], check=True, capture_output=True, text=True)
m = re.search(r"training:\s*([\d.]+) samples/s", r.stdout)
cli_train = float(m.group(1).replace(",", "")) if m else float("nan")
x, y = sl.datasets.mnist(args.mnist, "train", limit=batches * 128)
best = 0.0
for _ in range(2):
    clf = sl.SpikingClassifier("784-1000-10", steps=25, batch_size=128, lr=1e-3)
    h = clf.fit(x, y, epochs=1)
    best = max(best, h[0]["samples_per_s"])
print(f"MLP 784-1000-10 training: CLI {cli_train:.0f} samples/s, Python {best:.0f} samples/s "
      f"(Python/CLI {best / cli_train:.3f})")
print(r.stdout.strip().splitlines()[-3:] if not m else "")
