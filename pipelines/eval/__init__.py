"""Evaluation (Tables 2–4): lm-evaluation-harness zero-shot, perplexity, the comparison table.

``import pipelines.eval`` registers the lm-eval model ``spikingmamba``, after which lm-eval's own
Python API accepts it::

    import lm_eval, pipelines.eval
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
"""
from .comparison import compare, evaluate_model
from .perplexity import CORPORA, corpus_perplexity
from .table import ComparisonTable, ModelRow
from .zero_shot import (PAPER_YAML, TASKS_DIR, TaskMetric, extract_scores, paper_average, paper_task_metrics,
                        task_manager)

LM_EVAL_NAME = "spikingmamba"


def register_with_lm_eval() -> None:
    """Register ``spikingmamba`` with lm-eval (as a lazy "module:class" entry).

    lm-eval fills its model registry with its own names only when the registry is *empty* at the
    first lookup (``lm_eval.api.registry.get_model``); registering ours first would leave it
    non-empty and hide ``hf``, ``vllm``, ... So lm-eval's table is loaded before ours is added.
    """
    import lm_eval.models  # noqa: F401  (registers lm-eval's own model names)
    from lm_eval.api.registry import model_registry

    if LM_EVAL_NAME not in model_registry:
        model_registry.register(LM_EVAL_NAME, target="pipelines.eval.harness:SpikingMambaLM")


register_with_lm_eval()

__all__ = ["CORPORA", "LM_EVAL_NAME", "PAPER_YAML", "TASKS_DIR", "ComparisonTable", "ModelRow", "TaskMetric",
           "compare", "corpus_perplexity", "evaluate_model", "extract_scores", "paper_average",
           "paper_task_metrics", "register_with_lm_eval", "task_manager"]
