r"""Leaky integrate-and-fire neuron with an exponentially decaying synaptic current.

.. math::

    \tau_m \frac{dv}{dt} = E_L - v + R\, I_{syn}, \qquad
    \tau_{syn} \frac{dI_{syn}}{dt} = -I_{syn}

A spike is emitted when :math:`v > V_{th}`; then :math:`v \leftarrow V_{reset}` and :math:`v` is clamped for
:math:`t_{ref}`.  A presynaptic spike through a synapse of weight :math:`w` (a current, in amperes) makes
:math:`I_{syn} \leftarrow I_{syn} + w` (current-based synapse with a single-exponential time course).

Integration: exponential Euler (``method='exponential_euler'``), exact for :math:`v` with the synaptic current
held over one step.  The exact propagator of the coupled linear system contains :math:`1/(\tau_m-\tau_{syn})` and is
singular when a learning rule moves :math:`\tau_m` onto :math:`\tau_{syn}`; exponential Euler is not.

Biological reference ranges are those of neocortical pyramidal cells (NeuroElectro, Tripathy et al. 2015, J.
Neurophysiol. 113:3474; Gerstner, Kistler, Naud & Paninski 2014, *Neuronal Dynamics*, ch. 1 and 6).
"""

from brian2 import Mohm, amp, mV, ms, ohm, second, volt

from brainlz.models import NeuronModel, Param

EQUATIONS = """
dv/dt = (E_L - v + R*I_syn) / tau_m : volt (unless refractory)
dI_syn/dt = -I_syn / tau_syn : amp
tau_m : second
tau_syn : second
t_ref : second
E_L : volt
V_th : volt
V_reset : volt
R : ohm
"""

NEURO_ELECTRO = "NeuroElectro database, neocortical pyramidal cells (Tripathy et al. 2015, J Neurophysiol 113:3474)"

PARAMS = {
    "tau_m": Param("tau_m", second, 20 * ms, (2 * ms, 100 * ms), (8 * ms, 40 * ms), NEURO_ELECTRO,
                   learnable=True, description="membrane time constant"),
    "V_th": Param("V_th", volt, -50 * mV, (-62 * mV, -30 * mV), (-55 * mV, -38 * mV), NEURO_ELECTRO,
                  learnable=True, description="firing threshold"),
    "V_reset": Param("V_reset", volt, -65 * mV, (-85 * mV, -52 * mV), (-75 * mV, -55 * mV),
                     "Gerstner et al. 2014, Neuronal Dynamics, ch. 6 (fits of adaptive IF models)",
                     learnable=True, description="reset potential after a spike"),
    "R": Param("R", ohm, 100 * Mohm, (10 * Mohm, 1000 * Mohm), (50 * Mohm, 300 * Mohm), NEURO_ELECTRO,
               learnable=True, description="membrane (input) resistance"),
    "E_L": Param("E_L", volt, -65 * mV, (-90 * mV, -50 * mV), (-80 * mV, -60 * mV), NEURO_ELECTRO,
                 learnable=False, description="resting (leak reversal) potential"),
    "tau_syn": Param("tau_syn", second, 5 * ms, (1 * ms, 30 * ms), (2 * ms, 10 * ms),
                     "AMPA current decay; Destexhe, Mainen & Sejnowski 1998, in Methods in Neuronal Modeling",
                     learnable=False, description="synaptic current decay time constant"),
    "t_ref": Param("t_ref", second, 2 * ms, (0 * ms, 10 * ms), (1 * ms, 5 * ms),
                   "Gerstner et al. 2014, Neuronal Dynamics, ch. 1 (absolute refractory period)",
                   learnable=False, description="absolute refractory period"),
}

MODEL = NeuronModel(
    name="lif",
    equations=EQUATIONS,
    threshold="v > V_th",
    reset="v = V_reset",
    refractory="t_ref",
    method="exponential_euler",
    params=PARAMS,
    initial={"v": "E_L"},
    on_pre="I_syn_post += w",
    weight_unit=amp,
    voltage="v",
    threshold_expression="V_th",
    constraints=("V_reset < V_th", "E_L < V_th"),
    doc=__doc__,
)
