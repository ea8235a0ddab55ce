"""``python -m pipelines.lm_eval ARGS``: the ``lm_eval`` command, with ``spikingmamba`` registered.

Same arguments and behaviour as lm-evaluation-harness's own CLI (``lm_eval`` / ``lm-eval``), e.g.::

    python -m pipelines.lm_eval --model spikingmamba --model_args pretrained=PATH,neuron=tilif \\
        --tasks paper --device cuda --batch_size 16
    python -m pipelines.lm_eval --model hf --model_args pretrained=gpt2 --tasks offline_mc

Additions: the ``spikingmamba`` model is registered (after lm-eval's own models, so ``hf`` & co. stay
available); when no ``--include_path`` is given our ``pipelines/eval/tasks`` directory is passed as the
include path, so ``--tasks paper`` / ``offline_mc`` resolve (lm-eval takes a single include path; with your
own ``--include_path DIR`` name our tasks by file instead: ``--tasks .../pipelines/eval/tasks/paper.yaml``);
``pretrained=`` is checked before any model loads (a missing directory, or one without config.json, is
named; no hub fallback); mistakes print one ``error:`` line (``--debug``: the traceback).
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


def _run(argv: list[str]) -> int:
    """lm-eval's ``cli_evaluate`` with ``pretrained`` checked between parsing and running."""
    from lm_eval._cli import HarnessCLI
    from lm_eval.utils import setup_logging

    from pipelines.eval.harness import check_checkpoint  # also registers `spikingmamba`

    setup_logging()
    sys.argv = ["lm-eval", *with_our_tasks(argv)]
    parser = HarnessCLI()
    args = parser.parse_args()
    pretrained = (getattr(args, "model_args", None) or {}).get("pretrained")
    if isinstance(pretrained, str):
        check_checkpoint(pretrained)
    parser.execute(args)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Exit status 0, 1 (one ``error:`` line) or 130 (Ctrl-C)."""
    from models.errors import run_command

    return run_command(_run, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
