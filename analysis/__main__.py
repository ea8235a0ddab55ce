"""``python -m analysis COMMAND``: energy, paper-tables, neuron-demo, firing-rates, raster, activations,
histograms, clamp. ``python -m analysis COMMAND -h`` for each command's options."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from analysis import baselines as bl
from analysis import energy as en
from analysis import memory as mem
from analysis import regimes as rg
from models.errors import run_command
from models.shape import SIDES
from neurons.kinds import CHOICES


def _add_energy(sub):
    p = sub.add_parser("energy", help="Appendix D energy model (Tables 10-12): components, total, E_A/E_S")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", choices=sorted(en.PRESETS), help="a released Mamba2 shape")
    src.add_argument("--model", help="a checkpoint dir: shape and neurons from it, firing rates measured on --text")
    p.add_argument("--neuron", choices=CHOICES, help="neuron before both projections (with --config)")
    p.add_argument("--neuron-in", choices=CHOICES, help="override the in_proj neuron")
    p.add_argument("--neuron-out", choices=CHOICES, help="override the out_proj neuron")
    p.add_argument("--D", type=int, default=4, help="largest integer output (k of Table 12; LIF uses 1)")
    p.add_argument("--T", type=int, default=1, help="neuron steps per token (the paper: 1)")
    p.add_argument("--fr-in", type=float, help="Table 12 firing rate of the in_proj input")
    p.add_argument("--fr-out", type=float, help="Table 12 firing rate of the out_proj input")
    p.add_argument("--e-mac", type=float, help="pJ per MAC (E_MM; default: the regime's, fp32 4.6)")
    p.add_argument("--e-mul", type=float, help="pJ per multiply (E_EM; default: the regime's, fp32 3.7)")
    p.add_argument("--e-add", type=float, help="pJ per add/accumulate (E_ADD; default: the regime's, fp32 0.9)")
    p.add_argument("--neuron-ops", action="store_true", help="also count Table 11's neuron rows (the paper does not)")
    p.add_argument("--regime", choices=tuple(rg.REGIMES),
                   help="op energies of this precision (Horowitz 2014; the paper: fp32) and Mamba2 / same-bit "
                        "quantized Mamba2 / SpikingMamba side by side")
    p.add_argument("--memory", action="store_true",
                   help="add memory traffic per token (weights, states, LM head, embedding), decode and prefill")
    p.add_argument("--memory-level", choices=mem.LEVEL_CHOICES, default=mem.AUTO,
                   help="where the bytes come from (auto: the smallest memory holding the model)")
    p.add_argument("--vocab", type=int, default=bl.RELEASED_VOCAB,
                   help=f"padded vocabulary of --config for --memory (released Mamba2: {bl.RELEASED_VOCAB})")
    p.add_argument("--plot-regimes", metavar="FILE.png",
                   help="compute vs memory bars of the three models in every regime (numbers as FILE.json)")
    p.add_argument("--spike-driven", action="store_true",
                   help="with --model: run spike-driven and add the energy of the accumulates actually performed")
    _add_text_args(p)
    p.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    p.add_argument("--plot", metavar="FILE.png", help="Figure 2-style bars (numbers as FILE.json beside it)")
    p.set_defaults(run=_run_energy)


def _add_text_args(p):
    p.add_argument("--text", help="UTF-8 text file the model is run on")
    p.add_argument("--tokenizer", help="tokenizer dir/name if the checkpoint has none (else byte-level ids)")
    p.add_argument("--max-tokens", type=int, default=2048, help="use at most this many tokens of --text")
    p.add_argument("--seq-len", type=int, default=512,
                   help="tokens per forward pass (energy --config --memory: per prefill pass)")


def _format_energy(rep: dict) -> str:
    s = rep["shape"]
    kinds = rep["neuron_in"] if rep["neuron_in"] == rep["neuron_out"] else f"{rep['neuron_in']}/{rep['neuron_out']}"
    lines = [
        f"d_model {s['d_model']}, {s['n_layer']} layers, d_state {s['d_state']}, headdim {s['headdim']}; "
        f"neuron {kinds} (k = {rep['k_in']}/{rep['k_out']}, T = {rep['T']}); fr_in {rep['fr_in']}, fr_out {rep['fr_out']}",
        f"energy per token in {rep['unit']}",
        f"{'component':<12}{'Mamba2':>14}{'SpikingMamba':>14}",
    ]
    for c, v in rep["components"].items():
        lines.append(f"{c:<12}{rep['mamba2'].get(c, 0.0):>14.4f}{v:>14.4f}")
    lines.append(f"E_A/E_S = {rep['ratio']:.4f}")
    if "measured" in rep:
        m = rep["measured"]
        lines.append(f"firing rates measured on {m['tokens']} tokens ({m['tokenizer_note']})")
    for proj, e in rep.get("from_measured_accumulates", {}).items():
        lines.append(f"{proj} from the accumulates SpikeDrivenLinear performed: {e:.6g}")
    return "\n".join(lines)


def _run_energy(args) -> int:
    overrides = {k: v for k, v in (("mac", args.e_mac), ("mul", args.e_mul), ("add", args.e_add)) if v is not None}
    if overrides and args.plot_regimes:
        raise ValueError("--e-mac/--e-mul/--e-add replace one regime's constants; drop them with --plot-regimes")
    constants = dataclasses.replace(rg.get_regime(args.regime or rg.PAPER_REGIME).constants, **overrides)
    vocab, prefill_tokens, columns = args.vocab, args.seq_len, None
    if args.model:
        from analysis.firing_rates import measure_checkpoint

        measured = measure_checkpoint(args.model, args.text, tokenizer=args.tokenizer, max_tokens=args.max_tokens,
                                      seq_len=args.seq_len, spike_driven=args.spike_driven)
        shape, fr_in, fr_out = measured["shape"], measured["fr_in_per_layer"], measured["fr_out_per_layer"]
        neuron_in, neuron_out, D, T = measured["neuron_in"], measured["neuron_out"], measured["D"], measured["T"]
        vocab, columns = measured["vocab_size"], mem.measured_column_fractions(measured)
    else:
        if args.neuron is None and not (args.neuron_in and args.neuron_out):
            raise SystemExit("energy: give --neuron (or both --neuron-in and --neuron-out) with --config")
        measured, shape, fr_in, fr_out = None, en.preset(args.config), args.fr_in, args.fr_out
        D, T = args.D, args.T
        neuron_in, neuron_out = args.neuron_in or args.neuron, args.neuron_out or args.neuron
    rep = en.energy_report(shape, neuron_in, neuron_out, D=D, fr_in=fr_in, fr_out=fr_out, T=T,
                           constants=constants, neuron_ops=args.neuron_ops)
    if measured is not None:
        rep["measured"] = {k: v for k, v in measured.items() if k != "shape"}
        if "ac_measured_total" in measured:
            acs = {side.module: 0 for side in SIDES.values()}
            for layer in measured["layers"]:
                for side, e in layer["sides"].items():
                    acs[SIDES[side].module] += e["ac_measured"]
            rep["from_measured_accumulates"] = en.energy_from_accumulates(acs, measured["tokens"], constants)

    def baselines(regime, memory):
        return bl.compare_baselines(shape, neuron_in, neuron_out, D=D, fr_in=fr_in, fr_out=fr_out, T=T, regime=regime,
                                    constants=constants if regime == (args.regime or rg.PAPER_REGIME) else None,
                                    memory=memory, vocab=vocab, prefill_tokens=prefill_tokens,
                                    measured_columns=columns, rates_measured=measured is not None,
                                    neuron_ops=args.neuron_ops)

    if args.regime or args.memory:
        rep["baselines"] = baselines(args.regime or rg.PAPER_REGIME, args.memory_level if args.memory else None)
    text = _format_energy(rep) + ("\n" + bl.format_baselines(rep["baselines"]) if "baselines" in rep else "")
    print(json.dumps(rep, indent=2) if args.json else text)
    if args.plot_regimes:
        from analysis.energy_figure import plot_regimes

        label = f"{args.config or args.model}, {neuron_in}/{neuron_out}"
        png, js = plot_regimes([baselines(r, args.memory_level) for r in rg.REGIMES], args.plot_regimes, label)
        print(f"wrote {png} and {js}", file=sys.stderr)
    if args.plot:
        from analysis.energy_figure import plot_energy

        label = args.config or args.model
        rates = "measured on " + args.text if args.model else f"fr_in {fr_in}, fr_out {fr_out}"
        png, js = plot_energy([{"label": f"{label} {neuron_in}", "report": rep, "sgc": None}], args.plot,
                              source=f"{label}, {neuron_in}/{neuron_out}, {rates}")
        print(f"wrote {png} and {js}", file=sys.stderr)
    return 0


def _add_paper_tables(sub):
    p = sub.add_parser("paper-tables", help="reproduce Tables 8 and 9 (ours vs paper, every row)")
    p.add_argument("--rates", choices=("used", "printed"), default="used",
                   help="'used': the rates the paper's energy columns were computed with; 'printed': as printed")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--plot", metavar="FILE.png", help="Figure 2 from the reproduced rows")
    p.set_defaults(run=_run_paper_tables)


def _run_paper_tables(args) -> int:
    from analysis import paper_tables as pt

    rows = pt.comparison(args.rates)
    print(json.dumps(rows, indent=2) if args.json else pt.format_comparison(rows))
    if args.plot:
        from analysis.energy_figure import plot_energy

        entries = []
        for row in pt.TABLES:
            if row.neuron == "none":
                continue
            fr_in, fr_out = row.effective_rates if args.rates == "used" else (row.fr_in, row.fr_out)
            rep = en.energy_report(en.preset(row.config), row.neuron, D=row.D, fr_in=fr_in, fr_out=fr_out)
            entries.append({"label": f"{row.config[7:]} {row.label}", "report": rep, "sgc": row.sgc})
        png, js = plot_energy(entries, args.plot, source=f"the paper's Tables 8-9, rates {args.rates}")
        print(f"wrote {png} and {js}", file=sys.stderr)
    return 0


def _add_neuron_demo(sub):
    p = sub.add_parser("neuron-demo", help="LIF / I-LIF / TI-LIF on random input: spike raster PNG + JSON")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--tokens", type=int, default=16, help="time steps (tokens) of random input")
    p.add_argument("--channels", type=int, default=32, help="neurons per kind")
    p.add_argument("--D", type=int, default=4, help="largest integer output of I-LIF / TI-LIF (LIF: 1)")
    p.add_argument("--scale", type=float, default=2.0, help="input = scale · N(0, 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random input")
    p.set_defaults(run=_run_neuron_demo)


def _run_neuron_demo(args) -> int:
    from analysis.neuron_demo import run_demo

    summary = run_demo(args.out, tokens=args.tokens, channels=args.channels, D=args.D, scale=args.scale,
                       seed=args.seed)
    for kind, r in summary["neurons"].items():
        print(f"{kind:>6}: {r['spike_count']:5d} spikes (+{r['positive_spikes']} / -{r['negative_spikes']}), "
              f"fr {r['firing_rate']:.4f}, exact {r['spikes_sum_to_integer_output']}, "
              f"ACs {r['ac_count']} (expected {r['ac_expected']})")
    print(f"wrote {summary['raster_png']}, {summary['raster_json']} and {Path(args.out) / 'neurons.json'}")
    return 0


def _load(args, path=None):
    """(model, token ids [N], tokenizer note) for a checkpoint command."""
    from analysis.firing_rates import load_model
    from analysis.text import load_token_ids, tokenize

    path = path or args.model
    model = load_model(path)
    prompt = getattr(args, "prompt", None)
    if prompt is not None:
        ids, note = tokenize(prompt, path, args.tokenizer, args.max_tokens, model.config.vocab_size)
    elif args.text is None:
        raise ValueError("give --text FILE (or --prompt TEXT where accepted)")
    else:
        ids, note = load_token_ids(args.text, path, args.tokenizer, args.max_tokens, model.config.vocab_size)
    print(f"{path}: {ids.numel()} tokens; {note}", file=sys.stderr)
    return model, ids, note


def _model_parser(sub, name, help, run, max_tokens=2048):
    p = sub.add_parser(name, help=help)
    p.add_argument("--model", required=True, help="checkpoint dir (teacher or student)")
    p.add_argument("--out", required=True, help="output directory for the PNG figures and their JSON")
    _add_text_args(p)
    p.set_defaults(run=run, max_tokens=max_tokens)
    return p


def _add_model_commands(sub):
    p = _model_parser(sub, "firing-rates", "spikes per layer and projection on a text (+ ACs if --spike-driven)",
                      _run_firing_rates)
    p.add_argument("--spike-driven", action="store_true",
                   help="run spike-driven and report SpikeDrivenLinear.ac_count beside #spikes·out_features")
    p = _model_parser(sub, "raster", "signed spike rasters for a prompt, per layer and projection", _run_raster, 32)
    p.add_argument("--prompt", help="text to run instead of --text")
    p.add_argument("--layers", type=int, nargs="+", help="layers to draw (default: all)")
    p.add_argument("--max-neurons", type=int, default=64, help="neurons drawn per panel")
    p = _model_parser(sub, "activations", "Figures 3-4: projection-input distributions and magnitude maps",
                      _run_activations, 512)
    p.add_argument("--layer", type=int, help="layer of the Figure 4 maps (default: the last)")
    p.add_argument("--map-tokens", type=int, default=128, help="tokens shown in the Figure 4 maps")
    p = sub.add_parser("histograms", help="Figures 5-7: final-block output histograms of several checkpoints")
    p.add_argument("--model", required=True, action="append", metavar="NAME=PATH",
                   help="repeat: e.g. --model teacher=ckpt/t --model tilif=ckpt/s (the first is the reference)")
    p.add_argument("--out", required=True, help="output directory for the PNG figure and its JSON")
    p.add_argument("--bins", type=int, default=200, help="histogram bins")
    _add_text_args(p)
    p.set_defaults(run=_run_histograms, max_tokens=512)
    p = _model_parser(sub, "clamp", "Table 7: clamp each channel's max of u or y to 0/1, report the perplexity drop",
                      _run_clamp, 4096)
    p.add_argument("--layers", type=int, nargs="+", help="clamp only these layers (default: all)")
    p.add_argument("--criterion", choices=("max", "absmax"), default="max",
                   help="which channel maximum is clamped: the largest value or the largest |value|")


def _run_firing_rates(args) -> int:
    from analysis.firing_rates import count_accumulates, measure_firing_rates, plot_firing_rates, require_neurons

    model, ids, note = _load(args)
    require_neurons(model, "firing rates to measure")
    if args.spike_driven:
        result = count_accumulates(model, ids, args.seq_len)
    else:
        result = measure_firing_rates(model, ids, args.seq_len, progress=True)
    result["tokenizer_note"] = note
    png, js = plot_firing_rates(result, Path(args.out) / "firing_rates.png", source=args.model)
    print(f"fr_in {result['fr_in']} (95 % CI over windows {result['fr_in_ci95']})  fr_out {result['fr_out']} "
          f"({result['fr_out_ci95']})  spikes {result['spikes_total']} over {result['tokens']} tokens in "
          f"{len(result['windows']['tokens'])} windows" + (f"; ACs measured {result['ac_measured_total']}, "
                                           f"#spikes·out_features {result['ac_estimate_total']}" if args.spike_driven else ""))
    print(f"wrote {png} and {js}")
    return 0


def _run_raster(args) -> int:
    from analysis.figures import sides_caption
    from analysis.raster import model_spike_trains, plot_rasters
    from analysis.text import token_texts

    model, ids, note = _load(args)
    panels = model_spike_trains(model, ids[None], args.layers)
    png, js = plot_rasters(panels, Path(args.out) / "raster.png", args.max_neurons,
                           title=f"spike-driven run on {ids.numel()} tokens ({note})",
                           token_text=token_texts(ids, args.model, args.tokenizer), token_ids=ids.tolist(),
                           caption=sides_caption() + "; red +1, blue −1 spikes", source=args.model)
    print(f"wrote {png} and {js}")
    return 0


def _run_activations(args) -> int:
    from analysis.activations import write_activation_figures

    model, ids, _ = _load(args)
    paths = write_activation_figures(model, ids[None], args.out, args.layer, args.map_tokens, source=args.model)
    print("wrote " + ", ".join(p for ps in paths.values() for p in ps))
    return 0


def _run_histograms(args) -> int:
    from analysis.activations import final_block_histograms, plot_final_block_histograms

    pairs = [m.split("=", 1) for m in args.model]
    if any(len(p) != 2 for p in pairs):
        raise ValueError(f"--model takes NAME=PATH, got {args.model}")
    models, ids = {}, None
    for name, path in pairs:
        models[name], these, _ = _load(args, path)
        if ids is not None and not ids.equal(these):
            raise ValueError(f"{path} tokenizes the text differently from the first model; pass --tokenizer")
        ids = these
    hist = final_block_histograms(models, ids[None], bins=args.bins)
    png, js = plot_final_block_histograms(hist, Path(args.out) / "final_block_histograms.png",
                                          source=", ".join(args.model))
    for name, h in hist["models"].items():
        print(f"{name:>12}: mean {h['mean']:+.4f} std {h['std']:.4f} skew {h['skewness']:+.3f} "
              f"overlap with first {h['overlap_with_first']:.3f}")
    print(f"wrote {png} and {js}")
    return 0


def _run_clamp(args) -> int:
    from analysis.clamp import clamp_experiment, plot_clamp
    from analysis.perplexity import perplexity

    model, ids, note = _load(args)
    evaluate = lambda m: perplexity(m, ids, context_len=args.seq_len, progress=False).metrics()  # noqa: E731
    result = clamp_experiment(model, evaluate, layers=args.layers,
                              criterion=args.criterion)
    result["tokenizer_note"] = note
    png, js = plot_clamp(result, Path(args.out) / "clamp.png", source=args.model)
    print(f"baseline ppl {result['baseline']['ppl']:.3f}")
    for row in result["settings"]:
        print(f"{row['label']:>12}: ppl {row['metrics']['ppl']:.3f} ({row['diff']['ppl']:+.3f})")
    print(f"wrote {png} and {js}")
    return 0


class _ShowDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """--help shows each option's default where it has one (not for None / off flags)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or isinstance(action, argparse._HelpAction):
            return action.help
        return super()._get_help_string(action)


def main(argv=None) -> int:
    """Parse and run one command; errors the user can fix print one line (`models.errors.run_command`)."""
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_energy, _add_paper_tables, _add_neuron_demo, _add_model_commands):
        add(sub)
    for command in sub.choices.values():
        command.formatter_class = _ShowDefaults
    return run_command(lambda args: (parsed := parser.parse_args(args)).run(parsed), argv)


if __name__ == "__main__":
    sys.exit(main())
