"""Bad input gives one line naming the field (or file and statement) and the value, never a traceback from deep
inside Brian2 or numpy (issue 23: model files, protocol names, sizes, types, diverging dynamics)."""

import textwrap
from pathlib import Path

import numpy as np
import pytest
from brian2 import Hz

from brainlz import resources
from brainlz.cli import main
from brainlz.data import make_task, poisson_spikes
from brainlz.errors import BrainlzError, ModelError, ParameterError, ProtocolError, SimulationError
from brainlz.models import load_model
from brainlz.network import NetworkSpec
from brainlz.protocol import Protocol, load_protocol, run_protocol

LIF = (Path(__file__).resolve().parents[1] / "models" / "lif.py").read_text()


#: The memory checks refuse only where the system says how much memory is available (Linux does).
needs_meminfo = pytest.mark.skipif(resources.available_memory() is None, reason="available memory unknown here")


def _one_line(exc) -> str:
    text = str(exc)
    assert "\n" not in text and "Traceback" not in text
    return text


# --- 1. model files are checked where they are loaded --------------------------------------------------------------

@pytest.mark.parametrize("old,new,message", [
    ('reset="v = V_reset"', 'reset="v = 5"', "reset statement 'v = 5': the right-hand side is in 1 (dimensionless), "
                                             "v is in volt"),
    ('reset="v = V_reset"', 'reset="v = V_reset\\nw_adapt += 1"', "reset statement 'w_adapt += 1': cannot assign"),
    ("dv/dt = (E_L - v + R*I_syn) / tau_m", "dv/dt = (E_L - v + I_syn) / tau_m",
     "equation 'dv/dt = (E_L - v + I_syn) / tau_m': Expression 'E_L - v + I_syn' uses inconsistent units"),
    ("dv/dt = (E_L - v + R*I_syn) / tau_m", "dv/dt = (E_L - v + R*I_syn)",
     "equation 'dv/dt = (E_L - v + R*I_syn)': the right-hand side is in volt, expected volt/second"),
    ("weight_unit=amp", "weight_unit=volt", "on_pre statement 'I_syn_post += w': the right-hand side is in volt, "
                                            "I_syn_post is in amp"),
    ('on_pre="I_syn_post += w"', 'on_pre="I_post += w"', "on_pre statement 'I_post += w': cannot assign to 'I_post'"),
    ('threshold="v > V_th"', 'threshold="v > V_thresh"', "threshold 'v > V_thresh': unknown name 'V_thresh'"),
    ('threshold="v > V_th"', 'threshold=""', "threshold is empty"),
    ('threshold="v > V_th"', 'threshold="v - V_th"', "threshold 'v - V_th' is not a condition"),
    ('threshold="v > V_th"', 'threshold="v > 5"', "threshold 'v > 5': Comparison of expressions with different units"),
    ('refractory="t_ref"', 'refractory="V_th"', "refractory 'V_th' is in volt; expected a time"),
    ('initial={"v": "E_L"}', 'initial={"v": "tau_m"}', "initial['v'] = 'tau_m': tau_m is in second, v is in volt"),
    ('method="exponential_euler"', 'method="rk9"', "method 'rk9': unknown integration method"),
    ('threshold_expression="V_th"', 'threshold_expression="tau_m"', "threshold_expression 'tau_m' is in second"),
    ("(8 * ms, 40 * ms), NEURO_ELECTRO", "(40 * ms, 8 * ms), NEURO_ELECTRO",
     "parameter tau_m.bio_range = (40. ms, 8. ms): low > high (reversed range)"),
    ("(2 * ms, 100 * ms), (8 * ms", "(100 * ms, 2 * ms), (8 * ms",
     "parameter tau_m.bounds = (100. ms, 2. ms): low > high"),
    ('"R": Param("R", ohm,', '"R": Param("R", amp,', "parameter R.default"),
    ("R : ohm\n", "R : ohm\nC_m : farad\n", "the equations declare 'C_m' without a Param"),
])
def test_model_file_mistakes_are_one_line_naming_file_and_statement(tmp_path, old, new, message):
    assert old in LIF
    name = f"lif_bad_{abs(hash((old, new))) % 10**8}"
    file = tmp_path / f"{name}.py"
    file.write_text(LIF.replace(old, new))
    with pytest.raises(ModelError) as info:
        load_model(name, path=tmp_path)
    text = _one_line(info.value)
    assert text.startswith(f"model file {file}: ") and message in text, text


def test_param_units_must_match_the_declaration(tmp_path):
    file = tmp_path / "lif_param_unit.py"
    file.write_text(LIF.replace("tau_syn : second", "tau_syn : volt"))
    with pytest.raises(ModelError, match=r"parameter 'tau_syn' is declared in volt in the equations but its Param "
                                         r"is in s"):
        load_model("lif_param_unit", path=tmp_path)


def test_builtin_models_pass_the_checks():
    for name, options in (("lif", {}), ("meta_neuron", {}), ("meta_neuron", {"stochastic": True})):
        assert load_model(name, **options).name.startswith(name)


# --- 5. protocol names are path components under --out ------------------------------------------------------------

@pytest.mark.parametrize("name", [".", "..", "...", ".hidden", "a/b", "../x", "x" * 201, ""])
def test_protocol_name_cannot_leave_out(name):
    with pytest.raises(ParameterError, match="protocol.name") as info:
        Protocol(name=name)
    _one_line(info.value)


# --- 6. sizes are checked against the memory before anything is allocated -----------------------------------------

@needs_meminfo
@pytest.mark.parametrize("changes,field", [({"n_samples": 10**12}, "n_samples"), ({"n_bins": 10**9}, "n_bins")])
def test_make_task_refuses_sizes_that_cannot_fit(changes, field):
    with pytest.raises(ParameterError, match=rf"^{field} = \d+: the 'rate' data set needs at least .* of memory .*"
                                             r"but only .* are available; lower " + field) as info:
        make_task("rate", **changes)
    _one_line(info.value)


@needs_meminfo
@pytest.mark.parametrize("n_samples,n_bins,field", [(10**12, 64, "n_samples"), (2, 10**12, "n_bins")])
def test_generators_refuse_sizes_that_cannot_fit(n_samples, n_bins, field):
    with pytest.raises(ParameterError, match=f"^{field} = {10**12}: the raster needs at least .* are available"):
        poisson_spikes(n_samples, 4, 20 * Hz, n_bins=n_bins)


@needs_meminfo
@pytest.mark.parametrize("changes,field", [({"n_samples": 10**12}, "n_samples"), ({"n_bins": 10**9}, "n_bins"),
                                           ({"hidden": 10**6, "batch_size": 400}, "hidden")])
def test_run_protocol_refuses_sizes_before_anything_runs(tmp_path, changes, field):
    protocol = Protocol(name="huge", **changes)
    with pytest.raises(ParameterError, match=rf"^protocol\.{field} = \d+: the run \(inputs .*\) needs at least .* "
                                             r"of memory .* are available") as info:
        run_protocol(protocol, out=tmp_path / "out", progress=False, figures=False)
    _one_line(info.value)
    assert not (tmp_path / "out").exists()


def test_run_memory_estimate_counts_inputs_outputs_and_batch():
    parts = resources.run_bytes(400, 64, 1024, [64, 64], 100)
    assert parts["inputs"] == 2 * 400 * 64 * 1024 and parts["recorded"] == 400 * 128 * 1024
    assert parts["batch"] >= 100 * (64 * 64 + 64 * 64) * resources.SYNAPSE_BYTES
    assert parts["total"] == max(parts["generation"], parts["inputs"] + parts["recorded"] + parts["batch"])
    with pytest.raises(ParameterError, match=r"^protocol.n_samples = 400: the run .* but only 1 MiB are available"):
        resources.check_run_memory(400, 64, 1024, 64, 64, 100, available=1 << 20)
    assert resources.check_run_memory(400, 64, 1024, 64, 64, 100, available=1 << 40)["total"] < 1 << 30
    available = resources.available_memory()
    assert available is None or available > 0


@needs_meminfo
def test_cli_refuses_a_huge_protocol_in_one_line(tmp_path, capsys):
    path = tmp_path / "huge.py"
    path.write_text('from brainlz.protocol import Protocol\nPROTOCOL = Protocol(name="huge", n_samples=10**12)\n')
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("brainlz: error: protocol.n_samples = 1000000000000: ")


# --- 7. types before use ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes,field", [
    ({"learning": ["stdp"]}, "protocol.learning"),
    ({"learning": {"rule": ["stdp"]}}, "protocol.learning.rule"),
    ({"readout": ["logistic"]}, "protocol.readout"),
    ({"backend": {"runtime": 1}}, "protocol.backend"),
    ({"task": np.array(["rate", "burst"])}, "protocol.task"),
    ({"weight_scale": 10**400}, "protocol.weight_scale"),
    ({"include_counts": "yes"}, "protocol.include_counts"),
    ({"model": 3}, "protocol.model"),
    ({"description": None}, "protocol.description"),
])
def test_protocol_types_are_checked_before_use(changes, field):
    with pytest.raises(ParameterError) as info:
        Protocol(name="typed", **changes)
    assert _one_line(info.value).startswith(f"{field} = ")


def test_protocol_path_that_is_a_directory(tmp_path):
    with pytest.raises(ProtocolError, match="is a directory, not a protocol file") as info:
        load_protocol(tmp_path)
    _one_line(info.value)


@pytest.mark.parametrize("content", [bytes(range(256)), b"\x89PNG\r\n\x1a\n\x00\x00", b"x = 1\x00\n"])
def test_binary_protocol_file_is_one_line(tmp_path, capsys, content):
    path = tmp_path / "binary.py"
    path.write_bytes(content)
    with pytest.raises(ProtocolError, match=f"^{path}: not a protocol file") as info:
        load_protocol(path)
    _one_line(info.value)
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_protocol_path_of_a_wrong_type():
    with pytest.raises(ProtocolError, match="expected a path"):
        load_protocol(3)


# --- 8. diverging dynamics stop the run ---------------------------------------------------------------------------

def test_runtime_stops_on_non_finite_states(rng):
    from brainlz.backends import runtime

    spec = NetworkSpec.create(8, hidden=4, output=3, seed=0)
    x = rng.random((3, 8, 200)) < 0.05
    assert runtime.simulate(spec, x, target="numpy").output.shape == (3, 3, 200)  # the spec itself is fine
    spec = spec.with_weights([w * 1e300 for w in spec.weights])
    with pytest.raises(SimulationError, match=r"^layer 'hidden': state variable \w+ became .* likely cause: the "
                                              r"weights into 'hidden' are up to .* times the default scale") as info:
        runtime.simulate(spec, x, target="numpy")
    _one_line(info.value)


def test_run_with_a_huge_weight_scale_exits_2_in_one_line(tmp_path, capsys):
    path = tmp_path / "nan.py"
    path.write_text(textwrap.dedent("""
        from brainlz.protocol import Protocol
        PROTOCOL = Protocol(name="nan", n_samples=12, n_channels=8, n_bins=100, hidden=4, output=3,
                            weight_scale=1e300, backend_options={"target": "numpy"}, n_folds=2, test_size=0.25)
        """))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet", "--no-figures"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("brainlz: error: layer 'hidden': state variable") and "weight_scale" in err
    assert not any((tmp_path / "out").rglob("metrics.json"))


@pytest.mark.slow  # compiles a standalone program (~15-60 s)
def test_standalone_stops_on_non_finite_states(rng, standalone_dir):
    from brainlz.backends import standalone

    spec = NetworkSpec.create(8, hidden=4, output=3, seed=0)
    spec = spec.with_weights([w * 1e300 for w in spec.weights])
    x = rng.random((3, 8, 200)) < 0.05
    with pytest.raises(SimulationError, match=r"^layer 'hidden': state variable .* likely cause: the weights"):
        standalone.simulate(spec, x, batch_size=2, directory=standalone_dir)


def test_every_error_here_is_a_brainlz_error():
    for cls in (ModelError, ParameterError, ProtocolError, SimulationError):
        assert issubclass(cls, BrainlzError)
