"""LIF neuron (Eq 1–2): binary spikes, decay β, threshold V_th, soft reset; "T × 1"."""

from .node import SpikingNode


class LIFNode(SpikingNode):
    """u[t] = β(u[t−1] − V_th s[t−1]) + c[t] (Eq 1), s[t] = Θ(u[t] − V_th) (Eq 2); D = 1.

    Surrogate: ∂s/∂u = α/V_th on |u/V_th − 1| < ½. With α = 1 this equals SpikingJelly's
    ``LIFNode(tau=1/(1−β), decay_input=False, v_reset=None, surrogate_function=Rect(alpha=1/V_th))``
    (up to the rounding of β·v versus v − v/τ). Shapes and modes: see ``SpikingNode``.
    """

    kind = "lif"

    def __init__(self, beta: float = 0.25, v_threshold: float = 1.0, alpha: float = 1.0, *, D: int = 1, **kwargs):
        """LIF is binary: ``D`` may only be 1 (accepted so that every node takes the same keywords).
        kwargs: detach_reset, step_mode, backend, store_v_seq."""
        if D != 1:
            raise ValueError(f"LIFNode is binary (Eq 2): D must be 1, got D={D!r}; use ILIFNode or TILIFNode for D > 1")
        super().__init__(1, beta, v_threshold, alpha, **kwargs)
