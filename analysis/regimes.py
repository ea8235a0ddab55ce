"""Precision regimes of the energy model: pJ per MAC / multiply / add, and the quantized baseline's MAC.

One table of constants, Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
Fig. 1.1.9 (45 nm, 0.9 V), the source Appendix D.2 cites:

    integer   add  8 bit 0.03 pJ, 32 bit 0.1 pJ;   mult  8 bit 0.2 pJ, 32 bit 3.1 pJ
    float     add 16 bit 0.4 pJ,  32 bit 0.9 pJ;   mult 16 bit 1.1 pJ, 32 bit 3.7 pJ

A regime prices every operation of every model at one precision (as the paper prices all of them at fp32):

    regime  MAC (E_MM)          multiply (E_EM)   add / accumulate (E_ADD)   bytes per weight
    fp32    3.7 + 0.9 = 4.6     3.7               0.9                        4     (the paper's row, Appendix D.2)
    fp16    1.1 + 0.4 = 1.5     1.1               0.4                        2
    int8    0.2 + 0.1 = 0.3     0.2               0.1                        1

int8 multiplies 8-bit operands but adds into a 32-bit accumulator (Add32, 0.1 pJ): a sum of d_in products of
two int8 values needs 16 + log2(d_in) bits, and int8 inference accumulates in int32 (Jacob et al., CVPR 2018,
§2.2). SpikingJelly 2.0's ``SimpleEnergyCostConfig.int8`` prices the accumulate as Add8 (MAC 0.23, AC
0.03 pJ) — 3.3x cheaper accumulates, which would favour the spiking model; its fp32 and fp16 presets equal
the rows above.

The same-bit quantized baseline (:func:`quantized_mac_pj`) multiplies int8 weights by b-bit activations,
b = ⌈log2 levels⌉ (:func:`activation_bits`). Horowitz gives no sub-8-bit multiplier; an array multiplier's
energy grows with the product of its operand widths, which his own numbers show (Mult32 / Mult8 = 15.5 ≈
(32/8)² = 16), so an 8 × b-bit multiply is taken as Mult8 · b/8, accumulated in 32 bits as above.
Torch-free.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from analysis.energy import EnergyConstants

HOROWITZ_2014 = "Horowitz, ISSCC 2014, Fig. 1.1.9 (45 nm, 0.9 V)"
# pJ per operation (HOROWITZ_2014)
FADD32, FMUL32 = 0.9, 3.7
FADD16, FMUL16 = 0.4, 1.1
ADD8, ADD32, MUL8, MUL32 = 0.03, 0.1, 0.2, 3.1


@dataclass(frozen=True)
class Regime:
    """One precision: the per-operation energies (pJ), the bytes of a weight and of an activation (the conv
    state, the embedding row) in memory, and where each constant comes from."""

    name: str
    constants: EnergyConstants
    weight_bytes: int
    activation_bytes: int
    sources: dict

    def to_dict(self) -> dict:
        return {"name": self.name, "constants_pJ": asdict(self.constants), "weight_bytes": self.weight_bytes,
                "activation_bytes": self.activation_bytes, "sources": self.sources}


REGIMES: dict[str, Regime] = {
    "fp32": Regime("fp32", EnergyConstants(mac=4.6, mul=3.7, add=0.9), 4, 4, {
        "mac": f"FMult32 3.7 + FAdd32 0.9 ({HOROWITZ_2014}); the paper's E_MM (Appendix D.2)",
        "mul": f"FMult32 ({HOROWITZ_2014}); the paper's E_EM", "add": f"FAdd32 ({HOROWITZ_2014}); the paper's E_ADD"}),
    "fp16": Regime("fp16", EnergyConstants(mac=1.5, mul=1.1, add=0.4), 2, 2, {
        "mac": f"FMult16 1.1 + FAdd16 0.4 ({HOROWITZ_2014})",
        "mul": f"FMult16 ({HOROWITZ_2014})", "add": f"FAdd16 ({HOROWITZ_2014})"}),
    "int8": Regime("int8", EnergyConstants(mac=0.3, mul=0.2, add=0.1), 1, 1, {
        "mac": f"Mult8 0.2 + Add32 0.1 ({HOROWITZ_2014}): 8-bit operands, 32-bit accumulator",
        "mul": f"Mult8 ({HOROWITZ_2014})",
        "add": f"Add32 ({HOROWITZ_2014}): accumulates into int32 (SpikingJelly's int8 preset uses Add8 0.03)"}),
}
PAPER_REGIME = "fp32"


def get_regime(name: str) -> Regime:
    try:
        return REGIMES[name]
    except KeyError:
        raise ValueError(f"regime={name!r}; choose one of {tuple(REGIMES)}") from None


def activation_bits(levels: int) -> int:
    """Bits of an integer activation with ``levels`` values: ⌈log2 levels⌉ (2 → 1, 5 → 3, 9 → 4)."""
    if not isinstance(levels, int) or levels < 2:
        raise ValueError(f"levels={levels!r} must be an integer >= 2")
    return math.ceil(math.log2(levels))


def quantized_mac_pj(bits: int) -> float:
    """pJ of one int8-weight × ``bits``-bit-activation multiply-accumulate: Mult8 · bits/8 + Add32 (module
    docstring: multiplier energy ∝ the product of the operand widths; 32-bit accumulator)."""
    if not isinstance(bits, int) or not 1 <= bits <= 8:
        raise ValueError(f"activation bits={bits!r} must be an integer in 1..8 (int8 weights × b-bit activations)")
    return MUL8 * bits / 8 + ADD32


QUANTIZED_MAC_SOURCE = (f"Mult8 0.2 pJ · b/8 + Add32 0.1 pJ ({HOROWITZ_2014}): an 8 × b-bit multiply scaled from "
                        "Mult8 by the operand-width product (Mult32/Mult8 = 15.5 ≈ (32/8)²), 32-bit accumulator")
