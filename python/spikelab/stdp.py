"""Unsupervised learning with STDP: the network of Diehl & Cook (2015) — Poisson
inputs, excitatory neurons with adaptive thresholds, lateral inhibition — trained
on MNIST, its neurons labelled by their responses, then evaluated (the workflow of
``spikelab train stdp`` / ``eval stdp``, with checkpoints that resume).

>>> r = sl.stdp.train("../shared/data/mnist", "out/stdp", neurons=100, examples=1000)
>>> r = sl.stdp.train(out="out/stdp2", train=(x, y), test=(xt, yt))   # or from arrays
>>> r["test"]["accuracy"], r["receptive_fields"].shape      # (100, 784)
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional, Tuple

from . import _native
from .classifier import _labels, as_samples

__all__ = ["train", "evaluate"]


def train(data: Optional[str] = None, out: str = "out/stdp", neurons: int = 100, epochs: int = 1,
          examples: Optional[int] = None, assign_examples: int = 1000,
          test_examples: int = 1000, seed: int = 0, threads: int = 1,
          checkpoint_every: int = 1000, fresh: bool = False, resume: bool = False,
          progress: bool = False,
          train: Optional[Tuple[Any, Any]] = None, test: Optional[Tuple[Any, Any]] = None) -> Dict[str, Any]:
    """Trains in ``out`` on MNIST from the
    data set folder ``data``, or from arrays ``train = (x, y)`` and ``test = (x, y)``
    (uint8 ``(n, 28, 28)`` images). A checkpoint already in ``out`` is continued
    with ``resume=True``, replaced with ``fresh=True``, and an error otherwise. Returns ``receptive_fields`` (neurons × 784),
    ``labels``, ``train_s``, ``checkpoint`` and, with test examples, ``test``
    (accuracy, accuracy_weighted, confusion matrix, wall_s)."""
    cfg = {"out": str(out), "neurons": int(neurons), "epochs": int(epochs),
           "assign_examples": int(assign_examples), "test_examples": int(test_examples),
           "seed": int(seed), "threads": int(threads), "checkpoint_every": int(checkpoint_every),
           "fresh": bool(fresh), "resume": bool(resume)}
    if data is not None:
        cfg["data"] = str(data)
    elif train is None:
        raise ValueError("give the data set folder `data`, or `train=(x, y)`")
    if examples is not None:
        cfg["examples"] = int(examples)
    arrays: tuple = ()
    if train is not None:
        x = as_samples(train[0])
        arrays = (x, _labels(train[1], len(x)))
        if test is not None:
            xt = as_samples(test[0])
            arrays += (xt, _labels(test[1], len(xt)))
    r = _native.stdp_train(json.dumps(cfg), bool(progress), *arrays)
    r["checkpoint"] = str(r["checkpoint"])
    return r


def evaluate(checkpoint: str, data: str, out: str, examples: Optional[int] = None) -> Dict[str, Any]:
    """Evaluates a trained network on the test images; writes ``eval.json`` in ``out``."""
    cfg = {"checkpoint": str(checkpoint), "data": str(data), "out": str(out)}
    if examples is not None:
        cfg["examples"] = int(examples)
    return _native.stdp_evaluate(json.dumps(cfg))
