"""Per-token inference energy of Mamba2 and SpikingMamba — the analytic model of Appendix D, Tables 10–12.

Energy is counted per generated token, summed over the ``n_layer`` Mamba2 blocks (embedding, final norm and
LM head are not counted, as in the paper), in the paper's unit of 1e6 pJ (= µJ). Every row of Table 10 is one
entry of :func:`table10_rows`; spiking neurons change only the two projection rows (Tables 11–12):

    dense (Table 10)        E_proj = d_in · d_out · E_MM
    LIF   (Table 11)        E_proj = fr · d_in · d_out · E_ADD
    I-LIF / TI-LIF (Tab 12) E_proj = k · fr · d_in · d_out · E_ADD,   k = D (the largest integer output)

with ``fr = #spikes / (T · k · d_in)`` (Table 12) and ``d_in`` = d_model for ``in_proj`` and d_inner
(= 2·d_model in the paper's notation "2D") for ``out_proj``. Since ``T · k · fr · d_in`` is the number of
binary spikes per token, ``T · k · fr · d_in · d_out`` is exactly the number of accumulates the spike-driven
linear performs (Eq 4, Eq 9) — the quantity ``SpikeDrivenLinear.ac_count`` measures. The paper has T = 1
(one neuron step per token) and writes the formulas without T; for T > 1 only the projections (and the
neurons' own operations) scale with T, the SSM and the rest run once per token.

Grouping of Table 10's rows into the columns of Tables 8–9 (found by reproducing those tables; the three rows
costing ``2·d_model · E_EM`` — ``x_t D``, ``Norm``, ``y*act(z)`` — are interchangeable in the totals, so the
grouping below follows the equations): "SSM" is the state-space recurrence Eq 18–19 (dtB, C·h_t, x_t·D, xdB,
A·dt, A·h_t, dt + dt_bias, A·h_t + xdB, y + D·x); "Others" is Conv1d, the activations, the gated RMSNorm and
``y * act(z)`` (Eq 20 and the Conv1d/SiLU lines of Appendix A).

Choices the paper leaves open, made explicit here:
* The neurons' own operations (Table 11's "Spiking Neuron" rows, ``2·d_in`` multiplies and ``2·d_in`` adds
  per neuron per token) are **not** in the paper's totals: every spiking row of Tables 8–9 has the dense
  "Others" value and Total = In + Out + SSM + Others. ``neuron_ops=True`` adds them as a separate
  ``neurons`` component (same formula for LIF, I-LIF and TI-LIF; Table 12 lists none).
* The SGC path is training-only and never counted.
* The sign bit of TI-LIF costs nothing (§4.1, "a single XOR"): a −1 spike is one accumulate, like a +1.
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass
from typing import Mapping, Sequence

from models.shape import PRESETS, Mamba2Shape, preset  # noqa: F401  (PRESETS, preset: this module's API)
from neurons.kinds import CHOICES, KINDS, get_kind

COMPONENTS = ("in_proj", "out_proj", "ssm", "others")
UNIT = "1e6 pJ per token"
_PJ_PER_UNIT = 1e6


@dataclass(frozen=True)
class EnergyConstants:
    """Energy per operation in pJ. Defaults: 32-bit float at 45 nm (Horowitz 2014), as in Appendix D.2."""

    mac: float = 4.6  # E_MM, one multiply-accumulate
    mul: float = 3.7  # E_EM, one element-wise multiply
    add: float = 0.9  # E_ADD, one addition / accumulate

    def __post_init__(self):
        for name, value in asdict(self).items():
            if not value >= 0:
                raise ValueError(f"energy constant {name}={value!r} pJ must be a non-negative number")

    def of(self, op: str) -> float:
        """pJ for one operation of kind ``op`` in {"mac", "mul", "add"}."""
        return {"mac": self.mac, "mul": self.mul, "add": self.add}[op]


@dataclass(frozen=True)
class OpRow:
    """One row of Table 10: ``count`` operations of kind ``op`` per layer per token, in column ``component``."""

    name: str
    component: str
    op: str
    count: int


def table10_rows(s: Mamba2Shape) -> list[OpRow]:
    """Table 10, one entry per row, per layer per token (dense Mamba2)."""
    H, P, N = s.nheads, s.headdim, s.d_state
    return [
        *(OpRow(proj, proj, "mac", d_in * d_out) for proj, (d_in, d_out) in s.projections.items()),
        OpRow("dtB", "ssm", "mac", H * P * 1 * 1 * N),
        OpRow("C*h_t", "ssm", "mac", H * P * N),
        OpRow("conv1d", "others", "mac", s.conv_dim * s.d_conv),
        OpRow("act", "others", "mul", 3 * s.d_inner),
        OpRow("x_t*D", "ssm", "mul", H * P),
        OpRow("xdB", "ssm", "mul", H * P * N),
        OpRow("A*dt", "ssm", "mul", H),
        OpRow("A*h_t", "ssm", "mul", H * P * N),
        OpRow("norm", "others", "mul", s.d_inner),
        OpRow("y*act(z)", "others", "mul", s.d_inner),
        OpRow("dt+dt_bias", "ssm", "add", H),
        OpRow("A*h_t+xdB", "ssm", "add", H * P * N),
        OpRow("y+D*x", "ssm", "add", H * P),
    ]


def spikes_per_input(kind: str, D: int) -> int:
    """k of Table 12: the most binary spikes one input can emit per token (LIF 1, I-LIF/TI-LIF D)."""
    if kind not in KINDS:
        raise ValueError(f"neuron kind {kind!r} has no spikes; use one of {tuple(KINDS)}")
    if not isinstance(D, int) or D < 1:
        raise ValueError(f"D={D!r} must be a positive integer")
    return get_kind(kind).D(D)


def firing_rate(n_spikes: float, n_tokens: int, width: int, k: int, T: int = 1) -> float:
    """Table 12: fr = #spikes / (T · k · width) per token, averaged over ``n_tokens`` tokens.

    ``n_spikes`` counts binary spikes (for integer outputs q: Σ|q|); ``width`` = d_model for in_proj,
    d_inner for out_proj."""
    if n_tokens < 1 or width < 1 or k < 1 or T < 1:
        raise ValueError(f"n_tokens={n_tokens}, width={width}, k={k}, T={T} must all be >= 1")
    return n_spikes / (n_tokens * T * k * width)


def _mean_rate(fr: float | Sequence[float], n_layer: int, name: str) -> float:
    """A scalar rate, or the mean of per-layer rates (energy is linear in fr, so Σ_l E(fr_l) = L·E(mean))."""
    rates = [fr] if isinstance(fr, (int, float)) else list(fr)
    if len(rates) not in (1, n_layer):
        raise ValueError(f"{name} has {len(rates)} per-layer values; the model has n_layer={n_layer}")
    for r in rates:
        if not 0.0 <= r <= 1.0:
            raise ValueError(f"{name}={r!r} must be a firing rate in [0, 1] (Table 12 normalises by T·k·width)")
    return sum(rates) / len(rates)


@dataclass(frozen=True)
class EnergyBreakdown:
    """Per-token energy summed over layers, in 1e6 pJ. ``neurons`` is None unless neuron ops were counted."""

    in_proj: float
    out_proj: float
    ssm: float
    others: float
    neurons: float | None = None

    @property
    def total(self) -> float:
        return self.in_proj + self.out_proj + self.ssm + self.others + (self.neurons or 0.0)

    def to_dict(self) -> dict:
        out = {c: getattr(self, c) for c in COMPONENTS}
        if self.neurons is not None:
            out["neurons"] = self.neurons
        out["total"] = self.total
        return out


def block_energy(
    shape: Mamba2Shape,
    neuron_in: str = "none",
    neuron_out: str | None = None,
    *,
    D: int = 4,
    fr_in: float | Sequence[float] | None = None,
    fr_out: float | Sequence[float] | None = None,
    T: int = 1,
    constants: EnergyConstants = EnergyConstants(),
    neuron_ops: bool = False,
) -> EnergyBreakdown:
    """Energy of ``shape.n_layer`` blocks per token (Tables 10–12), in 1e6 pJ.

    ``neuron_in`` / ``neuron_out``: the neuron before in_proj / out_proj ("none" = dense MAC, Table 10);
    ``neuron_out`` defaults to ``neuron_in``. ``fr_in`` / ``fr_out``: Table 12 firing rates (a number, or
    one per layer) — required for a spiking projection, rejected for a dense one. ``D``: the neuron's largest
    integer (k = D for I-LIF/TI-LIF, k = 1 for LIF). ``T``: neuron steps per token (paper: 1).
    ``neuron_ops``: add Table 11's neuron rows (the paper does not; see the module docstring).
    """
    if not isinstance(T, int) or T < 1:
        raise ValueError(f"T={T!r} (neuron steps per token) must be a positive integer")
    neuron_out = neuron_in if neuron_out is None else neuron_out
    for name, kind in (("neuron_in", neuron_in), ("neuron_out", neuron_out)):
        if kind not in CHOICES:
            raise ValueError(f"{name}={kind!r}; choose one of {CHOICES}")
    sums = dict.fromkeys(COMPONENTS, 0.0)
    for row in table10_rows(shape):
        sums[row.component] += row.count * constants.of(row.op)
    neurons = 0.0
    for (proj, (d_in, d_out)), kind, fr in zip(shape.projections.items(), (neuron_in, neuron_out), (fr_in, fr_out)):
        fr_name = "fr_" + proj.split("_")[0]
        if kind == "none":
            if fr is not None:
                raise ValueError(f"{fr_name} given but the {proj} input has no neuron (kind 'none'): drop it")
            continue
        if fr is None:
            raise ValueError(f"{proj} has a {kind} neuron: give its firing rate {fr_name}")
        k = spikes_per_input(kind, D)
        sums[proj] = T * k * _mean_rate(fr, shape.n_layer, fr_name) * d_in * d_out * constants.add
        neurons += T * 2 * d_in * (constants.mul + constants.add)  # Table 11 "Spiking Neuron" rows
    scale = shape.n_layer / _PJ_PER_UNIT
    return EnergyBreakdown(
        **{c: v * scale for c, v in sums.items()}, neurons=neurons * scale if neuron_ops else None
    )


def energy_from_accumulates(acs: Mapping[str, int], tokens: int, constants: EnergyConstants = EnergyConstants()) -> dict:
    """Projection energy per token (1e6 pJ) from accumulates counted over ``tokens`` tokens, e.g. the
    ``SpikeDrivenLinear.ac_count`` totals ``{"in_proj": n, "out_proj": m}`` of a spike-driven run: n · E_ADD /
    tokens. Beside :func:`block_energy` with the measured firing rates it should agree exactly (Eq 4, 9)."""
    if tokens < 1:
        raise ValueError(f"tokens={tokens} must be >= 1")
    return {proj: n * constants.add / tokens / _PJ_PER_UNIT for proj, n in acs.items()}


def energy_report(shape: Mamba2Shape, *args, **kwargs) -> dict:
    """:func:`block_energy` (same arguments) of the model and of dense Mamba2 of the same shape, and
    E_A / E_S, as a JSON-ready dict.

    Keys: unit, shape, constants_pJ, neuron_in, neuron_out, D, T, k_in, k_out, fr_in, fr_out,
    neuron_ops_counted, components (in_proj, out_proj, ssm, others[, neurons], total), total, mamba2 (same
    keys), mamba2_total, ratio."""
    call = inspect.signature(block_energy).bind(shape, *args, **kwargs)
    call.apply_defaults()
    p = call.arguments
    neuron_out = p["neuron_in"] if p["neuron_out"] is None else p["neuron_out"]
    spiking = block_energy(*call.args, **call.kwargs)
    dense = block_energy(shape, constants=p["constants"])

    def plain(fr):
        return fr if fr is None or isinstance(fr, (int, float)) else [float(r) for r in fr]

    return {
        "unit": UNIT,
        "shape": asdict(shape),
        "constants_pJ": asdict(p["constants"]),
        "neuron_in": p["neuron_in"],
        "neuron_out": neuron_out,
        "D": p["D"],
        "T": p["T"],
        "k_in": None if p["neuron_in"] == "none" else spikes_per_input(p["neuron_in"], p["D"]),
        "k_out": None if neuron_out == "none" else spikes_per_input(neuron_out, p["D"]),
        "fr_in": plain(p["fr_in"]),
        "fr_out": plain(p["fr_out"]),
        "neuron_ops_counted": p["neuron_ops"],
        "components": spiking.to_dict(),
        "total": spiking.total,
        "mamba2": dense.to_dict(),
        "mamba2_total": dense.total,
        "ratio": dense.total / spiking.total,
    }
