"""`SpikingProjection`: a spiking neuron in front of a linear projection — where the method lives (§4.1).

Every Mamba2 block holds two, ``in_proj`` (its input is u, Eq 16) and ``out_proj`` (its input is y,
Eq 20–21) — the two `models.shape.SIDES` "in" and "out" — each with its own neuron kind and threshold in
the config (``neuron_in`` / ``neuron_out``, ``v_threshold_in`` / ``v_threshold_out``). One projection, read top to bottom in ``forward``:

    x ─ neuron (Eq 1–3, 5) ─ q ─ (V_th / T) · W Σ_t q_t + b           integer mode (Eq 4)
    x ─ neuron, micro-steps (Eq 7–8) ─ ±1 spikes ─ Σ ±W[:, j] …        spike-driven mode (Eq 9)
    x ─ D·tanh(x / V_th) (Eq 11) ─ W′ ─ y′;  L_hidden(y, y′) (Eq 10)   SGC, training only (`hidden_loss`)

Either mode is computed on one of two paths (``path``, config ``projection_path``): "dense" (F.linear,
or one matmul per micro-step plane) or "event" — neuron and projection in one call that reads only the
weight columns of the non-zero inputs (``neurons.event.event_spike_project``: a zero spike costs nothing).
The event path runs where it can: inference (no autograd) on CPU with T = 1 and no hook observing the
neuron; "auto" (the default) takes it there when ``neurons.event.event_is_faster`` says so for this
shape, the number of rows and the share of input columns the neuron fires on in this call (read off the
input: |x| ≥ V_th/2, LIF x ≥ V_th), so the path depends on the call alone, never on earlier ones.

With neuron "none" it is exactly an ``nn.Linear`` (the Mamba2 teacher). Its parameters keep mamba_ssm's
names (``mixer.in_proj.weight`` / ``.bias``); the SGC branch's W′ is ``mixer.in_proj.sgc.weight``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from models.configuration import PROJECTION_PATHS, SpikingMambaConfig
from models.sgc import SGCBranch, has_mimic
from models.shape import SIDES
from neurons import SpikeDrivenLinear, make_neuron
from neurons.event import event_is_faster, event_spike_project, ops_observed
from neurons.kinds import NONE, get_kind


class ProjectionSite(NamedTuple):
    """A projection found in a model: module name, block index, side ("in" / "out") and the module."""

    name: str
    layer: int
    side: str
    module: "SpikingProjection"


class SpikingProjection(SpikeDrivenLinear):
    """§4.1 neuron + linear (+ SGC branch on ``config.sgc_layers``) for ``side`` of block ``layer_idx``.

    ``forward(x)``: x [..., in_features] -> y [..., out_features], y = (V_th / T) · W Σ_t f_SN(x)_t + b.
    The neuron normalises x by V_th and emits counts in units of V_th; over its T logical steps (the same
    input repeated, membrane carried between them, reset after every call so that tokens and batches stay
    independent) the counts are summed. V_th / T is one multiply per output element, skipped when it is 1
    (the default V_th = 1 and the paper's T = 1), so the spike-driven path stays accumulate-only over the inputs.
    """

    def __init__(self, config: SpikingMambaConfig, side: str, layer_idx: int, in_features: int, out_features: int):
        super().__init__(in_features, out_features, bias=config.bias)
        self.side, self.layer_idx = side, layer_idx
        self.kind = getattr(config, SIDES[side].neuron_field)
        self._v_threshold = float(getattr(config, SIDES[side].threshold_field))
        self.T = config.T
        self.neuron = make_neuron(self.kind, D=config.D, beta=config.beta, alpha=config.alpha,
                                  v_threshold=self.v_threshold, step_mode="s" if config.T == 1 else "m",
                                  backend=config.neuron_backend)
        self.sgc = None
        if layer_idx in config.sgc_layers and has_mimic(self.kind, config.D):  # TI-LIF only (models/sgc.py)
            self.sgc = SGCBranch(self, config.D, self.v_threshold)
        self._spike_driven = False
        self.path = config.projection_path
        self.track_weight_reads = False  # count the weight bytes the event path reads (weight_bytes_read)
        self.register_buffer("_weight_bytes", torch.zeros((), dtype=torch.int64), persistent=False)

    @property
    def spike_driven(self) -> bool:
        """False: integer mode (Eq 4). True: micro-step spikes into accumulate-only columns (Eq 7–9)."""
        return self._spike_driven

    @spike_driven.setter
    def spike_driven(self, enabled: bool) -> None:
        self._spike_driven = bool(enabled) and self.neuron is not None
        if self.neuron is not None:
            self.neuron.spike_driven = self._spike_driven

    @property
    def v_threshold(self) -> float:
        """The neuron's threshold V_th (config ``v_threshold_in`` / ``v_threshold_out``)."""
        return self._v_threshold

    @v_threshold.setter
    def v_threshold(self, value: float) -> None:
        """Set V_th everywhere this projection uses it: the neuron, the scale V_th / T, the SGC branch
        (e.g. to calibrate a firing rate, benchmarks/calibrate.py). The config is not changed."""
        if not (value > 0 and value < float("inf")):
            raise ValueError(f"v_threshold must be a positive finite number, got {value!r}")
        self._v_threshold = float(value)
        if self.neuron is not None:
            self.neuron.v_threshold = self._v_threshold
        if self.sgc is not None:
            self.sgc.v_threshold = self._v_threshold

    @property
    def path(self) -> str:
        """"auto" | "dense" | "event": how inference computes the projection (module docstring)."""
        return self._path

    @path.setter
    def path(self, path: str) -> None:
        if path not in PROJECTION_PATHS:
            raise ValueError(f"unknown projection path {path!r}; choose one of {PROJECTION_PATHS}")
        self._path = path

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, side={self.side}, neuron={self.kind}, spike_driven={self.spike_driven}, "
                f"path={self.path}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.neuron is None:
            return F.linear(x, self.weight, self.bias)
        rows = x.numel() // x.shape[-1]
        if self._takes_event_path(x, rows):
            y, q = event_spike_project(x, self.weight, self.bias, self.kind, self.neuron.D, self.v_threshold,
                                       spike_driven=self.spike_driven, counter=self._ac_count)
            if self.track_weight_reads:  # the kernel reads each column of an input active in some row once
                columns = q.reshape(-1, self.in_features).ne(0).any(0).sum()
                self._weight_bytes += columns * self.out_features * self.weight.element_size()
            return y
        s = self._fire(x)                  # Σ_t q_t [..], or signed spikes [T·D, ..] when spike-driven
        if self.spike_driven:
            y = self.forward_spikes(s)
        else:
            y = F.linear(s, self.weight, self.bias)
        scale = self.v_threshold / self.T
        if scale == 1.0:
            return y
        return y * scale if self.bias is None else (y - self.bias) * scale + self.bias

    def _may_take_event_path(self, x: torch.Tensor) -> bool:
        """Inference (eval mode, no autograd) on CPU at T = 1, nothing observing the neuron (SpikingJelly
        monitors, analysis hooks) or the ops (op counters: `neurons.event.ops_observed`)."""
        return (self.path != "dense" and self.T == 1 and not self.training and not torch.is_grad_enabled() and x.is_cpu
                and not (self.neuron._forward_hooks or self.neuron._forward_pre_hooks) and not ops_observed())

    def _takes_event_path(self, x: torch.Tensor, rows: int) -> bool:
        if not self._may_take_event_path(x):
            return False
        return self.path == "event" or event_is_faster(self.in_features, self.out_features, self.active_share(x),
                                                       rows, spikes=self.spike_driven, dtype=self.weight.dtype)

    @property
    def weight_bytes_read(self) -> int:
        """Weight bytes the event path read since `reset_counts` (with ``track_weight_reads``)."""
        return int(self._weight_bytes)

    def reset_counts(self) -> None:
        """Zero ``ac_count`` and ``weight_bytes_read``."""
        self.reset_ac_count()
        self._weight_bytes.zero_()

    def active_share(self, x: torch.Tensor) -> float:
        """The share of input columns on which the neuron fires in some row of x [.., in_features]: the input
        of auto's rule, read off x (h = x / V_th fires where |h| ≥ ½, I-LIF h ≥ ½, LIF h ≥ 1; ±½ ties and
        rounding at the threshold aside, which only move the choice of path, never the result)."""
        kind = get_kind(self.kind)
        h = x.reshape(-1, self.in_features)
        fires = (h.abs() if kind.signed else h) >= self.v_threshold * (1.0 if kind.binary else 0.5)
        return float((fires.any(0) if fires.shape[0] > 1 else fires).sum()) / self.in_features

    def _fire(self, x: torch.Tensor) -> torch.Tensor:
        """The neuron on x for its T logical steps (same input, membrane carried), then reset: the summed
        counts Σ_t q_t [..], or the signed micro-step spikes [T·D, ..] in spike-driven mode. Correct in
        either step mode of the neuron ('m': one call on [T, ..]; 's': T calls), so SpikingJelly's
        ``functional.set_step_mode(model, "m" | "s")`` leaves the output unchanged."""
        neuron, T = self.neuron, self.T
        if neuron.step_mode == "m":
            out = neuron(x.unsqueeze(0).expand(T, *x.shape))    # [T, ..] counts or [T·D, ..] spikes
            per_step = not self.spike_driven
        elif T == 1:
            out, per_step = neuron(x), False
        else:
            steps = [neuron(x) for _ in range(T)]
            out, per_step = (torch.cat(steps), False) if self.spike_driven else (torch.stack(steps), True)
        neuron.reset()
        if not per_step:
            return out
        return out[0] if T == 1 else out.sum(0)

    def hidden_loss(self, x: torch.Tensor, y: torch.Tensor, attention_mask=None) -> torch.Tensor | None:
        """L_hidden (Eq 10) of this projection's SGC branch for input x and output y = self(x); None
        without a branch or outside training (the branch is training-only, §4.2)."""
        if self.sgc is None or not self.training:
            return None
        return self.sgc(x, y, attention_mask)


def projection_sites(model: torch.nn.Module, spiking_only: bool = False) -> list[ProjectionSite]:
    """Every `SpikingProjection` of ``model`` in module order (block by block, in_proj before out_proj);
    ``spiking_only``: those with a neuron."""
    return [ProjectionSite(name, m.layer_idx, m.side, m) for name, m in model.named_modules()
            if isinstance(m, SpikingProjection) and not (spiking_only and m.kind == NONE)]
