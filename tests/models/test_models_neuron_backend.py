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
