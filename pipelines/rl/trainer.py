"""TRL's ``DPOTrainer`` / ``KTOTrainer`` with what SpikingMamba and this project add, in one mixin.

- Loss: TRL's DPO (Eq 14) or KTO (Eq 15) loss, + λ·L_hidden (Eq 10) when the policy has SGC branches
  (``sgc=true``; the backbone's ``loss_hidden`` output of the training forward, read by a forward hook on
  ``model.backbone``; without branches it is None and nothing is added); ``loss_dpo`` / ``loss_kto`` and
  ``loss_hidden`` (with SGC) are logged
  beside TRL's rewards, margins and log-probs. A non-finite loss (or a NaN reaching a neuron) stops the run
  before the update, naming the step, the last good checkpoint and how to resume with a lower lr.
- Checkpoints: transformers' full training state (model with SGC weights, optimizer, scheduler, RNG,
  ``trainer_state.json``) is written into a hidden temporary directory and renamed into
  ``OUTPUT_DIR/checkpoints/step-NNNNNNNN`` (``pipelines.checkpointing``: the layout, atomic rename and
  rotation of the distillation pipeline). Model weights are safetensors; the pickled
  ``training_args.bin`` transformers would add is not written.
- Resume: the weights are loaded strictly (only the tied LM head may be absent from the file); the peak lr is
  the config's (``--allow-config-change lr``), not the one saved with the scheduler.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import warnings
from pathlib import Path

import torch
from trl import DPOTrainer, KTOTrainer

from pipelines.atomic import replace_directory
from pipelines.checkpointing import CheckpointManager, divergence, no_shard_bars, set_peak_lr


@contextlib.contextmanager
def _no_checkpointing_name_warnings():
    """TRL toggles activation checkpointing per step through the ``gradient_checkpointing`` names transformers 5
    deprecates: one FutureWarning per step that no setting of ours can avoid."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"`\w*gradient_checkpointing\w*` is deprecated", FutureWarning)
        yield


class SpikingMambaAlignmentMixin:
    """Mixed in before a TRL trainer class; extra keyword arguments: ``hidden_weight``, ``checkpoints`` and ``cfg``
    (the ``RLConfig``: its lr, max_grad_norm and precision, for resuming and for a divergence's advice)."""

    def __init__(self, *args, hidden_weight: float, checkpoints: CheckpointManager, cfg, **kwargs):
        self.hidden_weight, self.checkpoints, self.cfg = hidden_weight, checkpoints, cfg
        self._staging_root = None
        self._loss_hidden = None
        super().__init__(*args, **kwargs)
        self.accelerator.unwrap_model(self.model).backbone.register_forward_hook(self._record_loss_hidden)

    def train(self, *args, **kwargs):
        with _no_checkpointing_name_warnings():
            return super().train(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        with _no_checkpointing_name_warnings():
            return super().evaluate(*args, **kwargs)

    def _record_loss_hidden(self, backbone, args, output) -> None:
        """L_hidden of the policy's forward passes with gradients in training mode — the pass TRL trains
        on (KTO's extra no-grad pass for its KL baseline, and evaluation, are skipped)."""
        if torch.is_grad_enabled() and backbone.training:
            self._loss_hidden = output.loss_hidden

    def _take_loss_hidden(self) -> torch.Tensor | None:
        value, self._loss_hidden = self._loss_hidden, None
        return value

    def _gathered_mean(self, value: torch.Tensor) -> float:
        return self.accelerator.gather_for_metrics(value.detach().reshape(1)).float().mean().item()

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        from neurons.functional import NAN_MESSAGE

        self._take_loss_hidden()  # drop anything recorded outside this loss's forward passes
        try:
            result = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        except ValueError as err:
            if str(err) != NAN_MESSAGE:
                raise
            raise divergence("NaN reached a neuron's input (the weights or activations overflowed)",
                             self.state.global_step + 1, self.checkpoints, self.cfg,
                             self.args.should_save) from None
        loss, outputs = result if return_outputs else (result, None)
        mode = "train" if self.model.training else "eval"
        self._metrics[mode][f"loss_{self._name.lower()}"].append(self._gathered_mean(loss))
        loss_hidden = self._take_loss_hidden()
        if loss_hidden is not None:
            self._metrics[mode]["loss_hidden"].append(self._gathered_mean(loss_hidden))
            loss = loss + self.hidden_weight * loss_hidden
        if not torch.isfinite(loss.detach()).all():
            raise divergence(f"non-finite loss L={loss.item()}, L_{self._name}="
                             f"{self._metrics[mode][f'loss_{self._name.lower()}'][-1]}, L_hidden="
                             f"{None if loss_hidden is None else loss_hidden.item()}", self.state.global_step + 1,
                             self.checkpoints, self.cfg, self.args.should_save)
        return (loss, outputs) if return_outputs else loss

    # ---- checkpoints --------------------------------------------------------------------------------
    def _get_output_dir(self, trial):
        return self._staging_root or super()._get_output_dir(trial)

    def _save_checkpoint(self, model, trial):
        """transformers writes ``<staging>/checkpoint-N``; it then replaces ``checkpoints/step-N`` at once."""
        step = self.state.global_step
        self._staging_root = str(self.checkpoints.tmp_path_for(step))
        try:
            with self.checkpoints.writing(f"checkpoint step-{step:08d}", Path(self._staging_root)):
                super()._save_checkpoint(model, trial)
        finally:
            staging, self._staging_root = self._staging_root, None
        if self.args.should_save:
            replace_directory(Path(staging) / f"checkpoint-{step}", self.checkpoints.path_for(step))
            shutil.rmtree(staging)
            self.checkpoints.rotate()

    def _save(self, output_dir=None, state_dict=None):
        """Training checkpoint: the policy *with* its SGC branches (``keep_sgc``), and the tokenizer.
        ``state_dict``: the weights transformers gathered (DeepSpeed ZeRO-3, FSDP), written as given."""
        if not self.args.should_save:
            return
        os.makedirs(output_dir, exist_ok=True)
        with no_shard_bars():
            self.accelerator.unwrap_model(self.model).save_pretrained(output_dir, keep_sgc=True, state_dict=state_dict)
        self.processing_class.save_pretrained(output_dir)

    def _load_optimizer_and_scheduler(self, checkpoint):
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is not None:
            set_peak_lr(self.optimizer, self.lr_scheduler, self.args.learning_rate)

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        from safetensors.torch import load_file

        model = self.model if model is None else model
        state = load_file(os.path.join(resume_from_checkpoint, "model.safetensors"))
        result = model.load_state_dict(state, strict=False)
        tied = set(getattr(model, "_tied_weights_keys", None) or ())
        missing = [k for k in result.missing_keys if k not in tied]
        if missing or result.unexpected_keys:
            raise ValueError(f"checkpoint {resume_from_checkpoint} does not fit the policy: missing "
                             f"{missing[:5]}, unexpected {result.unexpected_keys[:5]} (was it written with "
                             "other sgc_layers?)")


class SpikingMambaDPOTrainer(SpikingMambaAlignmentMixin, DPOTrainer):
    """DPO (Eq 14) [+ λ·L_hidden with SGC]."""


class SpikingMambaKTOTrainer(SpikingMambaAlignmentMixin, KTOTrainer):
    """KTO (Eq 15) [+ λ·L_hidden with SGC]."""


TRAINERS = {"dpo": SpikingMambaDPOTrainer, "kto": SpikingMambaKTOTrainer}
