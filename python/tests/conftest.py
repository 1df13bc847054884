"""Shared fixtures: the repository root, the shared MNIST folder and the CLI."""

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MNIST = pathlib.Path(os.environ.get("SPIKELAB_MNIST", ROOT.parent / "shared" / "data" / "mnist"))


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def mnist_dir():
    assert (MNIST / "train-images-idx3-ubyte.gz").exists() or (MNIST / "train-images-idx3-ubyte").exists(), \
        f"MNIST not found in {MNIST} (set SPIKELAB_MNIST)"
    return MNIST


@pytest.fixture(scope="session")
def cli(root):
    exe = root / "target" / "release" / "spikelab"
    assert exe.exists(), f"{exe} not built: run cargo build --release first (test.sh does)"
    return exe
