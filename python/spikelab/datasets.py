"""Data loaders returning numpy arrays: MNIST-format image sets (MNIST,
Fashion-MNIST, KMNIST), event-camera files (N-MNIST ``.bin``, ``.csv``, ``.npy``)
and UCR/UEA time-series problems (``.ts``).

Files are read from a folder you give (the data set's folder or its parent);
``spikelab data fetch mnist`` downloads them when you have a network.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np

from . import _native

__all__ = ["mnist", "fashion_mnist", "load_images", "load_events", "events_to_frames",
           "load_timeseries", "load_event_folder"]


def load_images(root: str, name: str = "mnist", split: str = "train",
                limit: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (n, 28, 28), labels uint8 (n,))`` of a split (train/test)."""
    return _native.load_images(str(root), name, split, limit)


def mnist(root: str, split: str = "train", limit: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """MNIST images and labels from ``root``."""
    return load_images(root, "mnist", split, limit)


def fashion_mnist(root: str, split: str = "train", limit: Optional[int] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST images and labels from ``root``."""
    return load_images(root, "fashion-mnist", split, limit)


def load_events(path: str, size: Optional[Tuple[int, int]] = None) -> Dict[str, object]:
    """An event file as a dict of arrays: ``t_us`` (uint64), ``x``, ``y`` (uint16),
    ``polarity`` (int8, +1 ON / -1 OFF), and the sensor ``width``, ``height``."""
    t, x, y, p, w, h = _native.load_events(str(path), size)
    return {"t_us": t, "x": x, "y": y, "polarity": p, "width": w, "height": h}


def events_to_frames(events: Dict[str, object], n_frames: Optional[int] = None,
                     bin_us: Optional[int] = None, event_bins: Optional[int] = None
                     ) -> Tuple[np.ndarray, np.ndarray]:
    """Bins events (a dict as :func:`load_events` returns) into frames of counts:
    ``(frames float32 (n, 2, height, width), start_us)``, polarity 0 = OFF, 1 = ON.
    Give exactly one of ``n_frames`` (equal durations), ``bin_us`` (fixed duration)
    or ``event_bins`` (equal numbers of events)."""
    return _native.events_to_frames(
        np.ascontiguousarray(events["t_us"], dtype=np.uint64),
        np.ascontiguousarray(events["x"], dtype=np.uint16),
        np.ascontiguousarray(events["y"], dtype=np.uint16),
        np.ascontiguousarray(events["polarity"], dtype=np.int8),
        int(events["width"]), int(events["height"]), n_frames, bin_us, event_bins)


def load_timeseries(root: str, name: str, split: str = "train", return_lengths: bool = False):
    """``(values float32 (n, steps, dims), labels uint16 (n,), class_names)`` of a
    UCR/UEA problem (e.g. ``"GunPoint"``) from ``root``; series shorter than the
    longest are padded with their last value. With ``return_lengths=True`` a fourth
    array gives each series' own length (what :class:`LiquidStateMachine` takes)."""
    values, labels, names, lengths = _native.load_timeseries(str(root), name, split)
    if return_lengths:
        return values, labels, names, lengths
    return values, labels, names


def load_event_folder(root: str, split: str = "train", frames: int = 10,
                      limit: Optional[int] = None,
                      size: Optional[Tuple[int, int]] = None) -> Tuple[np.ndarray, np.ndarray]:
    """An event-camera data set in the N-MNIST folder layout (``Train/<label>/*.bin``,
    ``Test/<label>/*.bin``) as binned frames: ``(x uint8 (n, frames, 2·H·W), labels)``,
    event counts as ``min(64·count, 255)``, OFF block then ON block. Train on it with
    ``SpikingClassifier("2312-256R-10", encoding="sequence", steps=frames, ...)``."""
    return _native.load_event_folder(str(root), split, int(frames), limit, size)
