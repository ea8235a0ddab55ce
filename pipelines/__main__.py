"""`python -m pipelines COMMAND ...`: one entry point for every pipeline.

Each command lives in its own module exposing ``main(argv)``; it is imported only when used, so a
missing optional dependency of one pipeline never breaks another.
"""
import importlib
import sys

COMMANDS = {
    "distill": ("pipelines.distill.cli", "single-stage distillation from a Mamba2 teacher (Eq 12-13)"),
    "rl": ("pipelines.rl", "DPO / KTO alignment with TRL (Eq 14-15)"),
    "eval": ("pipelines.eval.cli", "zero-shot and perplexity comparison table (Tables 2-4)"),
    "demo": ("pipelines.demo.cli", "the whole method end to end on a CPU, offline"),
}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = [f"  {name:<8} {help_}" for name, (_, help_) in COMMANDS.items()]
        print("usage: python -m pipelines COMMAND [options]\n\ncommands:\n" + "\n".join(lines))
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nunknown command {argv[0]!r}; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
            return 2
        return 0
    module = importlib.import_module(COMMANDS[argv[0]][0])
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
