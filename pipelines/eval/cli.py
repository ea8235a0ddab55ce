"""``python -m pipelines eval``: the Table-2-style comparison of students against their teacher.

    python -m pipelines eval --teacher Mamba2=state-spaces/mamba2-1.3b \\
        --student SpikingMamba=runs/distill/final --tasks paper --ppl wikitext2 c4 ptb --device cuda

Table 2's RL rows and their gains (SNN +2.55 vs Mamba2 +0.44 after KTO, §5.1): add each aligned model
with the label of the row it was aligned from (``python -m pipelines rl`` output)::

    ... --aligned Mamba2+KTO=runs/mamba2-1.3b-kto/final:Mamba2 \\
        --aligned SpikingMamba+KTO=runs/spikingmamba-1.3b-kto/final:SpikingMamba

prints the table and writes ``comparison.md`` / ``comparison.json`` (+ lm-eval's raw results) into
``--output``. Offline: ``--tasks offline_mc --ppl some.txt`` with local checkpoints.
"""
from __future__ import annotations

import argparse

from neurons.kinds import CHOICES

from .comparison import compare
from .perplexity import CORPORA


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", required=True, metavar="[LABEL=]PATH",
                   help="Mamba2 teacher checkpoint (dir or hub id); loaded with neuron=none")
    p.add_argument("--student", action="append", required=True, metavar="[LABEL=]PATH",
                   help="SpikingMamba checkpoint; repeat for several rows")
    p.add_argument("--aligned", action="append", default=[], metavar="[LABEL=]PATH:BASE",
                   help="an RL-aligned model and the label of the --teacher/--student row it was aligned from; "
                        "its 'RL gain' = Avg. - Avg.(BASE). Repeat for several")
    p.add_argument("--tasks", nargs="*", default=["paper"], metavar="TASK[:METRIC]",
                   help="lm-eval tasks; 'paper' = the six Table 2 tasks (default). No value: skip zero-shot")
    p.add_argument("--ppl", nargs="*", default=[], metavar="CORPUS",
                   help=f"perplexity corpora: {', '.join(CORPORA)} (hub) or paths of .txt files")
    p.add_argument("--context_len", type=int, default=2048, help="perplexity window length (default 2048)")
    p.add_argument("--stride", type=int, default=None, help="perplexity window stride (default: context_len)")
    p.add_argument("--include_path", action="append", default=[], metavar="DIR",
                   help="extra lm-eval task directory (pipelines/eval/tasks is always included)")
    p.add_argument("--limit", type=float, default=None, help="lm-eval --limit (for smoke runs only)")
    p.add_argument("--num_fewshot", type=int, default=None, help="default: 0-shot, as in the paper")
    p.add_argument("--tokenizer", default=None,
                   help="tokenizer for all models (default: each checkpoint's own, else EleutherAI/gpt-neox-20b)")
    p.add_argument("--neuron", default=None, choices=CHOICES,
                   help="override the students' neuron kind (default: as saved)")
    p.add_argument("--D", type=int, default=None, help="override the students' max spike count D")
    p.add_argument("--spike_driven", action="store_true",
                   help="run students spike-driven (micro-step spikes, accumulate-only projections)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--batch_size", type=int, default=1)
    p.add_argument("--output", default="runs/eval", help="output directory (default runs/eval)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if not args.tasks and not args.ppl:
        raise SystemExit("nothing to evaluate: give --tasks and/or --ppl")
    limit = None if args.limit is None else (int(args.limit) if args.limit >= 1 else args.limit)
    table = compare(
        args.student, args.teacher, aligned=args.aligned, tasks=args.tasks, ppl=args.ppl, out_dir=args.output,
        student_neuron=args.neuron, student_D=args.D, spike_driven=args.spike_driven,
        tokenizer=args.tokenizer, device=args.device, dtype=args.dtype, batch_size=args.batch_size,
        include_path=args.include_path, limit=limit, num_fewshot=args.num_fewshot,
        context_len=args.context_len, stride=args.stride,
    )
    print(table.to_markdown(), end="")
    print(f"saved {args.output}/comparison.md and comparison.json")
    return 0
