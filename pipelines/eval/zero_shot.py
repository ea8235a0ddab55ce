"""Zero-shot accuracy through lm-evaluation-harness, one number per task (Table 2).

A task spec is ``NAME`` or ``NAME:METRIC``. ``paper`` expands to the six tasks of Table 2 with the
metric the paper reads for each (BoolQ acc, PIQA acc, HellaSwag acc_norm, WinoGrande acc, ARC-e acc,
ARC-c acc_norm), taken from ``tasks/paper.yaml``; a bare ``NAME`` uses the paper's metric for that
task if it has one, else ``acc``. Scores are fractions in [0, 1] as lm-eval reports them.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import yaml

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
PAPER_YAML = TASKS_DIR / "paper.yaml"
PAPER_GROUP = "paper"


@dataclass(frozen=True)
class TaskMetric:
    """One column of the comparison table: an lm-eval task and the metric read from it."""

    task: str
    metric: str
    header: str

    @property
    def key(self) -> str:
        return f"{self.task}:{self.metric}"


def paper_task_metrics() -> list[TaskMetric]:
    """The six Table 2 columns, in the paper's order, from ``tasks/paper.yaml``."""
    cfg = yaml.safe_load(PAPER_YAML.read_text())
    meta = cfg["metadata"]
    return [TaskMetric(t, meta["paper_metrics"][t], meta["paper_columns"][t]) for t in cfg["task"]]


def resolve_task_metrics(specs: list[str]) -> list[TaskMetric]:
    """Task specs (``paper``, ``NAME``, ``NAME:METRIC``) -> table columns, duplicates dropped."""
    paper = {tm.task: tm for tm in paper_task_metrics()}
    columns: list[TaskMetric] = []
    for spec in specs:
        name, _, metric = spec.partition(":")
        if not name:
            raise ValueError(f"empty task name in task spec {spec!r}; use NAME or NAME:METRIC")
        if name == PAPER_GROUP:
            if metric:
                raise ValueError(f"{spec!r}: the paper group fixes one metric per task; drop ':{metric}'")
            found = list(paper.values())
        elif metric:
            found = [TaskMetric(name, metric, f"{name} ({metric})")]
        else:
            found = [paper.get(name, TaskMetric(name, "acc", name))]
        columns += [tm for tm in found if tm not in columns]
    return columns


def lm_eval_task_names(columns: list[TaskMetric]) -> list[str]:
    """The task names to hand to lm-eval for these columns (each once, in order)."""
    return list(dict.fromkeys(tm.task for tm in columns))


def extract_scores(results: dict, columns: list[TaskMetric], filter_name: str = "none") -> dict[str, float]:
    """lm-eval ``results`` (from simple_evaluate or a saved results JSON) -> {column key: fraction}."""
    per_task = results["results"]
    scores = {}
    for tm in columns:
        if tm.task not in per_task:
            raise ValueError(f"task {tm.task!r} is not in these lm-eval results (tasks: {sorted(per_task)})")
        key = f"{tm.metric},{filter_name}"
        if key not in per_task[tm.task]:
            _no_metric(tm, [k.split(",")[0] for k in per_task[tm.task] if "," in k and "_stderr" not in k])
        scores[tm.key] = float(per_task[tm.task][key])
    return scores


def _no_metric(tm: TaskMetric, metrics) -> None:
    raise ValueError(f"task {tm.task!r} has no metric {tm.metric!r}; it reports {sorted(set(metrics))}")


def check_metrics(columns: list[TaskMetric], loaded: dict[str, list]) -> None:
    """Raise ValueError for a column whose (single, loaded) task does not report its metric."""
    for tm in columns:
        (task, *more) = loaded[tm.task]
        if not more and hasattr(task, "aggregation") and tm.metric not in task.aggregation():
            _no_metric(tm, task.aggregation())


def extract_stderrs(results: dict, columns: list[TaskMetric], filter_name: str = "none") -> dict[str, float | None]:
    """lm-eval's standard error of each column's metric, as a fraction (None where lm-eval gives none,
    e.g. "N/A" for a single sample)."""
    per_task = results["results"]
    out = {}
    for tm in columns:
        value = per_task.get(tm.task, {}).get(f"{tm.metric}_stderr,{filter_name}")
        out[tm.key] = float(value) if isinstance(value, (int, float)) else None
    return out


def paper_average(results: dict) -> float:
    """Table 2's "Avg.": the unweighted mean of the six paper metrics, as a fraction."""
    scores = extract_scores(results, paper_task_metrics())
    return sum(scores.values()) / len(scores)


def task_manager(tasks=(), include_path=None):
    """An lm-eval TaskManager for ``tasks`` over our ``tasks/`` (``paper``, ``offline_mc``),
    ``include_path`` (a dir or list of dirs) and, unless every task and group member is found in
    those, lm-eval's own tasks. (Indexing lm-eval's ~14k task YAMLs costs seconds of CPU, so offline
    runs on local tasks skip it; build one manager and reuse it for every model.)"""
    from lm_eval.tasks import TaskManager

    from . import register_with_lm_eval

    register_with_lm_eval()
    extra = [include_path] if isinstance(include_path, (str, Path)) else list(include_path or [])
    paths = [str(TASKS_DIR), *map(str, extra)]
    local = TaskManager(include_path=paths, include_defaults=False)
    return local if _all_indexed(local, tasks) else TaskManager(include_path=paths)


def _all_indexed(manager, names) -> bool:
    """Whether every name, and recursively every member of a group, is in ``manager``'s index."""
    for name in names:
        entry = manager.task_index.get(name)
        if entry is None:
            return False
        members = (entry.cfg or {}).get("task", []) if "group" in (entry.cfg or {}) else []
        members = [m if isinstance(m, str) else m.get("task", m.get("group")) for m in members]
        if not _all_indexed(manager, members):
            return False
    return True


def load_tasks(manager, names: list[str]) -> dict[str, list]:
    """{name: [lm-eval Task or Group]} (a tag: its tasks), each dataset read once, before any model runs
    (reuse them for every model). Unknown names, and tasks whose hub dataset is neither reachable nor
    cached, are named together in one error."""
    unknown = [n for n in names if n not in manager.task_index]
    if unknown:
        hints = {n: difflib.get_close_matches(n, manager.all_tasks, n=3) for n in unknown}
        hints = "; ".join(f"{n!r}: did you mean {', '.join(h)}?" for n, h in hints.items() if h)
        raise ValueError(f"unknown lm-eval task(s) {unknown}{' (' + hints + ')' if hints else ''}; list them with "
                         "`python -m pipelines.lm_eval ls tasks` (ours: pipelines/eval/tasks)")
    loaded, unreachable = {}, {}
    for name in names:
        try:
            built = manager.load([name])
            top = built.get("groups", {}).get(name, built["tasks"].get(name))
            loaded[name] = [top] if top is not None else list(built["tasks"].values())
        except ConnectionError as err:
            unreachable[name] = str(err)
    if unreachable:
        which = "; ".join(f"{n}: {why}" for n, why in unreachable.items())
        raise ConnectionError(
            f"task(s) {list(unreachable)} need hub datasets that are neither reachable nor cached ({which}). "
            "Run once with network to cache them (HF_DATASETS_CACHE, default ~/.cache/huggingface/datasets; "
            "then HF_DATASETS_OFFLINE=1 works), or give a copy of the task YAML reading a local copy "
            "(dataset_path: json, dataset_kwargs: {data_files: ...}) with --include_path, or drop them from "
            "--tasks (offline: --tasks offline_mc)")
    return loaded


def run_zero_shot(lm, tasks: list, manager, *, limit: int | float | None = None,
                  num_fewshot: int | None = None) -> dict:
    """lm-eval's results dict for an ``LM`` (e.g. a SpikingMambaLM) on loaded tasks (one entry of
    ``load_tasks``; ``manager`` from ``task_manager()``; per-sample logs dropped)."""
    import lm_eval

    return lm_eval.simple_evaluate(model=lm, tasks=tasks, task_manager=manager, limit=limit,
                                   num_fewshot=num_fewshot, log_samples=False)
