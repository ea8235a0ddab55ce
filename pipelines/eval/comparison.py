"""Evaluate a teacher and its students the same way and tabulate them (Tables 2 and 4).

Each model is loaded once (``SpikingMambaLM``, the lm-eval model of ``harness.py``), run through
lm-eval on the requested tasks (0-shot unless ``num_fewshot``), then through ``perplexity.py`` on
the requested corpora with the same weights and tokenizer, and freed before the next one.
The teacher loads as plain Mamba2 (``neuron=none``); students load with their saved neurons unless
``neuron``/``D`` are given. Aligned models (``LABEL=PATH:BASE``, the output of ``python -m pipelines rl``
on the teacher or on a student) load as their base does and get an ``RL gain`` over it (``table.py``).

Outputs in ``out_dir``: ``comparison.md`` / ``comparison.json`` (the table, with per-model details)
and ``lm_eval/<label>.json`` (lm-eval's full results for each model).
"""
from __future__ import annotations

import gc
import json
import time
from pathlib import Path

from tqdm import tqdm

from pipelines.atomic import atomic_write_text

from .harness import SpikingMambaLM
from .perplexity import corpus_perplexity
from .table import ComparisonTable, ModelRow
from .zero_shot import extract_scores, lm_eval_task_names, resolve_task_metrics, run_zero_shot, task_manager


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
                   include_path=None, manager=None, limit=None, num_fewshot=None, context_len: int = 2048,
                   stride: int | None = None, out_dir: str | Path | None = None) -> ModelRow:
    """Zero-shot scores and perplexities of one checkpoint -> a table row.

    ``manager``: an lm-eval TaskManager to reuse (default: one over lm-eval's tasks, ours and
    ``include_path``)."""
    columns = resolve_task_metrics(list(tasks))
    start = time.perf_counter()
    lm = SpikingMambaLM(pretrained=path, neuron=neuron, D=D, spike_driven=spike_driven,
                        tokenizer=tokenizer, device=device, dtype=dtype, batch_size=batch_size)
    row = ModelRow(label=label, info={
        "path": str(path), "neuron_in": lm.config.neuron_in, "neuron_out": lm.config.neuron_out,
        "D": lm.config.D, "spike_driven": spike_driven, "tokenizer": lm.tokenizer.name_or_path,
    })
    if columns:
        manager = manager if manager is not None else task_manager(lm_eval_task_names(columns), include_path)
        results = run_zero_shot(lm, columns, manager, limit=limit, num_fewshot=num_fewshot)
        row.zero_shot = extract_scores(results, columns)
        row.info["n_samples"] = {t: results["n-samples"][t]["effective"] for t in results["n-samples"]}
        if out_dir is not None:
            raw = Path(out_dir) / "lm_eval" / f"{label.replace('/', '_')}.json"
            atomic_write_text(raw, json.dumps(results, indent=2, default=str) + "\n")
    ppl_details = {}
    for spec in ppl:
        result = corpus_perplexity(lm.model, lm.tokenizer, spec, context_len=context_len, stride=stride,
                                   batch_size=batch_size)
        if result.corpus in row.perplexity:
            raise ValueError(f"two perplexity corpora are both labelled {result.corpus!r}; rename one file")
        row.perplexity[result.corpus] = result.ppl
        ppl_details[result.corpus] = result.to_dict()
    row.info["perplexity"] = ppl_details
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
    if tasks and "manager" not in options:
        names = lm_eval_task_names(resolve_task_metrics(list(tasks)))
        options["manager"] = task_manager(names, options.get("include_path"))
    rows = []
    for (label, path), dense, base in tqdm(specs, desc="models", unit="model"):
        per_model = dict(neuron="none") if dense else dict(
            neuron=student_neuron, D=student_D, spike_driven=spike_driven)
        row = evaluate_model(path, label=label, tasks=tasks, ppl=ppl, out_dir=out_dir, **per_model, **options)
        row.base = base
        rows.append(row)
    corpora = list(rows[0].perplexity)
    table = ComparisonTable(columns=resolve_task_metrics(list(tasks)), corpora=corpora, rows=rows,
                            teacher=teacher_label)
    if out_dir is not None:
        table.save(out_dir)
    return table
