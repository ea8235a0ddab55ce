"""SpikingMambaConfig.neuron_backend: its default, its validation and its round trip."""

import pytest

from models.configuration import SpikingMambaConfig

SHAPE = dict(d_model=64, n_layer=3, vocab_size=100, d_state=16, headdim=16, neuron_in="tilif", neuron_out="tilif")


def test_default_is_auto():
    assert SpikingMambaConfig(**SHAPE).neuron_backend == "auto"


@pytest.mark.parametrize("backend", ["auto", "torch", "cupy"])
def test_round_trip(tmp_path, backend):
    SpikingMambaConfig(**SHAPE, neuron_backend=backend).save_pretrained(tmp_path)
    assert SpikingMambaConfig.from_pretrained(tmp_path).neuron_backend == backend


def test_unknown_backend_is_named():
    with pytest.raises(ValueError, match=r"unknown neuron_backend='cuda'; choose one of \('auto', 'torch', 'cupy'\)"):
        SpikingMambaConfig(**SHAPE, neuron_backend="cuda")


def test_model_neurons_take_the_config_backend(tmp_path):
    """Every projection's neuron is built with config.neuron_backend; from_pretrained overrides it."""
    from models import SpikingMambaForCausalLM
    from models.tiny import save_tiny_mamba2

    teacher = save_tiny_mamba2(tmp_path / "t", d_model=32, n_layer=2, vocab_size=40, d_state=8, headdim=8)
    for backend in ("auto", "torch"):
        model = SpikingMambaForCausalLM.from_pretrained(teacher, neuron="tilif", neuron_backend=backend)
        assert model.config.neuron_backend == backend
        assert {site.module.neuron.backend for site in model.spiking_projections()} == {backend}
