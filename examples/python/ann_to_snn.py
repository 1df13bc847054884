"""ANN→SNN conversion: train a small ReLU network, convert it, and plot accuracy
against the number of time steps T. ``--quick`` uses small slices (CI)."""

import os
import sys
import tempfile

import spikelab as sl

quick = "--quick" in sys.argv
out_dir = os.path.join("out", "python")  # figures go here
os.makedirs(out_dir, exist_ok=True)
root = os.environ.get("SPIKELAB_MNIST", os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                                     "shared", "data", "mnist"))
x, y = sl.datasets.mnist(root, "train", limit=2000 if quick else None)
ann = sl.convert.train_ann(x, y, "784-128-10", epochs=2 if quick else 10, batch_size=64, lr=3e-3)
work = tempfile.mkdtemp(prefix="spikelab-convert-")
ann.save(os.path.join(work, "model.safetensors"))
r = sl.convert.convert(os.path.join(work, "model.safetensors"), root, out=os.path.join(work, "snn"),
                       max_steps=32 if quick else 256, limit=200 if quick else None,
                       calibration_samples=1000 if quick else 10000)
for t, acc in zip(r["steps"], r["accuracy"]):
    print(f"T = {t:4d}: {acc:.2f} %")
print(f"ANN: {r['ann_accuracy']:.2f} %")
try:
    import matplotlib
    matplotlib.use("Agg")
    ax = sl.plot.accuracy_curve(r["steps"], r["accuracy"], ann_accuracy=r["ann_accuracy"])
    ax.figure.savefig(os.path.join(out_dir, "conversion_curve.png"), dpi=120)
    print("curve:", os.path.join(out_dir, "conversion_curve.png"))
except ImportError:
    print("(pip install matplotlib for the curve)")
