"""Mamba2 / quantized / SpikingMamba side by side: a hand-computed small case, the paper's numbers inside it,
the CLI on a config and on a tiny checkpoint with text, the active-input counts behind the memory model, and
the analytic per-site counts that an event-driven run is checked against."""

import json

import pytest

from analysis import baselines as bl
from analysis import event_counts as ev
from analysis.__main__ import main
from analysis.energy import block_energy, preset
from analysis.firing_rates import count_accumulates, measure_firing_rates
from models import SpikingMambaForCausalLM
from models.shape import Mamba2Shape

SMALL = Mamba2Shape(d_model=4, n_layer=2, d_state=2, headdim=2, expand=2, ngroups=1, d_conv=4)
PJ = 1e-6  # the reports are in 1e6 pJ


def test_small_shape_by_hand_int8_with_memory():
    rep = bl.compare_baselines(SMALL, "tilif", D=2, fr_in=0.25, fr_out=0.5, regime="int8", memory="sram-8kb",
                               vocab=10, prefill_tokens=8)
    m = rep["models"]
    # per layer at int8 (0.3 / 0.2 / 0.1 pJ): 208 MACs + 84 muls + 28 adds = 82 pJ; 2 layers + LM head 40 MACs
    assert m["mamba2"]["compute"]["total"] == pytest.approx((2 * 82 + 40 * 0.3) * PJ)
    # TI-LIF D = 2: 5 levels -> 3 bits -> 0.2·3/8 + 0.1 = 0.175 pJ per MAC on in_proj (96) and out_proj (32)
    assert rep["quantized"]["projections"]["in_proj"] == {"neuron": "tilif", "levels": 5, "bits": 3, "signed": True,
                                                          "mac_pJ": pytest.approx(0.175)}
    assert m["quantized"]["compute"]["in_proj"] == pytest.approx(2 * 96 * 0.175 * PJ)
    assert m["quantized"]["compute"]["total"] == pytest.approx((176 - 2 * 128 * 0.3 + 2 * 128 * 0.175) * PJ)
    # SpikingMamba: k·fr·d_in·d_out accumulates: 2·0.25·96 + 2·0.5·32 = 80 per layer at 0.1 pJ
    assert m["spikingmamba"]["compute"]["total"] == pytest.approx((176 - 2 * 128 * 0.3 + 2 * 80 * 0.1) * PJ)
    # decode bytes (int8, ssm_state float32): in 192, out 64, conv 120, small 52, head 40, row 4, states 192 + 256
    assert sum(m["mamba2"]["decode"]["memory_bytes"].values()) == 920
    assert m["quantized"]["decode"]["memory_bytes"] == m["mamba2"]["decode"]["memory_bytes"]
    # active columns assumed: in min(1, 2·0.25) = 0.5, out min(1, 2·0.5) = 1
    assert m["spikingmamba"]["decode"]["memory_bytes"]["in_proj"] == 96
    assert m["spikingmamba"]["decode"]["memory"]["in_proj"] == pytest.approx(96 * 1.25 * PJ)
    assert m["mamba2"]["decode"]["total"] == pytest.approx((176 + 920 * 1.25) * PJ)
    # prefill, 8 tokens a pass: everything but the embedding row / 8; in_proj's union 1 - 0.5^8
    assert sum(m["mamba2"]["prefill"]["memory_bytes"].values()) == pytest.approx(916 / 8 + 4)
    assert m["spikingmamba"]["prefill"]["memory_bytes"]["in_proj"] == pytest.approx(192 * (1 - 0.5 ** 8) / 8)
    for phase in ("compute", "decode", "prefill"):
        tot = {k: (v["compute"]["total"] if phase == "compute" else v[phase]["total"]) for k, v in m.items()}
        assert rep["ratios"][phase] == {"vs_mamba2": tot["mamba2"] / tot["spikingmamba"],
                                        "vs_quantized": tot["quantized"] / tot["spikingmamba"]}
    assert rep["memory"]["columns"]["source"].startswith("assumed")
    assert {lv["name"] for lv in rep["memory"]["levels"].values()} == {"sram-8kb"}


def test_neuron_ops_and_dense_projection():
    rep = bl.compare_baselines(SMALL, "tilif", "none", D=2, fr_in=0.25, regime="int8", neuron_ops=True)
    q = rep["models"]["quantized"]["compute"]
    # quantizer on in_proj only: one multiply per input (4) and per output (24), 2 layers
    assert q["neurons"] == pytest.approx(2 * (4 + 24) * 0.2 * PJ)
    assert q["out_proj"] == rep["models"]["mamba2"]["compute"]["out_proj"]  # no neuron: stays a regime MAC
    assert rep["quantized"]["projections"]["out_proj"] == {"neuron": "none"}
    assert "neurons" in rep["models"]["spikingmamba"]["compute"] and "decode" not in rep["models"]["mamba2"]


def test_paper_numbers_are_the_fp32_compute_column():
    """fp32 without memory is Appendix D: SpikingMamba 1291.3147, Mamba2 6150.1188, E_A/E_S 4.7627 (Table 9)."""
    s = preset("mamba2-1.3b")
    rep = bl.compare_baselines(s, "tilif", D=4, fr_in=0.2499, fr_out=0.0619)
    assert rep["models"]["spikingmamba"]["compute"]["total"] == block_energy(s, "tilif", D=4, fr_in=0.2499,
                                                                             fr_out=0.0619).total
    assert rep["models"]["mamba2"]["compute"]["total"] == block_energy(s).total
    assert abs(rep["ratios"]["compute"]["vs_mamba2"] - 4.7627) < 5e-5
    assert "memory" not in rep and "lm_head" not in rep["models"]["mamba2"]["compute"]


@pytest.mark.parametrize("kwargs, match", [({"regime": "bf16"}, "bf16"), ({"memory": "hbm"}, "hbm"),
                                           ({"prefill_tokens": 0}, "prefill_tokens"),
                                           ({"memory": "auto", "vocab": 0}, "vocab")])
def test_bad_input_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bl.compare_baselines(SMALL, "tilif", D=2, fr_in=0.25, fr_out=0.5, **kwargs)


def test_cli_config_regime_and_memory(capsys):
    args = ["energy", "--config", "mamba2-130m", "--neuron", "tilif", "--fr-in", "0.3476", "--fr-out", "0.1236",
            "--regime", "int8", "--memory"]
    assert main(args + ["--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    b = rep["baselines"]
    assert rep["constants_pJ"] == {"mac": 0.3, "mul": 0.2, "add": 0.1} == b["regime"]["constants_pJ"]
    assert b["inputs"]["rates_measured"] is False and b["inputs"]["vocab"] == bl.RELEASED_VOCAB
    assert b["inputs"]["fr_in"] == 0.3476 and b["inputs"]["shape"]["d_model"] == 768
    assert b["memory"]["columns"]["prefill_tokens_per_pass"] == 512
    assert {lv["name"] for lv in b["memory"]["levels"].values()} == {"dram"}
    assert b["models"]["spikingmamba"]["compute"]["total"] == pytest.approx(rep["total"] + rep["baselines"][
        "models"]["spikingmamba"]["compute"]["lm_head"])
    assert main(args + ["--memory-level", "spikingjelly", "--e-add", "0.03"]) == 0
    out = capsys.readouterr().out
    assert "E_A/E_S decode:" in out and "add 0.03 pJ (overridden)" in out and "spikingjelly" in out
    with pytest.raises(SystemExit):
        main(args + ["--memory-level", "hbm"])


def test_cli_plot_regimes_rejects_overrides(tmp_path, capsys):
    args = ["energy", "--config", "mamba2-130m", "--neuron", "lif", "--fr-in", "0.3", "--fr-out", "0.1",
            "--plot-regimes", str(tmp_path / "r.png"), "--e-mac", "1"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--plot-regimes" in err and "Traceback" not in err


def test_cli_checkpoint_with_text_and_figure(checkpoints, capsys, tmp_path):
    png = tmp_path / "regimes.png"
    args = ["energy", "--model", str(checkpoints["tilif"]), "--text", str(checkpoints["text"]), "--seq-len", "64",
            "--regime", "fp16", "--memory", "--json", "--plot-regimes", str(png)]
    assert main(args) == 0
    rep = json.loads(capsys.readouterr().out)
    b, measured = rep["baselines"], rep["measured"]
    cols = b["memory"]["columns"]
    assert b["inputs"]["rates_measured"] is True and cols["source"] == "measured"
    assert b["inputs"]["tokens"] == measured["tokens"] and b["inputs"]["fr_in"] == measured["fr_in_per_layer"]
    assert (cols["tokens"], cols["passes"]) == (measured["tokens"], measured["passes"]) and measured["passes"] > 1
    assert cols["prefill_tokens_per_pass"] == measured["tokens"] / measured["passes"]
    ins = [l["sides"]["in"] for l in measured["layers"]]
    assert cols["spikingmamba"]["decode"]["in_proj"] == pytest.approx(
        sum(e["active"] / (measured["tokens"] * e["width"]) for e in ins) / len(ins))
    assert b["inputs"]["vocab"] == 256 and b["regime"]["name"] == "fp16"
    drawn = json.loads(png.with_suffix(".json").read_text())
    assert png.stat().st_size > 1000 and [r["regime"]["name"] for r in drawn["reports"]] == ["fp32", "fp16", "int8"]
    for panel in drawn["panels"].values():
        assert len(panel["bars"]) == 9 and panel["unit"] in ("µJ", "mJ", "J")
        for bar in panel["bars"]:
            assert bar["total"] == pytest.approx(bar["compute"] + bar["memory"])


@pytest.fixture(scope="module")
def tilif(checkpoints):
    return SpikingMambaForCausalLM.from_pretrained(checkpoints["tilif"]).eval()


def test_active_inputs_counted_independently_and_in_both_modes(tilif, ids):
    """``active`` / ``active_union`` equal a direct count of the non-zero neuron outputs, and the spike-driven
    run (signed micro-step planes) gives the same counts as the integer run."""
    seen = {}
    hooks = [mixer.in_proj.neuron.register_forward_hook(lambda mod, inp, out, i=i: seen.__setitem__(i, out.detach()))
             for i, mixer in enumerate(m.mixer for m in tilif.backbone.layers)]
    try:
        result = measure_firing_rates(tilif, ids)
    finally:
        for h in hooks:
            h.remove()
    for i, q in seen.items():
        site = result["layers"][i]["sides"]["in"]
        nz = q.reshape(-1, q.shape[-1]) != 0
        assert (site["active"], site["active_union"]) == (int(nz.sum()), int(nz.any(0).sum()))
        assert site["spikes"] / site["k"] <= site["active"] <= site["spikes"]
    tilif.set_spike_driven(True)
    try:
        driven = measure_firing_rates(tilif, ids)
    finally:
        tilif.set_spike_driven(False)
    def counts(r):
        return [{s: [e[k] for k in ("spikes", "active", "active_union")] for s, e in layer["sides"].items()}
                for layer in r["layers"]]

    assert counts(driven) == counts(result) and result["passes"] == 1


def test_active_inputs_with_T_2(checkpoints, ids):
    """T = 2: the leading step axis is summed before counting, in integer and spike-driven mode alike."""
    model = SpikingMambaForCausalLM.from_pretrained(checkpoints["teacher"], neuron="tilif", T=2).eval()
    integer = measure_firing_rates(model, ids[:, :24])
    model.set_spike_driven(True)
    driven = measure_firing_rates(model, ids[:, :24])
    for a, b in zip(integer["layers"], driven["layers"]):
        for side in a["sides"]:
            ea, eb = a["sides"][side], b["sides"][side]
            assert (ea["active"], ea["active_union"]) == (eb["active"], eb["active_union"])
            assert ea["active"] <= 24 * ea["width"] and ea["active_union"] <= ea["width"]


def test_event_counts_against_the_spike_driven_linear(tilif, ids):
    """SpikeDrivenLinear.ac_count is a measured accumulate count today: it equals the analytic spikes · d_out
    at every site; a wrong count, an unknown site or quantity are reported."""
    result = count_accumulates(tilif, ids)
    shape = tilif.config.shape
    analytic = ev.analytic_site_counts(result, shape, bytes_per_weight=4)
    entries = [e for l in result["layers"] for e in l["sides"].values()]
    measured = {e["module"]: {"accumulates": e["ac_measured"]} for e in entries}
    comparison = ev.compare_measured(analytic, measured)
    assert ev.all_equal(comparison) and len(comparison) == 2 * shape.n_layer
    e = entries[0]
    assert analytic[e["module"]]["weight_bytes_decode"] == e["active"] * shape.d_in_proj * 4
    assert analytic[e["module"]]["weight_bytes_prefill"] == e["active_union"] * shape.d_in_proj * 4
    measured[e["module"]]["accumulates"] += 1
    assert not ev.all_equal(ev.compare_measured(analytic, measured))
    with pytest.raises(ValueError, match="nowhere"):
        ev.compare_measured(analytic, {"nowhere": {"accumulates": 0}})
    with pytest.raises(ValueError, match="reads"):
        ev.compare_measured(analytic, {e["module"]: {"reads": 0}})
    assert not ev.all_equal({})
