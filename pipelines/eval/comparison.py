"""Evaluate a teacher and its students the same way and tabulate them (Tables 2 and 4).

Each model is loaded once (``SpikingMambaLM``, the lm-eval model of ``harness.py``), run through
lm-eval on the requested tasks (0-shot unless ``num_fewshot``), then through ``perplexity.py`` on
the requested corpora with the same weights and tokenizer, and freed before the next one.
The teacher loads as plain Mamba2 (``neuron=none``); students load with their saved neurons unless
``neuron``/``D`` are given. Aligned models (``LABEL=PATH:BASE``, the output of ``python -m pipelines rl``
on the teacher or on a student) load as their base does and get an ``RL gain`` over it (``table.py``).

Every task's dataset is read once, before any model runs (``zero_shot.load_tasks``: a task that needs an
unreachable hub dataset is named at once). Each task then runs on its own, so results are kept as they
finish: ``lm_eval/<label>/<task>.json`` (lm-eval's full results) and ``comparison.partial.json`` (every row
so far, rewritten after each task and corpus). An error or Ctrl-C mid-way leaves both (the exception gets a
note naming the file); a finished run writes ``comparison.md`` / ``comparison.json`` (the table, with
per-model details) and removes the partial file. Torch and lm-eval load only when a model is evaluated.
"""
from __future__ import annotations

import gc
import json
import time
from pathlib import Path

from tqdm import tqdm

from pipelines.atomic import atomic_write_text

from .perplexity import check_corpus, corpus_perplexity
from .table import ComparisonTable, ModelRow
from .zero_shot import (check_metrics, extract_scores, extract_stderrs, lm_eval_task_names, load_tasks,
                        resolve_task_metrics, run_zero_shot, task_manager)

PARTIAL = "comparison.partial.json"


def model_label(spec) -> tuple[str, str]:
    """``PATH``, ``LABEL=PATH`` or ``(LABEL, PATH)`` -> (label, path); the label defaults to the dir name."""
    if isinstance(spec, tuple):
        label, path = spec
        return str(label), str(path)
    spec = str(spec)
    label, sep, path = spec.partition("=")
    if sep and label and not Path(spec).exists():
        return label, path
    return Path(spec).name or spec, spec


def aligned_label(spec) -> tuple[str, str, str]:
    """``LABEL=PATH:BASE`` or ``(LABEL, PATH, BASE)`` -> (label, path, base label); the label defaults as
    in ``model_label``."""
    if isinstance(spec, tuple):
        label, path, base = spec
        return str(label), str(path), str(base)
    rest, sep, base = str(spec).rpartition(":")
    if not (sep and rest and base):
        raise ValueError(f"aligned model {spec!r} names no base: write [LABEL=]PATH:BASE_LABEL, BASE_LABEL "
                         "being the --teacher or --student row it was aligned from")
    return (*model_label(rest), base)


def evaluate_model(path: str, *, label: str, tasks=("paper",), ppl=(), neuron: str | None = None,
                   D: int | None = None, spike_driven: bool = False, tokenizer: str | None = None,
                   device: str = "cpu", dtype: str = "float32", batch_size: int = 1,
                   include_path=None, manager=None, loaded=None, limit=None, num_fewshot=None,
                   context_len: int = 2048, stride: int | None = None, out_dir: str | Path | None = None,
                   on_result=None) -> ModelRow:
    """Zero-shot scores (with standard errors) and perplexities of one checkpoint -> a table row.

    ``manager``: an lm-eval TaskManager to reuse (default: one over lm-eval's tasks, ours and
    ``include_path``); ``loaded``: its ``load_tasks`` for these tasks, to reuse (checked with ``check_metrics``
    by the caller); ``on_result(row)`` is
    called after each task and corpus with the row so far."""
    from .harness import SpikingMambaLM

    columns = resolve_task_metrics(list(tasks))
    names = lm_eval_task_names(columns)
    manager = manager if manager is not None or not columns else task_manager(names, include_path)
    if loaded is None and columns:
        loaded = load_tasks(manager, names)
        check_metrics(columns, loaded)
    start = time.perf_counter()
    lm = SpikingMambaLM(pretrained=path, neuron=neuron, D=D, spike_driven=spike_driven,
                        tokenizer=tokenizer, device=device, dtype=dtype, batch_size=batch_size)
    row = ModelRow(label=label, info={
        "path": str(path), "neuron_in": lm.config.neuron_in, "neuron_out": lm.config.neuron_out,
        "D": lm.config.D, "spike_driven": spike_driven, "tokenizer": lm.tokenizer.name_or_path,
        "n_samples": {}, "perplexity": {},
    })
    done = on_result or (lambda _row: None)
    for name in names:
        own = [c for c in columns if c.task == name]
        results = run_zero_shot(lm, loaded[name], manager, limit=limit, num_fewshot=num_fewshot)
        row.zero_shot |= extract_scores(results, own)
        row.stderr |= extract_stderrs(results, own)
        row.info["n_samples"] |= {t: results["n-samples"][t]["effective"] for t in results["n-samples"]}
        if out_dir is not None:
            raw = Path(out_dir) / "lm_eval" / label.replace("/", "_") / f"{name}.json"
            atomic_write_text(raw, json.dumps(results, indent=2, default=str) + "\n")
        done(row)
    for spec in ppl:
        result = corpus_perplexity(lm.model, lm.tokenizer, spec, context_len=context_len, stride=stride,
                                   batch_size=batch_size)
        if result.corpus in row.perplexity:
            raise ValueError(f"two perplexity corpora are both labelled {result.corpus!r}; rename one file")
        row.perplexity[result.corpus] = result.ppl
        row.info["perplexity"][result.corpus] = result.to_dict()
        done(row)
    row.info["seconds"] = round(time.perf_counter() - start, 3)
    del lm
    gc.collect()
    return row


def compare(students, teacher, *, aligned=(), tasks=("paper",), ppl=(), out_dir: str | Path | None = None,
            student_neuron: str | None = None, student_D: int | None = None, spike_driven: bool = False,
            **options) -> ComparisonTable:
    """Evaluate ``teacher``, every student and every aligned model; return (and save to ``out_dir``) the
    comparison table.

    ``students``: paths, ``LABEL=PATH`` strings or (label, path) pairs; ``teacher`` likewise.
    ``aligned``: ``LABEL=PATH:BASE`` strings or (label, path, base) triples, BASE the teacher's or a
    student's label. ``student_neuron`` / ``student_D`` / ``spike_driven`` apply to the students (and to
    models aligned from a student) only; ``options`` go to ``evaluate_model`` for every model (tokenizer,
    device, dtype, batch_size, include_path, limit, num_fewshot, context_len, stride).
    """
    from .harness import check_checkpoint

    if not students:
        raise ValueError("give at least one student checkpoint to compare with the teacher")
    specs = [(model_label(teacher), True, None)] + [(model_label(s), False, None) for s in students]
    teacher_label = specs[0][0][0]
    for spec in aligned:
        label, path, base = aligned_label(spec)
        specs.append(((label, path), base == teacher_label, base))
    labels = [label for (label, _), _, _ in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"model labels {labels} repeat; name each checkpoint, e.g. --student LABEL=PATH")
    bad = [base for _, _, base in specs if base is not None and base not in labels[: 1 + len(students)]]
    if bad:
        raise ValueError(f"aligned base(s) {bad} are not the label of the teacher or a student "
                         f"({labels[: 1 + len(students)]}); write --aligned LABEL=PATH:BASE_LABEL")
    for (_, path), _, _ in specs:
        check_checkpoint(path)
    for spec in ppl:
        check_corpus(spec)
    columns = resolve_task_metrics(list(tasks))
    names = lm_eval_task_names(columns)
    if names:
        options.setdefault("manager", task_manager(names, options.get("include_path")))
        options.setdefault("loaded", load_tasks(options["manager"], names))
        check_metrics(columns, options["loaded"])
    rows: list[ModelRow] = []
    bases = {label: base for (label, _), _, base in specs}
    partial = None if out_dir is None else Path(out_dir) / PARTIAL
    kept = []

    def keep(current: ModelRow) -> None:
        if partial is not None:
            so_far = [r.to_dict() | {"base": bases[r.label]} for r in [*rows, current]]
            atomic_write_text(partial, json.dumps({"models": list(bases), "rows": so_far}, indent=2) + "\n")
            kept[:] = [partial]

    try:
        for (label, path), dense, base in tqdm(specs, desc="models", unit="model"):
            per_model = dict(neuron="none") if dense else dict(
                neuron=student_neuron, D=student_D, spike_driven=spike_driven)
            row = evaluate_model(path, label=label, tasks=tasks, ppl=ppl, out_dir=out_dir, on_result=keep,
                                 **per_model, **options)
            row.base = base
            rows.append(row)
    except BaseException as err:
        if kept:
            err.add_note(f"the results finished so far are kept in {partial} (lm-eval's own in "
                         f"{partial.parent / 'lm_eval'})")
        raise
    corpora = list(rows[0].perplexity)
    table = ComparisonTable(columns=columns, corpora=corpora, rows=rows,
                            teacher=teacher_label)
    if out_dir is not None:
        table.save(out_dir)
        partial.unlink(missing_ok=True)
    return table
