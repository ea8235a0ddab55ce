"""make_neuron: build a neuron node from a config string ("none" | "lif" | "ilif" | "tilif")."""

from .ilif import ILIFNode
from .lif import LIFNode
from .params import KINDS
from .tilif import TILIFNode


def make_neuron(
    kind: str,
    D: int = 4,
    beta: float = 0.25,
    v_threshold: float = 1.0,
    alpha: float = 1.0,
    step_mode: str = "s",
    backend: str = "torch",
    **kwargs,
):
    """Returns None for kind "none"; "lif" ignores D (binary, D = 1). kwargs: detach_reset, store_v_seq."""
    if kind == "none":
        return None
    if kind == "lif":
        return LIFNode(beta, v_threshold, alpha, step_mode=step_mode, backend=backend, **kwargs)
    if kind == "ilif":
        return ILIFNode(D, beta, v_threshold, alpha, step_mode=step_mode, backend=backend, **kwargs)
    if kind == "tilif":
        return TILIFNode(D, beta, v_threshold, alpha, step_mode=step_mode, backend=backend, **kwargs)
    raise ValueError(f"kind must be 'none' or one of {KINDS}, got {kind!r}")
