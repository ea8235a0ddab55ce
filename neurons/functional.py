"""Pure functional forms of the LIF, I-LIF and TI-LIF neurons (no module state).

The rounding convention (docs/ARCHITECTURE.md), for a normalised potential h = u / V_th:

    lif   : s = Θ(h − 1)                                              Eq 2 (binary, D = 1)
    ilif  : s = min(⌊a⌋ + [a − ⌊a⌋ ≥ ½], D),        a = max(h, 0)        Eq 3
    tilif : s = sign(h) · min(⌊a⌋ + [a − ⌊a⌋ ≥ ½], D), a = |h|           Eq 5

i.e. round half away from zero, then clip. ``a − ⌊a⌋`` is exact in floating point and ``a`` is
saturated at D before rounding, so every value below is computed without rounding error in fp32,
fp16 and bf16 (as long as D fits the dtype's exact integers, which is checked). A zero count is
always +0.0 (never −0.0), so "bit-exact" holds at the bit level.

Surrogate gradients (∂s/∂h, zero elsewhere):
    lif   : α on ½ < h < 3/2     (SpikingJelly ``surrogate.Rect(alpha=1/V_th)`` on u − V_th)
    ilif  : α on 0 ≤ h ≤ D       (SpikingJelly ``MultiLevelSpikeCount(D)`` when α = 1)
    tilif : α on −D ≤ h ≤ D      Eq 6

NaN has no count: both modes raise ``ValueError`` on a NaN input (this costs one device sync per
call on GPU). ±inf saturate to ±D (I-LIF: +D / 0; LIF: 1 / 0) with zero gradient.
"""

import functools

import torch

from .kinds import NeuronKind, get_kind
from .params import check_D


def _resolve(kind: str, D) -> tuple[NeuronKind, int]:
    """The kind's table row and its own D (``neurons.kinds``: 1 for the binary LIF)."""
    row = get_kind(kind)
    return row, row.D(check_D(D))


NAN_MESSAGE = (
    "NaN in the neuron input (membrane potential): a NaN has no spike count. Check the layer "
    "feeding this neuron (e.g. an fp16 overflow) or clamp its output."
)


@functools.cache
def _exact_integer_limit(dtype: torch.dtype) -> int:
    return int(2 / torch.finfo(dtype).eps)  # every integer up to 2^(mantissa bits + 1) is exact


def check_exact_integers(dtype: torch.dtype, D: int) -> None:
    """Counts up to D must be exact in ``dtype`` (D ≤ 256 for bf16, 2048 for fp16, 2^24 for fp32)."""
    if not dtype.is_floating_point:
        raise ValueError(f"neuron input must be a floating-point tensor, got dtype {dtype}")
    limit = _exact_integer_limit(dtype)
    if D > limit:
        raise ValueError(
            f"D={D} is larger than {limit}, the largest integer {dtype} represents exactly; "
            f"use D <= {limit} or a wider dtype (float32)"
        )


def _check_input(x: torch.Tensor, D: int) -> None:
    check_exact_integers(x.dtype, D)
    if torch.isnan(x).any():
        raise ValueError(NAN_MESSAGE)


def _magnitude(x: torch.Tensor, kind: NeuronKind) -> torch.Tensor:
    """The non-negative value a whose rounding is the spike count: |x| (signed kinds) or max(x, 0).

    A fresh tensor (the rounding below works in place on it)."""
    return x.abs() if kind.signed else x.clamp(min=0)


def _round_clip_(a: torch.Tensor, D: int) -> torch.Tensor:
    """min(⌊a⌋ + [a − ⌊a⌋ ≥ ½], D) for a ≥ 0 — round half away from zero, then clip (all exact).

    Overwrites ``a`` (a fresh tensor owned by the caller). The result is +0.0, never −0.0, for a
    count of zero (⌊±0⌋ + 0 = +0)."""
    a = a.clamp_(max=D)
    floor = a.floor()
    return floor.add_(a.sub_(floor).ge_(0.5))


def _count(x: torch.Tensor, kind: NeuronKind, D: int) -> torch.Tensor:
    """Integer-mode spike count s (Eq 2, 3, 5) in x's dtype, no gradient (x: no NaN).

    Signed (TI-LIF): sign(x) · round_clip(|x|); ``copysign`` gives −0.0 for a negative x with a zero
    count, and ``+ 0.0`` turns it into +0.0."""
    if kind.binary:
        return (x >= 1).to(x.dtype)
    m = _round_clip_(_magnitude(x, kind), D)
    return m.copysign_(x).add_(0.0) if kind.signed else m


def _surrogate_window(x: torch.Tensor, kind: NeuronKind, D: int) -> torch.Tensor:
    """Where the rectangular surrogate gradient is non-zero (``NeuronKind.surrogate_window``, Eq 6)."""
    low, high, closed = kind.surrogate_window(D)
    if not closed:
        return (x > low) & (x < high)
    if low == -high:
        return x.abs() <= high  # −D ≤ x ≤ D (abs is exact; ±inf are outside)
    return (x >= low) & (x <= high)


class _SpikeCount(torch.autograd.Function):
    """s = count(h) forward, ∂s/∂h = α · window(h) backward (the window is saved: one byte per element)."""

    @staticmethod
    def forward(ctx, x, kind, D, alpha):
        ctx.save_for_backward(_surrogate_window(x, kind, D))
        ctx.alpha = alpha
        return _count(x, kind, D)

    @staticmethod
    def backward(ctx, grad):
        (window,) = ctx.saved_tensors
        return grad * (window.to(grad.dtype) * ctx.alpha), None, None, None


def quantize(x: torch.Tensor, kind: str, D: int = 4, alpha: float = 1.0) -> torch.Tensor:
    """Integer mode, one step, no state (Eq 2 / 3 / 5 with the Eq 6-style surrogate gradient).

    x: [*] potential already normalised by V_th (h = u / V_th). kind in {"lif","ilif","tilif"};
    D is ignored for "lif" (binary). Returns s: [*], x's dtype, integer-valued in
    {0,1} / {0..D} / {−D..D}. Raises ValueError on NaN input.
    """
    kind, D = _resolve(kind, D)
    _check_input(x, D)
    if torch.is_grad_enabled() and x.requires_grad:
        return _SpikeCount.apply(x, kind, D, alpha)
    return _count(x, kind, D)  # no graph to record: skip the autograd Function


@torch.no_grad()
def micro_step_spikes(x: torch.Tensor, kind: str, D: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Spike-driven mode: the micro-step IF simulation of Eq 7–8, for one logical step.

    β = 1, the magnitude a (|x| for tilif) is injected at micro-step 1 only, the neuron fires when
    v ≥ ½ and soft-resets by 1 (= threshold 1 with initial potential ½, which realises the rounding
    convention). a is saturated at D first: it cannot emit more than D spikes in D micro-steps anyway,
    and the saturation keeps every subtraction exact. "lif" is one micro-step of Θ(x − 1).

    x: [*] normalised potential. Returns (spikes [D, *] in {0,1}, sign [*] in {0,1}, 1 = negative;
    all zeros except for tilif), both in x's dtype, no gradient. Σ_i spikes[i] · (1 − 2·sign) equals
    ``quantize(x, kind, D)`` bit-exactly (see ``signed_spikes``).
    """
    kind, D = _resolve(kind, D)
    _check_input(x, D)
    if kind.binary:
        return (x >= 1).to(x.dtype).unsqueeze(0), torch.zeros_like(x)
    v = _magnitude(x, kind).clamp_(max=D)  # Eq 7 with x[1] = a, x[i>1] = 0
    planes = []
    for _ in range(D):
        fired = v >= 0.5  # Eq 8
        v = v - fired.to(v.dtype)  # soft reset, exact
        planes.append(fired)
    sign = torch.signbit(x).to(x.dtype) if kind.signed else torch.zeros_like(x)
    return torch.stack(planes).to(x.dtype), sign


def signed_spikes(spikes: torch.Tensor, sign: torch.Tensor) -> torch.Tensor:
    """sign ⊙ s per input element (Eq 9): spikes [D, *] ∈ {0,1}, sign [*] ∈ {0,1} → [D, *] ∈ {−1,0,1}.

    Zeros stay +0.0, so ``signed_spikes(...).sum(0)`` reproduces ``quantize`` bit for bit.
    """
    return spikes - 2 * spikes * sign


def normalise(u: torch.Tensor, v_threshold: float) -> torch.Tensor:
    """h = u / V_th, one IEEE division (a device-tensor divisor keeps CUDA from using u · (1/V_th))."""
    if v_threshold == 1.0:
        return u
    return u / u.new_full((), v_threshold)


def neuron_step(
    x: torch.Tensor,
    v: torch.Tensor,
    kind: str,
    D: int,
    beta: float,
    v_threshold: float,
    alpha: float = 1.0,
    detach_reset: bool = False,
    spike_driven: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One logical step of a neuron: Eq 1 charge, Eq 2 / 3 / 5 fire, soft reset.

    x: [*] input current c[t]. v: [*] membrane after the previous step's reset, u[t−1] − V_th·s[t−1]
    (float32 for fp16/bf16/fp32 inputs, so the recurrence runs in float32), or None for a fresh
    membrane (v = 0: u = c[t] + 0, bit-identical to β·0 + c[t]). Returns (out, v_next):
    out is s[t] [*] in integer mode or the signed micro-step spikes [D, *] (Eq 7–9) in spike-driven
    mode, in x's dtype; v_next = u[t] − V_th·s[t] with s[t] the (reconstructed) integer count, so the
    recurrence is identical in both modes. Spike-driven outputs carry no gradient.
    """
    check_exact_integers(x.dtype, D)
    if v is None:  # Eq 1 from rest; the + 0 turns −0.0 into +0.0, as β·0 + c does
        u = x.to(torch.promote_types(x.dtype, torch.float32)) + 0.0
    else:
        u = beta * v + x.to(v.dtype)  # Eq 1 (v already holds u[t−1] − V_th·s[t−1])
    h = normalise(u, v_threshold)
    if spike_driven:
        out = signed_spikes(*micro_step_spikes(h, kind, D))
        s = out.sum(0)
    else:
        out = s = quantize(h, kind, D, alpha)
    s_reset = s.detach() if detach_reset else s
    v_next = u - (s_reset if v_threshold == 1.0 else v_threshold * s_reset)  # 1·s = s exactly
    return out.to(x.dtype), v_next


def neuron_sequence(x_seq: torch.Tensor, v: torch.Tensor | None, kind: str, D: int, beta: float, v_threshold: float,
                    alpha: float = 1.0, detach_reset: bool = False,
                    spike_driven: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``neuron_step`` over T logical steps (the torch backend; ``cupy_backend.neuron_sequence`` is its CUDA
    twin): x_seq [T, N, *], v [N, *] → (out [T, N, *] or signed spikes [T·D, N, *], v_seq [T, N, *])."""
    outs, vs = [], []
    for x in x_seq:
        out, v = neuron_step(x, v, kind, D, beta, v_threshold, alpha, detach_reset, spike_driven)
        outs.append(out)
        vs.append(v)
    out = torch.stack(outs)
    return (out.flatten(0, 1) if spike_driven else out), torch.stack(vs)
