"""Every Spikelab encoder on numpy arrays.

>>> import numpy as np, spikelab as sl
>>> x = np.random.default_rng(0).random((4, 784), dtype=np.float32)
>>> spikes = sl.encode.encode(x, "latency", steps=25)     # (25, 4, 784) uint8
>>> times_ms, neurons = sl.encode.spike_times(x[0], "poisson", steps=100)

Inputs are intensities in [0, 1] (images: pixel / 255; uint8 arrays are divided
by 255 for you). An encoder is chosen by name with its time parameters fitted to
the window (as ``spikelab data show`` and training do), or given its parameters
as keywords (``encode(x, "latency", steps=25, t_max_ms=20.0, threshold=0.1)``),
the fields of the encoder's TOML file.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from . import _native

__all__ = ["encode", "spike_times", "names", "n_outputs"]


def _as_unit(x: Any) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"`x` must be numeric, not {arr.dtype}")
    return arr.astype(np.float32, copy=False)


def _toml(name: str, params: dict) -> Optional[str]:
    if not params:
        return None
    return _native.dict_to_toml({"kind": name, **params})


def names() -> list:
    """The encoder names :func:`encode` accepts."""
    return list(_native.encoder_names())


def n_outputs(name: str, n_inputs: int, **params: Any) -> int:
    """Output neurons of encoder ``name`` for ``n_inputs`` values."""
    return _native.encoder_outputs(name, int(n_inputs), _toml(name, params))


def encode(x: Any, name: str = "rate", steps: int = 25, dt_ms: float = 1.0, seed: int = 0,
           first_key: int = 0, **params: Any) -> np.ndarray:
    """Encodes a batch ``x`` (``(batch, ...)``, flattened per sample) into a spike
    tensor ``(steps, batch, outputs)`` of uint8 (0/1). Sample ``b`` uses the random
    key ``first_key + b``: the same key and seed give the same spikes."""
    arr = _as_unit(x)
    if arr.ndim == 1:
        arr = arr[None, :]
    height, width = (arr.shape[1], arr.shape[2]) if arr.ndim == 3 else (0, 0)
    flat = np.ascontiguousarray(arr.reshape(arr.shape[0], -1))
    return _native.encode_batch(flat, name, int(steps), float(dt_ms), int(seed), int(first_key),
                                _toml(name, params), width, height)


def spike_times(x: Any, name: str = "poisson", steps: int = 100, dt_ms: float = 1.0,
                seed: int = 0, key: int = 0, **params: Any) -> Tuple[np.ndarray, np.ndarray]:
    """Encodes one sample into spike trains ``(times_ms, neurons)`` in time order,
    ready for :meth:`spikelab.Network.set_spike_times` of a spike generator."""
    arr = _as_unit(x)
    height, width = arr.shape if arr.ndim == 2 else (0, 0)
    flat = np.ascontiguousarray(arr.reshape(-1))
    return _native.encode_trains(flat, name, int(steps), float(dt_ms), int(seed), int(key),
                                 _toml(name, params), width, height)
