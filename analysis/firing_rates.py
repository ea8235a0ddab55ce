"""Firing rates measured by running a model on text (Table 12's definition), and the accumulates the
spike-driven linears actually perform.

Spikes are counted with SpikingJelly's ``monitor.OutputMonitor`` on every neuron node: the number of binary
spikes of an output is Σ|out| both in integer mode (out = the count q, Eq 2/3/5) and in spike-driven mode
(out = signed micro-step spikes, Eq 7–9), so either mode gives the same counts. Per layer and projection:

    fr = #spikes / (T · k · width · tokens)        (Table 12; k = D, or 1 for LIF; width = d_model or d_inner)

and the analytic accumulate count is ``#spikes · out_features`` (Eq 4 / Eq 9: one weight column per spike),
which :func:`count_accumulates` sets beside ``SpikeDrivenLinear.ac_count`` from a spike-driven run.

Protocol (the paper gives none for its Table 8–9 rates; this project's choice): the first ``max_tokens``
tokens (2048) of a UTF-8 text, cut into consecutive windows of ``seq_len`` tokens (512), each run from a
fresh state; ``fr_in`` / ``fr_out`` pool every token. Each window's rate (mean over layers) is also kept,
with the t-based 95 % confidence interval of their mean (``fr_in_ci95`` / ``fr_out_ci95``, None with a
single window): with equal windows that mean is ``fr_in`` itself (a shorter last window shifts it slightly).
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from neurons import SpikingNode
from spikingjelly.activation_based.monitor import OutputMonitor
from scipy import stats
from tqdm import tqdm

from analysis.energy import firing_rate
from analysis.text import windows
from models.shape import SIDES, Mamba2Shape


def _spike_stats(out: torch.Tensor, stepped: bool = False) -> torch.Tensor:
    """[Σ|out|, Σ out⁺, Σ out⁻, active, active_union] in float64 (exact for integer-valued counts below 2^53).

    ``active``: (token, input) pairs with at least one spike; ``active_union``: inputs with a spike at any token
    of this call (the weight columns a pass reads, analysis.memory). ``stepped``: ``out`` has a leading step
    axis (T > 1 or spike-driven: [T, ...] counts or [T·D, ...] spikes), summed over first."""
    out = out.detach().double()
    per_token = out.abs().sum(0) if stepped else out.abs()
    active = per_token.flatten(0, -2) != 0
    return torch.stack([out.abs().sum(), out.clamp(min=0).sum(), (-out).clamp(min=0).sum(),
                        active.sum().double(), active.any(0).sum().double()])


def neuron_sites(model) -> dict:
    """Neuron module name (``….in_proj.neuron``) -> its projection site (`model.spiking_projections()`)."""
    return {f"{site.name}.neuron": site for site in model.spiking_projections()}


def require_neurons(model, what: str) -> dict:
    """`neuron_sites`, or a ValueError naming the checkpoint when it has none (a Mamba2 teacher)."""
    sites = neuron_sites(model)
    if not sites:
        raise ValueError(f"{model.config.name_or_path or 'the model'} has no spiking neurons (neuron_in = neuron_out "
                         f"= 'none': a Mamba2 teacher), so there are no {what}; pass a student checkpoint")
    return sites


def mean_ci95(values: list[float]) -> tuple[float, list[float] | None]:
    """(mean, [low, high]) of ``values``: Student-t 95 % interval of the mean, None for fewer than 2 values."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None
    half = stats.t.ppf(0.975, n - 1) * stats.tstd(values) / n ** 0.5
    return mean, [float(mean - half), float(mean + half)]


def site_entries(layers: list[dict]) -> list[dict]:
    """Every (layer, side) entry of a ``measure_firing_rates(...)["layers"]`` list, in order."""
    return [entry for layer in layers for entry in layer["sides"].values()]


@torch.no_grad()
def measure_firing_rates(model, input_ids: torch.Tensor, seq_len: int | None = None, progress: bool = False) -> dict:
    """Run ``model`` on ``input_ids`` (``[B, L]``, or a stream ``[N]`` cut into ``seq_len`` windows) in its
    current mode (integer or spike-driven) and count each neuron's spikes.

    Returns ``{"tokens", "passes", "T", "neuron_in", "neuron_out", "D", "layers": [{"layer", "sides":
    {"in": {...}, "out": {...}}}], "fr_in", "fr_out", "fr_in_per_layer", "fr_out_per_layer", "spikes_total"}``
    where each side's entry (in: the in_proj input u, out: the out_proj input y) is ``{"module", "spikes",
    "positive", "negative", "width", "k", "fr", "ac_estimate", "active", "active_union"}`` (``passes``:
    forward calls; ``active*``: see ``_spike_stats``); the overall ``fr_in`` / ``fr_out`` are the means over
    layers (what the energy model sums). Sides without a neuron are absent (a teacher has no layers and
    rates None). Per window (see the module docstring): ``windows`` = ``{"tokens": [...], "fr_in": [...],
    "fr_out": [...]}`` and ``fr_in_window_mean`` / ``fr_in_ci95`` (and the same for ``fr_out``)."""
    neurons = neuron_sites(model)
    cfg = model.config
    batches = [input_ids] if input_ids.dim() == 2 else windows(input_ids, seq_len or input_ids.numel())
    sums: dict[str, torch.Tensor] = {}
    per_window: list[dict[str, float]] = []  # window -> neuron name -> spikes
    model.eval()
    stepped = cfg.T > 1 or any(site.module.spike_driven for site in neurons.values())
    stats = functools.partial(_spike_stats, stepped=stepped)
    with OutputMonitor(model, instance=SpikingNode, function_on_output=stats) as monitor:
        for batch in tqdm(batches, desc="counting spikes", disable=not progress):
            model(batch)
            window = {}
            for name in monitor.monitored_layers:
                for rec in monitor[name]:
                    sums[name] = sums.get(name, 0) + rec
                    window[name] = window.get(name, 0.0) + rec[0].item()
            per_window.append(window)
            monitor.clear_recorded_data()
    tokens = sum(b.numel() for b in batches)
    layers: dict[int, dict] = {}
    for name, site in neurons.items():
        spikes, pos, neg, active, union = (int(v) for v in sums[name].tolist())
        proj = site.module
        width, k = proj.in_features, proj.neuron.D
        layers.setdefault(site.layer, {"layer": site.layer, "sides": {}})["sides"][site.side] = {
            "module": name, "spikes": spikes, "positive": pos, "negative": neg, "width": width, "k": k,
            "fr": firing_rate(spikes, tokens, width, k, cfg.T), "ac_estimate": spikes * proj.out_features,
            "active": active, "active_union": union,
        }
    ordered = [layers[i] for i in sorted(layers)]
    result = {"tokens": tokens, "passes": len(batches), "T": cfg.T, "D": cfg.D, "neuron_in": cfg.neuron_in,
              "neuron_out": cfg.neuron_out, "layers": ordered,
              "spikes_total": sum(e["spikes"] for e in site_entries(ordered))}
    result["windows"] = {"tokens": [b.numel() for b in batches]}
    for side in SIDES.values():
        per_layer = [layer["sides"][side.name]["fr"] for layer in ordered if side.name in layer["sides"]]
        result[side.rate + "_per_layer"] = per_layer or None
        result[side.rate] = sum(per_layer) / len(per_layer) if per_layer else None
        entries = [layer["sides"][side.name] for layer in ordered if side.name in layer["sides"]]
        rates = [sum(firing_rate(window[e["module"]], batch.numel(), e["width"], e["k"], cfg.T) for e in entries)
                 / len(entries) for window, batch in zip(per_window, batches)] if entries else None
        result["windows"][side.rate] = rates
        mean, ci = mean_ci95(rates) if rates else (None, None)
        result[side.rate + "_window_mean"], result[side.rate + "_ci95"] = mean, ci
    return result


@torch.no_grad()
def count_accumulates(model, input_ids: torch.Tensor, seq_len: int | None = None) -> dict:
    """Run the model spike-driven (``set_spike_driven(True)``, restored afterwards) and report, per layer and
    side, the accumulates each projection performed (``ac_count``) beside the analytic
    ``#spikes · out_features`` from the same run. Returns :func:`measure_firing_rates`' dict with
    ``ac_measured`` added to every side and ``ac_measured_total`` / ``ac_estimate_total``."""
    neurons = neuron_sites(model)
    was_spike_driven = any(site.module.spike_driven for site in neurons.values())
    for site in neurons.values():
        site.module.reset_ac_count()
    model.set_spike_driven(True)
    try:
        result = measure_firing_rates(model, input_ids, seq_len)
    finally:
        model.set_spike_driven(was_spike_driven)
    entries = site_entries(result["layers"])
    for e in entries:
        e["ac_measured"] = neurons[e["module"]].module.ac_count
    result["ac_measured_total"] = sum(e["ac_measured"] for e in entries)
    result["ac_estimate_total"] = sum(e["ac_estimate"] for e in entries)
    return result


def load_model(path: str | Path):
    """A teacher or student checkpoint (local dir, or a hub name — not run here: no network), as saved;
    ``SpikingMambaForCausalLM.from_pretrained`` without overrides, in eval mode."""
    from models import SpikingMambaForCausalLM

    return SpikingMambaForCausalLM.from_pretrained(str(path)).eval()


def measure_checkpoint(path, text, tokenizer=None, max_tokens: int | None = 2048, seq_len: int = 512,
                       spike_driven: bool = False) -> dict:
    """Load ``path``, tokenize ``text`` (see :func:`analysis.text.load_token_ids`) and measure firing rates
    (``spike_driven``: with :func:`count_accumulates`, adding the measured accumulates).

    Returns that dict plus ``shape`` (a :class:`Mamba2Shape`), ``vocab_size`` and ``tokenizer_note``."""
    from analysis.text import load_token_ids

    if text is None:
        raise ValueError("--model needs --text FILE to measure firing rates on")
    model = load_model(path)
    ids, note = load_token_ids(text, path, tokenizer, max_tokens, model.config.vocab_size)
    if spike_driven:
        result = count_accumulates(model, ids, seq_len)
    else:
        result = measure_firing_rates(model, ids, seq_len, progress=True)
    result["shape"] = Mamba2Shape.from_config(model.config.to_dict())
    result["vocab_size"] = model.config.vocab_size
    result["tokenizer_note"] = note
    return result


def plot_firing_rates(result: dict, png_path, source: str | None = None):
    """Per-layer firing rates of the in_proj and out_proj inputs u and y (Table 12) and, for a spike-driven run, the accumulates measured
    (``ac_count``) beside ``#spikes · out_features``. The JSON beside the PNG is ``result``."""
    from analysis.figures import plt, save_figure

    with_acs = "ac_measured_total" in result
    fig, axes = plt.subplots(1, 2 if with_acs else 1, figsize=(11 if with_acs else 6, 4), squeeze=False)
    layers = [l["layer"] for l in result["layers"]]
    width = 0.4
    for offset, side in zip((-width / 2, width / 2), SIDES.values()):
        rates = [layer["sides"][side.name]["fr"] if side.name in layer["sides"] else 0.0 for layer in result["layers"]]
        axes[0, 0].bar([i + offset for i in layers], rates, width, label=f"{side.symbol} ({side.module} input)")
    axes[0, 0].set_xticks(layers)
    axes[0, 0].set_xlabel("layer")
    axes[0, 0].set_ylabel("firing rate (Table 12)")
    mean = ", ".join(f"{s.rate} {result[s.rate]:.4f}" for s in SIDES.values() if result[s.rate] is not None)
    axes[0, 0].set_title(f"mean over layers: {mean}" if mean else "no neurons", fontsize=9)
    axes[0, 0].set_ylim(0, axes[0, 0].get_ylim()[1] * 1.3)  # room for the legend
    axes[0, 0].legend(fontsize=8, loc="upper right")
    if with_acs:
        entries = site_entries(result["layers"])
        names = [f"layer {layer['layer']} · {SIDES[side].symbol}" for layer in result["layers"] for side in layer["sides"]]
        xs = range(len(entries))
        axes[0, 1].bar([x - width / 2 for x in xs], [e["ac_measured"] for e in entries], width, label="ac_count (measured)")
        axes[0, 1].bar([x + width / 2 for x in xs], [e["ac_estimate"] for e in entries], width, label="#spikes · out_features")
        axes[0, 1].set_xticks(list(xs))
        axes[0, 1].set_xticklabels(names, rotation=45, ha="right", fontsize=7)
        axes[0, 1].set_ylabel(f"accumulates over {result['tokens']} tokens")
        axes[0, 1].set_ylim(0, axes[0, 1].get_ylim()[1] * 1.3)
        axes[0, 1].legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return save_figure(fig, png_path, result, source=source)
