"""Tiny random teacher and students, built once per test session, and a short text file."""

import pytest
import torch

TEXT = (
    "In the beginning God created the heaven and the earth. And the earth was without form, and void; "
    "and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters.\n"
)


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory):
    """{"teacher": dir, "lif": dir, "ilif": dir, "tilif": dir}: a random 3-layer byte-level Mamba2 teacher
    and the three students initialised from it (as in §4.3), saved as checkpoints; plus "text"."""
    from models import SpikingMambaConfig, SpikingMambaForCausalLM

    root = tmp_path_factory.mktemp("analysis_ckpt")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        cfg = SpikingMambaConfig(vocab_size=256, d_model=16, n_layer=3, d_state=8, headdim=8, chunk_size=16)
        SpikingMambaForCausalLM(cfg).save_pretrained(root / "teacher")
    paths = {"teacher": root / "teacher"}
    for kind in ("lif", "ilif", "tilif"):
        SpikingMambaForCausalLM.from_pretrained(root / "teacher", neuron=kind).save_pretrained(root / kind)
        paths[kind] = root / kind
    paths["text"] = root / "text.txt"
    paths["text"].write_text(TEXT)
    return paths


@pytest.fixture(scope="session")
def ids():
    """48 byte-level token ids of TEXT, as one sequence [1, 48]."""
    return torch.tensor(list(TEXT.encode())[:48]).unsqueeze(0)
