"""``python -m pipelines demo`` (``make demo``): the whole SpikingMamba method end to end on a CPU, offline.

    python -m pipelines demo                  # default preset, the shipped teacher: ≤ 15 min on 2 cores
    python -m pipelines demo --quick          # smaller everything, ≤ 90 s (smoke test) -> runs/demo-quick
    python -m pipelines demo --pretrain       # pretrain the teacher here instead of loading the shipped one
    python -m pipelines demo --ship-teacher   # pretrain the default teacher and write pipelines/demo/teacher/
    python -m pipelines demo --preset paper [--run]   # the real-scale GPU recipe: print (and run) it

Stages: data (KJV corpus split, tokenizer, verse-ending task, preference set; ``prepare.py``) → teacher
(the shipped one, ``shipped.py``; or pretrained by ``python -m pipelines distill`` with ``objective: ce``,
``training.py``, cached) → in
``--jobs`` worker processes (``jobs.py``; logs in
``<out>/logs/``): the four students distilled with the same budget (``python -m pipelines distill``),
DPO/KTO on the TI-LIF + SGC student and on the teacher (``python -m pipelines rl``), TI-LIF and TI-LIF + SGC
with a second seed, and the evaluation of all nine models
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
    parser.add_argument("--pretrain", action="store_true",
                        help="pretrain the teacher from scratch (into the cache) instead of loading the shipped "
                             "one, pipelines/demo/teacher/")
    parser.add_argument("--fresh", action="store_true",
                        help="rebuild the cached data and retrain a cached teacher (the shipped one is not touched)")
    parser.add_argument("--ship-teacher", action="store_true",
                        help="pretrain the default recipe's teacher (reusing a cached pretraining unless --fresh), "
                             "write it with its model card to pipelines/demo/teacher/, and stop")
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
    if args.ship_teacher and (args.preset != "default" or args.rl):
        parser.error("--ship-teacher ships the default preset's teacher; drop --preset / --quick / --rl")
    if args.threads < 1 or args.jobs < 1:
        parser.error(f"--threads and --jobs must be >= 1, got --threads {args.threads} --jobs {args.jobs}")
    return args


def plan_jobs(recipe: DemoRecipe) -> list[Job]:
    """The parallel stage's jobs in scheduling priority, each with its planned work in token passes
    (forward = 1, forward + backward = 3). The critical path goes first — the aligned student, then
    its alignment (which waits for it) — then the teacher's alignment, the other students, the students
    distilled with a second seed, and the short teacher evaluation last, to fill the gap."""
    setting, e = recipe.setting, recipe.evaluation
    heldout_tokens = 55_000 if e.ppl_documents is None else 900 * e.ppl_documents
    evaluation = heldout_tokens * recipe.seq_len / e.ppl_stride + (e.mc_limit or recipe.data.n_mc) * 6 * 140
    distill = 5 * setting("distill", "max_steps") * setting("distill", "global_batch_size") * recipe.seq_len
    align_work = 8 * setting("align", "max_steps") * setting("align", "global_batch_size") \
        * setting("align", "max_length")
    target = student_named(recipe.align_student)
    aligned = [Job(f"align:{name}", "align", align_work + evaluation,
                   student=None if base == "teacher" else student_named(base),
                   after=() if base == "teacher" else (f"student:{base}",))
               for name, base in recipe.aligned.items()]
    students = [Job(f"student:{s.name}", "student", distill + evaluation, student=s)
                for s in [*sorted(STUDENTS, key=lambda s: s != target), *recipe.repeated]]
    return [students[0], *aligned, *students[1:], Job("evaluate:teacher", "evaluate", evaluation)]


def table_rows(recipe: DemoRecipe) -> list[str]:
    """The table's rows in order: the teacher and its alignment, each student followed by its alignment,
    the students of the second seed."""
    by_base = {base: name for name, base in recipe.aligned.items()}
    rows = [name for base in ("teacher", *(s.name for s in STUDENTS))
            for name in (base, *([by_base[base]] if base in by_base else []))]
    return rows + [s.name for s in recipe.repeated]


def row_labels(recipe: DemoRecipe) -> dict[str, dict]:
    """Per row: its step (T×D), SGC mark and seed; an aligned row also names the row it was aligned
    from (``base``), a second-seed row the row it repeats (``repeats``)."""
    loss = recipe.setting("align", "loss").upper()
    labels = {"teacher": {"step": "1 (dense)", "sgc": "–", "seed": None}}
    labels |= {s.name: {"step": s.step, "sgc": "✓" if s.sgc else "✗", "seed": s.seed}
               for s in (*STUDENTS, *recipe.repeated)}
    for name, base in recipe.aligned.items():
        labels[name] = {**labels[base], "step": f"{labels[base]['step']} + {loss}", "base": base}
    for s, name in zip(recipe.repeated, recipe.repeats):
        labels[s.name]["repeats"] = name
    return labels


def resolve_teacher(recipe: DemoRecipe, data, cache: Path, clock, pretrain: bool, fresh: bool, threads: int,
                    datasets_cache: str) -> tuple[Path, str]:
    """The teacher's run directory (the teacher is its ``final/``; the shipped folder is its own) and where
    it came from: "shipped" (``shipped.py``; unless ``pretrain``), "cached" or "pretrained" (here, now)."""
    from pipelines.demo.shipped import SHIPPED_TEACHER, shipped_for
    from pipelines.demo.training import pretrain_teacher, teacher_config

    steps, shape = recipe.setting("teacher", "max_steps"), recipe.setting("teacher", "tiny_teacher")
    shipped = None if pretrain else shipped_for(recipe, data)
    if shipped is not None:
        clock.skip("teacher")
        print(f"\nteacher: the shipped one, {shipped} ({steps} steps; --pretrain retrains it)", flush=True)
        return shipped, "shipped"
    if not pretrain:
        print(f"\nteacher: {SHIPPED_TEACHER} was made by another teacher stage or data than this recipe's; "
              "pretraining this recipe's teacher", flush=True)
    run = cache / f"teacher-{recipe.teacher_key(data.root.name, threads)}"
    if (run / "final" / "model.safetensors").is_file() and not fresh:
        clock.skip("teacher")
        print(f"teacher: reusing {run / 'final'} (--fresh retrains it)", flush=True)
        return run, "cached"
    clock.plan("teacher", planned_work(recipe, [], 1)["teacher"], after="data")
    with clock.stage("teacher", f"teacher: pretrain a {shape['n_layer']}-layer d_model={shape['d_model']} "
                                f"Mamba2 for {steps} steps"):
        pretrain_teacher(teacher_config(recipe, data, run, datasets_cache), threads)
    return run, "pretrained"


def teacher_final(teacher_run: Path) -> Path:
    """The loadable teacher of a run directory from ``resolve_teacher``."""
    return teacher_run if (teacher_run / "model.safetensors").is_file() else teacher_run / "final"


def planned_work(recipe: DemoRecipe, planned: list[Job], jobs: int) -> dict[str, float]:
    """Each stage's planned token passes, for the ETA (the parallel stage's spread over ``jobs`` workers)."""
    steps = recipe.setting("teacher", "max_steps")
    return {"data": 0.0, "teacher": 3 * steps * recipe.setting("teacher", "global_batch_size") * recipe.seq_len,
            "models": sum(j.work for j in planned) / jobs,
            "figures": 30 * recipe.evaluation.analysis_sequences * recipe.seq_len}


def ship(recipe: DemoRecipe, cache: Path, fresh: bool, threads: int, command: str) -> int:
    """``--ship-teacher``: the data and teacher stages, then ``shipped.ship_teacher``."""
    from pipelines.demo.prepare import prepare_data
    from pipelines.demo.progress import StageClock
    from pipelines.demo.shipped import SHIPPED_TEACHER, ship_teacher

    clock = StageClock({"data": 0.0, "teacher": planned_work(recipe, [], 1)["teacher"]})
    with clock.stage("data", "data: KJV split, tokenizer, verse-ending task, preference set"):
        data = prepare_data(cache, recipe.data, fresh=fresh)
    run, _ = resolve_teacher(recipe, data, cache, clock, pretrain=True, fresh=fresh, threads=threads,
                             datasets_cache=str(cache / "datasets"))
    provenance = ship_teacher(run, recipe, data, threads, command)
    print(f"\nshipped {SHIPPED_TEACHER}: held-out PPL {provenance['heldout_ppl']['teacher']:.2f} "
          f"(fresh init {provenance['heldout_ppl']['fresh_init']:.2f}); model card {SHIPPED_TEACHER / 'README.md'}")
    return 0


def run_demo(recipe: DemoRecipe, preset: str, out: Path, cache: Path, fresh: bool = False, jobs: int = 2,
             threads: int = 1, command: str = "python -m pipelines demo", pretrain: bool = False) -> dict:
    """Run every stage with ``threads`` torch threads per process; write summary.json, report.md and
    figures under ``out``; return the summary."""
    from pipelines.demo.files import write_json
    from pipelines.demo.jobs import Context, run_jobs
    from pipelines.demo.prepare import prepare_data
    from pipelines.demo.progress import StageClock, format_seconds
    from pipelines.demo.report import SUMMARY_KEYS, report_markdown, table_markdown
    from pipelines.demo.shipped import ships_teacher_stage

    out.mkdir(parents=True, exist_ok=True)
    datasets_cache = str(cache / "datasets")
    planned = plan_jobs(recipe)
    total_work = sum(j.work for j in planned)
    work = planned_work(recipe, planned, jobs)
    if not pretrain and ships_teacher_stage(recipe):  # confirmed (or planned again) once the data is known
        del work["teacher"]
    clock = StageClock(work)
    with clock.stage("data", "data: KJV split, tokenizer, verse-ending task, preference set"):
        data = prepare_data(cache, recipe.data, fresh=fresh)
    teacher_run, teacher_source = resolve_teacher(recipe, data, cache, clock, pretrain, fresh, threads, datasets_cache)
    teacher_dir = teacher_final(teacher_run)

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
                               f"{loss.upper()} on {' and '.join(recipe.aligned.values())}, "
                               f"{len(recipe.repeated)} students with seed {recipe.repeat_seed}: {len(planned)} "
                               f"jobs on {jobs} worker process(es), logs in {out / 'logs'}"):
        done = run_jobs(planned, ctx, jobs, on_status)
    order = table_rows(recipe)
    by_label = {j.label: done[j.name] for j in planned}
    results = {name: by_label[name]["result"] for name in order}
    finals = {name: Path(by_label[name]["final"]) for name in order}

    with clock.stage("figures", "figures: loss curves, final-block histograms, spike rasters, energy"):
        paths = write_figures(recipe, data, teacher_run, finals, results, out / "figures")

    summary = {
        "models": {name: {k: results[name][k] for k in SUMMARY_KEYS} for name in order},
        "meta": {
            "preset": preset, "command": command, "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "threads": ctx.threads, "jobs": jobs, "teacher_source": teacher_source, "teacher_dir": str(teacher_dir),
            "aligned_student": recipe.align_student, "aligned": recipe.aligned,
            "repeats": {s.name: name for s, name in zip(recipe.repeated, recipe.repeats)},
            "lowest_ppl_student": min(STUDENTS, key=lambda s: results[s.name]["ppl"]).name,
            "labels": row_labels(recipe), "seq_len": recipe.seq_len, "task": data.task_name,
            "mc_questions": results["teacher"]["mc_questions"],
            "ppl_tokens": results["teacher"]["ppl_details"]["tokens"],
            "data": {"root": str(data.root), "train_tokens": data.manifest["tokens"]["train"],
                     "heldout_tokens": data.manifest["tokens"]["heldout"], "bytes": data.manifest["bytes"],
                     "source": data.manifest["source"]},
            "setup": setup_lines(recipe, data, teacher_source),
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


def write_figures(recipe: DemoRecipe, data, teacher_run: Path, finals: dict, results: dict,
                  fig_dir: Path) -> dict[str, Path]:
    """The four figures of the report (``figures.py``) on the same held-out tokens; returns their PNGs.
    The students of the second seed are left out of the figures (they repeat their first seed's)."""
    teacher_dir = teacher_final(teacher_run)
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
            "alignment": {name: out / "align" / name for name in recipe.aligned}}
    target = student_named(recipe.align_student)
    spiking = {s.name: s.sgc for s in STUDENTS} | {name: target.sgc for name, base in recipe.aligned.items()
                                                   if base == target.name}
    return {
        "loss curves": figures.plot_loss_curves(runs, fig_dir / "loss_curves.png")[0],
        "final-block output histograms (Figures 5–7)": figures.plot_histograms(
            models, batch, fig_dir / "final_block_hist.png")[0],
        "spike rasters": figures.plot_spike_rasters(
            {k: v for k, v in models.items() if k != "teacher"}, batch[:, : ev.raster_tokens],
            fig_dir / "spike_rasters.png")[0],
        "energy (Figure 2)": figures.plot_energy_bars(
            {name: results[name] for name in spiking}, spiking, fig_dir / "energy.png")[0],
    }


def setup_lines(recipe: DemoRecipe, data, teacher_source: str) -> list[str]:
    t, d, a = ({key: recipe.setting(stage, key) for key in ("max_steps", "global_batch_size", "lr")}
               for stage in ("teacher", "distill", "align"))
    shape, n = recipe.setting("teacher", "tiny_teacher"), recipe.seq_len
    tokens = data.manifest["tokens"]
    origin = {"shipped": "the shipped teacher (pipelines/demo/teacher/, made by this stage once; its model card "
                         "says how)", "cached": "pretrained earlier by this stage (cached)",
              "pretrained": "pretrained in this run"}[teacher_source]
    aligned = ", ".join(f"{base} (reference = {base})" for base in recipe.aligned.values())
    return [
        f"Corpus: {data.manifest['source']}; {data.manifest['documents']['train']} training chapters "
        f"({tokens['train']:,} tokens), {data.manifest['documents']['heldout']} held-out chapters "
        f"({tokens['heldout']:,} tokens); byte-level BPE of {data.manifest['vocab']} tokens.",
        f"Teacher: Mamba2, {shape['n_layer']} layers, d_model {shape['d_model']}, d_state {shape['d_state']}, "
        f"headdim {shape['headdim']}; {t['max_steps']} steps × {t['global_batch_size']} × {n} tokens "
        f"({t['max_steps'] * t['global_batch_size'] * n:,} tokens), AdamW lr {t['lr']}, cosine; {origin}.",
        f"Students: from the teacher's weights, embedding frozen; L = L_KL + "
        f"{recipe.setting('distill', 'hidden_weight')}·L_hidden (Eq 12–13); {d['max_steps']} steps × "
        f"{d['global_batch_size']} × {n} tokens each, lr {d['lr']}; SGC on blocks first/middle/last for "
        f"{', '.join(s.name for s in STUDENTS if s.sgc)}; "
        + (f"{', '.join(recipe.repeats)} distilled again with seed {recipe.repeat_seed} (another data order: "
           f"{', '.join(s.name for s in recipe.repeated)})." if recipe.repeats else "one seed."),
        f"Alignment: {recipe.setting('align', 'loss').upper()} (β {recipe.setting('align', 'beta')}) of "
        f"{aligned}; {a['max_steps']} steps × {a['global_batch_size']} pairs, lr {a['lr']}; preference pairs from "
        "training chapters (the true ending of a verse preferred over an ending from another chapter).",
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
        if args.ship_teacher:
            return ship(recipe, cache, args.fresh, args.threads, command)
        run_demo(recipe, args.preset, out, cache, fresh=args.fresh, jobs=args.jobs, threads=args.threads,
                 command=command, pretrain=args.pretrain)
    except (ValueError, FileNotFoundError, FloatingPointError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
