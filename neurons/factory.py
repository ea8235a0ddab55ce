"""make_neuron: build a neuron node from a config string ("none" or a row of ``neurons.kinds``)."""

import importlib

from .kinds import NONE, check_choice, get_kind


def node_class(kind: str):
    """The SpikingJelly node class of ``kind`` (``NeuronKind.node``)."""
    module, name = get_kind(kind).node.split(":")
    return getattr(importlib.import_module(module), name)


def make_neuron(
    kind: str,
    D: int = 4,
    beta: float = 0.25,
    v_threshold: float = 1.0,
    alpha: float = 1.0,
    step_mode: str = "s",
    backend: str = "auto",
    **kwargs,
):
    """Returns None for kind "none", else the kind's node with its own D (the binary LIF ignores ``D``).
    backend: "auto" | "torch" | "cupy" (``neurons.node``). kwargs: detach_reset, store_v_seq."""
    if check_choice(kind, "kind") == NONE:
        return None
    return node_class(kind)(D=get_kind(kind).D(D), beta=beta, v_threshold=v_threshold, alpha=alpha,
                            step_mode=step_mode, backend=backend, **kwargs)
