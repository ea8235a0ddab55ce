"""Fixtures: one tiny untrained TI-LIF policy and its dense Mamba2 teacher (each with the byte tokenizer),
shared by the session; offline."""
import pytest

from rl_helpers import PAIRS, POLICY_SHAPE, write_jsonl


@pytest.fixture(scope="session")
def dense_policy_dir(tmp_path_factory):
    """The tiny Mamba2 teacher (mamba_ssm format, neuron 'none'): Table 2's dense baseline policy."""
    from pipelines.tiny import ensure_tiny_teacher

    return str(ensure_tiny_teacher(tmp_path_factory.mktemp("rl_dense") / "teacher", seed=0, **POLICY_SHAPE))


@pytest.fixture(scope="session")
def policy_dir(tmp_path_factory, dense_policy_dir):
    from transformers import AutoTokenizer

    from models import SpikingMambaForCausalLM

    teacher = dense_policy_dir
    path = tmp_path_factory.mktemp("rl_policy") / "policy"
    SpikingMambaForCausalLM.from_pretrained(str(teacher), neuron="tilif", D=4, sgc_layers=[]).save_pretrained(path)
    AutoTokenizer.from_pretrained(teacher).save_pretrained(path)
    return str(path)


@pytest.fixture
def dpo_file(tmp_path):
    return write_jsonl(tmp_path / "dpo.jsonl", PAIRS)


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "ds_cache"))
