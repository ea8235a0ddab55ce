"""``python -m pipelines demo`` (``make demo``): the whole SpikingMamba method end to end on a CPU, offline.

    python -m pipelines demo                  # default preset: ≤ 20 min on 2 cores (teacher included)
    python -m pipelines demo --quick          # smaller everything, ≤ 3 min (smoke test) -> runs/demo-quick
    python -m pipelines demo --fresh          # rebuild the data and retrain the cached teacher
    python -m pipelines demo --preset paper [--run]   # the real-scale GPU recipe: print (and run) it

Stages: data (KJV corpus split, tokenizer, verse-ending task, preference set; ``prepare.py``) → teacher
pretraining (``python -m pipelines distill`` with ``objective: ce``, ``training.py``; cached) → in
``--jobs`` worker processes (``jobs.py``; logs in
``<out>/logs/``): the four students distilled with the same budget (``python -m pipelines distill``),
DPO/KTO on the TI-LIF + SGC student (``python -m pipelines rl``), and the evaluation of all six models
(held-out perplexity, the lm-eval task, firing rates, E_A/E_S; ``evaluate.py``) → figures and
``report.md`` / ``summary.json`` (``figures.py``, ``report.py``).

Outputs (``--out``, default ``runs/demo``): ``summary.json``, ``report.md``, ``figures/``,
``eval/<model>.json`` (every measured number), ``students/<name>/`` and ``align/`` (the training runs,
with ``config.yaml`` and ``metrics.jsonl``). Cache (``--cache-dir``, default ``<out>/cache``):
``data-<key>/`` and ``teacher-<key>/`` (the pretraining run; the teacher is its ``final/``), keyed on
every setting that changes them; a run reuses them unless ``--fresh``.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import shlex
import sys
from pathlib import Path

from pipelines.demo.jobs import Job
from pipelines.demo.recipe import PRESETS, STUDENTS, DemoRecipe, Student, student_named

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
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="worker processes for the students and evaluations (default: %(default)s, "
                             "the number of cores up to 2)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per process (default: 1; see pipelines/demo/jobs.py for why)")
    args = parser.parse_args(argv)
    if args.quick:
        if args.preset not in ("default", "quick"):
            parser.error(f"--quick conflicts with --preset {args.preset}")
        args.preset = "quick"
    if args.run and args.preset != "paper":
        parser.error("--run applies to --preset paper only (the CPU presets always run)")
    if args.threads < 1 or args.jobs < 1:
        parser.error(f"--threads and --jobs must be >= 1, got --threads {args.threads} --jobs {args.jobs}")
    return args


def plan_jobs(recipe: DemoRecipe) -> list[Job]:
    """The parallel stage's jobs in scheduling priority, each with its planned work in token passes
    (forward = 1, forward + backward = 3). The critical path goes first — the aligned student, then
    its alignment (which waits for it) — and the short teacher evaluation last, to fill the gap."""
    setting, e = recipe.setting, recipe.evaluation
    heldout_tokens = 55_000 if e.ppl_documents is None else 900 * e.ppl_documents
    evaluation = heldout_tokens * recipe.seq_len / e.ppl_stride + (e.mc_limit or recipe.data.n_mc) * 6 * 140
    distill = 5 * setting("distill", "max_steps") * setting("distill", "global_batch_size") * recipe.seq_len
    align_work = 8 * setting("align", "max_steps") * setting("align", "global_batch_size") \
        * setting("align", "max_length")
    target = student_named(recipe.align_student)
    align = Job(f"align:{aligned_name(recipe)}", "align", align_work + evaluation, student=target,
                after=(f"student:{target.name}",))
    students = [Job(f"student:{s.name}", "student", distill + evaluation, student=s)
                for s in sorted(STUDENTS, key=lambda s: s != target)]
    return [students[0], align, *students[1:], Job("evaluate:teacher", "evaluate", evaluation)]


def aligned_name(recipe: DemoRecipe) -> str:
    return f"{recipe.align_student}_{recipe.setting('align', 'loss')}"


def run_demo(recipe: DemoRecipe, preset: str, out: Path, cache: Path, fresh: bool = False, jobs: int = 2,
             threads: int = 1, command: str = "python -m pipelines demo") -> dict:
    """Run every stage with ``threads`` torch threads per process; write summary.json, report.md and
    figures under ``out``; return the summary."""
    from pipelines.demo.files import write_json
    from pipelines.demo.jobs import Context, run_jobs
    from pipelines.demo.prepare import prepare_data
    from pipelines.demo.progress import StageClock, format_seconds
    from pipelines.demo.report import SUMMARY_KEYS, report_markdown, table_markdown
    from pipelines.demo.training import pretrain_teacher, teacher_config

    out.mkdir(parents=True, exist_ok=True)
    datasets_cache = str(cache / "datasets")
    steps, shape = recipe.setting("teacher", "max_steps"), recipe.setting("teacher", "tiny_teacher")
    planned = plan_jobs(recipe)
    total_work = sum(j.work for j in planned)
    work = {"data": 0.0, "teacher": 3 * steps * recipe.setting("teacher", "global_batch_size") * recipe.seq_len,
            "models": total_work / jobs, "figures": 30 * recipe.evaluation.analysis_sequences * recipe.seq_len}
    clock = StageClock(work)
    with clock.stage("data", "data: KJV split, tokenizer, verse-ending task, preference set"):
        data = prepare_data(cache, recipe.data, fresh=fresh)
    teacher_run = cache / f"teacher-{recipe.teacher_key(data.root.name, threads)}"
    teacher_dir = teacher_run / "final"
    cached = (teacher_dir / "model.safetensors").is_file() and not fresh
    if cached:
        clock.skip("teacher")
        print(f"\nteacher: reusing {teacher_dir} (--fresh retrains it)", flush=True)
    else:
        with clock.stage("teacher", f"teacher: pretrain a {shape['n_layer']}-layer d_model={shape['d_model']} "
                                    f"Mamba2 for {steps} steps"):
            pretrain_teacher(teacher_config(recipe, data, teacher_run, datasets_cache), threads)


    def on_status(done, running, finished):
        for r in finished:
            m = r["result"]
            print(f"  done {r['name']} in {format_seconds(r['seconds'])}: held-out PPL {m['ppl']:.2f}, "
                  f"acc {100 * m['acc']:.1f} %", flush=True)
        if running:
            print(f"  {clock.status('models', done / total_work)} · " +
                  " | ".join(f"{name}: {line}" for name, line in running.items()), flush=True)

    ctx = Context(recipe, data, teacher_dir, out, datasets_cache, threads=threads)
    loss = recipe.setting("align", "loss")
    with clock.stage("models", f"teacher evaluation, {len(STUDENTS)} students (distil + evaluate), "
                               f"{loss.upper()} on {recipe.align_student}: {len(planned)} jobs on "
                               f"{jobs} worker process(es), logs in {out / 'logs'}"):
        done = run_jobs(planned, ctx, jobs, on_status)
    aligned, target = aligned_name(recipe), student_named(recipe.align_student)
    order = ["teacher", *(s.name for s in STUDENTS), aligned]   # the table's order
    by_label = {j.name.split(":")[-1]: done[j.name] for j in planned}
    results = {name: by_label[name]["result"] for name in order}
    finals = {name: Path(by_label[name]["final"]) for name in order}

    with clock.stage("figures", "figures: loss curves, final-block histograms, spike rasters, energy"):
        paths = write_figures(recipe, data, teacher_run, finals, results, out / "figures", aligned, target)

    labels = {"teacher": {"step": "1 (dense)", "sgc": "–"}}
    labels |= {s.name: {"step": s.step, "sgc": "✓" if s.sgc else "✗"} for s in STUDENTS}
    labels[aligned] = {"step": f"{target.step} + {loss.upper()}", "sgc": labels[target.name]["sgc"]}
    summary = {
        "models": {name: {k: results[name][k] for k in SUMMARY_KEYS} for name in order},
        "meta": {
            "preset": preset, "command": command, "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "threads": ctx.threads, "jobs": jobs, "teacher_cached": cached, "teacher_dir": str(teacher_dir),
            "aligned_student": target.name, "aligned": aligned,
            "lowest_ppl_student": min(STUDENTS, key=lambda s: results[s.name]["ppl"]).name,
            "labels": labels, "seq_len": recipe.seq_len, "task": data.task_name,
            "mc_questions": results["teacher"]["mc_questions"],
            "ppl_tokens": results["teacher"]["ppl_details"]["tokens"],
            "data": {"root": str(data.root), "train_tokens": data.manifest["tokens"]["train"],
                     "heldout_tokens": data.manifest["tokens"]["heldout"], "bytes": data.manifest["bytes"],
                     "source": data.manifest["source"]},
            "setup": setup_lines(recipe, data, target.name),
            "recipe": dataclasses.asdict(recipe),
            "seconds": {**{k: round(v, 1) for k, v in clock.seconds.items()}, "total": round(clock.total, 1)},
            "job_seconds": {name: round(r["seconds"], 1) for name, r in done.items()},
            "cpu_seconds": {**{k: round(v, 1) for k, v in clock.cpu_seconds.items()},
                            **{name: round(r["cpu_seconds"], 1) for name, r in done.items()}},
        },
    }
    write_json(out / "summary.json", summary)
    (out / "report.md").write_text(report_markdown(summary, {k: str(Path(p).relative_to(out)) for k, p in paths.items()}))
    print("\n" + table_markdown(summary))
    print(f"\nwall time {clock.total / 60:.1f} min; report: {out / 'report.md'}; numbers: {out / 'summary.json'}")
    return summary


def write_figures(recipe: DemoRecipe, data, teacher_run: Path, finals: dict, results: dict, fig_dir: Path,
                  aligned: str, target: Student) -> dict[str, Path]:
    """The four figures of the report (``figures.py``) on the same held-out tokens; returns their PNGs."""
    teacher_dir = teacher_run / "final"
    from transformers import AutoTokenizer

    from models import SpikingMambaForCausalLM
    from pipelines.demo import figures
    from pipelines.demo.evaluate import analysis_batch, heldout_stream

    ev = recipe.evaluation
    _, stream = heldout_stream(data, AutoTokenizer.from_pretrained(teacher_dir), ev.ppl_documents)
    batch = analysis_batch(stream, ev.analysis_sequences, recipe.seq_len)
    models = {"teacher": SpikingMambaForCausalLM.from_pretrained(str(teacher_dir)).eval()}
    models |= {s.name: SpikingMambaForCausalLM.from_pretrained(str(finals[s.name])).eval() for s in STUDENTS}
    out = fig_dir.parent
    runs = {"teacher": {"teacher": teacher_run}, "students": {s.name: out / "students" / s.name for s in STUDENTS},
            "alignment": {aligned: out / "align"}}
    return {
        "loss curves": figures.plot_loss_curves(runs, fig_dir / "loss_curves.png")[0],
        "final-block output histograms (Figures 5–7)": figures.plot_histograms(
            models, batch, fig_dir / "final_block_hist.png")[0],
        "spike rasters": figures.plot_spike_rasters(
            {k: v for k, v in models.items() if k != "teacher"}, batch[:, : ev.raster_tokens],
            fig_dir / "spike_rasters.png")[0],
        "energy (Figure 2)": figures.plot_energy_bars(
            results, {s.name: s.sgc for s in STUDENTS} | {aligned: target.sgc}, fig_dir / "energy.png")[0],
    }


def setup_lines(recipe: DemoRecipe, data, aligned_student: str) -> list[str]:
    t, d, a = ({key: recipe.setting(stage, key) for key in ("max_steps", "global_batch_size", "lr")}
               for stage in ("teacher", "distill", "align"))
    shape, n = recipe.setting("teacher", "tiny_teacher"), recipe.seq_len
    tokens = data.manifest["tokens"]
    return [
        f"Corpus: {data.manifest['source']}; {data.manifest['documents']['train']} training chapters "
        f"({tokens['train']:,} tokens), {data.manifest['documents']['heldout']} held-out chapters "
        f"({tokens['heldout']:,} tokens); byte-level BPE of {data.manifest['vocab']} tokens.",
        f"Teacher: Mamba2, {shape['n_layer']} layers, d_model {shape['d_model']}, d_state {shape['d_state']}, "
        f"headdim {shape['headdim']}; {t['max_steps']} steps × {t['global_batch_size']} × {n} tokens "
        f"({t['max_steps'] * t['global_batch_size'] * n:,} tokens), AdamW lr {t['lr']}, cosine.",
        f"Students: from the teacher's weights, embedding frozen; L = L_KL + "
        f"{recipe.setting('distill', 'hidden_weight')}·L_hidden (Eq 12–13); {d['max_steps']} steps × "
        f"{d['global_batch_size']} × {n} tokens each, lr {d['lr']}; SGC on blocks first/middle/last for "
        f"{', '.join(s.name for s in STUDENTS if s.sgc)}.",
        f"Alignment: {recipe.setting('align', 'loss').upper()} (β {recipe.setting('align', 'beta')}) on "
        f"{aligned_student} (the paper's full model), reference = {aligned_student}; "
        f"{a['max_steps']} steps × {a['global_batch_size']} pairs, lr {a['lr']}; preference pairs from training "
        "chapters (the true ending of a verse preferred over an ending from another chapter).",
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.preset == "paper":
        from pipelines.demo.paper import main as paper_main

        return paper_main(args.paper_size, run=args.run)
    import torch

    torch.set_num_threads(args.threads)
    recipe = PRESETS[args.preset]
    if args.rl:
        recipe = recipe.override(align={"loss": args.rl})
    out = Path(args.out or DEFAULT_OUT[args.preset])
    cache = Path(args.cache_dir) if args.cache_dir else out / "cache"
    command = shlex.join(["python", "-m", "pipelines", "demo", *(sys.argv[1:] if argv is None else argv)])
    try:
        run_demo(recipe, args.preset, out, cache, fresh=args.fresh, jobs=args.jobs, threads=args.threads,
                 command=command)
    except (ValueError, FileNotFoundError, FloatingPointError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
