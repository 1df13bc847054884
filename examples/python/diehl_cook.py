"""Unsupervised STDP learning (Diehl & Cook 2015): 100 excitatory neurons learn
digit prototypes from Poisson-coded MNIST, are labelled by their responses, and
classify test digits. ``--quick`` uses 10 neurons and 30 images (CI)."""

import os
import sys
import tempfile

import spikelab as sl

quick = "--quick" in sys.argv
out_dir = os.path.join("out", "python")  # figures go here
os.makedirs(out_dir, exist_ok=True)
root = os.environ.get("SPIKELAB_MNIST", os.path.join(os.path.dirname(__file__), "..", "..", "..",
                                                     "shared", "data", "mnist"))
n = 30 if quick else 1000
out = tempfile.mkdtemp(prefix="spikelab-stdp-")
r = sl.stdp.train(root, out, neurons=10 if quick else 100, examples=n, assign_examples=n,
                  test_examples=n, progress=not quick)
print(f"test accuracy {100 * r['test']['accuracy']:.1f} % on {r['test']['images']} images, "
      f"trained in {r['train_s']:.1f} s")
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fields = r["receptive_fields"]
    cols = min(10, len(fields))
    fig, axes = plt.subplots((len(fields) + cols - 1) // cols, cols, figsize=(cols, len(fields) / cols + 0.5),
                             squeeze=False)
    for ax, field in zip(axes.flat, fields):
        ax.imshow(field.reshape(28, 28), cmap="hot")
        ax.axis("off")
    fig.savefig(os.path.join(out_dir, "receptive_fields.png"), dpi=100)
    print("receptive fields:", os.path.join(out_dir, "receptive_fields.png"))
except ImportError:
    print("(pip install matplotlib for the receptive fields)")
