"""Spikelab → NIR → Spikelab on MNIST: identical weights and identical predictions on
the whole test set for an MLP, a conv net and a recurrent net (issue 14's check).

Trains each network for one epoch with ``spikelab train surrogate`` (or reuses the
run directory), writes it as NIR with ``spikelab.nir.write``, reads it back with
``spikelab.nir.read``, checks that ``nir.read`` (the reference package, if installed)
reads the file too, and compares parameters and predictions on the 10,000 test
images. Run from the repository root after ``cargo build --release`` and
``./test.sh`` (which makes target/venv)::

    target/venv/bin/python python/bench/nir_round_trip.py [--mnist ../shared/data/mnist]
"""

import argparse
import json
import os
import subprocess
import time

import numpy as np

import spikelab as sl

NETS = {
    "mlp": ["--arch", "784-256-10"],
    "conv": ["--arch", "12C5-MP2-64C5-MP2-10"],
    "rnn": ["--arch", "784-128R-10", "--loss", "ce-membrane"],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mnist", default="../shared/data/mnist")
    ap.add_argument("--out", default="target/nir_round_trip")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--only", choices=sorted(NETS), action="append")
    args = ap.parse_args()
    test = sl.datasets.mnist(args.mnist, split="test")
    x, y = test[0], test[1]
    try:
        import nir  # the reference package
    except ImportError:
        nir = None
    rows = {}
    for name in args.only or NETS:
        run = os.path.join(args.out, name)
        if not os.path.exists(os.path.join(run, "model.safetensors")):
            t0 = time.time()
            subprocess.run(["target/release/spikelab", "train", "surrogate", "--data", args.mnist,
                            "--epochs", str(args.epochs), "--out", run, "--force", "--quiet",
                            *NETS[name]], check=True)
            print(f"{name}: trained in {time.time() - t0:.0f} s")
        clf = sl.SpikingClassifier.load(os.path.join(run, "model.safetensors"))
        path = os.path.join(args.out, f"{name}.nir")
        notes = sl.nir.write(clf, path)
        if nir is not None:
            g = nir.read(path)
            print(f"{name}: nir.read sees {len(g.nodes)} nodes: "
                  + ", ".join(f"{k}:{type(v).__name__}" for k, v in sorted(g.nodes.items())))
        back = sl.nir.read(path)
        p0, p1 = clf.parameters(), back.parameters()
        same_weights = p0.keys() == p1.keys() and all(np.array_equal(p0[k], p1[k]) for k in p0)
        t0 = time.time()
        a, b = clf.predict(x), back.predict(x)
        rows[name] = {
            "identical_weights": bool(same_weights),
            "parameters": int(sum(v.size for v in p0.values())),
            "accuracy": float((a == y).mean() * 100),
            "accuracy_after_round_trip": float((b == y).mean() * 100),
            "identical_predictions": int((a == b).sum()),
            "test_samples": int(len(y)),
            "file_bytes": os.path.getsize(path),
            "notes": notes,
            "predict_seconds": time.time() - t0,
        }
        r = rows[name]
        print(f"{name}: weights identical {r['identical_weights']}, accuracy {r['accuracy']:.2f}% → "
              f"{r['accuracy_after_round_trip']:.2f}%, identical predictions "
              f"{r['identical_predictions']}/{r['test_samples']}, {r['file_bytes']} bytes")
    with open(os.path.join(args.out, "round_trip.json"), "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
