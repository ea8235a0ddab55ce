"""Where the analysis looks inside a model: the inputs of every block's two projections.

``u`` is the in_proj input (Eq 16, the block's normalised input) and ``y`` the out_proj input (Eq 20's
gated-norm output). In a SpikingMamba block the spiking neuron sits in front of the projection (§4.1) and
the projection is applied functionally, so the module that first receives ``u`` / ``y`` is the neuron when
there is one and the projection otherwise; hooks go there. With T > 1 the neuron receives the input
repeated T times (``[T, B, L, C]``); probes report one copy.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterable

import torch
from torch import nn

SITES = {"u": "in", "y": "out"}


def mixers(model: nn.Module) -> list[nn.Module]:
    """The Mamba2 mixers of a SpikingMambaForCausalLM (``backbone.layers.N.mixer``), in layer order."""
    try:
        return [layer.mixer for layer in model.backbone.layers]
    except AttributeError:
        raise ValueError(
            f"{type(model).__name__} has no backbone.layers[*].mixer; pass a SpikingMambaForCausalLM"
        ) from None


def entry_module(mixer: nn.Module, site: str) -> nn.Module:
    """The module whose first input is ``u`` (site "u") or ``y`` (site "y") in this mixer."""
    if site not in SITES:
        raise ValueError(f"site={site!r}; choose 'u' (in_proj input) or 'y' (out_proj input)")
    side = SITES[site]
    neuron = getattr(mixer, f"{side}_neuron", None)
    return neuron if neuron is not None else getattr(mixer, f"{side}_proj")


def _repeats_T(mixer: nn.Module, site: str) -> bool:
    return getattr(mixer, f"{SITES[site]}_neuron", None) is not None and getattr(mixer.config, "T", 1) > 1


def layer_indices(model: nn.Module, layers: Iterable[int] | None) -> list[int]:
    n = len(mixers(model))
    chosen = list(range(n)) if layers is None else sorted(set(int(i) for i in layers))
    bad = [i for i in chosen if not 0 <= i < n]
    if bad:
        raise ValueError(f"layers {bad} out of range: the model has {n} layers (0..{n - 1})")
    return chosen


@contextmanager
def hook_projection_inputs(
    model: nn.Module,
    fn: Callable[[int, str, torch.Tensor], torch.Tensor | None],
    sites: Iterable[str] = ("u", "y"),
    layers: Iterable[int] | None = None,
):
    """Call ``fn(layer, site, x)`` with each projection input ``x`` [B, L, C] during forwards in the block.

    If ``fn`` returns a tensor, it replaces the input (for T > 1, the T copies are all replaced)."""
    all_mixers = mixers(model)
    handles = []

    def make(layer: int, site: str, repeated: bool):
        def pre_hook(module, args):
            x = args[0]
            new = fn(layer, site, x[0] if repeated else x)
            if new is None:
                return None
            new = new.unsqueeze(0).expand_as(x) if repeated else new
            return (new, *args[1:])

        return pre_hook

    try:
        for i in layer_indices(model, layers):
            for site in sites:
                module = entry_module(all_mixers[i], site)
                handles.append(module.register_forward_pre_hook(make(i, site, _repeats_T(all_mixers[i], site))))
        yield
    finally:
        for h in handles:
            h.remove()
