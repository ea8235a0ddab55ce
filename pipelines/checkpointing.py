"""Atomic, rotating, resumable training checkpoints and the final inference export (shared by every
training pipeline).

Layout under ``OUTPUT_DIR/checkpoints/``::

    step-00000040/            one complete checkpoint (never partially written)
        model.safetensors     trainable model state (accelerate; DeepSpeed/FSDP write their own shards)
        optimizer.bin         optimizer state     (torch.save; loaded with weights_only=True)
        scheduler.bin         LR-scheduler state  (same)
        random_states_R.pkl   python/numpy/torch RNG of process R (same, numpy arrays allow-listed)
        trainer_state.json    global_step, data position, token count, ... (plain JSON)
    .step-00000042.tmp/       a save in progress; removed at the next start if a run died mid-save

Beside it: ``config.yaml`` (the run's config), ``config_history.jsonl`` (one line per start or resume with
the keys that changed), ``.lock`` (held by the process using the directory, ``lock_output_dir``).

Every process writes into the ``.tmp`` directory; once all have finished, the main process renames it
into place with ``os.replace`` (atomic on POSIX), then deletes all but the newest ``keep_last``.
A checkpoint directory therefore either exists complete or not at all, whatever moment a run is
killed. ``accelerator.save_state`` / ``load_state`` do the engine-specific work, so the same code
checkpoints plain, DDP, DeepSpeed ZeRO-3 and FSDP runs (only the first two were run here: CPU only).

The rename is ``pipelines.atomic.replace_directory``; the tests kill a run just before it (the worst
moment to die) and resume bit-exactly (``tests/distill/kill_during_save.py``).
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

from pipelines.atomic import atomic_write_text, replace_directory
from pipelines.config import config_to_dict, diff_configs, save_config, yaml_load

_STEP_DIR = re.compile(r"^step-(\d{8})$")
TRAINER_STATE = "trainer_state.json"
CONFIG_HISTORY = "config_history.jsonl"
_TORCH_FILES = (".bin", ".pt", ".pth", ".pkl")  # torch.save zip archives


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

    def describe_latest(self) -> str:
        """The last good checkpoint, for an error message."""
        last = self.latest()
        return f"{last[1]} (step {last[0]})" if last else "none (the failure came before the first save)"

    @contextlib.contextmanager
    def writing(self, what: str, tmp: Path):
        """Around a save into ``tmp``: a full disk (ENOSPC, or torch's "enforce fail at inline_container" write
        failure) removes ``tmp`` and becomes one OSError naming the last good checkpoint, which stays intact."""
        try:
            yield
        except (OSError, RuntimeError) as err:
            if not (getattr(err, "errno", None) == errno.ENOSPC or "enforce fail at inline_container" in str(err)):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
            raise OSError(f"no space left on device while writing {what} to {tmp.parent}; the last good "
                          f"checkpoint is {self.describe_latest()}: free space, then continue with --resume") from None


@contextlib.contextmanager
def no_shard_bars():
    """transformers' "Writing model shards" bar off for one save (a one-shard bar per checkpoint is noise)."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def checkpoint_problem(path: Path) -> str | None:
    """Why the checkpoint ``path`` cannot be resumed from (a missing or unreadable trainer state, a truncated
    safetensors or torch file), or None. Structural checks only: cheap, even for large checkpoints."""
    try:
        json.loads((path / TRAINER_STATE).read_text())
    except (OSError, ValueError) as err:
        return f"{TRAINER_STATE} is missing or unreadable ({type(err).__name__})"
    from safetensors import safe_open

    for file in sorted(path.rglob("*")):
        try:
            if file.suffix == ".safetensors":
                with safe_open(str(file), "pt"):
                    pass
            elif file.suffix in _TORCH_FILES and not zipfile.is_zipfile(file):
                return f"{file.name} is truncated or not a torch file"
        except Exception as err:  # safetensors raises its own SafetensorError
            return f"{file.name} is unreadable ({err})"
    return None


def checkpoint_step(path: Path) -> int:
    """The optimizer step a checkpoint was written at (``global_step``; distillation checkpoints written
    before that name say ``step``)."""
    state = json.loads((Path(path) / TRAINER_STATE).read_text())
    return state["global_step"] if "global_step" in state else state["step"]


def set_peak_lr(optimizer, scheduler, lr: float) -> None:
    """After loading a checkpoint: make ``lr`` the schedule's peak (a resume with ``--allow-config-change lr``;
    with the saved lr this recomputes the same values). ``scheduler``: a ``LambdaLR`` (or accelerate's wrapper)."""
    scheduler = getattr(scheduler, "scheduler", scheduler)
    scheduler.base_lrs = [lr for _ in optimizer.param_groups]
    for group, factor in zip(optimizer.param_groups, scheduler.lr_lambdas):
        group["lr"] = lr * factor(scheduler.last_epoch)
    scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]


def divergence(what: str, step: int, checkpoints: CheckpointManager, cfg, main: bool) -> FloatingPointError:
    """The error of a run whose step ``step`` (1-based) produced ``what`` (non-finite values), before updating.
    The weights of step ``step - 1`` caused it, so a checkpoint of that step is renamed ``*.diverged`` (by the
    ``main`` process) and ``--resume`` continues from the one before; the message names it and the command."""
    found = checkpoints.checkpoints()
    bad = [path for done, path in found if done >= step - 1]
    good = [(done, path) for done, path in found if done < step - 1]
    if main:
        for path in bad:
            os.replace(path, path.with_name(path.name + ".diverged"))
    keys = "lr" if cfg.max_grad_norm else "lr,max_grad_norm"
    fix = "lr=<lower>" + ("" if cfg.max_grad_norm else " max_grad_norm=1.0")
    if good:
        advice = (f"Last good checkpoint: {good[-1][1]} (step {good[-1][0]}); continue from it with --resume "
                  f"--allow-config-change {keys} {fix}")
    else:
        advice = f"No checkpoint before the divergence; start again with {fix} in a new output_dir"
    fp16 = " (fp16 overflows at 65504: try mixed_precision=bf16)" if cfg.mixed_precision == "fp16" else ""
    renamed = (f" (caused by the weights of step {step - 1}: {bad[0].name} renamed {bad[0].name}.diverged)"
               if bad else "")
    return FloatingPointError(f"the run diverged at step {step}: {what}{fp16}{renamed}; stopped before updating "
                              f"the model. {advice}")


def lock_output_dir(output_dir: str | Path):
    """Create ``output_dir`` and hold an exclusive ``flock`` on ``OUTPUT_DIR/.lock`` (with this PID in it) for as
    long as the returned file stays open; a second process is refused, naming the holder's PID."""
    output_dir = _directory(output_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        lock = open(output_dir / ".lock", "a+")
    except PermissionError:
        raise PermissionError(f"cannot write to output_dir {str(output_dir)!r} (permission denied); choose a "
                              "directory you can write to") from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "unknown"
        lock.close()
        raise BlockingIOError(f"output_dir {str(output_dir)!r} is in use by process {holder} (it holds "
                              f"{output_dir / '.lock'}); wait for it to finish or stop it, or choose another "
                              "output_dir") from None
    lock.truncate(0)
    lock.write(str(os.getpid()))
    lock.flush()
    return lock


def _directory(output_dir: str | Path) -> Path:
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise FileExistsError(f"output_dir {str(output_dir)!r} is a file, not a directory; choose a directory "
                              "(e.g. output_dir=runs/NAME)")
    return output_dir


def save_run_config(config, output_dir: Path, resume_step: int | None) -> None:
    """Write ``OUTPUT_DIR/config.yaml`` and append to ``config_history.jsonl`` what changed since the saved one
    (main process only)."""
    path, new = output_dir / "config.yaml", config_to_dict(config)
    old = yaml_load(path.read_text(), str(path)) if path.is_file() else {}
    changes = {k: [old.get(k), new.get(k)] for k in sorted(set(old) | set(new))
               if old and old.get(k) != new.get(k) and k != "resume"}
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "resumed_at_step": resume_step, "changes": changes}
    with open(output_dir / CONFIG_HISTORY, "a") as f:
        f.write(json.dumps(record) + "\n")
    save_config(config, path)


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
    with manager.writing(f"checkpoint {final.name}", tmp):
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
    try:
        accelerator.load_state(str(path))
    except Exception as err:  # torch / safetensors / pickle errors of a damaged file
        raise ValueError(f"cannot resume from checkpoint {path}: {type(err).__name__}: {str(err).splitlines()[0]}; "
                         f"move it aside (mv {path} {path}.damaged) to resume from the one before") from None
    return json.loads(state_file.read_text())


def claim_output_dir(output_dir: str | Path, config: dict[str, Any], resume: bool | str,
                     resumable_changes: set[str]) -> Path | None:
    """Check that this run may use ``output_dir``; return the checkpoint to resume from, if any.

    A directory holding ``config.yaml`` belongs to a run: starting a new run there is an error unless
    resuming (``resume`` true or ``"auto"``), and resuming requires the same config except for
    ``resumable_changes``. ``resume=True`` with no checkpoint is an error; ``"auto"`` then starts afresh.
    Read-only, so every process can call it before anything is written.
    """
    output_dir = _directory(output_dir)
    saved_config = output_dir / "config.yaml"
    manager = CheckpointManager(output_dir / "checkpoints", keep_last=1)
    latest = manager.latest()
    if saved_config.is_file():
        if not resume:
            held = f" and {latest[1].name}" if latest else ""
            raise FileExistsError(
                f"output_dir {str(output_dir)!r} holds another run (config.yaml{held}); pass --resume "
                "(or resume=auto) to continue it, or choose a new output_dir"
            )
        diffs = diff_configs(yaml_load(saved_config.read_text(), str(saved_config)), config, ignore=resumable_changes)
        if diffs:
            keys = ",".join(line.split(":")[0] for line in diffs)
            raise ValueError(
                f"cannot resume the run in {str(output_dir)!r}: its config differs in " + "; ".join(diffs)
                + f". Pass --allow-config-change {keys} to resume with the new values (recorded in {CONFIG_HISTORY}),"
                " or use a new output_dir"
            )
    elif latest is not None:
        raise FileExistsError(f"output_dir {str(output_dir)!r} holds checkpoints but no config.yaml; "
                              "choose a new output_dir")
    if resume is True and latest is None:
        raise FileNotFoundError(f"resume requested but {str(output_dir / 'checkpoints')!r} holds no complete "
                                "checkpoint; use resume=auto to start a new run when there is none")
    if not (resume and latest):
        return None
    problem = checkpoint_problem(latest[1])
    if problem:
        intact = [p for _, p in manager.checkpoints()[:-1] if checkpoint_problem(p) is None]
        raise ValueError(f"cannot resume from checkpoint {latest[1]}: {problem}. "
                         + (f"The newest intact one is {intact[-1]}: move the damaged one aside "
                            f"(mv {latest[1]} {latest[1]}.damaged) and resume again" if intact else
                            "No earlier checkpoint is intact; start a new run in a new output_dir"))
    step, max_steps = checkpoint_step(latest[1]), config.get("max_steps")
    if max_steps is not None and max_steps < step:
        raise ValueError(f"max_steps={max_steps} is below step {step} of the checkpoint {latest[1]}: a resumed run "
                         f"may be extended, not shortened; set max_steps >= {step}")
    return latest[1]


def adopt_special_tokens(model, tokenizer) -> None:
    """Copy the tokenizer's eos / bos / pad token ids into ``model.config`` and its generation config, so the
    saved model's ``generate`` stops at EOS."""
    for name in ("eos_token_id", "pad_token_id", "bos_token_id"):
        value = getattr(tokenizer, name)
        if value is not None:
            setattr(model.config, name, value)
            if getattr(model, "generation_config", None) is not None:
                setattr(model.generation_config, name, value)


def export_final(accelerator, student, tokenizer, output_dir: Path) -> Path:
    """OUTPUT_DIR/final: inference checkpoint (no SGC weights) + tokenizer, written atomically. Collective."""
    final = output_dir / "final"
    state_dict = accelerator.get_state_dict(student)  # gathers ZeRO-3 / FSDP shards (needs every process)
    if accelerator.is_main_process:
        tmp = output_dir / ".final.tmp"
        manager = CheckpointManager(output_dir / "checkpoints", keep_last=1)
        with manager.writing("the final model", tmp), no_shard_bars():
            accelerator.unwrap_model(student).save_pretrained(tmp, state_dict=state_dict)
            tokenizer.save_pretrained(tmp)
        replace_directory(tmp, final)
    accelerator.wait_for_everyone()
    return final
