"""SpikeDrivenLinear: a projection that consumes integer counts (training) or signed binary
micro-step spikes (spike-driven inference), Eq 4 and Eq 9.

What "accumulate-only" means here. With spikes s[i] ∈ {0,1} and one sign bit per input element,
y = Σ_i W (sign ⊙ s[i]) + b needs no multiplication: each event adds (or, for a negative element,
subtracts) one weight column. ``forward_spikes`` evaluates it per micro-step plane with a dense
matmul on a {−1,0,1} matrix — on a CPU/GPU the matmul unit still issues multiply-adds, but every
product is ±w or 0, so the arithmetic is that of additions; the sparse event-driven hardware of the
paper would skip the zeros. ``ac_count`` counts the accumulations that hardware performs: one per
(non-zero spike, output feature). ``accumulate_events`` is the literal event-list version of Eq 9
(index-add of weight columns), used as a reference in the tests.
"""

import torch
import torch.nn.functional as F
from torch import nn


def accumulate_events(weight: torch.Tensor, spikes: torch.Tensor) -> torch.Tensor:
    """Eq 9 as an event list: for each non-zero signed spike (i, n, j), y[n] ±= W[:, j].

    weight: [out, in]; spikes: [D, *, in] ∈ {−1,0,1}. Returns [*, out] (no bias). Only additions and
    subtractions of weight columns are performed.
    """
    planes = spikes.reshape(spikes.shape[0], -1, spikes.shape[-1])
    y = weight.new_zeros(planes.shape[1], weight.shape[0])
    columns = weight.t()
    for value, alpha in ((1, 1), (-1, -1)):
        _, n, j = (planes == value).nonzero(as_tuple=True)
        y.index_add_(0, n, columns[j], alpha=alpha)
    return y.reshape(*spikes.shape[1:-1], weight.shape[0])


class SpikeDrivenLinear(nn.Linear):
    """An ``nn.Linear`` (same ``.weight`` / ``.bias`` names and init) with a spike-driven path.

    ``forward(q)``: dense F.linear on the integer tensor q [*, in] → [*, out] (training, Eq 4).
    ``forward_spikes(s)``: signed micro-step spikes s [D, *, in] ∈ {−1,0,1} (a node's spike-driven
    's'-mode output) → Σ_i W s[i] + b, [*, out]; the bias is added once per logical step. For a
    node's 'm'-mode output [T·D, N, *, in] pass ``s.unflatten(0, (T, D)).transpose(0, 1)``.
    Equals ``forward(s.sum(0))`` up to float summation order. Adds Σ|s|·out_features to ``ac_count``.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self.register_buffer("_ac_count", torch.zeros((), dtype=torch.int64, device=device), persistent=False)

    def forward_spikes(self, spikes: torch.Tensor) -> torch.Tensor:
        if spikes.dim() < 2 or spikes.shape[-1] != self.in_features:
            raise ValueError(
                f"forward_spikes expects signed spikes [D, *, {self.in_features}], got shape {tuple(spikes.shape)}"
            )
        planes = F.linear(spikes, self.weight)  # [D, *, out]: each plane is an accumulation of ±columns
        y = planes.sum(0, dtype=torch.promote_types(planes.dtype, torch.float32)).to(planes.dtype)
        if self.bias is not None:
            y = y + self.bias
        self._ac_count += spikes.count_nonzero() * self.out_features
        return y

    @property
    def ac_count(self) -> int:
        """Accumulate operations performed by ``forward_spikes`` since the last ``reset_ac_count()``."""
        return int(self._ac_count)

    def reset_ac_count(self) -> None:
        self._ac_count.zero_()
