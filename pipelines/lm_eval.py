"""``python -m pipelines.lm_eval ARGS``: the ``lm_eval`` command, with ``spikingmamba`` registered.

Same arguments and behaviour as lm-evaluation-harness's own CLI (``lm_eval`` / ``lm-eval``), e.g.::

    python -m pipelines.lm_eval --model spikingmamba --model_args pretrained=PATH,neuron=tilif \\
        --tasks paper --device cuda --batch_size 16
    python -m pipelines.lm_eval --model hf --model_args pretrained=gpt2 --tasks offline_mc

Two additions, both before lm-eval parses anything: ``import pipelines.eval`` registers the
``spikingmamba`` model (after lm-eval's own models, so ``hf`` & co. stay available), and when no
``--include_path`` is given our ``pipelines/eval/tasks`` directory is passed as the include path, so
``--tasks paper`` / ``offline_mc`` resolve. lm-eval takes a single include path; with your own
``--include_path DIR`` name our tasks by file instead (``--tasks .../pipelines/eval/tasks/paper.yaml``).
"""
from __future__ import annotations

import sys

_WITH_INCLUDE_PATH = ("run", "ls", "validate")


def with_our_tasks(argv: list[str]) -> list[str]:
    """``argv`` plus ``--include_path <pipelines/eval/tasks>`` when the command takes one and has none."""
    from pipelines.eval import TASKS_DIR

    if any(a == "--include_path" or a.startswith("--include_path=") for a in argv):
        return argv
    if any(a in ("-h", "--help") for a in argv):
        return argv
    runs = any(a in ("--tasks", "-t") or a.startswith("--tasks=") for a in argv)
    if not runs and not (argv and argv[0] in _WITH_INCLUDE_PATH[1:]):
        return argv
    return [*argv, "--include_path", str(TASKS_DIR)]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    import pipelines.eval  # noqa: F401  (registers `spikingmamba` with lm-eval)
    from lm_eval.__main__ import cli_evaluate

    sys.argv = ["lm-eval", *with_our_tasks(argv)]
    cli_evaluate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
