"""NIR — the Neuromorphic Intermediate Representation — files in and out.

NIR (https://neuroir.org) is how spiking-network tools exchange networks: snnTorch,
Norse, Sinabs, Rockpool, Spyx and hxtorch write and read it, Lava-dl and SpiNNaker2
run it. Spikelab reads and writes the files itself (no ``nir`` or ``h5py`` package
needed):

* :func:`write` — a trained :class:`~spikelab.SpikingClassifier` (or a saved model)
  as a ``.nir`` file;
* :func:`read` — a ``.nir`` file (from Spikelab, snnTorch, Norse, ...) as a
  :class:`~spikelab.SpikingClassifier` that evaluates, predicts, runs on the
  simulator and fine-tunes;
* :func:`read_graph` / :func:`write_graph` — the graph itself as nested dicts of
  numpy arrays, for inspection and editing.

NIR is continuous-time; Spikelab steps in discrete time. ``dt_ms`` is the time step
and ``discretisation`` how a decay β maps to a time constant τ: ``"euler"`` (β = 1 −
dt/τ, snnTorch's convention) or ``"exact"`` (β = exp(−dt/τ)). NIR neurons reset to
``v_reset``; Spikelab's reset by subtraction is stated in the graph's metadata and
read back, and graphs from other tools reset to zero unless ``reset="subtract"``
says otherwise (snnTorch's ``Leaky`` subtracts by default).

Example::

    clf.to_nir("net.nir")                       # or spikelab.nir.write(clf, "net.nir")
    back = spikelab.nir.read("net.nir")
    back.evaluate(x_test, y_test)
    g = spikelab.nir.read_graph("snntorch_net.nir")
    print(g["nodes"].keys(), g["edges"])
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Union

import numpy as np

from . import _native
from .classifier import SpikingClassifier

__all__ = ["read", "write", "read_graph", "write_graph"]


def write(model: Any, path: str, dt_ms: float = 1.0, discretisation: str = "euler") -> List[str]:
    """Writes ``model`` as the NIR file ``path``; returns notes on what was folded
    (batch norm), dropped (dropout, refractory periods) or stated only in metadata
    (reset by subtraction).

    ``model`` is a :class:`SpikingClassifier`, the path of a model file or run
    directory, or a simulator :class:`spikelab.Network` of LIF / IF populations with
    delta or exponential current synapses (each projection a dense Linear node per
    delay and a Delay node; ``dt_ms`` and ``discretisation`` apply to trained
    networks only). What NIR cannot express (adaptive LIF, ReLU, conductance
    synapses, ...) raises ``ValueError`` naming the layer or population."""
    from .network import Network
    if isinstance(model, Network):
        return list(_native.nir_export_network(model.to_toml(), os.fspath(path)))
    if not isinstance(model, SpikingClassifier):
        p = os.fspath(model)
        if os.path.isdir(p):
            p = os.path.join(p, "model.safetensors")
        model = SpikingClassifier.load(p)
    return model.to_nir(str(path), dt_ms=dt_ms, discretisation=discretisation)


def read(path: str, dt_ms: Optional[float] = None, discretisation: Optional[str] = None,
         reset: Optional[str] = None, steps: Optional[int] = None,
         encoding: Optional[str] = None) -> SpikingClassifier:
    """The NIR graph in ``path`` as a :class:`SpikingClassifier`.

    Every option left ``None`` comes from the graph (as Spikelab writes it) or has a
    default: ``dt_ms`` is inferred from τ/R of the neurons when the graph follows
    snnTorch's convention R = τ/dt; ``discretisation`` ``"euler"``; ``reset``
    ``"zero"`` (NIR's own) or ``"subtract"``; ``steps`` 25; ``encoding`` ``"rate"``
    (any name ``train surrogate --encoding`` takes). What the import decided is in
    the returned classifier's ``nir_notes``. Unsupported nodes raise ``ValueError``
    naming the node and its type."""
    options: Dict[str, Any] = {}
    if dt_ms is not None:
        options["dt_ms"] = float(dt_ms)
    if discretisation is not None:
        options["discretisation"] = str(discretisation)
    if reset is not None:
        options["reset"] = str(reset)
    if steps is not None:
        options["steps"] = int(steps)
    if encoding is not None:
        options["encoding"] = str(encoding)
    trainer, notes = _native.nir_import(os.fspath(path), json.dumps(options))
    clf = SpikingClassifier.__new__(SpikingClassifier)
    clf.arch, clf.options = "", {}
    clf._trainer = trainer
    clf.nir_notes = list(notes)
    return clf


def _edges(value: Any) -> List[tuple]:
    return [tuple(e) for e in value] if isinstance(value, list) else []


def _from_tree(node: Dict[str, Any]) -> Dict[str, Any]:
    out = dict(node)
    if out.get("type") == "NIRGraph":
        out["nodes"] = {k: _from_tree(v) for k, v in out.get("nodes", {}).items()}
        out["edges"] = _edges(out.get("edges"))
    return out


def read_graph(path: str) -> Dict[str, Any]:
    """The NIR file ``path`` as a dict ``{"type": "NIRGraph", "nodes": {name: node},
    "edges": [(from, to), ...], "metadata": {...}}``; each node a dict with its
    ``type`` and NIR's parameter names as numpy arrays (subgraphs nested the same
    way). The file is parsed and checked by Spikelab first."""
    tree = _native.nir_read_tree(os.fspath(path))
    graph = _from_tree(tree["node"])
    graph["version"] = tree.get("version")
    return graph


def _to_value(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _to_value(x) for k, x in v.items()}
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)) and v and all(isinstance(x, str) for x in v):
        return list(v)
    arr = np.asarray(v)
    if arr.dtype == np.float32 or arr.dtype == np.float64:
        return np.ascontiguousarray(arr)
    if arr.dtype.kind in "iub":
        return np.ascontiguousarray(arr.astype(np.int64))
    if arr.dtype.kind == "f":
        return np.ascontiguousarray(arr.astype(np.float64))
    raise TypeError(f"cannot store a value of type {type(v).__name__} ({arr.dtype}) in a NIR file")


def _to_tree(node: Dict[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for k, v in node.items():
        if k == "nodes" and node.get("type") == "NIRGraph":
            out[k] = {str(n): _to_tree(x) for n, x in v.items()}
        elif k == "edges" and node.get("type") == "NIRGraph":
            out[k] = [[str(a), str(b)] for a, b in v]
        elif k == "version":
            continue
        else:
            out[k] = _to_value(v)
    return out


def write_graph(graph: Dict[str, Any], path: str) -> None:
    """Writes a graph dict in the layout :func:`read_graph` returns as the NIR file
    ``path`` (checked by Spikelab first; ``nir.read`` and h5py read the result)."""
    node = _to_tree(graph)
    if "type" not in node:
        node["type"] = "NIRGraph"
    version = graph.get("version") or "1.0.8"
    _native.nir_write_tree({"version": str(version), "node": node}, os.fspath(path))
