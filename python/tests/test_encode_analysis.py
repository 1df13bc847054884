"""Encoders and spike-train statistics on numpy arrays."""

import numpy as np
import pytest

import spikelab as sl


def test_every_encoder_encodes_a_batch():
    x = np.random.default_rng(0).random((3, 16), dtype=np.float32)
    for name in sl.encode.names():
        if name == "saccades":
            spikes = sl.encode.encode(x.reshape(3, 4, 4), name, steps=30)
        else:
            spikes = sl.encode.encode(x, name, steps=30)
        assert spikes.dtype == np.uint8 and spikes.shape[:2] == (30, 3), name
        assert spikes.shape[2] == sl.encode.n_outputs(name, 16) or name == "saccades"
        assert set(np.unique(spikes)) <= {0, 1}, name


def test_encoding_is_keyed_and_deterministic():
    x = np.full((2, 100), 0.5, dtype=np.float32)
    a = sl.encode.encode(x, "rate", steps=200, seed=1)
    b = sl.encode.encode(x, "rate", steps=200, seed=1)
    c = sl.encode.encode(x[1:], "rate", steps=200, seed=1, first_key=1)
    assert np.array_equal(a, b) and np.array_equal(a[:, 1], c[:, 0])
    assert a.mean() == pytest.approx(0.5, abs=0.02)
    assert not np.array_equal(a[:, 0], a[:, 1])


def test_latency_parameters_as_keywords_and_uint8_input():
    x = np.array([[255, 128, 0]], dtype=np.uint8)
    spikes = sl.encode.encode(x, "latency", steps=20, t_max_ms=10.0, threshold=0.1)
    first = [int(np.argmax(spikes[:, 0, j])) if spikes[:, 0, j].any() else None for j in range(3)]
    assert first[0] == 0 and first[1] is not None and first[1] > 0 and first[2] is None
    t, n = sl.encode.spike_times(x[0], "latency", steps=20, t_max_ms=10.0, threshold=0.1)
    assert list(n) == [0, 1] and t[0] == 0.0


def test_encoder_errors():
    x = np.zeros((1, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="encoder"):
        sl.encode.encode(x, "morse", steps=5)
    with pytest.raises(ValueError, match="steps|n_steps"):
        sl.encode.encode(x, "rate", steps=0)
    with pytest.raises(ValueError):
        sl.encode.encode(x, "latency", steps=5, t_max_ms=-1.0)


def test_statistics_of_regular_and_poisson_trains():
    regular_t = np.arange(0, 1000, 10.0)
    regular_n = np.zeros(len(regular_t), dtype=np.uint32)
    assert sl.analysis.firing_rates(regular_t, regular_n, 1, 0, 1000)[0] == pytest.approx(100.0)
    assert sl.analysis.isi_cv(regular_t, regular_n, 1)[0] == 0.0
    assert sl.analysis.fano_factor(regular_t, regular_n, 1, bin_ms=100, t_stop_ms=1000)[0] == 0.0
    rng = np.random.default_rng(1)
    times, neurons = [], []
    for j in range(100):
        t = np.cumsum(rng.exponential(50.0, 600))
        t = t[t < 20000]
        times.append(t)
        neurons.append(np.full(len(t), j))
    t, n = np.concatenate(times), np.concatenate(neurons)
    assert np.nanmean(sl.analysis.isi_cv(t, n, 100)) == pytest.approx(1.0, abs=0.05)
    assert np.nanmean(sl.analysis.fano_factor(t, n, 100, bin_ms=200, t_stop_ms=20000)) == pytest.approx(1.0, abs=0.1)
    starts, rate = sl.analysis.psth(t, 100, bin_ms=1000, t_stop_ms=20000)
    assert len(starts) == 20 and rate.mean() == pytest.approx(20.0, rel=0.05)


def test_statistics_errors_name_the_argument():
    with pytest.raises(ValueError, match="neurons"):
        sl.analysis.isi_cv([1.0, 2.0], [0], 1)
    with pytest.raises(ValueError, match="neurons"):
        sl.analysis.isi_cv([1.0], [5], 2)
    with pytest.raises(ValueError, match="bin_ms"):
        sl.analysis.psth([1.0], 1, bin_ms=0.0, t_stop_ms=10)
