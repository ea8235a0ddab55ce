"""The neuron kinds of SpikingMamba, one row each: what a kind emits and what it is called.

    kind    paper   emits        D used   surrogate ∂s/∂h = α on        equations
    lif     LIF     {0, 1}       1        ½ < h < 3/2 (open)              Eq 1–2
    ilif    I-LIF   {0, …, D}    D        0 ≤ h ≤ D                       Eq 1, 3
    tilif   TI-LIF  {−D, …, D}   D        −D ≤ h ≤ D                      Eq 1, 5–6

(h = u / V_th, the normalised membrane potential; TI-LIF is published as SI-LIF.) Everything that
depends on the kind — validation, the functional forms, the node classes, configs, command lines, the
energy model — reads this table, so a new kind is one row here plus its node file (and, for the CuPy
backend, its kernel file ``kernels/<name>.cuh``; the CPU event path runs it with its torch forms until
the C++ kernels get a code for it in ``event.KIND_CODES``).

Torch-free: the energy model and the command lines import it without loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass

NONE = "none"  # no neuron before a projection: the dense Mamba2 teacher


@dataclass(frozen=True)
class NeuronKind:
    """One kind of spiking neuron. ``binary``: fires at most once, at h ≥ 1 (Θ(h − 1), Eq 2), so its
    configured D is ignored; otherwise the count is round-half-away-from-zero of h clipped to
    ``range(D)``. ``signed``: negative counts, one sign bit per element in spike-driven mode (Eq 9)."""

    name: str
    label: str
    signed: bool
    binary: bool
    equations: str
    node: str  # "module:Class" of its SpikingJelly node (``make_neuron`` imports it)

    def D(self, D: int) -> int:
        """The largest count this kind emits when configured with ``D`` (k of Table 12)."""
        return 1 if self.binary else D

    def range(self, D: int) -> tuple[int, int]:
        """(smallest, largest) count."""
        top = self.D(D)
        return (-top if self.signed else 0), top

    def levels(self, D: int) -> int:
        """Distinct output values: 2 (LIF), D + 1 (I-LIF), 2D + 1 (TI-LIF)."""
        low, high = self.range(D)
        return high - low + 1

    def surrogate_window(self, D: int) -> tuple[float, float, bool]:
        """(low, high, closed): where the rectangular surrogate gradient is α (Eq 6), on h."""
        if self.binary:
            return 0.5, 1.5, False
        low, high = self.range(D)
        return float(low), float(high), True

    def step(self, D: int, T: int = 1) -> str:
        """The paper's "T × D" notation of Tables 1–2: "1×1", "1×4", "1×±4"."""
        return f"{T}×{'±' if self.signed else ''}{self.D(D)}"


KINDS: dict[str, NeuronKind] = {
    k.name: k
    for k in (
        NeuronKind("lif", "LIF", signed=False, binary=True, equations="Eq 1–2", node="neurons.lif:LIFNode"),
        NeuronKind("ilif", "I-LIF", signed=False, binary=False, equations="Eq 1, 3", node="neurons.ilif:ILIFNode"),
        NeuronKind("tilif", "TI-LIF", signed=True, binary=False, equations="Eq 1, 5–6",
                   node="neurons.tilif:TILIFNode"),
    )
}
CHOICES = (NONE, *KINDS)  # what a config's neuron field may name


def get_kind(name, what: str = "kind") -> NeuronKind:
    """The table row of ``name``; a ValueError naming the bad value and the choices otherwise."""
    try:
        return KINDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"{what} must be one of {tuple(KINDS)}, got {name!r}") from None


def check_choice(name, what: str = "neuron") -> str:
    """``name`` if it is a kind or "none", else a ValueError naming it and the choices."""
    if name != NONE and name not in KINDS:
        raise ValueError(f"{what} must be 'none' or one of {tuple(KINDS)}, got {name!r}")
    return name
