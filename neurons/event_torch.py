"""The pure-torch event forms: what neurons.event runs where its C++ kernels are not built, or for a
weight that is not float32.

Both are PyTorch's fused ``F.embedding_bag(mode="sum")`` over the transposed weight W.t() [in, out],
whose row j is the column W[:, j] (contiguous in the column-major decode layout), one bag per row:
    integer form (Eq 4)  bag of the active columns, each weighted by its count (per_sample_weights)
    spike form  (Eq 9)   a bag of the +1 events minus a bag of the −1 events, no weights: one add of a
                         weight column per spike event (a column appears once per event).
The sums run in the weight's dtype. Measured against the C++ kernels in benchmarks/event_linear.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _offsets(rows: torch.Tensor, n_rows: int) -> torch.Tensor:
    """embedding_bag offsets of events sorted by row: where each row's events start."""
    counts = torch.bincount(rows, minlength=n_rows)
    return torch.cumsum(counts, 0) - counts


def _sum_columns(weight: torch.Tensor, rows: torch.Tensor, columns: torch.Tensor, n_rows: int,
                 values: torch.Tensor | None) -> torch.Tensor:
    """[n_rows, out]: Σ over each row's events of (value ·) W[:, column]; rows sorted, zeros where none."""
    return F.embedding_bag(columns, weight.t(), _offsets(rows, n_rows), mode="sum",
                           per_sample_weights=values)


def counts_linear(q: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """q [R, in] (integer counts) -> (Σ_{j: q_j≠0} q_j · W[:, j] [R, out], Σ|q| as an int64 scalar)."""
    rows, columns = q.nonzero(as_tuple=True)
    values = q[rows, columns].to(weight.dtype)
    return _sum_columns(weight, rows, columns, q.shape[0], values), q.abs().sum(dtype=torch.float64).round().long()


def spikes_linear(spikes: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """spikes [D, R, in] ∈ {−1,0,1} -> (Σ_events ±W[:, j] [R, out], number of events as an int64 scalar)."""
    by_row = spikes.transpose(0, 1)  # [R, D, in]: nonzero() lists the events row by row
    rows_pos, _, columns_pos = (by_row > 0).nonzero(as_tuple=True)
    rows_neg, _, columns_neg = (by_row < 0).nonzero(as_tuple=True)
    n_rows = spikes.shape[1]
    y = _sum_columns(weight, rows_pos, columns_pos, n_rows, None)
    y -= _sum_columns(weight, rows_neg, columns_neg, n_rows, None)
    return y, torch.tensor(len(columns_pos) + len(columns_neg))
