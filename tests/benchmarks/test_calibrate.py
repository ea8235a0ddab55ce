"""benchmarks.calibrate: thresholds found on a tiny model give the target firing rates (measured by
analysis.firing_rates) within the tolerance; setting a threshold is the same as loading with it."""

import pytest
import torch

from benchmarks import calibrate as cal
from benchmarks.checkpoints import load_spiking, save_reference
from benchmarks.shapes import ModelShape

CPU = torch.device("cpu")
TINY = ModelShape(d_model=64, n_layer=2, d_state=16, headdim=16, expand=2, n_groups=1, vocab_size=256)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_reference(TINY, tmp_path_factory.mktemp("calibrate") / "ckpt", seed=0)


@pytest.fixture
def ids():
    return torch.randint(0, TINY.vocab_size, (1, 32), generator=torch.Generator().manual_seed(0))


def test_table9_rates_are_the_paper_row():
    assert cal.table9_rates() == {"in": 0.2499, "out": 0.0619}


@pytest.mark.parametrize("targets", [None, {"in": 0.1, "out": 0.3}])
def test_calibrated_thresholds_give_the_target_rates(checkpoint, ids, targets):
    student = load_spiking(checkpoint, CPU, neuron="tilif", D=4, sgc_layers=[])
    result = cal.calibrate(student, ids, targets, tolerance=0.01)
    targets = targets or cal.table9_rates()
    measured = cal.measured_rates(student, ids)  # measured again, independently of calibrate's loop
    for side, target in targets.items():
        assert measured[side] == pytest.approx(target, rel=0.01)
        assert result.measured[side] == pytest.approx(measured[side])
        assert student.config.to_dict()[f"v_threshold_{side}"] == result.v_threshold[side]
    assert 1 <= result.rounds <= 8 and result.summary()["v_threshold"] == result.v_threshold


def test_set_thresholds_equals_loading_with_them(checkpoint, ids):
    v = {"in": 0.8, "out": 1.3}
    loaded = load_spiking(checkpoint, CPU, neuron="tilif", D=4, sgc_layers=[], v_threshold_in=v["in"],
                          v_threshold_out=v["out"])
    student = load_spiking(checkpoint, CPU, neuron="tilif", D=4, sgc_layers=[])
    cal.set_thresholds(student, v)
    assert all(s.module.neuron.v_threshold == v[s.side] for s in student.spiking_projections())
    with torch.inference_mode():
        for path in ("dense", "event"):
            loaded.set_projection_path(path), student.set_projection_path(path)
            assert torch.equal(student(ids).logits, loaded(ids).logits)


def test_unreachable_rates_raise(checkpoint, ids):
    student = load_spiking(checkpoint, CPU, neuron="tilif", D=4, sgc_layers=[])
    with pytest.raises(ValueError, match="no V_th"):
        cal.calibrate(student, ids, {"in": 1.5})  # above the most a TI-LIF neuron can fire (1 per step)
    with pytest.raises(ValueError, match="no neuron on side"):
        cal.calibrate(load_spiking(checkpoint, CPU, neuron="none"), ids)
    with pytest.raises(ValueError, match="positive"):
        student.spiking_projections()[0].module.v_threshold = 0.0
