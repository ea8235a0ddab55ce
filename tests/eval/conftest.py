"""Tiny checkpoints and local text shared by the evaluation tests (built once per session, offline)."""
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TEXT = (
    "The quick brown fox jumps over the lazy dog. A cat sat on the mat and looked at the sky.\n\n"
    "Water boils at one hundred degrees; ice melts when it is heated. Bees make honey in summer.\n"
)


@pytest.fixture(scope="session")
def byte_tokenizer():
    from pipelines.tiny import build_byte_tokenizer

    return build_byte_tokenizer()


@pytest.fixture(scope="session")
def text_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("text") / "local_corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


SHAPE = dict(d_model=32, n_layer=2)


@pytest.fixture(scope="session")
def teacher_dir(tmp_path_factory):
    """A random tiny Mamba2 teacher in mamba_ssm format with the byte tokenizer beside it."""
    from pipelines.tiny import ensure_tiny_teacher

    return ensure_tiny_teacher(tmp_path_factory.mktemp("teacher") / "mamba2-tiny", seed=0, **SHAPE)


@pytest.fixture(scope="session")
def teacher_hf_dir(tmp_path_factory, teacher_dir, byte_tokenizer):
    """The same weights as ``teacher_dir``, written in transformers' Mamba2 format."""
    from models.tiny import save_tiny_mamba2

    path = tmp_path_factory.mktemp("teacher_hf") / "mamba2-tiny-hf"
    save_tiny_mamba2(path, fmt="transformers", vocab_size=len(byte_tokenizer), seed=0, **SHAPE)
    byte_tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def student_dir(tmp_path_factory, teacher_dir, byte_tokenizer):
    """A TI-LIF (D = 4) student initialised from the teacher, saved as a SpikingMamba checkpoint."""
    from models import SpikingMambaForCausalLM

    path = tmp_path_factory.mktemp("student") / "spikingmamba-tiny"
    SpikingMambaForCausalLM.from_pretrained(teacher_dir, neuron="tilif", D=4).save_pretrained(path)
    byte_tokenizer.save_pretrained(path)
    return path
