"""Surrogate-gradient training of spiking networks from numpy arrays, in the
manner of snnTorch — with the speed of Spikelab's Rust trainer.

>>> import spikelab as sl
>>> x, y = sl.datasets.mnist("../shared/data/mnist", "train", limit=2000)
>>> clf = sl.SpikingClassifier("784-100-10", steps=25, encoding="rate")
>>> history = clf.fit(x, y, epochs=1)
>>> clf.evaluate(*sl.datasets.mnist("../shared/data/mnist", "test", limit=500))["accuracy"]

The options are those of ``spikelab train surrogate`` (one translation of them,
in the Rust library, serves both): architecture text, neuron model and
parameters, surrogate, encoding, loss, optimizer, schedule, seed.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from . import _native

__all__ = ["SpikingClassifier", "set_threads", "as_samples"]

_NET_KEYS = {"neuron", "beta", "threshold", "learn_beta", "learn_threshold", "reset",
             "detach_reset", "surrogate", "slope", "adaptation", "readout_beta"}
_TRAIN_KEYS = {"steps", "batch_size", "lr", "optimizer", "weight_decay", "schedule",
               "encoding", "encoder_toml", "encoder_dt_ms", "gain", "loss", "seed",
               "learning"}


def set_threads(threads: int) -> None:
    """Threads training uses (0 = one per core); call once, before training."""
    _native.set_threads(int(threads))


def as_samples(x: Any) -> np.ndarray:
    """Samples as the trainer stores them: uint8 (floats in [0, 1] are scaled by
    255 and rounded)."""
    arr = np.asarray(x)
    if arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"`x` must be numeric, not {arr.dtype}")
        if arr.size and (np.nanmin(arr) < 0.0 or np.nanmax(arr) > 1.0):
            raise ValueError("float samples must lie in [0, 1] (or pass uint8 pixels 0..255)")
        arr = np.rint(np.nan_to_num(arr) * 255.0).astype(np.uint8)
    return np.ascontiguousarray(arr)


def _labels(y: Any, n: int) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"`y` must be a 1-D array of {n} labels (got shape {arr.shape})")
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"`y` must hold integer class labels, not {arr.dtype}")
    if len(arr) and (arr.min() < 0 or arr.max() > 255):
        raise ValueError("labels must lie in 0..255")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def _sample_shape(x: np.ndarray) -> Tuple[int, int, int]:
    if x.ndim == 2:
        return (1, 1, x.shape[1])
    if x.ndim == 3:
        return (1, x.shape[1], x.shape[2])
    if x.ndim == 4:
        return (x.shape[3], x.shape[1], x.shape[2])
    raise ValueError(f"`x` has shape {x.shape}; allowed: (n, features), (n, height, width) "
                     "or (n, height, width, channels)")


class SpikingClassifier:
    """A spiking network trained by backpropagation through time with surrogate
    gradients.

    Parameters
    ----------
    arch: architecture text as the command line takes it, e.g. ``"784-1000-10"``
        (the first number is the input size of a dense network),
        ``"12C5-MP2-64C5-MP2-10"`` (tokens ``<n>``, ``<n>R`` recurrent,
        ``<c>C<k>[s<s>][p<p>][bn]``, ``MP<k>``, ``AP<k>``, ``D<p>``).
    neuron: lif, if, alif or relu (an ANN, for conversion).
    steps, batch_size, lr, optimizer, schedule, encoding, loss, seed, ...: as the
        command line's options (``encoding`` takes every encoder name of
        :func:`spikelab.encode.names`, plus ``direct``).
    learning: ``"bptt"`` (default) or ``"eprop"`` (Bellec et al. 2020: online
        eligibility traces and a broadcast learning signal, for ``"<in>-<n>R-<out>"``
        networks with a membrane loss).

    The network is built on the first :meth:`fit` from the shape of the data.
    """

    def __init__(self, arch: str = "784-1000-10", **options: Any) -> None:
        unknown = set(options) - _NET_KEYS - _TRAIN_KEYS
        if unknown:
            raise TypeError(f"unknown option(s) {sorted(unknown)}; allowed: "
                            f"{', '.join(sorted(_NET_KEYS | _TRAIN_KEYS))}")
        self.arch = arch
        self.options = dict(options)
        self._trainer: Optional[_native.Trainer] = None

    # ------------------------------------------------------------ building
    def _options_json(self) -> Tuple[str, str]:
        net = {"arch": self.arch, **{k: v for k, v in self.options.items() if k in _NET_KEYS}}
        train = {k: v for k, v in self.options.items() if k in _TRAIN_KEYS}
        return json.dumps(net), json.dumps(train)

    def build(self, sample_shape: Tuple[int, int, int], epochs: int = 1) -> "SpikingClassifier":
        """Builds the network for samples of ``(channels, height, width)``."""
        net, train = self._options_json()
        self._trainer = _native.Trainer(net, train, int(epochs), tuple(int(s) for s in sample_shape))
        return self

    @property
    def trainer(self) -> _native.Trainer:
        """The native trainer (after build, fit, load or resume)."""
        if self._trainer is None:
            raise RuntimeError("the network is not built yet: call fit (or build) first")
        return self._trainer

    @classmethod
    def load(cls, path: str) -> "SpikingClassifier":
        """A trained model from its model file (evaluate, predict, export)."""
        clf = cls.__new__(cls)
        clf.arch, clf.options = "", {}
        clf._trainer = _native.Trainer.load(str(path))
        return clf

    @classmethod
    def resume(cls, checkpoint: str) -> "SpikingClassifier":
        """A training run restored from its checkpoint (model, optimizer, position):
        ``fit`` continues it exactly."""
        clf = cls.__new__(cls)
        clf.arch, clf.options = "", {}
        clf._trainer = _native.Trainer.resume(str(checkpoint))
        return clf

    @classmethod
    def from_converted(cls, model: str, **config: Any) -> "SpikingClassifier":
        """Hybrid training: fine-tunes the converted SNN of model file ``model`` by
        surrogate gradients (``steps``, ``epochs``, ``batch_size``, ``lr``, ``seed``)."""
        clf = cls.__new__(cls)
        clf.arch, clf.options = "", {}
        clf._trainer = _native.Trainer.from_converted(str(model), json.dumps(config))
        return clf

    # ------------------------------------------------------------ training
    def fit(self, x: Any, y: Any, epochs: int = 1, validation: Optional[Tuple[Any, Any]] = None,
            checkpoint: Optional[str] = None, checkpoint_every_s: float = 60.0,
            validation_limit: Optional[int] = None, progress: bool = False) -> List[Dict[str, Any]]:
        """Trains until ``epochs`` epochs are done in all (a resumed run continues),
        evaluating on ``validation`` = ``(x, y)`` after each epoch and writing
        ``checkpoint`` after every epoch and every ``checkpoint_every_s`` seconds.
        The GIL is released; Ctrl-C stops at the next batch with KeyboardInterrupt.
        A model from :meth:`load` or :func:`spikelab.nir.read` fine-tunes from its
        weights with its own configuration and a fresh optimizer (:meth:`resume`
        continues a run exactly instead). Returns this call's epochs: dicts of epoch, train_loss, train_accuracy,
        test_accuracy, test_loss, lr, seconds, samples_per_s."""
        x = as_samples(x)
        y = _labels(y, len(x))
        if self._trainer is None:
            self.build(_sample_shape(x), epochs)
        xt = yt = None
        if validation is not None:
            xt = as_samples(validation[0])
            yt = _labels(validation[1], len(xt))
        return self.trainer.fit(x, y, int(epochs), xt, yt,
                                None if checkpoint is None else str(checkpoint),
                                float(checkpoint_every_s), validation_limit, bool(progress))

    def evaluate(self, x: Any, y: Any, limit: Optional[int] = None) -> Dict[str, Any]:
        """Accuracy (%), loss, samples, seconds and spikes per sample on ``(x, y)``."""
        x = as_samples(x)
        return self.trainer.evaluate(x, _labels(y, len(x)), limit)

    def predict(self, x: Any) -> np.ndarray:
        """Predicted class of every sample (int64)."""
        return self.trainer.predict(as_samples(x))

    @property
    def history(self) -> List[Dict[str, Any]]:
        """Every epoch trained so far."""
        return self.trainer.history()

    def save(self, path: str) -> None:
        """Writes the model file (safetensors: weights, architecture, configuration,
        history; ``spikelab eval surrogate`` reads it)."""
        self.trainer.save(str(path))

    def save_checkpoint(self, path: str) -> None:
        """Writes a checkpoint that :meth:`resume` continues."""
        self.trainer.save_checkpoint(str(path))

    def parameters(self) -> Dict[str, np.ndarray]:
        """Copies of the parameters by name (``layer0.weight``, ...)."""
        return self.trainer.parameters()

    def summary(self) -> str:
        """A table of the layers."""
        return self.trainer.summary()

    @property
    def config(self) -> Dict[str, Any]:
        """The training configuration."""
        return json.loads(self.trainer.config_json())

    # -------------------------------------------------------------- export
    def to_network(self, dt_ms: float = 1.0):
        """The trained network on the event-driven engine, as a :class:`spikelab.Network`
        (built; feed its input population and run it)."""
        from .network import Network
        text, _steps = self.trainer.export_toml(float(dt_ms))
        net = Network.from_toml(text, source="<exported network>")
        return net

    def to_nir(self, path: str, dt_ms: float = 1.0, discretisation: str = "euler") -> List[str]:
        """Writes the network as a NIR file (see :func:`spikelab.nir.write`); returns
        notes on what was folded, dropped or stated only in metadata."""
        return self.trainer.to_nir(str(path), float(dt_ms), str(discretisation))

    def run(self, x: Any) -> np.ndarray:
        """The network on given input values per step, without encoding: ``x`` of shape
        ``(n, T, features...)`` (channels last), any numeric type; returns float32
        ``(n, T, outputs)`` — the spikes of a spiking output layer, the membrane of a
        readout."""
        arr = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
        return self.trainer.run(arr)

    def presentation_steps(self, dt_ms: float = 1.0) -> int:
        """Engine steps of one presentation of the exported network."""
        return self.trainer.export_toml(float(dt_ms))[1]

    def evaluate_on_engine(self, x: Any, y: Any, limit: Optional[int] = None,
                           dt_ms: float = 1.0) -> Dict[str, Any]:
        """Accuracy of the exported network on the engine (the trainer's inputs
        replayed), agreement with the trainer (%), synaptic operations and spikes per
        inference, and the engine's predictions."""
        x = as_samples(x)
        return self.trainer.evaluate_on_engine(x, _labels(y, len(x)), limit, float(dt_ms))

    def __repr__(self) -> str:
        built = "built" if self._trainer is not None else "not built"
        return f"SpikingClassifier(arch={self.arch!r}, {self.options}, {built})"
