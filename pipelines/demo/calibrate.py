"""Neuron input scale: the threshold V_th that best fits the teacher's activations into a neuron's range.

A neuron quantises ``h = x / V_th`` (``neurons.functional.quantize``) and the projection after it
multiplies back by V_th, so ``V_th · q(x / V_th)`` is what the student's projection sees in place of
``x``. The paper fixes V_th = 1 for a pretrained Mamba2 whose projection inputs span several units;
a small teacher's inputs may sit inside ±2, where D = 4 would use only ±2 of its ±4 levels. This
module picks, per neuron kind and side (in_proj input u / out_proj input y, one value for all
layers as the config holds), the V_th on a log grid that minimises the mean squared quantisation
error of the teacher's activations on calibration tokens — post-training-quantisation scale
calibration, applied identically to every student.

    thresholds = calibrate_thresholds(teacher, batch, "tilif", D=4)   # {"in": 0.52, "out": 0.61}
"""
from __future__ import annotations

import math

import torch

GRID = tuple(math.exp(math.log(0.05) + i * (math.log(4.0) - math.log(0.05)) / 63) for i in range(64))


@torch.no_grad()
def projection_inputs(teacher, batch: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every in_proj input u (side "in") and out_proj input y (side "out") of ``teacher`` on ``batch``
    ``[B, L]``, all layers, flattened: ``{"in": [N_u], "out": [N_y]}``."""
    from analysis.probes import hook_projection_inputs
    from models.shape import SIDES

    found = {side: [] for side in SIDES}
    teacher.eval()
    with hook_projection_inputs(teacher, lambda layer, side, x: found[side].append(x.flatten().float())):
        teacher(batch)
    return {side: torch.cat(values) for side, values in found.items()}


@torch.no_grad()
def quantization_error(x: torch.Tensor, kind: str, D: int, v_threshold: float) -> float:
    """Mean of ``(x − V_th · q(x / V_th))²`` with the neuron's integer-mode output q."""
    from neurons import functional as nf

    return float((x - v_threshold * nf.quantize(x / v_threshold, kind, D)).pow(2).mean())


def calibrate_thresholds(teacher, batch: torch.Tensor, kind: str, D: int, grid=GRID) -> dict[str, float]:
    """``{"in": V_th for in_proj inputs, "out": V_th for out_proj inputs}`` minimising the error."""
    inputs = projection_inputs(teacher, batch)
    return {side: min(grid, key=lambda v: quantization_error(x, kind, D, v)) for side, x in inputs.items()}
