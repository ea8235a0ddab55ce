"""Evaluation (Tables 2–4): lm-evaluation-harness zero-shot, perplexity, the comparison table.

The lm-eval model ``spikingmamba`` is registered by every part of this package that runs lm-eval, and by
``import pipelines.eval`` when lm-eval is already imported; elsewhere call
``pipelines.eval.register_with_lm_eval()`` (idempotent). Then lm-eval's own Python API accepts it::

    import lm_eval, pipelines.eval
    pipelines.eval.register_with_lm_eval()
    from lm_eval.tasks import TaskManager
    results = lm_eval.simple_evaluate(
        model="spikingmamba", model_args={"pretrained": "path/to/student"},
        tasks=["paper"], task_manager=TaskManager(include_path=str(pipelines.eval.TASKS_DIR)))
    pipelines.eval.paper_average(results)       # Table 2 "Avg." (one paper metric per task)

(``pipelines.eval.task_manager(["offline_mc"])`` builds the same manager but skips indexing
lm-eval's own task files when every task is local.)

Shell: ``python -m pipelines.lm_eval ...`` (the ``lm_eval`` command with ``spikingmamba`` registered
and ``tasks/`` included) and ``python -m pipelines eval --student PATH --teacher PATH [--aligned
LABEL=PATH:BASE ...]`` (the Table-2-style comparison with RL gains; Python: ``pipelines.eval.compare``).
Protocols (perplexity, zero-shot, firing rates): ``README.md`` beside this file.

``tasks/`` holds the ``paper`` group (the six Table 2 tasks and their metrics) and ``offline_mc``,
a small multiple-choice task that runs without network.

Names load on first use (PEP 562), so ``python -m pipelines eval --help`` imports neither torch nor lm-eval.
"""
import importlib
import sys

LM_EVAL_NAME = "spikingmamba"

_LAZY = {
    "compare": "comparison", "evaluate_model": "comparison",
    "CORPORA": "perplexity", "corpus_perplexity": "perplexity",
    "ComparisonTable": "table", "ModelRow": "table",
    "PAPER_YAML": "zero_shot", "TASKS_DIR": "zero_shot", "TaskMetric": "zero_shot", "extract_scores": "zero_shot",
    "paper_average": "zero_shot", "paper_task_metrics": "zero_shot", "task_manager": "zero_shot",
}


def register_with_lm_eval() -> None:
    """Register ``spikingmamba`` with lm-eval (as a lazy "module:class" entry) and quiet its noise
    (``quiet.py``).

    lm-eval fills its model registry with its own names only when the registry is *empty* at the
    first lookup (``lm_eval.api.registry.get_model``); registering ours first would leave it
    non-empty and hide ``hf``, ``vllm``, ... So lm-eval's table is loaded before ours is added.
    """
    import lm_eval.models  # noqa: F401  (registers lm-eval's own model names)
    from lm_eval.api.registry import model_registry

    from .quiet import quiet_lm_eval

    quiet_lm_eval()
    if LM_EVAL_NAME not in model_registry:
        model_registry.register(LM_EVAL_NAME, target="pipelines.eval.harness:SpikingMambaLM")


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)


if "lm_eval" in sys.modules:
    register_with_lm_eval()

__all__ = ["LM_EVAL_NAME", "register_with_lm_eval", *_LAZY]
