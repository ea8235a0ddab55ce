"""Fault injection for the tests: run a pipeline command and SIGKILL it at the worst moment of the save of
checkpoint step N — after every file of ``checkpoints/.step-N.tmp`` is written, before the rename that
makes it a checkpoint (``pipelines.checkpointing.save_checkpoint`` → ``replace_directory``).

    python tests/distill/kill_during_save.py 8 -m pipelines distill --config ... key=value ...
"""
import os
import runpy
import signal
import sys
from pathlib import Path

import pipelines.checkpointing as checkpointing


def kill_before_renaming(step: int) -> None:
    """Make ``save_checkpoint`` SIGKILL this process instead of renaming step ``step``'s staging directory."""
    rename = checkpointing.replace_directory

    def rename_or_die(tmp: Path, final: Path) -> None:
        if Path(tmp).name == f".step-{step:08d}.tmp":
            os.kill(os.getpid(), signal.SIGKILL)
        rename(tmp, final)

    checkpointing.replace_directory = rename_or_die


if __name__ == "__main__":
    step, flag, module, *args = sys.argv[1:]
    if flag != "-m":
        sys.exit(__doc__)
    kill_before_renaming(int(step))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
