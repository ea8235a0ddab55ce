"""Smoothed Gradient Compensation (SGC) path, §4.2, Eq 10–11 — training only.

Beside a spiking projection y = W f_SN(x) (scaled by V_th, see `models.projection.SpikingProjection`,
whose ``sgc`` child this branch is) the branch computes y′ = V_th · W′ f_m(x / V_th) + b′ with the range-preserving mimic (Eq 11)

    f_m(h) = D · tanh(h)          (h = x / V_th, the neuron's normalised input; range [−D, D])

Eq 11's mimic preserves the range of TI-LIF (−D..D) and of no other kind: the paper uses SGC only with
TI-LIF (Tables 2, 5: every LIF and I-LIF row is "SGC ✗"), so branches are built only where the neuron's
range is [−D, D] (`has_mimic`); `SpikingMambaConfig` refuses SGC layers on a model with no such neuron.

and the alignment loss (Eq 10)

    L_hidden = 1/(2T) Σ_t ‖softmax(y_t) − softmax(y′_t)‖²

with softmax over the output features and the mean over the T tokens of every sequence and over the
batch (padding excluded when an attention mask is given). The model sums L_hidden over all SGC
projections (in_proj and out_proj of every SGC layer) into ``out.loss_hidden``.

The branch never changes the block output (y passes on untouched), runs only in training mode, is
dropped from inference checkpoints, and is not part of inference compute. W′ starts as a copy of W.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

# State-dict keys of the branches: backbone.layers.N.mixer.{in,out}_proj.sgc.{weight,bias}.
_SGC_KEY = re.compile(r"^(?:.*\.)?layers\.(\d+)\.mixer\.(?:in|out)_proj\.sgc\.(?:weight|bias)$")
# Keys students saved before the projections became modules (≤ 868bfe2) -> today's.
LEGACY_SGC_KEYS = {".mixer.in_sgc.": ".mixer.in_proj.sgc.", ".mixer.out_sgc.": ".mixer.out_proj.sgc."}


def has_mimic(kind: str, D: int) -> bool:
    """Whether f_m = D·tanh (Eq 11) spans the range of neuron ``kind`` with largest count D (TI-LIF)."""
    from neurons.kinds import KINDS

    if kind not in KINDS:  # "none" (or a kind the config will name as unknown)
        return False
    low, high = KINDS[kind].range(D)
    return (low, high) == (-D, D)


def is_sgc_key(key: str) -> bool:
    """Whether ``key`` names an SGC branch's W′ or b′ in a state dict."""
    return _SGC_KEY.match(key) is not None


def sgc_layer(key: str) -> int:
    """The block index of an SGC key (`is_sgc_key`)."""
    return int(_SGC_KEY.match(key).group(1))


def rename_legacy_keys(state: dict) -> dict:
    """``state`` with SGC keys of older checkpoints (``mixer.in_sgc.weight``) renamed to today's
    (``mixer.in_proj.sgc.weight``), as transformers renames moved keys at load time."""
    def rename(key: str) -> str:
        for old, new in LEGACY_SGC_KEYS.items():
            key = key.replace(old, new)
        return key

    return {rename(k): v for k, v in state.items()}


def hidden_alignment_loss(y: torch.Tensor, y_prime: torch.Tensor, mask: torch.Tensor | None = None):
    """Eq 10. y, y′ [B, L, d_out] (or [N, d_out]), mask [B, L] of 1/0 or None -> scalar float32."""
    diff = torch.softmax(y.float(), dim=-1) - torch.softmax(y_prime.float(), dim=-1)
    per_token = 0.5 * diff.pow(2).sum(-1)
    if mask is None:
        return per_token.mean()
    mask = mask.to(per_token.dtype)
    return (per_token * mask).sum() / mask.sum().clamp(min=1)


class SGCBranch(nn.Module):
    """W′ (+ b′) beside one spiking projection; ``forward(x, y)`` returns L_hidden (Eq 10)."""

    def __init__(self, proj: nn.Linear, D: int, v_threshold: float):
        super().__init__()
        self.weight = nn.Parameter(proj.weight.detach().clone())
        self.bias = nn.Parameter(proj.bias.detach().clone()) if proj.bias is not None else None
        self._proj = [proj]  # not a submodule: W is owned by the block
        self.D, self.v_threshold = D, v_threshold

    @torch.no_grad()
    def init_from_projection(self) -> None:
        """W′ ← W (and b′ ← b): the paper's initialisation."""
        proj = self._proj[0]
        self.weight.copy_(proj.weight)
        if self.bias is not None:
            self.bias.copy_(proj.bias)

    def forward(self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: the neuron's input [B, L, d_in]; y: the spiking projection's output [B, L, d_out]."""
        f_m = self.D * torch.tanh(x / self.v_threshold)                                  # Eq 11
        y_prime = F.linear(f_m, self.weight) * self.v_threshold
        if self.bias is not None:
            y_prime = y_prime + self.bias
        return hidden_alignment_loss(y, y_prime, mask)                                    # Eq 10
