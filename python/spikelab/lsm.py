"""Liquid state machines (Maass, Natschläger & Markram 2002): a fixed recurrent
spiking network — the liquid, simulated on Spikelab's engine — turns each input
series into filtered spike trains, and only a linear readout of that state is
trained (ridge regression with its strength chosen by exact leave-one-out, or
logistic regression). The same machine as ``spikelab train lsm``.

>>> x, y, names, lengths = sl.datasets.load_timeseries(root, "JapaneseVowels", "train",
...                                                    return_lengths=True)
>>> lsm = sl.LiquidStateMachine(neurons=400, topology="distance").fit(x, y, lengths=lengths)
>>> lsm.score(xt, yt, lengths=lt)            # accuracy in %
>>> lsm.states(xt, lengths=lt).shape         # (n, neurons_total × points)
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from . import _native

__all__ = ["LiquidStateMachine"]

Series = Union[np.ndarray, Sequence[np.ndarray]]


def _series(x: Series, lengths: Optional[Any]):
    """``(values float32 (n, steps, channels), lengths uint64 (n,))`` from a 3-D array
    (with optional lengths) or a list of 2-D ``(steps_i, channels)`` arrays."""
    if isinstance(x, np.ndarray) and x.ndim == 3:
        values = np.ascontiguousarray(x, dtype=np.float32)
        if lengths is None:
            lens = np.full(values.shape[0], values.shape[1], dtype=np.uint64)
        else:
            lens = np.ascontiguousarray(lengths, dtype=np.uint64)
        return values, lens
    seqs = [np.asarray(s, dtype=np.float32) for s in x]
    if not seqs:
        raise ValueError("no series given")
    if any(s.ndim == 1 for s in seqs):
        seqs = [s.reshape(-1, 1) if s.ndim == 1 else s for s in seqs]
    if any(s.ndim != 2 for s in seqs):
        raise ValueError("each series must be a (steps, channels) array")
    channels = {s.shape[1] for s in seqs}
    if len(channels) != 1:
        raise ValueError(f"series have different channel counts: {sorted(channels)}")
    steps = max(s.shape[0] for s in seqs)
    values = np.zeros((len(seqs), steps, channels.pop()), dtype=np.float32)
    for i, s in enumerate(seqs):
        values[i, : s.shape[0]] = s
    lens = np.array([s.shape[0] for s in seqs], dtype=np.uint64)
    return values, lens


def _labels(y: Any, n: int) -> np.ndarray:
    labels = np.asarray(y)
    if labels.shape != (n,):
        raise ValueError(f"expected {n} labels, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > 65535):
        raise ValueError("labels must be class indices in 0..65535")
    return np.ascontiguousarray(labels, dtype=np.uint16)


class LiquidStateMachine:
    """A liquid of spiking neurons with a trained linear readout.

    Keyword arguments set the common options; ``config`` takes a whole
    configuration dict (the fields of ``spikelab_train::lsm::LsmConfig``, as in the
    TOML file of ``spikelab train lsm --config``), which the keywords then override.

    neurons: excitatory neurons per liquid (inhibitory: a quarter as many).
    liquids: number of liquids; ``stacked`` chains them, ``partition_inputs`` gives
        each its share of the channels.
    topology: ``"distance"`` (Maass et al. 2002, the default) or ``"random"``.
    encoding: ``"population"`` (default), ``"delta"`` or ``"rate"``.
    frame_ms: milliseconds per series step.
    readout: ``"ridge"`` (default; ``alpha=None`` chooses it by leave-one-out) or
        ``"logistic"``.
    state_points: points per series at which the liquid state is read.
    seed: seed of the liquid and of the input draws.
    threads: threads for the liquid runs (0 = all cores).
    """

    def __init__(self, neurons: Optional[int] = None, liquids: Optional[int] = None,
                 stacked: bool = False, partition_inputs: bool = False,
                 topology: Optional[str] = None, encoding: Optional[str] = None,
                 frame_ms: Optional[float] = None, readout: Optional[str] = None,
                 alpha: Optional[float] = None, state_points: Optional[int] = None,
                 seed: int = 0, threads: int = 0,
                 config: Optional[Dict[str, Any]] = None) -> None:
        cfg: Dict[str, Any] = json.loads(json.dumps(config or {}))
        liquid = cfg.setdefault("liquid", {})
        arrangement = cfg.setdefault("arrangement", {})
        if neurons is not None:
            liquid["excitatory"] = int(neurons)
            liquid["inhibitory"] = max(int(neurons) // 4, 1)
        if liquids is not None:
            arrangement["liquids"] = int(liquids)
        if stacked:
            arrangement["stacked"] = True
        if partition_inputs:
            arrangement["partition_inputs"] = True
        if topology == "distance":
            liquid["topology"] = {"kind": "distance", "lambda": 2.0, "c": [0.3, 0.2, 0.4, 0.1]}
        elif topology == "random":
            liquid["topology"] = {"kind": "random", "p": [0.1, 0.1, 0.2, 0.1]}
        elif topology is not None:
            raise ValueError(f"topology must be 'distance' or 'random', not {topology!r}")
        if encoding == "population":
            cfg["encoding"] = {"kind": "population", "fields": 8, "max_rate_hz": 200.0}
        elif encoding == "delta":
            cfg["encoding"] = {"kind": "delta", "threshold": 0.5}
        elif encoding == "rate":
            cfg["encoding"] = {"kind": "rate", "max_rate_hz": 200.0}
        elif encoding is not None:
            raise ValueError(f"encoding must be 'population', 'delta' or 'rate', not {encoding!r}")
        if frame_ms is not None:
            cfg["frame_ms"] = float(frame_ms)
        if readout == "logistic":
            cfg["readout"] = {"kind": "logistic", "alpha": 1.0 if alpha is None else float(alpha),
                              "max_iterations": 200}
        elif readout in (None, "ridge"):
            if readout == "ridge" or alpha is not None:
                cfg["readout"] = {"kind": "ridge", "alpha": None if alpha is None else float(alpha)}
        else:
            raise ValueError(f"readout must be 'ridge' or 'logistic', not {readout!r}")
        if state_points is not None:
            cfg.setdefault("state", {})["points"] = int(state_points)
        cfg["seed"] = int(seed)
        self._config = cfg
        self.threads = int(threads)
        self._native: Optional[_native.Lsm] = None
        self.report_: Optional[Dict[str, Any]] = None

    @classmethod
    def load(cls, path: str) -> "LiquidStateMachine":
        """A machine written by :meth:`save` or ``spikelab train lsm``
        (``lsm.safetensors``)."""
        native = _native.Lsm.load(str(path))
        m = cls(config=json.loads(native.config_json()), seed=json.loads(native.config_json())["seed"])
        m._native = native
        return m

    def save(self, path: str) -> None:
        """Writes the fitted machine (safetensors)."""
        self._fitted().save(str(path))

    @property
    def config(self) -> Dict[str, Any]:
        """The full configuration (after fitting: with every default filled in)."""
        if self._native is not None:
            return json.loads(self._native.config_json())
        return json.loads(json.dumps(self._config))

    @property
    def class_names(self) -> List[str]:
        return list(self._fitted().class_names)

    @property
    def neurons(self) -> int:
        """Liquid neurons, all liquids together."""
        return self._fitted().neurons

    def _fitted(self) -> _native.Lsm:
        if self._native is None:
            raise ValueError("the liquid state machine is not fitted yet: call fit first")
        return self._native

    def fit(self, x: Series, y: Any, lengths: Optional[Any] = None,
            class_names: Optional[List[str]] = None) -> "LiquidStateMachine":
        """Fits the machine to series ``x`` (a float array ``(n, steps, channels)``
        with optional per-series ``lengths``, or a list of ``(steps_i, channels)``
        arrays) and class indices ``y``. The report (train accuracy, readout strength,
        leave-one-out accuracy, class separation, mean rate) is in ``report_``."""
        values, lens = _series(x, lengths)
        labels = _labels(y, values.shape[0])
        if class_names is None:
            class_names = [str(c) for c in range(int(labels.max()) + 1 if labels.size else 2)]
        if len(class_names) < 2:
            class_names = class_names + [str(len(class_names))]
        native = _native.Lsm(json.dumps(self._config), values.shape[2], list(class_names))
        self.report_ = json.loads(native.fit(values, lens, labels, self.threads))
        self._native = native
        return self

    def states(self, x: Series, lengths: Optional[Any] = None) -> np.ndarray:
        """The liquid states ``(n, neurons × state_points)`` of the series."""
        values, lens = _series(x, lengths)
        return self._fitted().states(values, lens, self.threads)

    def predict(self, x: Series, lengths: Optional[Any] = None) -> np.ndarray:
        """The predicted class index of each series."""
        values, lens = _series(x, lengths)
        return self._fitted().predict(values, lens, self.threads)

    def evaluate(self, x: Series, y: Any, lengths: Optional[Any] = None) -> Dict[str, Any]:
        """``accuracy`` (%), ``confusion`` (true × predicted counts) and
        ``predictions`` on labelled series."""
        values, lens = _series(x, lengths)
        labels = _labels(y, values.shape[0])
        ev = json.loads(self._fitted().evaluate(values, lens, labels, self.threads))
        ev["confusion"] = np.array(ev["confusion"], dtype=np.int64)
        ev["predictions"] = np.array(ev["predictions"], dtype=np.int64)
        return ev

    def score(self, x: Series, y: Any, lengths: Optional[Any] = None) -> float:
        """Accuracy (%) on labelled series."""
        return float(self.evaluate(x, y, lengths)["accuracy"])

    def __repr__(self) -> str:
        state = "fitted" if self._native is not None else "not fitted"
        return f"LiquidStateMachine({state}, config={self.config!r})"
