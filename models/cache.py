"""`Mamba2Cache`: the recurrent state for decoding — constant size, whatever the generated length.

Per layer: conv_state [B, conv_dim, K] (the last K inputs of the causal conv) and ssm_state
[B, H, P, N] float32 (h_t of Eq 18). Allocated once; every forward updates it in place.
"""

from __future__ import annotations

import torch

from models.configuration import SpikingMambaConfig


class Mamba2Cache:
    is_compileable = False  # transformers' generate() inspects these two
    is_croppable = False

    def __init__(self, config: SpikingMambaConfig, batch_size: int, dtype=torch.float32, device=None):
        c, s = config, config.shape
        self.conv_states = torch.zeros(c.n_layer, batch_size, s.conv_dim, c.d_conv, dtype=dtype, device=device)
        self.ssm_states = torch.zeros(c.n_layer, batch_size, s.nheads, c.headdim, c.d_state,
                                      dtype=torch.float32, device=device)
        self.seqlen_offset = 0  # tokens consumed so far

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.seqlen_offset

    def reset(self) -> None:
        self.conv_states.zero_()
        self.ssm_states.zero_()
        self.seqlen_offset = 0

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        """Select batch rows (beam search bookkeeping)."""
        self.conv_states = self.conv_states.index_select(1, beam_idx.to(self.conv_states.device))
        self.ssm_states = self.ssm_states.index_select(1, beam_idx.to(self.ssm_states.device))

    def nbytes(self) -> int:
        return self.conv_states.nbytes + self.ssm_states.nbytes
