"""I-LIF neuron (Eq 3): integer spikes 0..D, rectangular surrogate gradient; "T × D"."""

from .node import SpikingNode


class ILIFNode(SpikingNode):
    """u[t] = β(u[t−1] − V_th s[t−1]) + c[t] (Eq 1), s[t] = Clip(Round(u[t]/V_th), 0, D) (Eq 3).

    Round is half away from zero (docs/ARCHITECTURE.md); ∂s/∂u = α/V_th on 0 ≤ u/V_th ≤ D. With α = 1
    this equals SpikingJelly's ``ILIFNode(tau=1/(1−β), surrogate_function=MultiLevelSpikeCount(D))``
    except at exact ties k + ½, where SpikingJelly's ``torch.round`` rounds half to even.
    Parameters, shapes and modes: see ``SpikingNode``.
    """

    kind = "ilif"
