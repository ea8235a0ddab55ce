"""Memory traffic per token (issue 13): the bytes a Mamba2 / SpikingMamba LM moves, and pJ per byte.

What is counted, per token, summed over the ``n_layer`` blocks (Appendix A's parameters, mamba_ssm names):

    in_proj, out_proj   the weights, d_in · d_out; a spiking projection reads only the columns of its active
                        inputs (an input with at least one spike in the token: Eq 9 adds W[:, j] per spike of
                        input j, so column j is read once however many spikes it carries)
    conv1d              weight conv_dim · d_conv and bias conv_dim (mamba_ssm's conv_bias=True)
    small_params        dt_bias, A_log, D (H each; D_has_hdim=False), the gated norm (d_inner), the block's
                        RMSNorm (d_model), and the final norm (d_model, once)
    lm_head             vocab · d_model (tied with the embedding: the same bytes, read again at the end)
    embedding           one row, d_model
    conv_state          conv_dim · d_conv, read and written
    ssm_state           H · P · N, read and written, float32 in every regime (models/cache.py, mamba_ssm)

Decode and prefill differ only in how many tokens share one read of the weights: a *pass* (one forward) reads
every weight it needs once and reads and writes each layer's state once; decode is a pass of one token,
prefill a pass of ``tokens_per_pass`` tokens (a stated sequence length), so per token the weights and states
cost 1/tokens_per_pass of a pass. A spiking projection in a pass reads the *union* of the columns active at any
of its tokens — ``column_fraction`` is that union's share of d_in (per token in decode). The embedding row is
read per token. Activations between ops (residual stream, x, z, B, C, Δ, y) are taken to stay on chip and are
not counted, like op_counter's neuromorphic model (which excludes "intermediate tensors"); SpikingMamba's
neurons keep no state between tokens (``spike_project`` resets them), so there is no neuron-state traffic.

Levels (Horowitz, ISSCC 2014, Fig. 1.1.9, 45 nm: energy of a 64-bit access; divided by 8 for a byte):

    sram-8kb  10 pJ → 1.25 pJ/B     sram-32kb  20 pJ → 2.5 pJ/B     sram-1mb  100 pJ → 12.5 pJ/B
    dram      1.3–2.6 nJ → 162.5 pJ/B (the low end)
    spikingjelly  24.96 pJ/B, SpikingJelly 2.0 op_counter ``SimpleEnergyCostConfig`` (3.12 pJ/bit, from STEP,
                  arXiv 2505.11151), one flat cost whatever the size

``auto`` takes the smallest of Horowitz's memories that holds everything a model keeps between tokens (all its
weights and every layer's state): a whole model on chip, or DRAM beyond 1 MB. Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass

from models.shape import SIDES, Mamba2Shape

HOROWITZ_MEMORY = "Horowitz, ISSCC 2014, Fig. 1.1.9 (45 nm): 64-bit access"
SSM_STATE_BYTES = 4  # h_t is float32 whatever the model's dtype (models/cache.py, mamba_ssm's allocate_inference_cache)
PROJECTIONS = tuple(side.module for side in SIDES.values())  # ("in_proj", "out_proj")
ITEMS = ("in_proj", "out_proj", "conv1d", "small_params", "lm_head", "embedding", "conv_state", "ssm_state")


@dataclass(frozen=True)
class MemoryLevel:
    """Where bytes come from: ``capacity_bytes`` (None: unbounded) and the energy of moving one byte."""

    name: str
    capacity_bytes: int | None
    pj_per_byte: float
    source: str


LEVELS: dict[str, MemoryLevel] = {
    "sram-8kb": MemoryLevel("sram-8kb", 8 * 1024, 10 / 8, f"{HOROWITZ_MEMORY}, 8 KB cache: 10 pJ"),
    "sram-32kb": MemoryLevel("sram-32kb", 32 * 1024, 20 / 8, f"{HOROWITZ_MEMORY}, 32 KB cache: 20 pJ"),
    "sram-1mb": MemoryLevel("sram-1mb", 1024 * 1024, 100 / 8, f"{HOROWITZ_MEMORY}, 1 MB cache: 100 pJ"),
    "dram": MemoryLevel("dram", None, 1300 / 8, f"{HOROWITZ_MEMORY}, DRAM: 1.3-2.6 nJ, the low end 1.3 nJ"),
    "spikingjelly": MemoryLevel("spikingjelly", None, 24.96,
                                "SpikingJelly 2.0 op_counter SimpleEnergyCostConfig: 24.96 pJ/byte (3.12 pJ/bit, "
                                "as STEP, arXiv 2505.11151)"),
}
AUTO = "auto"
AUTO_ORDER = ("sram-8kb", "sram-32kb", "sram-1mb", "dram")
LEVEL_CHOICES = (AUTO, *LEVELS)


@dataclass(frozen=True)
class Widths:
    """Bytes per element: each projection's weights, the other parameters, activations (conv state, embedding
    row) and the SSM state."""

    in_proj: int
    out_proj: int
    weight: int
    activation: int
    ssm_state: int = SSM_STATE_BYTES


def _per_layer_params(s: Mamba2Shape) -> dict[str, int]:
    """Parameter counts of one block, by traffic item (module docstring)."""
    return {
        "in_proj": s.d_model * s.d_in_proj,
        "out_proj": s.d_inner * s.d_model,
        "conv1d": s.conv_dim * s.d_conv + s.conv_dim,
        "small_params": 3 * s.nheads + s.d_inner + s.d_model,
    }


def _state_elements(s: Mamba2Shape) -> dict[str, int]:
    """Elements of one layer's recurrent state (models/cache.py: conv_state [conv_dim, K], ssm_state [H, P, N])."""
    return {"conv_state": s.conv_dim * s.d_conv, "ssm_state": s.nheads * s.headdim * s.d_state}


def resident_bytes(shape: Mamba2Shape, vocab: int, widths: Widths) -> dict[str, int]:
    """What the model keeps between tokens: {"weights", "state"} in bytes (batch 1)."""
    p = _per_layer_params(shape)
    per_layer = (p["in_proj"] * widths.in_proj + p["out_proj"] * widths.out_proj
                 + (p["conv1d"] + p["small_params"]) * widths.weight)
    weights = shape.n_layer * per_layer + (vocab * shape.d_model + shape.d_model) * widths.weight
    st = _state_elements(shape)
    state = shape.n_layer * (st["conv_state"] * widths.activation + st["ssm_state"] * widths.ssm_state)
    return {"weights": weights, "state": state}


def memory_level(name: str, resident: int) -> MemoryLevel:
    """The level ``name``, or for "auto" the smallest of AUTO_ORDER holding ``resident`` bytes."""
    if name == AUTO:
        return next(LEVELS[n] for n in AUTO_ORDER if LEVELS[n].capacity_bytes is None
                    or resident <= LEVELS[n].capacity_bytes)
    try:
        return LEVELS[name]
    except KeyError:
        raise ValueError(f"memory level {name!r}; choose one of {LEVEL_CHOICES}") from None


def traffic(shape: Mamba2Shape, vocab: int, widths: Widths, column_fraction: dict[str, float],
            tokens_per_pass: float = 1) -> dict[str, float]:
    """Bytes moved per token, by item (module docstring), for passes of ``tokens_per_pass`` tokens (1 = decode).

    ``column_fraction``: per projection, the share of its input columns a pass reads (1 for a dense one; for a
    spiking one the union of the active inputs over the pass, averaged over layers)."""
    if not tokens_per_pass >= 1:
        raise ValueError(f"tokens_per_pass={tokens_per_pass!r} must be >= 1 (1 = decode)")
    for proj in PROJECTIONS:
        if not 0.0 <= column_fraction[proj] <= 1.0:
            raise ValueError(f"column_fraction[{proj!r}]={column_fraction[proj]!r} must be in [0, 1]")
    L, per_pass = shape.n_layer, 1 / tokens_per_pass
    p, st = _per_layer_params(shape), _state_elements(shape)
    return {
        "in_proj": L * column_fraction["in_proj"] * p["in_proj"] * widths.in_proj * per_pass,
        "out_proj": L * column_fraction["out_proj"] * p["out_proj"] * widths.out_proj * per_pass,
        "conv1d": L * p["conv1d"] * widths.weight * per_pass,
        "small_params": (L * p["small_params"] + shape.d_model) * widths.weight * per_pass,
        "lm_head": vocab * shape.d_model * widths.weight * per_pass,
        "embedding": shape.d_model * widths.weight,
        "conv_state": L * 2 * st["conv_state"] * widths.activation * per_pass,
        "ssm_state": L * 2 * st["ssm_state"] * widths.ssm_state * per_pass,
    }


def _layer_rates(fr: float | list[float], n_layer: int, name: str) -> list[float]:
    rates = [fr] * n_layer if isinstance(fr, (int, float)) else list(fr)
    if len(rates) != n_layer:
        raise ValueError(f"{name} has {len(rates)} per-layer values; the model has n_layer={n_layer}")
    return rates


def assumed_column_fraction(fr: float | list[float], spikes_per_input: int, n_layer: int,
                            tokens_per_pass: float = 1, name: str = "fr") -> float:
    """Config-only share of a spiking projection's columns read per pass, averaged over layers.

    Per token: a = min(1, T·k·fr) — T·k·fr is the mean number of spikes per input (Table 12), and ``a`` the
    largest active share it allows (every active input carrying exactly one spike; the share is at least fr).
    Per pass of n tokens, inputs active independently from token to token: 1 − (1 − a)^n.
    ``spikes_per_input`` = T·k."""
    out = []
    for r in _layer_rates(fr, n_layer, name):
        a = min(1.0, spikes_per_input * r)
        out.append(1.0 - (1.0 - a) ** tokens_per_pass)
    return sum(out) / len(out)


ASSUMED = ("assumed: per token a = min(1, T·k·fr) (every active input carries one spike: the largest active "
           "share the firing rate allows); per pass of n tokens 1 - (1 - a)^n (inputs independent across tokens)")


def measured_column_fractions(result: dict) -> dict:
    """From ``analysis.firing_rates.measure_firing_rates(...)`` (sides with ``active`` = Σ over tokens of the
    inputs with a spike, ``active_union`` = Σ over passes of the inputs with a spike in the pass): per
    projection, the decode and prefill shares, averaged over layers, and the prefill tokens per pass."""
    tokens, passes = result["tokens"], result["passes"]
    out = {"tokens": tokens, "passes": passes, "tokens_per_pass": tokens / passes}
    for side in SIDES.values():
        entries = [layer["sides"][side.name] for layer in result["layers"] if side.name in layer["sides"]]
        if entries:
            out[side.module] = {
                "decode": sum(e["active"] / (tokens * e["width"]) for e in entries) / len(entries),
                "prefill": sum(e["active_union"] / (passes * e["width"]) for e in entries) / len(entries),
            }
    return out
