"""TI-LIF neuron (Eq 5–6): signed integer spikes −D..D, gradient α on [−D, D]; "T × ±D"."""

from .node import SpikingNode


class TILIFNode(SpikingNode):
    """u[t] = β(u[t−1] − V_th s[t−1]) + c[t] (Eq 1), s[t] = Clip(Round(u[t]/V_th), −D, D) (Eq 5),
    ∂s/∂u = α/V_th on −D ≤ u/V_th ≤ D, 0 outside (Eq 6).

    Spike-driven mode emits D binary micro-step spikes (Eq 7–8) and one sign bit per element; the
    signed spikes sum back to s[t] exactly (Eq 9). Parameters, shapes and modes: see ``SpikingNode``.
    """

    kind = "tilif"
