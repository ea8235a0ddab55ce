"""`save_tiny_mamba2`: a random tiny Mamba2 teacher checkpoint, in mamba_ssm or transformers format.

For tests and the tiny presets: the same directory layout as the published checkpoints, so every
loader path is exercised without a download.

    save_tiny_mamba2("/tmp/teacher", fmt="mamba_ssm", d_model=64, n_layer=2, vocab_size=100, seed=0)
"""

from __future__ import annotations

import json
import math
import os

import torch

from models.checkpoint import staged_directory, transformers_config_dict
from models.configuration import SpikingMambaConfig
from models.modeling import SpikingMambaForCausalLM


def tiny_mamba2(d_model=64, n_layer=2, vocab_size=100, d_state=16, headdim=16, ngroups=1, expand=2,
                d_conv=4, chunk_size=256, pad_vocab_size_multiple=16, tie_word_embeddings=True, seed=0):
    """A random Mamba2 (neuron "none") with mamba_ssm's initialisation; vocab padded like mamba_ssm."""
    config = SpikingMambaConfig(
        d_model=d_model, n_layer=n_layer, d_state=d_state, headdim=headdim, ngroups=ngroups, expand=expand,
        d_conv=d_conv, chunk_size=chunk_size, pad_vocab_size_multiple=pad_vocab_size_multiple,
        vocab_size=math.ceil(vocab_size / pad_vocab_size_multiple) * pad_vocab_size_multiple,
        tie_word_embeddings=tie_word_embeddings)
    torch.manual_seed(seed)
    return SpikingMambaForCausalLM(config).eval()


def save_tiny_mamba2(path, fmt: str = "mamba_ssm", vocab_size: int = 100, **shape) -> str:
    """Write a random tiny Mamba2 teacher to ``path``; returns ``path``.

    fmt "mamba_ssm": config.json as `MambaLMHeadModel.save_pretrained` writes it (vocab_size unpadded,
    ssm_cfg) + pytorch_model.bin (torch.save of the state dict, tied lm_head included).
    fmt "transformers": `transformers.Mamba2ForCausalLM.save_pretrained` of the same weights
    (config.json with model_type "mamba2" + model.safetensors).
    ``shape``: d_model, n_layer, d_state, headdim, ngroups, expand, d_conv, chunk_size,
    pad_vocab_size_multiple, tie_word_embeddings, seed (see `tiny_mamba2`)."""
    model = tiny_mamba2(vocab_size=vocab_size, **shape)
    c = model.config
    with staged_directory(os.fspath(path)) as tmp:
        if fmt == "mamba_ssm":
            config = dict(d_model=c.d_model, d_intermediate=0, n_layer=c.n_layer, vocab_size=vocab_size,
                          ssm_cfg=dict(layer="Mamba2", d_state=c.d_state, d_conv=c.d_conv, expand=c.expand,
                                       headdim=c.headdim, ngroups=c.ngroups, chunk_size=c.chunk_size),
                          attn_layer_idx=[], attn_cfg={}, rms_norm=True, residual_in_fp32=True,
                          fused_add_norm=True, pad_vocab_size_multiple=c.pad_vocab_size_multiple,
                          tie_embeddings=c.tie_word_embeddings)
            with open(os.path.join(tmp, "config.json"), "w") as f:
                json.dump(config, f, indent=2)
            torch.save({k: v.clone() for k, v in model.state_dict().items()}, os.path.join(tmp, "pytorch_model.bin"))
        elif fmt == "transformers":
            from transformers import Mamba2Config, Mamba2ForCausalLM

            theirs = Mamba2ForCausalLM(Mamba2Config(**transformers_config_dict(c)))
            state = {k.replace("backbone.embedding.", "backbone.embeddings.", 1): v
                     for k, v in model.state_dict().items()}
            theirs.load_state_dict(state, strict=True)
            theirs.save_pretrained(tmp)
        else:
            raise ValueError(f"unknown checkpoint format fmt={fmt!r}; choose 'mamba_ssm' or 'transformers'")
    return os.fspath(path)
