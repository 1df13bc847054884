#!/usr/bin/env bash
# The project's test command (the README's second line; .ci/run calls it): the Rust
# test suite, then the Python package built from this checkout and its pytest suite,
# then the Python examples on small slices of data. The Python part runs in a
# virtual environment (default target/venv, or $SPIKELAB_VENV) that it creates and
# fills from PyPI (maturin, pytest, numpy, matplotlib, and the reference `nir`
# package, which the NIR interoperability tests write and read files with) if needed.
# The distributed engine's tests then build the command line with the feature `mpi`
# and run it under Open MPI's mpirun with 1, 2 and 3 ranks on this machine (they need
# libopenmpi-dev, openmpi-bin and libclang-dev, which .ci/run installs).
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

cargo test --release --workspace
cargo clippy --release -p spikelab-core -p spikelab-cli --all-targets --features spikelab-cli/mpi -- -D warnings
cargo test --release -p spikelab-cli --features mpi --test mpi

venv="${SPIKELAB_VENV:-target/venv}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" || {
        echo "test.sh: cannot create a Python virtual environment; install python3-venv" >&2
        exit 1
    }
fi
py="$venv/bin/python"
"$py" -m pip install --quiet --disable-pip-version-check maturin pytest numpy matplotlib nir
# Builds the extension in release mode into the workspace's target/ (the crates are
# already compiled by the cargo test above).
"$py" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps ./python
# The wheel the README promises (one for every CPython >= 3.9, abi3).
"$venv/bin/maturin" build --release --quiet -m python/Cargo.toml -o target/wheels
export MPLBACKEND=Agg
"$py" -m pytest -q python/tests
for example in examples/python/*.py; do
    echo "example: $example"
    "$py" "$example" --quick
done
