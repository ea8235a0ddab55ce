"""Mamba2, a same-bit quantized Mamba2 and SpikingMamba side by side: compute, memory and total per token
(issue 13), next to the paper's Appendix D model (:mod:`analysis.energy`, which stays as printed).

The three models have the same shape and differ only in the two projections of every block:

    model          projection arithmetic (per token, per layer)          projection weights read
    mamba2         d_in · d_out MACs at the regime                       all columns, regime bytes
    quantized      d_in · d_out int8 × b-bit MACs (regimes.quantized_    all columns, 1 byte (int8)
                   mac_pj), b = ⌈log2 levels⌉ of the neuron it replaces
    spikingmamba   T · k · fr · d_in · d_out accumulates (Table 12)      columns of active inputs, regime bytes

"quantized" quantizes the input of in_proj / out_proj to exactly as many levels as the neuron there emits
per token (neurons.kinds ``levels``: LIF 2, I-LIF D + 1, TI-LIF 2D + 1; with T steps the projection sees
their sum, T · (levels − 1) + 1 levels) and runs them as a dense integer linear — every MAC, zeros included,
as dense hardware does. Everything else (Conv1d, SSM, norms, Table 10's other rows; with ``memory`` also the
LM head's vocab · d_model MACs and all other traffic of :mod:`analysis.memory`) is the same on all three
sides and priced at the regime. ``neuron_ops`` adds Table 11's neuron rows to SpikingMamba (as
:func:`analysis.energy.block_energy`) and to "quantized" what its quantized linear needs besides MACs: one
multiply per input (the scale before rounding) and one per output (dequantisation).

Compute per token is the same in decode and prefill (the recurrent form of Table 10); memory is reported for
both (decode: a pass per token; prefill: passes of ``prefill_tokens`` tokens, the weights read once per pass,
a spiking projection reading the union of the columns active in the pass). E_A / E_S = E(baseline) /
E(SpikingMamba), for compute alone and for compute + memory.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Sequence

from analysis import memory as mem
from analysis.energy import UNIT, EnergyConstants, block_energy, spikes_per_input
from analysis.regimes import QUANTIZED_MAC_SOURCE, activation_bits, get_regime, quantized_mac_pj
from models.shape import Mamba2Shape
from neurons.kinds import NONE, get_kind

MODELS = ("mamba2", "quantized", "spikingmamba")
BASELINES = ("mamba2", "quantized")
# The padded vocabulary of the released state-spaces/mamba2-* checkpoints (config.json: vocab_size 50277,
# pad_vocab_size_multiple 16 -> 50288; SpikingMambaConfig's default).
RELEASED_VOCAB = 50288
_PJ_PER_UNIT = 1e6


def quantized_levels(kind: str, D: int, T: int = 1) -> int:
    """Levels of the quantized baseline's activation where ``kind`` sits: T · (levels(D) − 1) + 1."""
    return T * (get_kind(kind).levels(D) - 1) + 1


def _projection_plan(shape: Mamba2Shape, kinds: dict, D: int, T: int) -> dict:
    """Per projection: the neuron kind, and for a spiking one the quantized baseline's levels, bits and pJ."""
    plan = {}
    for proj, kind in kinds.items():
        entry = {"neuron": kind}
        if kind != NONE:
            levels = quantized_levels(kind, D, T)
            bits = activation_bits(levels)
            entry.update(levels=levels, bits=bits, signed=get_kind(kind).signed, mac_pJ=quantized_mac_pj(bits))
        plan[proj] = entry
    return plan


def _compute(shape, kinds, plan, D, fr, T, constants, neuron_ops, vocab) -> dict[str, dict]:
    """Compute per token (1e6 pJ) by component, for each model."""
    scale = shape.n_layer / _PJ_PER_UNIT
    dense = block_energy(shape, constants=constants).to_dict()
    spiking = block_energy(shape, kinds["in_proj"], kinds["out_proj"], D=D, fr_in=fr["in_proj"],
                           fr_out=fr["out_proj"], T=T, constants=constants, neuron_ops=neuron_ops).to_dict()
    quant = dict(dense)
    quantizer = 0.0
    for proj, (d_in, d_out) in shape.projections.items():
        if kinds[proj] != NONE:
            quant[proj] = d_in * d_out * plan[proj]["mac_pJ"] * scale
            quantizer += (d_in + d_out) * constants.mul * scale
    if neuron_ops:
        quant["neurons"] = quantizer
    out = {"mamba2": dense, "quantized": quant, "spikingmamba": spiking}
    for comps in out.values():
        comps.pop("total")
        if vocab is not None:
            comps["lm_head"] = vocab * shape.d_model * constants.mac / _PJ_PER_UNIT
        comps["total"] = sum(comps.values())
    return out


def _columns(shape, kinds, D, T, fr, prefill_tokens, measured) -> dict:
    """Share of each SpikingMamba projection's columns a pass reads, per phase, and how it was obtained (the
    baselines read every column)."""
    out = {"source": "measured" if measured else mem.ASSUMED}
    if measured:
        out.update(tokens=measured["tokens"], passes=measured["passes"])
    tokens_per_pass = measured["tokens_per_pass"] if measured else prefill_tokens
    out["prefill_tokens_per_pass"] = tokens_per_pass
    spiking = {"decode": {}, "prefill": {}}
    for proj, kind in kinds.items():
        if kind == NONE:
            spiking["decode"][proj] = spiking["prefill"][proj] = 1.0
        elif measured:
            spiking["decode"][proj] = measured[proj]["decode"]
            spiking["prefill"][proj] = measured[proj]["prefill"]
        else:
            n = T * spikes_per_input(kind, D)
            name = "fr_" + proj.split("_")[0]
            spiking["decode"][proj] = mem.assumed_column_fraction(fr[proj], n, shape.n_layer, 1, name)
            spiking["prefill"][proj] = mem.assumed_column_fraction(fr[proj], n, shape.n_layer, tokens_per_pass, name)
    out["spikingmamba"] = spiking
    return out


def compare_baselines(
    shape: Mamba2Shape,
    neuron_in: str = NONE,
    neuron_out: str | None = None,
    *,
    D: int = 4,
    fr_in: float | Sequence[float] | None = None,
    fr_out: float | Sequence[float] | None = None,
    T: int = 1,
    regime: str = "fp32",
    constants: EnergyConstants | None = None,
    memory: str | None = None,
    vocab: int = RELEASED_VOCAB,
    prefill_tokens: int = 512,
    measured_columns: dict | None = None,
    rates_measured: bool = False,
    neuron_ops: bool = False,
) -> dict:
    """The three models (module docstring) per token, as a JSON-ready dict in 1e6 pJ.

    ``regime``: fp32 | fp16 | int8 (:mod:`analysis.regimes`); ``constants`` overrides its op energies.
    ``memory``: None (compute only, as the paper) or a level of :mod:`analysis.memory` ("auto", "dram", ...);
    ``vocab``: the padded vocabulary (LM head, embedding; counted only with memory); ``prefill_tokens``: tokens
    per prefill pass; ``measured_columns``: :func:`analysis.memory.measured_column_fractions` of a run, whose
    passes then set the prefill length (else the column shares are assumed from the rates,
    :func:`analysis.memory.assumed_column_fraction`); ``rates_measured``: recorded with the rates.

    Keys: unit, inputs, regime, quantized, models {name: {compute, [decode, prefill]}}, ratios, [memory]."""
    reg = get_regime(regime)
    constants = constants or reg.constants
    kinds = {"in_proj": neuron_in, "out_proj": neuron_in if neuron_out is None else neuron_out}
    fr = {"in_proj": fr_in, "out_proj": fr_out}
    if not isinstance(prefill_tokens, int) or prefill_tokens < 1:
        raise ValueError(f"prefill_tokens={prefill_tokens!r} must be a positive integer (tokens per prefill pass)")
    if memory is not None and (not isinstance(vocab, int) or vocab < 1):
        raise ValueError(f"vocab={vocab!r} must be a positive integer (the padded vocabulary size)")
    plan = _projection_plan(shape, kinds, D, T)
    compute = _compute(shape, kinds, plan, D, fr, T, constants, neuron_ops, vocab if memory is not None else None)
    models = {m: {"compute": compute[m]} for m in MODELS}
    rep = {
        "unit": UNIT,
        "inputs": {"shape": asdict(shape), "neuron_in": kinds["in_proj"], "neuron_out": kinds["out_proj"], "D": D,
                   "T": T, "fr_in": _plain(fr_in), "fr_out": _plain(fr_out), "rates_measured": rates_measured,
                   "tokens": measured_columns["tokens"] if measured_columns else None,
                   "neuron_ops_counted": neuron_ops},
        "regime": {**reg.to_dict(), "constants_pJ": asdict(constants),
                   "constants_overridden": constants != reg.constants},
        "quantized": {"projections": plan, "weights": "int8, 1 byte", "mac_source": QUANTIZED_MAC_SOURCE},
        "models": models,
    }
    phases = ("compute",)
    if memory is not None:
        phases = ("compute", "decode", "prefill")
        rep["inputs"]["vocab"] = vocab
        rep["memory"] = _memory(shape, kinds, reg, memory, vocab, models,
                                _columns(shape, kinds, D, T, fr, prefill_tokens, measured_columns))
    rep["ratios"] = {
        phase: {f"vs_{b}": _total(models[b], phase) / _total(models["spikingmamba"], phase) for b in BASELINES}
        for phase in phases
    }
    return rep


def _memory(shape, kinds, reg, level_name, vocab, models, columns) -> dict:
    """Fill models[m]["decode" | "prefill"] and return the memory inputs (levels, resident bytes, columns)."""
    out = {"level_requested": level_name, "levels": {}, "resident_bytes": {}, "columns": columns}
    for m in MODELS:
        quantized = {p: (1 if m == "quantized" and kinds[p] != NONE else reg.weight_bytes) for p in kinds}
        widths = mem.Widths(in_proj=quantized["in_proj"], out_proj=quantized["out_proj"], weight=reg.weight_bytes,
                            activation=reg.activation_bytes)
        resident = mem.resident_bytes(shape, vocab, widths)
        level = mem.memory_level(level_name, sum(resident.values()))
        out["levels"][m], out["resident_bytes"][m] = asdict(level), resident
        for phase in ("decode", "prefill"):
            frac = columns["spikingmamba"][phase] if m == "spikingmamba" else {p: 1.0 for p in kinds}
            n = 1 if phase == "decode" else columns["prefill_tokens_per_pass"]
            nbytes = mem.traffic(shape, vocab, widths, frac, n)
            energy = {k: b * level.pj_per_byte / _PJ_PER_UNIT for k, b in nbytes.items()}
            total_memory = sum(energy.values())
            models[m][phase] = {"memory_bytes": nbytes, "memory": energy, "memory_total": total_memory,
                                "total": models[m]["compute"]["total"] + total_memory}
    out["widths"] = {"weight": reg.weight_bytes, "activation": reg.activation_bytes, "ssm_state": mem.SSM_STATE_BYTES,
                     "quantized_projection_weight": 1}
    return out


def _total(model: dict, phase: str) -> float:
    return model["compute"]["total"] if phase == "compute" else model[phase]["total"]


def _plain(fr):
    return fr if fr is None or isinstance(fr, (int, float)) else [float(r) for r in fr]


def format_baselines(rep: dict) -> str:
    """Plain-text table of :func:`compare_baselines`: one column per model, compute [and memory] rows."""
    reg, q = rep["regime"], rep["quantized"]["projections"]
    c = reg["constants_pJ"]
    bits = "/".join(f"{p['bits']}-bit" for p in q.values() if "bits" in p) or "none"
    lines = [f"regime {reg['name']} (Horowitz 2014, 45 nm): MAC {c['mac']:g}, mul {c['mul']:g}, add {c['add']:g} pJ"
             f"{' (overridden)' if reg['constants_overridden'] else ''}; quantized baseline: int8 weights × {bits} "
             f"activations (in/out)",
             f"per token in {rep['unit']}",
             f"{'':<22}{'Mamba2':>14}{'quantized':>14}{'SpikingMamba':>14}"]
    models = rep["models"]

    def row(label, get):
        lines.append(f"{label:<22}" + "".join(f"{get(models[m]):>14.4f}" for m in MODELS))

    row("compute", lambda m: m["compute"]["total"])
    if "memory" in rep:
        for phase in ("decode", "prefill"):
            row(f"memory, {phase}", lambda m: m[phase]["memory_total"])
            row(f"total, {phase}", lambda m: m[phase]["total"])
        cols = rep["memory"]["columns"]
        levels = ", ".join(f"{m} {rep['memory']['levels'][m]['name']}" for m in MODELS)
        lines.append(f"memory levels: {levels}; prefill passes of {cols['prefill_tokens_per_pass']:g} tokens; "
                     f"SpikingMamba columns read ({'measured' if cols['source'] == 'measured' else 'assumed'}): "
                     + ", ".join(f"{p} {cols['spikingmamba']['decode'][p]:.4f} decode / "
                                 f"{cols['spikingmamba']['prefill'][p]:.4f} prefill" for p in ("in_proj", "out_proj")))
    for phase, r in rep["ratios"].items():
        lines.append(f"E_A/E_S {phase + ':':<9} vs Mamba2 {r['vs_mamba2']:.4f}, vs quantized {r['vs_quantized']:.4f}")
    return "\n".join(lines)
