"""Liquid state machines from Python: fit on JapaneseVowels, states, save and load,
variable-length lists, and the errors users see."""

import numpy as np
import pytest

import spikelab as sl


@pytest.fixture(scope="module")
def vowels(root):
    ucr = root.parent / "shared" / "data" / "ucr"
    assert (ucr / "JapaneseVowels_TRAIN.ts").exists(), f"JapaneseVowels not in {ucr}"
    train = sl.datasets.load_timeseries(str(ucr), "JapaneseVowels", "train", return_lengths=True)
    test = sl.datasets.load_timeseries(str(ucr), "JapaneseVowels", "test", return_lengths=True)
    return train, test


def test_the_default_machine_learns_japanese_vowels_like_the_cli(vowels, tmp_path):
    (x, y, names, lengths), (xt, yt, _, lt) = vowels
    assert lengths.dtype == np.uint64 and lengths.min() >= 7 and lengths.max() == x.shape[1]
    lsm = sl.LiquidStateMachine(threads=2).fit(x, y, lengths=lengths, class_names=names)
    assert lsm.report_["train_accuracy"] > 95
    assert lsm.report_["readout"]["loo_accuracy"] > 90
    ev = lsm.evaluate(xt, yt, lengths=lt)
    # 96.76 % with the defaults, as `spikelab train lsm` (the same machine).
    assert ev["accuracy"] >= 90, ev["accuracy"]
    assert ev["confusion"].shape == (9, 9) and ev["confusion"].sum() == len(yt)
    states = lsm.states(xt[:5], lengths=lt[:5])
    assert states.shape == (5, lsm.neurons * 4) and states.dtype == np.float64
    # A list of variable-length series gives the same states.
    as_list = [xt[i, : lt[i]] for i in range(5)]
    np.testing.assert_array_equal(lsm.states(as_list), states)
    path = tmp_path / "lsm.safetensors"
    lsm.save(str(path))
    again = sl.LiquidStateMachine.load(str(path))
    np.testing.assert_array_equal(again.predict(xt, lengths=lt), ev["predictions"])
    assert again.class_names == names


def test_options_and_errors(vowels):
    (x, y, _, lengths), _ = vowels
    small = sl.LiquidStateMachine(neurons=40, liquids=2, stacked=True, readout="logistic",
                                  alpha=1.0, state_points=2, seed=3)
    small.fit(x[:60], y[:60], lengths=lengths[:60])
    assert small.config["arrangement"]["liquids"] == 2
    assert small.states(x[:2], lengths=lengths[:2]).shape == (2, 2 * 50 * 2)
    with pytest.raises(ValueError, match="not fitted"):
        sl.LiquidStateMachine().predict(x[:2])
    with pytest.raises(ValueError, match="topology"):
        sl.LiquidStateMachine(topology="ring")
    with pytest.raises(ValueError, match="frame_ms"):
        sl.LiquidStateMachine(frame_ms=0.5).fit(x[:10], y[:10])
    with pytest.raises(ValueError, match="labels"):
        small.evaluate(x[:4], y[:3])
    with pytest.raises(ValueError, match="channels"):
        small.predict(np.zeros((2, 5, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="lengths"):
        small.predict(x[:2], lengths=[0, 3])
