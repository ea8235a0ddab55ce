"""``python -m pipelines demo`` (``make demo``): the whole SpikingMamba method end to end on a CPU, offline.

    python -m pipelines demo                  # default preset: ≤ 20 min on 2 cores (teacher included)
    python -m pipelines demo --quick          # smaller everything, ≤ 3 min (smoke test) -> runs/demo-quick
    python -m pipelines demo --fresh          # rebuild the data and retrain the cached teacher
    python -m pipelines demo --preset paper [--run]   # the real-scale GPU recipe: print (and run) it

Stages: data (KJV corpus split, tokenizer, verse-ending task, preference set; ``prepare.py``) → teacher
pretraining (``pretrain.py``, cached) → the four students distilled with the same budget
(``python -m pipelines distill``) → DPO/KTO on the TI-LIF + SGC student (``python -m pipelines rl``) →
evaluation of all six models (held-out perplexity, the lm-eval task, firing rates, E_A/E_S;
``evaluate.py``) → figures and ``report.md`` / ``summary.json`` (``figures.py``, ``report.py``).

Outputs (``--out``, default ``runs/demo``): ``summary.json``, ``report.md``, ``figures/``,
``eval/<model>.json`` (every measured number), ``students/<name>/`` and ``align/`` (the training runs,
with ``config.yaml`` and ``metrics.jsonl``). Cache (``--cache-dir``, default ``<out>/cache``):
``data-<key>/`` and ``teacher-<key>/``, keyed on every setting that changes them; a run reuses them
unless ``--fresh``.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import shlex
import sys
from pathlib import Path

from pipelines.demo.recipe import PRESETS, STUDENTS, DemoRecipe

DEFAULT_OUT = {"default": "runs/demo", "quick": "runs/demo-quick"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipelines demo", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    parser.add_argument("--preset", choices=[*PRESETS, "paper"], default="default",
                        help="recipe size (default: %(default)s); 'paper' prints the real-scale GPU recipe")
    parser.add_argument("--quick", action="store_true", help="same as --preset quick")
    parser.add_argument("--run", action="store_true", help="with --preset paper: run the printed commands")
    parser.add_argument("--paper-size", choices=["130m", "1.3b"], default="1.3b",
                        help="with --preset paper: the hub teacher (default: %(default)s)")
    parser.add_argument("--out", help="output directory (default: runs/demo, or runs/demo-quick with --quick)")
    parser.add_argument("--cache-dir", help="data and teacher cache (default: OUT/cache)")
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached data and retrain the teacher")
    parser.add_argument("--rl", choices=["dpo", "kto"], help="alignment objective (default: the preset's, dpo)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.quick:
        if args.preset not in ("default", "quick"):
            parser.error(f"--quick conflicts with --preset {args.preset}")
        args.preset = "quick"
    if args.run and args.preset != "paper":
        parser.error("--run applies to --preset paper only (the CPU presets always run)")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    return args


def stage_work(recipe: DemoRecipe) -> dict[str, float]:
    """Planned work per stage in token passes (forward = 1, forward + backward = 3), for the ETA."""
    t, d, a, e = recipe.teacher, recipe.distill, recipe.align, recipe.evaluation
    heldout_tokens = 55_000 if e.ppl_documents is None else 900 * e.ppl_documents
    mc = (e.mc_limit or recipe.data.n_mc) * 4 * 140
    evaluation = heldout_tokens * t.seq_len / e.ppl_stride + mc + 4 * e.analysis_sequences * t.seq_len
    work = {"data": 2e4, "teacher": 3 * t.max_steps * t.global_batch_size * t.seq_len, "eval_teacher": evaluation}
    for s in STUDENTS:
        work[f"distill_{s.name}"] = 5 * d.max_steps * d.global_batch_size * t.seq_len
        work[f"eval_{s.name}"] = evaluation
    work["align"] = 8 * a.max_steps * a.global_batch_size * a.max_length
    work["eval_aligned"] = evaluation
    work["figures"] = 30 * e.analysis_sequences * t.seq_len
    return work


def run_demo(recipe: DemoRecipe, preset: str, out: Path, cache: Path, fresh: bool = False,
             command: str = "python -m pipelines demo") -> dict:
    """Run every stage; write summary.json, report.md and figures under ``out``; return the summary."""
    import torch
    from lm_eval.tasks import TaskManager
    from transformers import AutoTokenizer

    from models import SpikingMambaForCausalLM
    from pipelines.demo import figures
    from pipelines.demo.evaluate import analysis_batch, evaluate, heldout_stream
    from pipelines.demo.files import write_json
    from pipelines.demo.prepare import prepare_data
    from pipelines.demo.pretrain import pretrain_teacher
    from pipelines.demo.progress import StageClock
    from pipelines.demo.report import SUMMARY_KEYS, report_markdown, table_markdown
    from pipelines.demo.training import align_student, distill_student

    out.mkdir(parents=True, exist_ok=True)
    datasets_cache = str(cache / "datasets")
    clock = StageClock(stage_work(recipe))
    with clock.stage("data", "data: KJV split, tokenizer, verse-ending task, preference set"):
        data = prepare_data(cache, recipe.data, fresh=fresh)
    teacher_dir = cache / f"teacher-{recipe.teacher_key(data.root.name)}"
    cached = (teacher_dir / "model.safetensors").is_file() and not fresh
    if cached:
        clock.skip("teacher")
        print(f"\nteacher: reusing {teacher_dir} (--fresh retrains it)", flush=True)
    else:
        with clock.stage("teacher", f"teacher: pretrain a {recipe.teacher.n_layer}-layer d_model="
                                    f"{recipe.teacher.d_model} Mamba2 for {recipe.teacher.max_steps} steps"):
            pretrain_teacher(recipe.teacher, data.train, data.heldout, data.tokenizer, teacher_dir, datasets_cache)

    tokenizer = AutoTokenizer.from_pretrained(teacher_dir)
    manager = TaskManager(include_path=str(data.task_dir), include_defaults=False)  # only our task: fast
    results, runs = {}, {"teacher": {"teacher": teacher_dir}, "students": {}, "alignment": {}}
    eval_dir = out / "eval"

    def evaluate_stage(key: str, name: str, path: Path) -> None:
        with clock.stage(key, f"evaluate {name}: held-out perplexity, verse-ending task, firing rates, energy"):
            results[name] = evaluate(path, name, data, recipe, manager, tokenizer, eval_dir)
            write_json(eval_dir / f"{name}.json", results[name])

    evaluate_stage("eval_teacher", "teacher", teacher_dir)
    finals = {}
    for s in STUDENTS:
        with clock.stage(f"distill_{s.name}", f"distil {s.name} ({s.neuron}, 1×{'±' if s.neuron == 'tilif' else ''}"
                                              f"{s.D}, SGC {'on' if s.sgc else 'off'}), {recipe.distill.max_steps} steps"):
            finals[s.name] = distill_student(recipe, s, teacher_dir, data, out / "students" / s.name, datasets_cache)
        runs["students"][s.name] = out / "students" / s.name
        evaluate_stage(f"eval_{s.name}", s.name, finals[s.name])

    target = next(s for s in STUDENTS if s.name == recipe.align.student)
    aligned = f"{target.name}_{recipe.align.loss}"
    with clock.stage("align", f"{recipe.align.loss.upper()} on {target.name}, {recipe.align.max_steps} steps"):
        finals[aligned] = align_student(recipe, target, out / "students" / target.name, data, out / "align",
                                        datasets_cache)
    runs["alignment"][aligned] = out / "align"
    evaluate_stage("eval_aligned", aligned, finals[aligned])

    with clock.stage("figures", "figures: loss curves, final-block histograms, spike rasters, energy"):
        _, stream = heldout_stream(data, tokenizer, recipe.evaluation.ppl_documents)
        batch = analysis_batch(stream, recipe.evaluation.analysis_sequences, recipe.teacher.seq_len)
        models = {"teacher": SpikingMambaForCausalLM.from_pretrained(str(teacher_dir)).eval()}
        models |= {s.name: SpikingMambaForCausalLM.from_pretrained(str(finals[s.name])).eval() for s in STUDENTS}
        fig_dir = out / "figures"
        paths = {
            "loss curves": figures.plot_loss_curves(runs, fig_dir / "loss_curves.png")[0],
            "final-block output histograms (Figures 5–7)": figures.plot_histograms(
                models, batch, fig_dir / "final_block_hist.png")[0],
            "spike rasters": figures.plot_spike_rasters(
                {k: v for k, v in models.items() if k != "teacher"},
                batch[:, : recipe.evaluation.raster_tokens], fig_dir / "spike_rasters.png")[0],
            "energy (Figure 2)": figures.plot_energy_bars(
                results, {s.name: s.sgc for s in STUDENTS} | {aligned: target.sgc}, fig_dir / "energy.png")[0],
        }
        del models

    labels = {"teacher": {"step": "1 (dense)", "sgc": "–"}}
    labels |= {s.name: {"step": s.step, "sgc": "✓" if s.sgc else "✗"} for s in STUDENTS}
    labels[aligned] = {"step": f"{target.step} + {recipe.align.loss.upper()}", "sgc": labels[target.name]["sgc"]}
    t = recipe.teacher
    summary = {
        "models": {name: {k: r[k] for k in SUMMARY_KEYS} for name, r in results.items()},
        "meta": {
            "preset": preset, "command": command, "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "threads": torch.get_num_threads(), "teacher_cached": cached, "teacher_dir": str(teacher_dir),
            "aligned_student": target.name, "aligned": aligned,
            "lowest_ppl_student": min(STUDENTS, key=lambda s: results[s.name]["ppl"]).name, "labels": labels, "seq_len": t.seq_len,
            "task": data.task_name, "mc_questions": results["teacher"]["mc_questions"],
            "ppl_tokens": results["teacher"]["ppl_details"]["tokens"],
            "data": {"root": str(data.root), "train_tokens": data.manifest["tokens"]["train"],
                     "heldout_tokens": data.manifest["tokens"]["heldout"], "bytes": data.manifest["bytes"],
                     "source": data.manifest["source"]},
            "setup": setup_lines(recipe, data, target.name),
            "recipe": dataclasses.asdict(recipe),
            "seconds": {**{k: round(v, 1) for k, v in clock.seconds.items()}, "total": round(clock.total, 1)},
            "cpu_seconds": {k: round(v, 1) for k, v in clock.cpu_seconds.items()},
        },
    }
    write_json(out / "summary.json", summary)
    (out / "report.md").write_text(report_markdown(summary, {k: str(Path(p).relative_to(out)) for k, p in paths.items()}))
    print("\n" + table_markdown(summary))
    print(f"\nwall time {clock.total / 60:.1f} min; report: {out / 'report.md'}; numbers: {out / 'summary.json'}")
    return summary


def setup_lines(recipe: DemoRecipe, data, aligned_student: str) -> list[str]:
    t, d, a = recipe.teacher, recipe.distill, recipe.align
    tokens = data.manifest["tokens"]
    return [
        f"Corpus: {data.manifest['source']}; {data.manifest['documents']['train']} training chapters "
        f"({tokens['train']:,} tokens), {data.manifest['documents']['heldout']} held-out chapters "
        f"({tokens['heldout']:,} tokens); byte-level BPE of {data.manifest['vocab']} tokens.",
        f"Teacher: Mamba2, {t.n_layer} layers, d_model {t.d_model}, d_state {t.d_state}, headdim {t.headdim}; "
        f"{t.max_steps} steps × {t.global_batch_size} × {t.seq_len} tokens "
        f"({t.max_steps * t.global_batch_size * t.seq_len:,} tokens), AdamW lr {t.lr}, cosine.",
        f"Students: from the teacher's weights, embedding frozen; L = L_KL + {d.hidden_weight}·L_hidden (Eq 12–13); "
        f"{d.max_steps} steps × {d.global_batch_size} × {t.seq_len} tokens each, lr {d.lr}; SGC on blocks "
        f"first/middle/last for tilif_sgc.",
        f"Alignment: {a.loss.upper()} (β {a.beta}) on {aligned_student} (the paper's full model), reference = {aligned_student}; "
        f"{a.max_steps} steps × {a.global_batch_size} pairs, lr {a.lr}; preference pairs from training chapters "
        "(the true ending of a verse preferred over an ending from another chapter).",
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.preset == "paper":
        from pipelines.demo.paper import main as paper_main

        return paper_main(args.paper_size, run=args.run)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = PRESETS[args.preset]
    if args.rl:
        recipe = dataclasses.replace(recipe, align=dataclasses.replace(recipe.align, loss=args.rl))
    out = Path(args.out or DEFAULT_OUT[args.preset])
    cache = Path(args.cache_dir) if args.cache_dir else out / "cache"
    command = shlex.join(["python", "-m", "pipelines", "demo", *(sys.argv[1:] if argv is None else argv)])
    try:
        run_demo(recipe, args.preset, out, cache, fresh=args.fresh, command=command)
    except (ValueError, FileNotFoundError, FloatingPointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
