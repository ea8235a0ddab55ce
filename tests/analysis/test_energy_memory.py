"""Regimes and the memory model on a small shape, by hand: op energies, the quantized baseline's levels and
MAC, the bytes of each weight and state, the levels, and the column shares."""

import pytest

from analysis import memory as mem
from analysis import regimes as rg
from analysis.energy import EnergyConstants
from analysis.baselines import quantized_levels
from models.shape import Mamba2Shape

# d_model 4, 2 layers, d_state 2, headdim 2: d_inner 8, H 4, conv_dim 12, d_in_proj 24; vocab 10
SMALL = Mamba2Shape(d_model=4, n_layer=2, d_state=2, headdim=2, expand=2, ngroups=1, d_conv=4)
VOCAB = 10
FP32 = mem.Widths(in_proj=4, out_proj=4, weight=4, activation=4)


def test_regimes_are_horowitz_sums_and_fp32_is_the_papers():
    assert rg.REGIMES["fp32"].constants == EnergyConstants()  # Appendix D.2: 4.6 / 3.7 / 0.9
    for name, r in rg.REGIMES.items():
        c = r.constants
        assert c.mac == pytest.approx(c.mul + c.add), name  # a MAC is one multiply and one add
        assert set(r.sources) == {"mac", "mul", "add"}
    assert (rg.REGIMES["fp16"].constants.mul, rg.REGIMES["fp16"].constants.add) == (rg.FMUL16, rg.FADD16)
    assert (rg.REGIMES["int8"].constants.mul, rg.REGIMES["int8"].constants.add) == (rg.MUL8, rg.ADD32)
    assert [r.weight_bytes for r in rg.REGIMES.values()] == [4, 2, 1]
    with pytest.raises(ValueError, match="int4"):
        rg.get_regime("int4")


def test_quantized_baseline_levels_bits_and_mac():
    # LIF 2 levels (1 bit), I-LIF D+1 = 5 (3 bits), TI-LIF 2D+1 = 9 (4 bits, signed); with T = 2: 17 (5 bits)
    assert [quantized_levels(k, 4) for k in ("lif", "ilif", "tilif")] == [2, 5, 9]
    assert [rg.activation_bits(quantized_levels(k, 4)) for k in ("lif", "ilif", "tilif")] == [1, 3, 4]
    assert quantized_levels("tilif", 4, T=2) == 17 and rg.activation_bits(17) == 5
    assert quantized_levels("lif", 8, T=3) == 4  # LIF ignores D: 0..3 over three steps
    # int8 × b bits: Mult8 · b/8 + Add32
    assert rg.quantized_mac_pj(4) == pytest.approx(0.2 * 4 / 8 + 0.1)
    assert rg.quantized_mac_pj(1) == pytest.approx(0.125)
    assert rg.quantized_mac_pj(8) == pytest.approx(rg.REGIMES["int8"].constants.mac)  # W8A8 = the int8 MAC
    with pytest.raises(ValueError, match="bits=9"):
        rg.quantized_mac_pj(9)
    with pytest.raises(ValueError, match="levels=1"):
        rg.activation_bits(1)


def test_resident_bytes_by_hand():
    # per layer: in_proj 4·24 = 96, out_proj 8·4 = 32, conv1d 12·4 + 12 = 60, small 3·4 + 8 + 4 = 24 params;
    # plus the tied embedding / LM head 10·4 = 40 and the final norm 4
    assert mem.resident_bytes(SMALL, VOCAB, FP32)["weights"] == (2 * (96 + 32 + 60 + 24) + 40 + 4) * 4 == 1872
    # per layer: conv_state 12·4 = 48, ssm_state H·P·N = 4·2·2 = 16 elements (float32 always)
    assert mem.resident_bytes(SMALL, VOCAB, FP32)["state"] == 2 * (48 * 4 + 16 * 4) == 512
    int8 = mem.Widths(in_proj=1, out_proj=1, weight=1, activation=1)
    assert mem.resident_bytes(SMALL, VOCAB, int8) == {"weights": 468, "state": 2 * (48 + 16 * 4)}


def test_resident_bytes_match_the_real_model_and_cache():
    """The counts above are the real model's parameters (tied embedding once) and Mamba2Cache's bytes."""
    from models import SpikingMambaConfig, SpikingMambaForCausalLM
    from models.cache import Mamba2Cache

    cfg = SpikingMambaConfig(vocab_size=VOCAB, d_model=4, n_layer=2, d_state=2, headdim=2, chunk_size=4)
    model = SpikingMambaForCausalLM(cfg)
    assert cfg.shape == SMALL
    resident = mem.resident_bytes(SMALL, VOCAB, FP32)
    assert resident["weights"] == 4 * sum(p.numel() for p in model.parameters())
    assert resident["state"] == Mamba2Cache(cfg, batch_size=1).nbytes()


def test_traffic_by_hand_decode_and_prefill():
    frac = {"in_proj": 0.5, "out_proj": 0.25}
    decode = mem.traffic(SMALL, VOCAB, FP32, frac)
    assert decode == {
        "in_proj": 2 * 0.5 * 96 * 4,        # 384: half the columns of each layer's in_proj
        "out_proj": 2 * 0.25 * 32 * 4,      # 64
        "conv1d": 2 * 60 * 4,               # 480
        "small_params": (2 * 24 + 4) * 4,   # 208, final norm included
        "lm_head": 40 * 4,                  # 160
        "embedding": 4 * 4,                 # one row
        "conv_state": 2 * 2 * 48 * 4,       # read + written, 2 layers
        "ssm_state": 2 * 2 * 16 * 4,
    }
    prefill = mem.traffic(SMALL, VOCAB, FP32, frac, tokens_per_pass=8)
    for item, b in decode.items():  # a pass of 8 tokens reads the weights and the states once
        assert prefill[item] == (b if item == "embedding" else b / 8), item
    with pytest.raises(ValueError, match="column_fraction"):
        mem.traffic(SMALL, VOCAB, FP32, {"in_proj": 1.5, "out_proj": 1})
    with pytest.raises(ValueError, match="tokens_per_pass"):
        mem.traffic(SMALL, VOCAB, FP32, frac, tokens_per_pass=0)


def test_memory_levels():
    assert [mem.LEVELS[n].pj_per_byte for n in mem.AUTO_ORDER] == [1.25, 2.5, 12.5, 162.5]
    assert mem.memory_level("auto", 2384).name == "sram-8kb"  # SMALL in fp32: 1872 + 512 bytes
    assert mem.memory_level("auto", 8 * 1024 + 1).name == "sram-32kb"
    assert mem.memory_level("auto", 2 * 1024 ** 2).name == "dram"
    assert mem.memory_level("spikingjelly", 10 ** 12).pj_per_byte == 24.96
    with pytest.raises(ValueError, match="hbm"):
        mem.memory_level("hbm", 1)


def test_assumed_column_fraction():
    # a = min(1, T·k·fr): TI-LIF k = 4 at fr 0.1 -> 0.4 per token; a pass of 3 tokens: 1 - 0.6^3
    assert mem.assumed_column_fraction(0.1, 4, 2) == pytest.approx(0.4)
    assert mem.assumed_column_fraction(0.1, 4, 2, tokens_per_pass=3) == pytest.approx(1 - 0.6 ** 3)
    assert mem.assumed_column_fraction([0.1, 0.5], 4, 2) == pytest.approx((0.4 + 1.0) / 2)  # capped per layer
    with pytest.raises(ValueError, match="n_layer=2"):
        mem.assumed_column_fraction([0.1], 4, 2)


def test_measured_column_fractions():
    site = {"width": 4, "active": 6, "active_union": 5}
    result = {"tokens": 6, "passes": 2, "layers": [{"layer": 0, "sides": {"in": site}}]}
    got = mem.measured_column_fractions(result)
    assert got["in_proj"] == {"decode": 6 / (6 * 4), "prefill": 5 / (2 * 4)} and "out_proj" not in got
    assert got["tokens_per_pass"] == 3
