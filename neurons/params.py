"""Validation of neuron hyper-parameters (D, β, V_th, α, kind, backend).

Every check raises ``ValueError`` naming the parameter, the bad value and the allowed range, so a
typo in a config fails at construction time instead of producing silently wrong spikes.
"""

import math
import numbers
import os

from .kinds import get_kind

BACKENDS = ("auto", "torch", "cupy")
# Overrides every node's backend when set, read when a node is built (SpikingJelly 2.0 reads its
# SJ_<NEURON>_CUDA_IMPLEMENTATION variables the same way: spikingjelly/_ops/selection.py).
BACKEND_ENV = "SPIKINGMAMBA_NEURON_BACKEND"


def check_D(D) -> int:
    """D (the largest integer a neuron emits, Tables 1–2 "1×D") must be an int ≥ 1."""
    if isinstance(D, bool) or not isinstance(D, numbers.Integral) or D < 1:
        raise ValueError(f"D must be an integer >= 1 (the largest spike count), got {D!r}")
    return int(D)


def check_real(name: str, value, low: float, high: float, low_open: bool, high_open: bool) -> float:
    """``value`` must be a finite real number in the interval (or half-open interval) [low, high]."""
    lo, hi = "(" if low_open else "[", ")" if high_open else "]"
    interval = f"{lo}{low}, {high}{hi}"
    ok = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > low if low_open else value >= low)
        and (value < high if high_open else value <= high)
    )
    if not ok:
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")
    return float(value)


def check_neuron_params(kind, D, beta, v_threshold, alpha) -> tuple[str, int, float, float, float]:
    """Validate and normalise the parameters shared by all three neurons.

    kind: a row of ``neurons.kinds.KINDS``; D int ≥ 1 (the kind's own D: 1 for the binary LIF, Eq 2);
    β ∈ [0, 1] (Eq 1 decay); V_th ∈ (0, ∞) finite; α ∈ (0, ∞) finite (Eq 6 gradient scale).
    """
    D = get_kind(kind).D(check_D(D))
    beta = check_real("beta", beta, 0.0, 1.0, False, False)
    v_threshold = check_real("v_threshold", v_threshold, 0.0, math.inf, True, True)
    alpha = check_real("alpha", alpha, 0.0, math.inf, True, True)
    return kind, D, beta, v_threshold, alpha


def check_backend(backend) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return backend


def requested_backend(backend) -> str:
    """The backend a node is built with: ``$SPIKINGMAMBA_NEURON_BACKEND`` when set, else ``backend``."""
    backend = check_backend(backend)
    override = os.environ.get(BACKEND_ENV)
    if override is None:
        return backend
    if override not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV} must be one of {BACKENDS}, got {override!r}; unset it or fix it")
    return override
