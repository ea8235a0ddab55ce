"""``python -m pipelines eval``: the Table-2-style comparison of students against their teacher.

    python -m pipelines eval --teacher Mamba2=state-spaces/mamba2-1.3b \\
        --student SpikingMamba=runs/distill/final --tasks paper --ppl wikitext2 c4 ptb --device cuda

Table 2's RL rows and their gains (SNN +2.55 vs Mamba2 +0.44 after KTO, §5.1): add each aligned model
with the label of the row it was aligned from (``python -m pipelines rl`` output)::

    ... --aligned Mamba2+KTO=runs/mamba2-1.3b-kto/final:Mamba2 \\
        --aligned SpikingMamba+KTO=runs/spikingmamba-1.3b-kto/final:SpikingMamba

prints the table and writes ``comparison.md`` / ``comparison.json`` (+ lm-eval's raw results) into
``--output``; results are kept as each task finishes (``comparison.partial.json``, ``lm_eval/``), also
when a run stops with an error or Ctrl-C. Offline: ``--tasks offline_mc --ppl some.txt`` with local
checkpoints; hub tasks (``paper``) need their datasets cached once with network (HF_DATASETS_CACHE).
Mistakes print one ``error:`` line (``--debug``: the traceback).
"""
from __future__ import annotations

import argparse
import sys

from models.errors import USER_ERRORS, run_command
from neurons.kinds import CHOICES

from .comparison import aligned_label, compare  # torch and lm-eval load when a model runs
from .perplexity import CORPORA


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The docstring as written, every option's default shown."""


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (--help lists the options)\n")


def limit_value(text: str) -> int | float:
    """``--limit``: a fraction of each task in (0, 1), or a whole number of documents >= 1 (as lm-eval)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if 0 < value < 1:
        return value
    if value >= 1 and value.is_integer():
        return int(value)
    raise argparse.ArgumentTypeError(f"{text!r}: give a fraction in (0, 1) or a whole number of documents >= 1")


def aligned_spec(text: str) -> str:
    """``--aligned``: checked for its ``:BASE`` here, before any library loads."""
    try:
        aligned_label(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be >= 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m pipelines eval", description=__doc__, formatter_class=_Formatter)
    p.add_argument("--teacher", required=True, metavar="[LABEL=]PATH",
                   help="Mamba2 teacher checkpoint (dir or hub id); loaded with neuron=none")
    p.add_argument("--student", action="append", required=True, metavar="[LABEL=]PATH",
                   help="SpikingMamba checkpoint; repeat for several rows")
    p.add_argument("--aligned", action="append", default=[], metavar="[LABEL=]PATH:BASE", type=aligned_spec,
                   help="an RL-aligned model and the label of the --teacher/--student row it was aligned from; "
                        "its 'RL gain' = Avg. - Avg.(BASE). Repeat for several")
    p.add_argument("--tasks", nargs="*", default=["paper"], metavar="TASK[:METRIC]",
                   help="lm-eval tasks; 'paper' = the six Table 2 tasks. No value: skip zero-shot")
    p.add_argument("--ppl", nargs="*", default=[], metavar="CORPUS",
                   help=f"perplexity corpora: {', '.join(CORPORA)} (hub) or paths of .txt files")
    p.add_argument("--context_len", type=positive_int, default=2048, help="perplexity window length")
    p.add_argument("--stride", type=positive_int, default=None, help="perplexity window stride; None = context_len")
    p.add_argument("--include_path", action="append", default=[], metavar="DIR",
                   help="extra lm-eval task directory (pipelines/eval/tasks is always included)")
    p.add_argument("--limit", type=limit_value, default=None,
                   help="lm-eval --limit, a fraction (0, 1) or a number of documents per task (smoke runs only)")
    p.add_argument("--num_fewshot", type=int, default=None, help="few-shot examples; None = 0-shot, as in the paper")
    p.add_argument("--tokenizer", default=None,
                   help="tokenizer for all models; None = each checkpoint's own, else EleutherAI/gpt-neox-20b")
    p.add_argument("--neuron", default=None, choices=CHOICES,
                   help="override the students' neuron kind; None = as saved")
    p.add_argument("--D", type=positive_int, default=None,
                   help="override the students' max spike count D; None = as saved")
    p.add_argument("--spike_driven", action="store_true",
                   help="run students spike-driven (micro-step spikes, accumulate-only projections)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"], help="weights' dtype")
    p.add_argument("--batch_size", type=positive_int, default=1, help="lm-eval and perplexity batch size")
    p.add_argument("--output", default="runs/eval", help="output directory")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    return p


def _run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if not args.tasks and not args.ppl:
        raise ValueError("nothing to evaluate: give --tasks and/or --ppl")
    try:
        table = compare(
            args.student, args.teacher, aligned=args.aligned, tasks=args.tasks, ppl=args.ppl, out_dir=args.output,
            student_neuron=args.neuron, student_D=args.D, spike_driven=args.spike_driven,
            tokenizer=args.tokenizer, device=args.device, dtype=args.dtype, batch_size=args.batch_size,
            include_path=args.include_path, limit=args.limit, num_fewshot=args.num_fewshot,
            context_len=args.context_len, stride=args.stride,
        )
    except KeyboardInterrupt as err:
        print("; ".join(["interrupted", *getattr(err, "__notes__", [])]), file=sys.stderr)
        return 130
    except USER_ERRORS as err:
        if not getattr(err, "__notes__", None):
            raise
        raise ValueError("; ".join([str(err), *err.__notes__])) from err
    print(table.to_markdown(), end="")
    print(f"saved {args.output}/comparison.md and comparison.json")
    return 0


def main(argv=None) -> int:
    """``python -m pipelines eval ARGS``: exit status 0, 1 (one ``error:`` line) or 130 (Ctrl-C)."""
    return run_command(_run, sys.argv[1:] if argv is None else argv)
