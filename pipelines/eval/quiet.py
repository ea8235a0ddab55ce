"""lm-eval's console lines that tell our users nothing, silenced where they start (nothing else is).

- ``fatal: not a git repository``: lm-eval logs the working directory's git commit in its results by
  running ``git describe`` with git's stderr on the console; ours runs the same command with stderr captured.
- ``TASK: Custom kwargs can be passed to `--metadata` ...``: lm-eval warns so for every task with a
  ``custom_dataset`` loader, at every load; the loaders of our ``tasks/`` take no metadata, so the hint is
  dropped for those tasks only (a user's own custom-dataset tasks keep it).
"""
from __future__ import annotations

import logging
import os
import subprocess

from .zero_shot import TASKS_DIR

METADATA_HINT = ": Custom kwargs can be passed to `--metadata`"


def git_commit_hash() -> str | None:
    """lm-eval's ``get_git_commit_hash`` without git's error message outside a repository."""
    from lm_eval.loggers.utils import get_commit_from_path

    try:
        done = subprocess.run(["git", "describe", "--always"], capture_output=True, text=True, check=True)
    except (subprocess.CalledProcessError, FileNotFoundError):
        return get_commit_from_path(os.getcwd())
    return done.stdout.strip()


class OwnTaskMetadataHint(logging.Filter):
    """Drops lm-eval's ``--metadata`` hint for the custom-dataset tasks in ``tasks/``."""

    def __init__(self):
        from lm_eval.tasks._yaml_loader import load_yaml

        super().__init__()
        configs = [load_yaml(path, resolve_func=False) for path in sorted(TASKS_DIR.glob("**/*.yaml"))]
        self.prefixes = tuple(cfg["task"] + METADATA_HINT for cfg in configs if "custom_dataset" in cfg)

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefixes)


def quiet_lm_eval() -> None:
    """Install both (idempotent)."""
    import lm_eval.evaluator

    lm_eval.evaluator.get_git_commit_hash = git_commit_hash
    task_logger = logging.getLogger("lm_eval.api.task")
    if not any(isinstance(f, OwnTaskMetadataHint) for f in task_logger.filters):
        task_logger.addFilter(OwnTaskMetadataHint())
