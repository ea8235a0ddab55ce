"""Firing rates, accumulate counts, the clamp experiment and the activation figures on tiny checkpoints,
each checked against quantities captured independently (plain forward hooks, an independent rounding)."""

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.__main__ import main
from analysis.activations import final_block_histograms, magnitude_maps, projection_input_stats
from analysis.clamp import clamp_channel_max, clamp_experiment, clamped
from analysis.firing_rates import count_accumulates, load_model, measure_firing_rates
from analysis.raster import model_spike_trains
from analysis.perplexity import perplexity


def _independent_count(x, kind, D):
    """Σ|q| of the neuron on input x (V_th = 1): round half away from zero, clip (ARCHITECTURE.md)."""
    if kind == "lif":
        return int((x >= 1).sum())
    a = x.abs() if kind == "tilif" else x.clamp(min=0)
    return int(torch.floor(a + 0.5).clamp(max=D).sum())


def _keep(records, key, value):
    """Store the first value seen under ``key``; returns None so a hook using it changes nothing."""
    records.setdefault(key, value.detach().clone())


def _capture(model, attr, pre=True):
    """Record the input (pre=True) or output of every mixer's ``attr`` module with plain torch hooks."""
    records, handles = {}, []
    for i, layer in enumerate(model.backbone.layers):
        module = layer.mixer.get_submodule(attr)
        if pre:
            handles.append(module.register_forward_pre_hook(lambda m, a, i=i: _keep(records, i, a[0])))
        else:
            handles.append(module.register_forward_hook(lambda m, a, o, i=i: _keep(records, i, o)))
    return records, handles


@pytest.mark.parametrize("kind", ["lif", "ilif", "tilif"])
def test_firing_rates_match_independent_counts(checkpoints, ids, kind):
    model = load_model(checkpoints[kind])
    captured = {}
    handles = []
    for side in ("in", "out"):
        recs, hs = _capture(model, f"{side}_proj.neuron", pre=False)
        captured[side] = recs
        handles += hs
    result = measure_firing_rates(model, ids)
    for h in handles:
        h.remove()
    D = model.config.D if kind != "lif" else 1
    assert result["tokens"] == ids.numel() == 48
    for layer in result["layers"]:
        i = layer["layer"]
        for side, width in (("in", 16), ("out", 32)):
            q = captured[side][i]
            entry = layer["sides"][side]
            assert entry["spikes"] == int(q.abs().sum()) and entry["width"] == width and entry["k"] == D
            assert entry["positive"] == int(q.clamp(min=0).sum()) and entry["negative"] == int((-q).clamp(min=0).sum())
            assert entry["fr"] == pytest.approx(int(q.abs().sum()) / (48 * D * width), rel=1e-12)
    assert result["fr_in"] == pytest.approx(sum(result["fr_in_per_layer"]) / 3)
    if kind != "tilif":
        assert all(e["negative"] == 0 for l in result["layers"] for e in l["sides"].values())


def test_per_window_rates_and_their_confidence_interval(checkpoints, ids):
    """A stream cut into windows: each window's rate is that window measured alone; the 95 % interval is
    scipy's t interval of their mean, and with equal windows that mean is the pooled rate."""
    from scipy import stats

    model = load_model(checkpoints["tilif"])
    stream = ids.reshape(-1)
    result = measure_firing_rates(model, stream, seq_len=16)
    assert result["windows"]["tokens"] == [16, 16, 16] and result["tokens"] == 48
    for side in ("fr_in", "fr_out"):
        alone = [measure_firing_rates(model, w[None])[side] for w in stream.split(16)]
        assert result["windows"][side] == pytest.approx(alone, rel=1e-12)
        assert result[side + "_window_mean"] == pytest.approx(result[side], rel=1e-12)
        low, high = stats.t.interval(0.95, len(alone) - 1, loc=sum(alone) / 3, scale=stats.sem(alone))
        assert result[side + "_ci95"] == pytest.approx([low, high], rel=1e-9)
    single = measure_firing_rates(model, ids)
    assert single["fr_in_ci95"] is None and single["windows"]["tokens"] == [48]


def test_spike_driven_acs_equal_sum_of_counts_times_out_features(checkpoints, ids):
    """count_accumulates (a spike-driven run) reports SpikeDrivenLinear.ac_count; it must equal
    Σ|q(x)|·out_features with q computed independently from the neuron inputs x of that same run."""
    model = load_model(checkpoints["tilif"])
    inputs, handles = {}, []
    for side in ("in", "out"):
        inputs[side], hs = _capture(model, f"{side}_proj.neuron", pre=True)
        handles += hs
    result = count_accumulates(model, ids)
    for h in handles:
        h.remove()
    assert not model.backbone.layers[0].mixer.in_proj.neuron.spike_driven  # mode restored
    out_features = {"in": model.config.shape.d_in_proj, "out": model.config.d_model}
    for layer in result["layers"]:
        for side in ("in", "out"):
            expected = _independent_count(inputs[side][layer["layer"]], "tilif", 4) * out_features[side]
            entry = layer["sides"][side]
            assert entry["ac_measured"] == entry["ac_estimate"] == expected
    assert result["ac_measured_total"] == result["ac_estimate_total"] > 0
    # integer mode counts the same spikes where both modes see bit-identical inputs (the first neuron);
    # later layers may differ by float summation order (Σ_i W s_i vs W q)
    integer = measure_firing_rates(model, ids)
    assert integer["layers"][0]["sides"]["in"]["spikes"] == result["layers"][0]["sides"]["in"]["spikes"]
    assert integer["spikes_total"] == pytest.approx(result["spikes_total"], rel=0.01)


def test_teacher_has_no_spikes(checkpoints, ids):
    result = measure_firing_rates(load_model(checkpoints["teacher"]), ids)
    assert result["layers"] == [] and result["fr_in"] is None and result["spikes_total"] == 0


@settings(max_examples=40, deadline=None)
@given(L=st.integers(1, 6), C=st.integers(1, 5), value=st.sampled_from([0.0, 1.0]),
       criterion=st.sampled_from(["max", "absmax"]), seed=st.integers(0, 2**16))
def test_clamp_channel_max_changes_only_the_maximum(L, C, value, criterion, seed):
    x = torch.randn(2, L, C, generator=torch.Generator().manual_seed(seed))
    out, idx = clamp_channel_max(x, value, criterion)
    key = x.abs() if criterion == "absmax" else x
    mask = torch.zeros_like(x, dtype=torch.bool).scatter(1, idx.unsqueeze(1), True)
    assert int(mask.sum()) == 2 * C
    assert torch.equal(out[~mask], x[~mask]) and bool((out[mask] == value).all())
    assert torch.equal(key.gather(1, idx.unsqueeze(1)).squeeze(1), key.max(dim=1).values)


@pytest.mark.parametrize("kind, side", [("teacher", "in"), ("teacher", "out"), ("tilif", "in"), ("tilif", "out")])
def test_clamp_changes_exactly_the_clamped_channels(checkpoints, ids, kind, side):
    """Clamp layer 1 only. In the same forward, a hook registered on the projection before the clamp sees
    its original input u / y, one registered after (on the neuron, where there is one) sees what the
    projection uses: they differ exactly at each channel's maximum over tokens, which holds the clamp
    value. Layer 0 is untouched; logits change."""
    model = load_model(checkpoints[kind])
    projections = [getattr(layer.mixer, f"{side}_proj") for layer in model.backbone.layers]
    entries = [p if p.neuron is None else p.neuron for p in projections]
    before, after, handles = {}, {}, []
    with torch.no_grad():
        ref_logits = model(ids).logits
        for i, module in enumerate(projections):
            handles.append(module.register_forward_pre_hook(lambda m, a, i=i: _keep(before, i, a[0])))
        applied = []
        with clamped(model, side, 1.0, layers=[1], record=applied):
            for i, module in enumerate(entries):
                handles.append(module.register_forward_pre_hook(lambda m, a, i=i: _keep(after, i, a[0])))
            logits = model(ids).logits
        for h in handles:
            h.remove()
    (layer, idx), = applied
    x = before[1]
    assert layer == 1 and torch.equal(idx, x.argmax(dim=1))
    assert torch.equal(after[1], x.scatter(1, x.argmax(dim=1, keepdim=True), 1.0))
    changed = after[1] != x
    assert 0 < int(changed.sum()) <= x.shape[-1] and bool((changed.sum(dim=1) <= 1).all())
    assert torch.equal(after[0], before[0])
    assert not torch.equal(logits, ref_logits)


def test_clamp_experiment_reports_differences_and_removes_hooks(checkpoints, ids):
    model = load_model(checkpoints["teacher"])
    evaluate = lambda m: perplexity(m, ids[0], context_len=24, progress=False).metrics()  # noqa: E731
    base = evaluate(model)
    result = clamp_experiment(model, evaluate)
    assert result["baseline"] == base == evaluate(model)  # hooks gone afterwards
    assert [r["label"] for r in result["settings"]] == ["y_max = 0", "y_max = 1", "u_max = 0", "u_max = 1"]
    for row in result["settings"]:
        assert row["diff"]["ppl"] == pytest.approx(row["metrics"]["ppl"] - base["ppl"])
        assert row["metrics"]["ppl"] != base["ppl"]


def test_perplexity_is_exp_of_independent_nll(checkpoints, ids):
    model = load_model(checkpoints["teacher"])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids[:, :24]).logits.double(), -1)
        logp2 = torch.log_softmax(model(ids[:, 24:]).logits.double(), -1)
    nll = -(logp[0, :-1].gather(1, ids[0, 1:24, None]).sum() + logp2[0, :-1].gather(1, ids[0, 25:48, None]).sum())
    result = perplexity(model, ids[0], context_len=24, progress=False).metrics()
    assert result["tokens"] == 46
    assert result["nll"] == pytest.approx(float(nll) / 46, rel=1e-5)


def test_activation_stats_match_independent_capture(checkpoints, ids):
    model = load_model(checkpoints["teacher"])
    u, hu = _capture(model, "in_proj", pre=True)
    y, hy = _capture(model, "norm", pre=False)
    stats = projection_input_stats(model, ids)
    for h in hu + hy:
        h.remove()
    for i in range(3):
        for side, ref in (("in", u[i]), ("out", y[i])):
            s = stats[side][i]
            assert s["count"] == ref.numel()
            assert s["q0.5"] == pytest.approx(float(ref.flatten().quantile(0.5)), abs=1e-6)
            assert (s["q0"], s["q1"], s["absmax"]) == pytest.approx(
                (float(ref.min()), float(ref.max()), float(ref.abs().max())))
    maps = magnitude_maps(model, ids, layer=2)
    assert torch.allclose(torch.tensor(maps["out"]["abs"]), y[2][0].abs())
    assert maps["in"]["channel_argmax"] == u[2][0].argmax(0).tolist()


def test_final_block_histograms(checkpoints, ids):
    models = {k: load_model(checkpoints[k]) for k in ("teacher", "tilif")}
    last = {}
    h = models["tilif"].backbone.layers[-1].register_forward_hook(lambda m, a, o: _keep(last, "x", o[0]))
    hist = final_block_histograms(models, ids, bins=50)
    h.remove()
    counts = hist["models"]["tilif"]["counts"]
    edges = hist["edges"]
    x = last["x"].flatten().clamp(edges[0], edges[-1])
    assert counts == torch.histc(x, 50, edges[0], edges[-1]).long().tolist()
    assert sum(counts) == ids.numel() * 16
    assert hist["models"]["teacher"]["overlap_with_first"] == pytest.approx(1.0)
    assert 0 < hist["models"]["tilif"]["overlap_with_first"] < 1


def test_model_spike_trains_are_the_counted_spikes(checkpoints, ids):
    model = load_model(checkpoints["tilif"])
    trains = model_spike_trains(model, ids, layers=[0, 2])
    counts = measure_firing_rates(model, ids)
    assert list(trains) == ["layer 0 · u", "layer 0 · y", "layer 2 · u", "layer 2 · y"]
    for name, spikes in trains.items():
        layer, side = int(name.split()[1]), {"u": "in", "y": "out"}[name.split()[-1]]
        entry = counts["layers"][layer]["sides"][side]
        assert spikes.shape[:2] == (4, 48)
        assert (int(spikes.eq(1).sum()), int(spikes.eq(-1).sum())) == (entry["positive"], entry["negative"])


def test_model_cli_commands_write_their_numbers(checkpoints, tmp_path, capsys):
    c, text = checkpoints, str(checkpoints["text"])
    text_ids = torch.tensor([list(checkpoints["text"].read_bytes())])
    assert main(["firing-rates", "--model", str(c["tilif"]), "--text", text, "--out", str(tmp_path / "fr"),
                 "--spike-driven", "--max-tokens", "40"]) == 0
    fr = json.loads((tmp_path / "fr" / "firing_rates.json").read_text())
    tilif = load_model(c["tilif"])
    direct = count_accumulates(tilif, text_ids[:, :40])
    assert fr["fr_in_per_layer"] == direct["fr_in_per_layer"] and fr["ac_measured_total"] == direct["ac_measured_total"]
    assert "byte-level" in fr["tokenizer_note"]

    assert main(["raster", "--model", str(c["ilif"]), "--prompt", "And God said", "--out", str(tmp_path / "r"),
                 "--layers", "1"]) == 0
    panels = json.loads((tmp_path / "r" / "raster.json").read_text())["panels"]
    assert list(panels) == ["layer 1 · u", "layer 1 · y"] and panels["layer 1 · u"]["tokens"] == 12

    assert main(["activations", "--model", str(c["teacher"]), "--text", text, "--out", str(tmp_path / "a"),
                 "--max-tokens", "32", "--layer", "1"]) == 0
    fig3 = json.loads((tmp_path / "a" / "fig3_projection_inputs.json").read_text())
    assert fig3["tokens"] == 32 and len(fig3["out"]) == 3
    assert json.loads((tmp_path / "a" / "fig4_magnitudes_layer1.json").read_text())["layer"] == 1

    assert main(["histograms", "--model", f"teacher={c['teacher']}", "--model", f"lif={c['lif']}",
                 "--text", text, "--out", str(tmp_path / "h"), "--max-tokens", "32", "--bins", "20"]) == 0
    hist = json.loads((tmp_path / "h" / "final_block_histograms.json").read_text())
    assert list(hist["models"]) == ["teacher", "lif"] and len(hist["edges"]) == 21

    assert main(["clamp", "--model", str(c["teacher"]), "--text", text, "--out", str(tmp_path / "c"),
                 "--max-tokens", "48", "--seq-len", "24", "--layers", "0"]) == 0
    clamp = json.loads((tmp_path / "c" / "clamp.json").read_text())
    assert clamp["layers"] == [0] and len(clamp["settings"]) == 4 and clamp["baseline"]["tokens"] == 46

    capsys.readouterr()
    assert main(["energy", "--model", str(c["tilif"]), "--text", text, "--max-tokens", "40", "--json",
                 "--spike-driven"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["fr_in"] == direct["fr_in_per_layer"] and rep["neuron_in"] == "tilif"
    for proj in ("in_proj", "out_proj"):  # Table 12 with measured rates == energy of the ACs performed
        assert rep["from_measured_accumulates"][proj] == pytest.approx(rep["components"][proj], rel=1e-12)
    assert rep["measured"]["tokens"] == 40 and rep["ratio"] > 1
    for file in ("fr/firing_rates", "r/raster", "a/fig3_projection_inputs", "h/final_block_histograms", "c/clamp"):
        assert (tmp_path / f"{file}.png").stat().st_size > 1000


@pytest.mark.parametrize("command", ["firing-rates", "raster"])
def test_teacher_without_neurons_is_one_line_error(checkpoints, tmp_path, capsys, command):
    """A model with neuron "none" has no spikes: one error line naming it, not an empty figure."""
    assert main([command, "--model", str(checkpoints["teacher"]), "--text", str(checkpoints["text"]),
                 "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: {checkpoints['teacher']} has no spiking neurons (neuron_in = neuron_out = 'none'")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("command, shown", [
    ("firing-rates", ["--max-tokens MAX_TOKENS use at most this many tokens of --text (default: 2048)",
                      "(default: 512)"]),
    ("raster", ["(default: 32)", "neurons drawn per panel (default: 64)"]),
    ("activations", ["(default: 512)", "tokens shown in the Figure 4 maps (default: 128)"]),
    ("clamp", ["(default: 4096)", "(default: max)"]),
    ("energy", ["(default: 4)", "(default: auto)"]),
    ("neuron-demo", ["(default: 16)", "(default: 0)"]),
])
def test_help_shows_defaults(capsys, command, shown):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(s in text for s in shown) and "(default: None)" not in text and "(default: False)" not in text


def test_every_checkpoint_figure_names_its_source(checkpoints, tmp_path):
    """Each figure's JSON (and the footer under it) names the checkpoint(s) it came from."""
    c, text = checkpoints, str(checkpoints["text"])
    common = ["--text", text, "--max-tokens", "32"]
    runs = {
        "fr/firing_rates.json": (["firing-rates", "--model", str(c["lif"])], str(c["lif"])),
        "a/fig3_projection_inputs.json": (["activations", "--model", str(c["tilif"]), "--layer", "0"], str(c["tilif"])),
        "h/final_block_histograms.json": (["histograms", "--model", f"teacher={c['teacher']}",
                                           "--model", f"tilif={c['tilif']}"],
                                          f"teacher={c['teacher']}, tilif={c['tilif']}"),
        "c/clamp.json": (["clamp", "--model", str(c["ilif"]), "--layers", "0", "--seq-len", "16"], str(c["ilif"])),
    }
    for path, (argv, source) in runs.items():
        assert main([*argv, *common, "--out", str(tmp_path / path.split("/")[0])]) == 0
        assert json.loads((tmp_path / path).read_text())["source"] == source, path
    assert json.loads((tmp_path / "a" / "fig4_magnitudes_layer0.json").read_text())["source"] == str(c["tilif"])


@pytest.mark.parametrize("argv, message", [
    (["raster", "--prompt", "hi", "--max-neurons", "0"], r"max_neurons=0 must be >= 1"),
    (["firing-rates", "--max-tokens", "0"], r"max_tokens=0 must be >= 2"),
    (["firing-rates", "--tokenizer", "{tmp}/nowhere"], r"{tmp}/nowhere: no such directory .*the tokenizer files"),
    (["firing-rates", "--text", "{tmp}/binary.txt"], r"text file '{tmp}/binary.txt' is not UTF-8 text"),
    (["firing-rates", "--text", "{tmp}/empty.txt"], r"text file '{tmp}/empty.txt' is empty"),
    (["raster", "--prompt", "hi", "--out", "{tmp}/a_file"], r"{tmp}/a_file is a file, not a directory"),
])
def test_bad_analysis_inputs_are_one_line(checkpoints, tmp_path, capsys, argv, message):
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "a_file").write_text("")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    defaults = {"--model": str(checkpoints["tilif"]), "--out": str(tmp_path / "out")}
    if "--prompt" not in argv:
        defaults["--text"] = str(checkpoints["text"])
    for flag, value in defaults.items():
        if flag not in argv:
            argv += [flag, value]
    assert main(argv) == 1
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # after "CKPT: N tokens; tokenizer ..." where the model loaded
    assert last.startswith("error: ") and "Traceback" not in err
    import re
    assert re.search(message.replace("{tmp}", re.escape(str(tmp_path))), last), last
