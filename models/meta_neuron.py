r"""Meta-neuron: LIF core with a time-varying membrane time constant and an adaptive threshold.

.. math::

    \tau(t)\, \frac{dv}{dt} = E_L - v + R\, I_{syn}, \qquad
    \tau(t) = \frac{\tau_m}{1 + I_{abs}(t)/I_{half}},

    \tau_{syn} \frac{dI_{syn}}{dt} = -I_{syn}, \qquad \tau_{syn} \frac{dI_{abs}}{dt} = -I_{abs},

    V_{th}(t) = V_{th} + \theta(t), \qquad \tau_{\theta} \frac{d\theta}{dt} = -\theta .

A presynaptic spike through a synapse of weight :math:`w` makes :math:`I_{syn} \leftarrow I_{syn} + w` and
:math:`I_{abs} \leftarrow I_{abs} + |w|`.  :math:`I_{abs}` is the total synaptic drive regardless of sign, a proxy
for the synaptic conductance: strong input opens channels and shortens the effective membrane time constant
(the high-conductance state; Destexhe, Rudolph & Paré 2003, Nat Rev Neurosci 4:739), by half when
:math:`I_{abs} = I_{half}`.

Deterministic firing: a spike when :math:`v > V_{th}(t)`.  Each spike resets :math:`v \leftarrow V_{reset}` and
raises the threshold, :math:`\theta \leftarrow \theta + \Delta_{\theta}`, which relaxes back with
:math:`\tau_{\theta}` (spike-triggered threshold adaptation; Mensi et al. 2012, J Neurophysiol 107:1756;
Platkiewicz & Brette 2011, PLoS Comput Biol 7:e1001129).

Stochastic firing (``make_model(stochastic=True)``): escape noise (Gerstner et al. 2014, *Neuronal Dynamics*,
ch. 9; Jolivet et al. 2006, J Neurophysiol 96:2904).  In each step of length :math:`dt` the neuron fires with
probability :math:`1 - \exp(-\rho(t)\,dt)`, :math:`\rho(t) = \rho_0 \exp\big((v - V_{th}(t))/\Delta_u\big)`
(the exponent is clipped at 30 to avoid overflow).  As :math:`\Delta_u \to 0` this becomes the deterministic model.

Integration: exponential Euler (the equations are linear in each state variable given the others).
"""

from pathlib import Path

from brian2 import Hz, amp, mV, ms, nA, pA, second, volt

from brainlz.models import NeuronModel, Param, load_model

MENSI = "Mensi et al. 2012, J Neurophysiol 107:1756 (GLIF fits to cortical neurons)"

BASE_EQUATIONS = """
dv/dt = (E_L - v + R*I_syn) / tau_eff : volt (unless refractory)
tau_eff = tau_m / (1 + I_abs / I_half) : second
dI_syn/dt = -I_syn / tau_syn : amp
dI_abs/dt = -I_abs / tau_syn : amp
dtheta/dt = -theta / tau_theta : volt
tau_m : second
tau_syn : second
t_ref : second
E_L : volt
V_th : volt
V_reset : volt
R : ohm
I_half : amp
delta_theta : volt
tau_theta : second
"""

STOCHASTIC_EQUATIONS = """
rho_0 : Hz
delta_u : volt
"""

# The LIF core's parameters (tau_m, V_th, V_reset, R, E_L, tau_syn, t_ref) are those of models/lif.py: the file
# beside this one, not whatever model called "lif" the search path finds first.
LIF = load_model(Path(__file__).with_name("lif.py"))

BASE_PARAMS = {
    **LIF.params,
    "I_half": Param("I_half", amp, 1 * nA, (10 * pA, 100 * nA), (0.2 * nA, 5 * nA),
                    "Destexhe, Rudolph & Pare 2003, Nat Rev Neurosci 4:739 (conductance 1-5x leak in vivo)",
                    learnable=True, description="synaptic drive that halves the membrane time constant"),
    "delta_theta": Param("delta_theta", volt, 2 * mV, (0 * mV, 20 * mV), (0.5 * mV, 10 * mV), MENSI,
                         learnable=True, description="threshold increase per spike"),
    "tau_theta": Param("tau_theta", second, 50 * ms, (5 * ms, 500 * ms), (10 * ms, 200 * ms), MENSI,
                       learnable=True, description="threshold relaxation time constant"),
}

STOCHASTIC_PARAMS = {
    "rho_0": Param("rho_0", Hz, 1000 * Hz, (1 * Hz, 10000 * Hz), (100 * Hz, 5000 * Hz),
                   "Jolivet et al. 2006, J Neurophysiol 96:2904", learnable=False,
                   description="escape rate at threshold"),
    "delta_u": Param("delta_u", volt, 1 * mV, (0.05 * mV, 10 * mV), (0.5 * mV, 5 * mV),
                     "Jolivet et al. 2006, J Neurophysiol 96:2904; Mensi et al. 2012", learnable=True,
                     description="softness of the escape-noise threshold"),
}


def make_model(stochastic: bool = False) -> NeuronModel:
    """The meta-neuron, deterministic (default) or with escape-noise firing.

    Parameters
    ----------
    stochastic : bool
        Fire with probability ``1 - exp(-rho*dt)`` per step instead of at a hard threshold.
    """
    if not isinstance(stochastic, bool):
        raise TypeError(f"stochastic must be True or False, got {stochastic!r}")
    params = dict(BASE_PARAMS)
    equations = BASE_EQUATIONS
    threshold = "v > V_th + theta"
    if stochastic:
        params.update(STOCHASTIC_PARAMS)
        equations = BASE_EQUATIONS + STOCHASTIC_EQUATIONS
        threshold = "rand() < 1 - exp(-dt * rho_0 * exp(clip((v - V_th - theta) / delta_u, -inf, 30)))"
    return NeuronModel(
        name="meta_neuron_stochastic" if stochastic else "meta_neuron",
        equations=equations,
        threshold=threshold,
        reset="v = V_reset\ntheta += delta_theta",
        refractory="t_ref",
        method="exponential_euler",
        params=params,
        initial={"v": "E_L"},
        on_pre="I_syn_post += w\nI_abs_post += abs(w)",
        weight_unit=amp,
        voltage="v",
        threshold_expression="V_th + theta",
        stochastic=stochastic,
        constraints=("V_reset < V_th", "E_L < V_th"),
        doc=__doc__,
    )
