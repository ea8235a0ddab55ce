"""Thresholds that give a student the paper's firing rates: each side's V_th set so that the rates
measured on a prompt equal a target (Table 9, TI-LIF 1×±4 + SGC: fr_in 0.2499, fr_out 0.0619).

The event path's speed depends on how many inputs fire, so the decode figures of issue 18 run the
student at the rates of the paper's trained model rather than at whatever V_th = 1 gives random
weights. Rates are the project's own measurement, `analysis.firing_rates.measure_firing_rates`
(spikes / (D · width · tokens), mean over layers, SpikingJelly monitors on every neuron).

`calibrate(model, prompt, targets)`: a fixed-point iteration. Each round runs the model once on the
prompt with its current thresholds, keeping every projection's input (forward pre-hooks), then
bisects each side's one V_th (geometric bisection, 40 steps) until the rate those kept inputs give
equals the target — exact for the first block's in_proj, whose input does not depend on V_th. A
later block's input depends on the thresholds before it, so the model is run again with the new
values, until the measured rates are within `tolerance` (relative) of the targets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from models.shape import SIDES


def table9_rates() -> dict[str, float]:
    """{"in": fr_in, "out": fr_out} of Table 9's TI-LIF 1×±4 + SGC row (analysis.paper_tables)."""
    from analysis.paper_tables import TABLES

    (row,) = [r for r in TABLES if r.table == 9 and r.label == "TI-LIF 1x±4 +SGC"]
    return {"in": row.fr_in, "out": row.fr_out}


@dataclass
class Calibration:
    """Thresholds found, the rates measured with them on the prompt, and how many rounds it took."""

    v_threshold: dict[str, float]
    targets: dict[str, float]
    measured: dict[str, float]
    rounds: int
    history: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        return {"v_threshold": self.v_threshold, "target_rates": self.targets, "calibration_rates": self.measured,
                "calibration_rounds": self.rounds}


def set_thresholds(model, v_threshold: dict[str, float]) -> None:
    """Give every spiking projection of side s the threshold v_threshold[s] (config fields too)."""
    for site in model.spiking_projections():
        if site.side in v_threshold:
            site.module.v_threshold = v_threshold[site.side]
    for side, value in v_threshold.items():
        setattr(model.config, SIDES[side].threshold_field, float(value))


def measured_rates(model, ids: torch.Tensor) -> dict[str, float]:
    """{"in": fr_in, "out": fr_out} of `model` on ids [1, L] (analysis.firing_rates)."""
    from analysis.firing_rates import measure_firing_rates

    result = measure_firing_rates(model, ids)
    return {side: result[SIDES[side].rate] for side in SIDES if result[SIDES[side].rate] is not None}


@torch.no_grad()
def _projection_inputs(model, ids: torch.Tensor) -> dict[str, list[torch.Tensor]]:
    """Every spiking projection's input x on ids, per side, in layer order."""
    kept: dict[str, list[torch.Tensor]] = {side: [] for side in SIDES}
    hooks = [site.module.register_forward_pre_hook(
        lambda mod, args, side=site.side: kept[side].append(args[0].detach().float().clone()))
        for site in model.spiking_projections()]
    try:
        model(ids)
    finally:
        for hook in hooks:
            hook.remove()
    return kept


def _rate(inputs: list[torch.Tensor], kind: str, D: int, v_threshold: float) -> float:
    """The mean over layers of Σ|q| / (D · numel) for q = the neuron's count of each input at v_threshold."""
    from neurons import functional as nf

    return sum(float(nf.neuron_step(x, None, kind, D, 0.0, v_threshold)[0].abs().sum()) / (D * x.numel())
               for x in inputs) / len(inputs)


def solve_threshold(inputs: list[torch.Tensor], kind: str, D: int, target: float, steps: int = 40) -> float:
    """V_th at which `inputs` fire at `target` (the rate falls as V_th grows): geometric bisection."""
    lo, hi = 1e-3, 1e3
    if not _rate(inputs, kind, D, hi) <= target <= _rate(inputs, kind, D, lo):
        raise ValueError(f"no V_th in [{lo}, {hi}] gives the firing rate {target}")
    for _ in range(steps):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if _rate(inputs, kind, D, mid) > target else (lo, mid)
    return math.sqrt(lo * hi)


def calibrate(model, ids: torch.Tensor, targets: dict[str, float] | None = None, tolerance: float = 0.01,
              max_rounds: int = 8) -> Calibration:
    """Set `model`'s per-side thresholds so that its measured firing rates on ids [1, L] equal
    `targets` (default: Table 9's) within `tolerance`, relative; raises RuntimeError when `max_rounds`
    rounds do not get there. Returns the thresholds and the rates measured with them."""
    targets = dict(targets or table9_rates())
    sides = {site.side: site.module for site in model.spiking_projections()}
    if set(targets) - set(sides):
        raise ValueError(f"the model has no neuron on side(s) {sorted(set(targets) - set(sides))}")
    thresholds = {side: sides[side].v_threshold for side in targets}
    history = []
    for rounds in range(1, max_rounds + 1):
        inputs = _projection_inputs(model, ids)
        thresholds = {side: solve_threshold(inputs[side], sides[side].kind, sides[side].neuron.D, target)
                      for side, target in targets.items()}
        set_thresholds(model, thresholds)
        rates = measured_rates(model, ids)
        history.append({"v_threshold": dict(thresholds), "rates": rates})
        if all(abs(rates[s] - t) <= tolerance * t for s, t in targets.items()):
            return Calibration(thresholds, targets, {s: rates[s] for s in targets}, rounds, history)
    raise RuntimeError(f"firing rates did not reach {targets} within {tolerance:.0%} in {max_rounds} rounds: "
                       f"{history}")
