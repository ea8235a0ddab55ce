"""One set of random weights for both sides: a transformers Mamba2 checkpoint, loaded by both.

`save_reference` builds transformers' `Mamba2ForCausalLM` at a `ModelShape` with its own random
initialisation and saves it (config.json + model.safetensors); transformers reloads it as is and
`SpikingMambaForCausalLM.from_pretrained` reads the same directory (transformers format), so the
two sides of every comparison hold identical weights.
"""

from __future__ import annotations

from pathlib import Path

import torch

from benchmarks.shapes import ModelShape


def transformers_config(shape: ModelShape):
    """The `Mamba2Config` of `shape`, laid out like state-spaces/mamba2-130m (tied embeddings)."""
    from transformers import Mamba2Config

    return Mamba2Config(
        hidden_size=shape.d_model,
        num_hidden_layers=shape.n_layer,
        state_size=shape.d_state,
        head_dim=shape.headdim,
        num_heads=shape.n_heads,
        expand=shape.expand,
        n_groups=shape.n_groups,
        vocab_size=shape.vocab_size,
        tie_word_embeddings=True,
        # no token ends generation early: both sides always decode exactly max_new_tokens
        eos_token_id=None,
        pad_token_id=0,
        bos_token_id=0,
    )


def save_reference(shape: ModelShape, directory: Path, seed: int) -> Path:
    """Write a randomly initialised transformers Mamba2ForCausalLM to `directory`."""
    from transformers import Mamba2ForCausalLM

    torch.manual_seed(seed)
    model = Mamba2ForCausalLM(transformers_config(shape))
    model.save_pretrained(directory)
    return Path(directory)


def load_transformers(directory: Path, device: torch.device):
    from transformers import Mamba2ForCausalLM

    return Mamba2ForCausalLM.from_pretrained(directory).to(device).eval()


def load_spiking(directory: Path, device: torch.device, **kwargs):
    """`SpikingMambaForCausalLM.from_pretrained(directory, **kwargs)` on `device` (eval mode)."""
    from models import SpikingMambaForCausalLM

    return SpikingMambaForCausalLM.from_pretrained(directory, **kwargs).to(device).eval()
