"""Tiny random Mamba2 teachers written to disk in both published formats (same seed = same weights)."""

import pytest
import torch

from models import SpikingMambaForCausalLM
from models.tiny import save_tiny_mamba2

# ngroups = 2 and chunk_size = 8 exercise grouped B/C and several (padded) chunks on short inputs.
TINY = dict(d_model=64, n_layer=3, vocab_size=100, d_state=16, headdim=16, ngroups=2, chunk_size=8, seed=0)


@pytest.fixture(scope="session")
def tiny_shape():
    return dict(TINY)


@pytest.fixture(scope="session")
def teacher_dirs(tmp_path_factory):
    """{"mamba_ssm": dir, "transformers": dir}: the same random teacher in both formats."""
    root = tmp_path_factory.mktemp("teachers")
    return {fmt: save_tiny_mamba2(root / fmt, fmt=fmt, **TINY) for fmt in ("mamba_ssm", "transformers")}


@pytest.fixture(scope="session")
def teacher_dir(teacher_dirs):
    return teacher_dirs["mamba_ssm"]


@pytest.fixture
def teacher(teacher_dir):
    return SpikingMambaForCausalLM.from_pretrained(teacher_dir)


@pytest.fixture
def ids():
    return torch.randint(0, TINY["vocab_size"], (2, 21), generator=torch.Generator().manual_seed(1))

