"""The training contract: every rule is an object from one registry; a user's rule plugs in the same way."""

import json

import numpy as np
import pytest

from brainlz.errors import ParameterError
from brainlz.learning import rules
from brainlz.protocol import Protocol, run_protocol

TINY = dict(task="rate", difficulty=0.2, n_samples=24, n_channels=6, n_bins=120, hidden=0, output=4,
            backend="runtime", backend_options={"target": "numpy"}, n_folds=2, test_size=0.25, seed=2)


class ScaleOutput(rules.Rule):
    """A user's rule: multiplies the last projection's weights by ``factor`` (no data needed)."""

    name = "scale_output"

    def train(self, spec, train_set, *, backend="runtime", backend_options=None, seed=0, report=None):
        factor = self.options.get("factor", 2.0)
        weights = list(spec.weights)
        weights[-1] = weights[-1] * factor
        return spec.with_weights(weights), {"rule": self.name, "factor": factor, "n_samples": train_set.n_samples}


@pytest.fixture
def user_rule(monkeypatch):
    monkeypatch.setitem(rules.RULES, ScaleOutput.name, ScaleOutput)
    return ScaleOutput


def test_builtin_rules_are_registered_and_wrapped_by_the_outer_loop():
    assert set(rules.RULES) >= {"stdp", "tempotron", "surrogate"}
    assert isinstance(rules.make_rule({"rule": "stdp", "A_plus": 0.01}), rules.STDP)
    looped = rules.make_rule({"rule": "tempotron", "intrinsic": {"outer_steps": 2}})
    assert isinstance(looped, rules.OuterLoop) and isinstance(looped.rule, rules.Tempotron)
    # the surrogate rule learns intrinsic parameters itself, by the twin's gradient
    assert isinstance(rules.make_rule({"rule": "surrogate", "intrinsic": {}}), rules.Surrogate)
    with pytest.raises(ParameterError, match="^protocol.learning.rule = 'hebb': expected one of"):
        rules.make_rule({"rule": "hebb"})
    with pytest.raises(ParameterError, match="^protocol.learning.intrinsic = 3"):
        rules.make_rule({"rule": "stdp", "intrinsic": 3})


def test_a_users_rule_runs_in_a_protocol(user_rule, tmp_path):
    plain = run_protocol(Protocol(name="plain", **TINY), tmp_path, progress=False, figures=False)
    scaled = run_protocol(Protocol(name="scaled", learning={"rule": "scale_output", "factor": 3.0}, **TINY),
                          tmp_path, progress=False, figures=False)
    history = json.loads((scaled.directory / "metrics.json").read_text())["learning"]
    assert history == {"rule": "scale_output", "factor": 3.0, "n_samples": 18}  # the training part only
    before = np.load(plain.directory / "network.npz")
    after = np.load(scaled.directory / "network.npz")
    key = sorted(k for k in after.files if k.startswith("weights_"))[-1]
    np.testing.assert_allclose(after[key], 3.0 * before[key])
    rates = [json.loads((r.directory / "metrics.json").read_text())["activity"]["output_rate_hz"]
             for r in (plain, scaled)]
    assert rates[1] > rates[0]  # stronger weights, more output spikes: the trained network is the one simulated


def test_the_outer_loop_wraps_a_users_rule_through_the_contract(user_rule, tmp_path):
    """A rule that only implements ``train`` learns intrinsic parameters too: the outer loop calls its ``train``."""
    learning = {"rule": "scale_output", "factor": 1.5,
                "intrinsic": {"outer_steps": 1, "layers": "output", "parameters": ["V_th"]}}
    assert isinstance(rules.make_rule(learning), rules.OuterLoop)
    run = run_protocol(Protocol(name="looped", learning=learning, **TINY), tmp_path, progress=False, figures=False)
    history = json.loads((run.directory / "metrics.json").read_text())["learning"]
    assert history["rule"] == "scale_output" and history["intrinsic"]["rule"] == "scale_output"
    inner = [record["inner"] for record in history["intrinsic"]["outer"]] + [history["intrinsic"]["final"]["inner"]]
    assert len(inner) == 2 and all(summary == {"rule": "scale_output", "factor": 1.5, "n_samples": 13}
                                   for summary in inner)  # 18 training samples less ceil(0.25 * 18) for validation
    assert history["refit_inner"] == {"rule": "scale_output", "factor": 1.5, "n_samples": 18}
    assert history["refit_samples"] == 18
    names = history["intrinsic"]["space"]["names"]
    assert names == ["output.V_th"]


def test_register_rule_checks_what_it_registers():
    with pytest.raises(ParameterError, match="expected a Rule subclass"):
        rules.register_rule(dict)
    with pytest.raises(ParameterError, match="expected a Rule subclass"):
        rules.register_rule(type("Nameless", (rules.Rule,), {}))
    unknown = Protocol(name="x", **TINY)
    with pytest.raises(ParameterError, match="^protocol.learning.rule = 'hebb'"):
        unknown.replace(learning={"rule": "hebb"})


def test_rules_ask_the_backend_where_their_epochs_run():
    from brainlz.backends import training_device
    from brainlz.data import make_task
    from brainlz.network import NetworkSpec

    assert [training_device(b, "stdp") for b in ("runtime", "standalone", "genn")] == ["runtime", "standalone",
                                                                                       "genn"]
    assert training_device("cuda", "tempotron") == "runtime"  # brian2cuda has no training design: the CPU trains
    spec = NetworkSpec.create(6, hidden=0, output=4, seed=0)
    data = make_task("rate", n_samples=8, n_channels=6, n_bins=50, seed=0)
    with pytest.raises(ParameterError, match="^backend = 'cuda': cannot train the stdp rule; backends that can: "
                                             "runtime, standalone, genn$"):
        rules.make_rule({"rule": "stdp"}).train(spec, data, backend="cuda")
