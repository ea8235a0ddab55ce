"""Atomic, rotating, resumable training checkpoints and the final inference export (shared by every
training pipeline).

Layout under ``OUTPUT_DIR/checkpoints/``::

    step-00000040/            one complete checkpoint (never partially written)
        model.safetensors     trainable model state (accelerate; DeepSpeed/FSDP write their own shards)
        optimizer.bin         optimizer state     (torch.save; loaded with weights_only=True)
        scheduler.bin         LR-scheduler state  (same)
        random_states_R.pkl   python/numpy/torch RNG of process R (same, numpy arrays allow-listed)
        trainer_state.json    step, data position, token count, ... (plain JSON)
    .step-00000042.tmp/       a save in progress; removed at the next start if a run died mid-save

Every process writes into the ``.tmp`` directory; once all have finished, the main process renames it
into place with ``os.replace`` (atomic on POSIX), then deletes all but the newest ``keep_last``.
A checkpoint directory therefore either exists complete or not at all, whatever moment a run is
killed. ``accelerator.save_state`` / ``load_state`` do the engine-specific work, so the same code
checkpoints plain, DDP, DeepSpeed ZeRO-3 and FSDP runs (only the first two were run here: CPU only).

The rename is ``pipelines.atomic.replace_directory``; the tests kill a run just before it (the worst
moment to die) and resume bit-exactly (``tests/distill/kill_during_save.py``).
"""
from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

from pipelines.atomic import atomic_write_text, replace_directory
from pipelines.config import diff_configs, yaml_load

_STEP_DIR = re.compile(r"^step-(\d{8})$")
TRAINER_STATE = "trainer_state.json"


class CheckpointManager:
    """Names, lists, rotates and cleans the step directories under ``root``."""

    def __init__(self, root: str | Path, keep_last: int):
        if keep_last < 1:
            raise ValueError(f"keep_last={keep_last}: keep at least 1 checkpoint")
        self.root = Path(root)
        self.keep_last = keep_last

    def path_for(self, step: int) -> Path:
        return self.root / f"step-{step:08d}"

    def tmp_path_for(self, step: int) -> Path:
        return self.root / f".step-{step:08d}.tmp"

    def checkpoints(self) -> list[tuple[int, Path]]:
        """Complete checkpoints, oldest first, as (step, path)."""
        if not self.root.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.root.iterdir() if (m := _STEP_DIR.match(p.name))]
        return sorted(found)

    def latest(self) -> tuple[int, Path] | None:
        found = self.checkpoints()
        return found[-1] if found else None

    def remove_partial(self) -> list[Path]:
        """Delete ``.tmp`` / ``.old`` leftovers of a run that died mid-save; return what was removed."""
        if not self.root.is_dir():
            return []
        stale = [p for p in self.root.iterdir() if p.name.startswith(".") and p.is_dir()]
        for p in stale:
            shutil.rmtree(p)
        return stale

    def rotate(self) -> None:
        """Delete all but the newest ``keep_last`` checkpoints."""
        for _, path in self.checkpoints()[: -self.keep_last]:
            shutil.rmtree(path)


def save_checkpoint(accelerator, manager: CheckpointManager, step: int, trainer_state: dict[str, Any]) -> Path:
    """Save models/optimizers/schedulers/RNG (via ``accelerator.save_state``) plus ``trainer_state``.

    Collective: every process must call it. Returns the final checkpoint path.
    """
    tmp, final = manager.tmp_path_for(step), manager.path_for(step)
    if accelerator.is_main_process:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    quiet = logging.getLogger("accelerate.utils.other")  # "Removed shared tensor": tied weights, expected
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        accelerator.save_state(str(tmp))
    finally:
        quiet.setLevel(level)
    if accelerator.is_main_process:
        atomic_write_text(tmp / TRAINER_STATE, json.dumps(trainer_state, indent=1))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        replace_directory(tmp, final)
        manager.rotate()
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator, path: str | Path) -> dict[str, Any]:
    """Restore what ``save_checkpoint`` wrote into the prepared objects; return ``trainer_state``."""
    path = Path(path)
    state_file = path / TRAINER_STATE
    if not state_file.is_file():
        raise FileNotFoundError(f"{path} is not a complete checkpoint (no {TRAINER_STATE})")
    accelerator.load_state(str(path))
    return json.loads(state_file.read_text())


def claim_output_dir(output_dir: str | Path, config: dict[str, Any], resume: bool | str,
                     resumable_changes: set[str]) -> Path | None:
    """Check that this run may use ``output_dir``; return the checkpoint to resume from, if any.

    A directory holding ``config.yaml`` belongs to a run: starting a new run there is an error unless
    resuming (``resume`` true or ``"auto"``), and resuming requires the same config except for
    ``resumable_changes``. ``resume=True`` with no checkpoint is an error; ``"auto"`` then starts afresh.
    Read-only, so every process can call it before anything is written.
    """
    output_dir = Path(output_dir)
    saved_config = output_dir / "config.yaml"
    latest = CheckpointManager(output_dir / "checkpoints", keep_last=1).latest()
    if saved_config.is_file():
        if not resume:
            held = f" and {latest[1].name}" if latest else ""
            raise FileExistsError(
                f"output_dir {str(output_dir)!r} holds another run (config.yaml{held}); pass --resume "
                "(or resume=auto) to continue it, or choose a new output_dir"
            )
        diffs = diff_configs(yaml_load(saved_config.read_text()), config, ignore=resumable_changes)
        if diffs:
            raise ValueError(
                f"cannot resume the run in {str(output_dir)!r}: its config differs in\n  " + "\n  ".join(diffs)
                + f"\n(only {sorted(resumable_changes)} may change on resume); use a new output_dir instead"
            )
    elif latest is not None:
        raise FileExistsError(f"output_dir {str(output_dir)!r} holds checkpoints but no config.yaml; "
                              "choose a new output_dir")
    if resume is True and latest is None:
        raise FileNotFoundError(f"resume requested but {str(output_dir / 'checkpoints')!r} holds no complete "
                                "checkpoint; use resume=auto to start a new run when there is none")
    return latest[1] if (resume and latest) else None


def export_final(accelerator, student, tokenizer, output_dir: Path) -> Path:
    """OUTPUT_DIR/final: inference checkpoint (no SGC weights) + tokenizer, written atomically. Collective."""
    final = output_dir / "final"
    state_dict = accelerator.get_state_dict(student)  # gathers ZeRO-3 / FSDP shards (needs every process)
    if accelerator.is_main_process:
        tmp = output_dir / ".final.tmp"
        accelerator.unwrap_model(student).save_pretrained(tmp, state_dict=state_dict)
        tokenizer.save_pretrained(tmp)
        replace_directory(tmp, final)
    accelerator.wait_for_everyone()
    return final
