"""The tempotron capacity experiment (Gütig & Sompolinsky 2006): patterns, loads side by side, input errors."""

import numpy as np
import pytest
from brian2 import ms

from brainlz.errors import ParameterError
from brainlz.experiments.tempotron_capacity import capacity_patterns, tempotron_capacity
from brainlz.learning.tempotron import TempotronParams


def test_capacity_patterns_fire_every_afferent_once():
    x, y = capacity_patterns(30, 16, duration=100 * ms, seed=2)
    assert x.shape == (16, 30, 100) and x.dtype == bool
    assert np.all(x.sum(axis=2) == 1)
    assert set(np.unique(y)) <= {0, 1}
    again, labels = capacity_patterns(30, 16, duration=100 * ms, seed=2)
    np.testing.assert_array_equal(again, x)
    np.testing.assert_array_equal(labels, y)


@pytest.mark.slow  # ~20 s of training; the rule itself is checked against the exact oracle in the default run
def test_capacity_half_load_is_learned_and_overload_is_not(standalone_dir):
    """Gütig & Sompolinsky setting scaled down: N = 100 afferents firing once in 500 ms, random labels."""
    result = tempotron_capacity(100, loads=[0.5, 5.0], epochs=25, seed=0,
                                params=TempotronParams(learning_rate=0.05), directory=standalone_dir)
    assert result["n_patterns"] == [50, 500]
    assert result["converged"][0] and result["final_accuracy"][0] == 1.0
    assert result["epochs"][0] < 25
    assert not result["converged"][1] and result["final_accuracy"][1] < 0.9
    assert result["epochs"][1] == 25
    assert result["builds"] <= 1        # one program for both loads and all epochs


def test_capacity_loads_are_independent_blocks():
    """Loads trained side by side in one run give the same result as alone (runtime numpy, short trials)."""
    kwargs = dict(epochs=4, seed=3, duration=100 * ms, params=TempotronParams(learning_rate=0.05),
                  backend="runtime", target="numpy")
    alone = tempotron_capacity(20, loads=[0.5], **kwargs)
    together = tempotron_capacity(20, loads=[0.5, 2.0], **kwargs)
    assert alone["errors"][0] == together["errors"][0]
    assert alone["final_accuracy"][0] == together["final_accuracy"][0]
    assert sum(together["errors"][1]) > 0


@pytest.mark.parametrize("call, field", [
    (lambda: tempotron_capacity(10, loads=[-1.0]), "loads"),
    (lambda: tempotron_capacity(10, loads=[]), "loads"),
    (lambda: tempotron_capacity(0), "n_afferents"),
    (lambda: tempotron_capacity(10, seed=-1), "seed"),
    (lambda: tempotron_capacity(10, init_std=-0.1), "init_std"),
    (lambda: tempotron_capacity(10, params={"tau": 15 * ms}), "params"),
    (lambda: tempotron_capacity(10, backend="gpu"), "backend"),
    (lambda: capacity_patterns(10, 4, dt=1e-3), "dt"),
])
def test_bad_inputs_name_the_field(call, field):
    with pytest.raises(ParameterError) as info:
        call()
    message = str(info.value)
    assert message.startswith(field), message
    assert info.value.field == field


@pytest.mark.slow
def test_capacity_full_size(standalone_dir):
    """N = 200 afferents: loads 0.5 and 1 are learned perfectly, load 3 is not, within 100 epochs (~1-2 min)."""
    result = tempotron_capacity(200, loads=[0.5, 1.0, 3.0], epochs=100, seed=1,
                                params=TempotronParams(learning_rate=0.05), directory=standalone_dir)
    assert result["final_accuracy"][:2] == [1.0, 1.0]
    assert result["final_accuracy"][2] < 1.0
    assert result["builds"] <= 1
