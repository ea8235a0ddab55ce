"""Neuron input scale calibration against a brute-force computation written here."""
import numpy as np
import pytest
import torch

from pipelines.demo.calibrate import GRID, calibrate_thresholds, projection_inputs, quantization_error


def numpy_error(x, kind, D, v):
    """Round half away from zero, then clip (docs/ARCHITECTURE.md); LIF fires when h >= 1."""
    h = x / v
    if kind == "lif":
        q = (h >= 1).astype(np.float64)
    else:
        q = np.sign(h) * np.floor(np.abs(h) + 0.5)
        q = np.clip(q, 0 if kind == "ilif" else -D, D)
    return float(np.mean((x - v * q) ** 2))


@pytest.mark.parametrize("kind,D", [("lif", 1), ("ilif", 4), ("tilif", 4), ("tilif", 2)])
def test_error_matches_numpy(kind, D):
    x = torch.randn(5000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for v in (0.1, 0.37, 1.0, 2.5):
        assert quantization_error(x, kind, D, v) == pytest.approx(numpy_error(x.numpy(), kind, D, v), rel=1e-9)


def test_uniform_input_gets_the_textbook_step():
    # x uniform on [-2, 2] with 9 levels (-4..4): the MSE-optimal uniform quantiser has step 4/9 ≈ 0.444
    x = torch.linspace(-2, 2, 100_001, dtype=torch.float64)
    best = min(GRID, key=lambda v: quantization_error(x, "tilif", 4, v))
    assert best == pytest.approx(0.444, abs=0.03)


def test_calibration_on_a_model_picks_the_brute_force_minimum():
    from models.tiny import tiny_mamba2

    model = tiny_mamba2(d_model=32, n_layer=2, vocab_size=64, d_state=8, headdim=8, seed=0)
    batch = torch.randint(0, 64, (2, 16), generator=torch.Generator().manual_seed(1))
    inputs = projection_inputs(model, batch)
    assert inputs["in"].numel() == 2 * 2 * 16 * 32 and inputs["out"].numel() == 2 * 2 * 16 * 64
    chosen = calibrate_thresholds(model, batch, "tilif", 4)
    for side, x in inputs.items():
        errors = [numpy_error(x.double().numpy(), "tilif", 4, v) for v in GRID]
        assert chosen[side] == GRID[int(np.argmin(errors))]
