"""Analytic accumulates and weight bytes for one measured input, and their check against the counts an
event-driven run really performed (issue 13: measured and analytic counts must be equal).

For every neuron site of an :func:`analysis.firing_rates.measure_firing_rates` result (one run on a text):

    accumulates            spikes · d_out                          Eq 9: one weight column per spike
    weight_bytes_decode    active · d_out · bytes_per_weight       the columns of the inputs with a spike, per token
    weight_bytes_prefill   active_union · d_out · bytes_per_weight the union of those over each pass

(d_out: in_proj's d_in_proj on side "in", out_proj's d_model on side "out"). These are the per-site terms that
:mod:`analysis.memory` and Table 12 sum. An event-driven implementation counts what it read and accumulated
per site and passes ``{module: {quantity: n}}`` to :func:`compare_measured`; every count is an integer, so
equal means equal. ``SpikeDrivenLinear.ac_count`` (``count_accumulates``' ``ac_measured``) is one such
measured accumulate count today. Torch-free.
"""

from __future__ import annotations

from models.shape import Mamba2Shape

QUANTITIES = ("accumulates", "weight_bytes_decode", "weight_bytes_prefill")


def analytic_site_counts(result: dict, shape: Mamba2Shape, bytes_per_weight: int) -> dict[str, dict[str, int]]:
    """``{module: {quantity: count}}`` over the run of ``result`` (module docstring)."""
    if not isinstance(bytes_per_weight, int) or bytes_per_weight < 1:
        raise ValueError(f"bytes_per_weight={bytes_per_weight!r} must be a positive integer")
    out = {}
    for layer in result["layers"]:
        for side, e in layer["sides"].items():
            d_out = shape.sides[side][1]
            out[e["module"]] = {
                "accumulates": e["spikes"] * d_out,
                "weight_bytes_decode": e["active"] * d_out * bytes_per_weight,
                "weight_bytes_prefill": e["active_union"] * d_out * bytes_per_weight,
            }
    return out


def compare_measured(analytic: dict[str, dict[str, int]], measured: dict[str, dict[str, int]]) -> dict:
    """``{module: {quantity: {"analytic", "measured", "equal"}}}`` for every count in ``measured`` (a subset of
    QUANTITIES per module is fine); a module or quantity the analytic side lacks is a ValueError."""
    out = {}
    for module, counts in measured.items():
        if module not in analytic:
            raise ValueError(f"measured module {module!r} has no neuron site in the run; sites: {sorted(analytic)}")
        for quantity, n in counts.items():
            if quantity not in QUANTITIES:
                raise ValueError(f"measured quantity {quantity!r} of {module!r}; choose from {QUANTITIES}")
            a = analytic[module][quantity]
            out.setdefault(module, {})[quantity] = {"analytic": a, "measured": n, "equal": a == n}
    return out


def all_equal(comparison: dict) -> bool:
    """True when every compared count of :func:`compare_measured` is equal (and there was at least one)."""
    checks = [c["equal"] for counts in comparison.values() for c in counts.values()]
    return bool(checks) and all(checks)
