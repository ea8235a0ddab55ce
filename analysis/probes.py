"""Where the analysis looks inside a model: the inputs of every block's two projections.

Each block has two `SpikingProjection`s (`model.projections()`): side "in" (in_proj, whose input is u,
Eq 16 — the block's normalised input) and side "out" (out_proj, whose input is y, Eq 20's gated-norm
output); `models.shape.SIDES` names them. A forward pre-hook on the projection sees its input before the
neuron (if any), so the same probe works on a teacher and on a student.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterable

import torch
from torch import nn

from models.shape import SIDES


def projection_sites(model: nn.Module) -> list:
    """``model.projections()`` (name, layer, side, module), or a ValueError for a model without them."""
    try:
        return model.projections()
    except AttributeError:
        raise ValueError(f"{type(model).__name__} has no projections(); pass a SpikingMambaForCausalLM") from None


def layer_indices(model: nn.Module, layers: Iterable[int] | None) -> list[int]:
    """``layers`` (default: every block) sorted, each checked against the model's blocks."""
    n = len({site.layer for site in projection_sites(model)})
    chosen = list(range(n)) if layers is None else sorted(set(int(i) for i in layers))
    bad = [i for i in chosen if not 0 <= i < n]
    if bad:
        raise ValueError(f"layers {bad} out of range: the model has {n} layers (0..{n - 1})")
    return chosen


def check_side(side: str) -> str:
    if side not in SIDES:
        raise ValueError(f"side={side!r}; choose 'in' (in_proj input u) or 'out' (out_proj input y)")
    return side


@contextmanager
def hook_projection_inputs(
    model: nn.Module,
    fn: Callable[[int, str, torch.Tensor], torch.Tensor | None],
    sides: Iterable[str] = tuple(SIDES),
    layers: Iterable[int] | None = None,
):
    """Call ``fn(layer, side, x)`` with each projection input ``x`` [B, L, C] during forwards in the block;
    if ``fn`` returns a tensor, it replaces the input."""
    sides = {check_side(s) for s in sides}
    chosen = set(layer_indices(model, layers))

    def make(layer: int, side: str):
        def pre_hook(module, args):
            new = fn(layer, side, args[0])
            return None if new is None else (new, *args[1:])

        return pre_hook

    handles = []
    try:
        for site in projection_sites(model):
            if site.layer in chosen and site.side in sides:
                handles.append(site.module.register_forward_pre_hook(make(site.layer, site.side)))
        yield
    finally:
        for h in handles:
            h.remove()
