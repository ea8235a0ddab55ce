"""Single-stage distillation (§4.3, Appendix C): a readable loop on top of ``accelerate``.

One optimizer step = ``accumulation_steps`` micro-batches on each of ``world_size`` processes, together
exactly ``global_batch_size`` packed sequences chosen by ``pipelines.data.BatchPlan``. For each micro-batch:
the frozen teacher's logits (no grad), the student's logits and L_hidden (Eq 10, from the model), and
L = L_KL + λ·L_hidden (Eq 12–13, ``losses.py``). AdamW with linear warm-up then cosine decay. With
``pseudo_labels`` a row is one prompt + teacher response and both losses run over the response only
(``pseudo_labels.py``); otherwise over every token of packed text. ``objective=ce`` trains the same way on
the data's next-token CE instead of L_KL, without a teacher forward: the demo pretrains its teacher so.
With ``eval_datasets`` the mean of every loss term over the held-out sequences is logged as
``heldout_<term>``.

The same code runs on one CPU, under ``accelerate launch`` with DDP, DeepSpeed ZeRO-3 or FSDP
(configs in ``pipelines/accelerate/``); only plain and DDP (gloo, 2 CPU processes) were run here.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path
from typing import Any

import torch

from pipelines import data as data_lib
from pipelines.checkpointing import CheckpointManager, adopt_special_tokens, checkpoint_step, claim_output_dir, \
    divergence, export_final, load_checkpoint, lock_output_dir, save_checkpoint, save_run_config, set_peak_lr
from pipelines.config import config_to_dict
from pipelines.distill import teacher_student
from pipelines.distill.config import DistillConfig
from pipelines.distill.losses import DistillLoss
from pipelines.distill.pseudo_labels import build_pseudo_label_dataset
from pipelines.metrics import MetricsWriter, interactive, quiet_progress_bars_in_logs


def build_optimizer(cfg: DistillConfig, student, total_steps: int):
    """AdamW over the trainable parameters; linear warm-up over ``warmup_ratio`` of the steps, then cosine."""
    from transformers import get_cosine_with_min_lr_schedule_with_warmup

    params = [p for p in student.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps,
                                  weight_decay=cfg.weight_decay)
    scheduler = get_cosine_with_min_lr_schedule_with_warmup(
        optimizer, num_warmup_steps=math.ceil(cfg.warmup_ratio * total_steps), num_training_steps=total_steps,
        min_lr_rate=cfg.min_lr_ratio,
    )
    return optimizer, scheduler


def configure_engine(accelerator, cfg: DistillConfig, accumulation_steps: int) -> None:
    """Give the engine the batch geometry (DeepSpeed cannot infer it: no dataloader is prepared)."""
    accelerator.gradient_accumulation_steps = accumulation_steps
    plugin = accelerator.state.deepspeed_plugin
    if plugin is not None:
        plugin.deepspeed_config.update(train_micro_batch_size_per_gpu=cfg.micro_batch_size,
                                       gradient_accumulation_steps=accumulation_steps,
                                       gradient_clipping=cfg.max_grad_norm or 0.0)


LOSS_TERMS = {"kl": ("loss", "loss_kl", "loss_hidden"), "ce": ("loss", "loss_ce", "loss_hidden")}
"""The metric names of ``micro_batch_loss``'s three values, per objective."""


def micro_batch_loss(cfg: DistillConfig, teacher, student, input_ids: torch.Tensor,
                     loss_mask: torch.Tensor | None = None):
    """L, L_KL (objective ce: the next-token CE), L_hidden (scalars) for one micro-batch ``input_ids
    [b, seq_len]``; ``loss_mask [b, seq_len]``: the positions both losses average over (pseudo-labels: the
    response's, ``pseudo_labels.py``; None: all)."""
    out = student(input_ids, hidden_loss_mask=loss_mask)
    if cfg.objective == "ce":
        loss = DistillLoss.next_token_ce(out.logits, input_ids)
    else:
        with torch.no_grad():
            teacher_logits = teacher(input_ids).logits
        loss = DistillLoss.kl_teacher_student(teacher_logits, out.logits, loss_mask, cfg.kl_temperature)
    loss_hidden = out.loss_hidden.float()
    return DistillLoss.total(loss, loss_hidden, cfg.hidden_weight), loss, loss_hidden


@dataclasses.dataclass
class Run:
    """Everything a training step needs, built by ``setup``."""

    accelerator: Any
    teacher: Any  # None for objective ce
    student: Any
    optimizer: Any
    scheduler: Any
    tokenizer: Any
    packed: Any  # datasets.Dataset of input_ids rows [seq_len]
    heldout: torch.Tensor | None  # [N, seq_len] held-out rows (eval_datasets)
    plan: data_lib.BatchPlan
    total_steps: int
    teacher_path: str


def setup(cfg: DistillConfig, accelerator) -> Run:
    """Tokenizer, packed data and batch plan, teacher and student, optimizer and schedule, all prepared."""
    with accelerator.local_main_process_first():  # the first process fills the datasets cache for the rest
        teacher_path = teacher_student.resolve_teacher(cfg)
        tokenizer = teacher_student.load_tokenizer(cfg, teacher_path)
        packed = None if cfg.pseudo_labels else data_lib.build_packed_dataset(
            [data_lib.DataSource.parse(d) for d in cfg.datasets], tokenizer, cfg.seq_len, cfg.chat_template,
            cfg.data_cache_dir, cfg.num_proc)
        heldout = None
        if cfg.eval_datasets:
            rows = data_lib.build_packed_dataset(
                [data_lib.DataSource.parse(d) for d in cfg.eval_datasets], tokenizer, cfg.seq_len,
                cfg.chat_template, cfg.data_cache_dir, cfg.num_proc)["input_ids"][: cfg.eval_sequences]
            heldout = torch.as_tensor(rows, dtype=torch.long, device=accelerator.device)
    if cfg.pseudo_labels:  # §4.3: rows of (prompt, teacher response) with a loss mask (collective)
        packed = build_pseudo_label_dataset(cfg, tokenizer, teacher_path, accelerator)
    plan = data_lib.BatchPlan(len(packed), cfg.global_batch_size, cfg.micro_batch_size,
                              accelerator.num_processes, accelerator.process_index, cfg.seed)
    configure_engine(accelerator, cfg, plan.accumulation_steps)
    total_steps = cfg.max_steps or cfg.num_epochs * plan.steps_per_epoch

    teacher = teacher_student.load_teacher(teacher_path)
    student = teacher_student.load_student(cfg, teacher_path, teacher.config.n_layer)
    teacher_student.check_compatible(teacher, student, tokenizer, teacher_path)
    teacher_student.check_seq_len(teacher, cfg.seq_len)
    student.backbone.embedding.weight.requires_grad_(not cfg.freeze_embedding)  # Appendix C: frozen
    adopt_special_tokens(student, tokenizer)  # the export's generate stops at the tokenizer's EOS
    teacher = None if cfg.objective == "ce" else teacher.to(accelerator.device)  # ce: it only gave the weights
    optimizer, scheduler = build_optimizer(cfg, student, total_steps)
    student, optimizer, scheduler = accelerator.prepare(student, optimizer, scheduler)
    return Run(accelerator, teacher, student, optimizer, scheduler, tokenizer, packed, heldout, plan,
               total_steps, teacher_path)


def train_step(cfg: DistillConfig, r: Run, step: int) -> tuple[torch.Tensor, float | None]:
    """Optimizer step ``step`` (0-based) over the global batch; returns (mean [L, L_KL, L_hidden] over
    the global batch, gradient norm). Raises FloatingPointError, before updating, if a neuron's input, the
    loss or the gradient norm is not finite."""
    from neurons.functional import NAN_MESSAGE

    acc, plan = r.accelerator, r.plan
    sums = torch.zeros(3, device=acc.device)
    for micro in range(plan.accumulation_steps):
        rows = plan.micro_rows(step, micro)
        batch = r.packed[rows.tolist()]
        input_ids = torch.as_tensor(batch["input_ids"], dtype=torch.long, device=acc.device)
        loss_mask = torch.as_tensor(batch["loss_mask"], device=acc.device) if "loss_mask" in batch else None
        with acc.accumulate(r.student), acc.autocast():
            try:
                losses = micro_batch_loss(cfg, r.teacher, r.student, input_ids, loss_mask)
            except ValueError as err:
                if str(err) != NAN_MESSAGE:
                    raise
                raise FloatingPointError("NaN reached a neuron's input (the weights or activations overflowed)") \
                    from None
            acc.backward(losses[0])
        sums += torch.stack(losses).detach()
    means = acc.reduce(sums, "mean") / plan.accumulation_steps
    if not torch.isfinite(means).all():
        raise FloatingPointError(f"non-finite loss L={means[0].item()}, "
                                 f"{'L_CE' if cfg.objective == 'ce' else 'L_KL'}={means[1].item()}, "
                                 f"L_hidden={means[2].item()}")
    grad_norm = acc.clip_grad_norm_(r.student.parameters(), cfg.max_grad_norm) if cfg.max_grad_norm else None
    if grad_norm is not None and not math.isfinite(float(grad_norm)):
        raise FloatingPointError(f"non-finite gradient norm {float(grad_norm)}")
    r.optimizer.step()
    r.scheduler.step()
    r.optimizer.zero_grad(set_to_none=True)
    return means, None if grad_norm is None else float(grad_norm)


@torch.no_grad()
def heldout_losses(cfg: DistillConfig, r: Run) -> dict[str, float]:
    """``{"heldout_<term>": mean over the held-out rows}`` for each loss term, in eval mode (restored after)."""
    r.student.eval()
    sums = [0.0, 0.0, 0.0]
    for rows in r.heldout.split(cfg.micro_batch_size):
        with r.accelerator.autocast():
            losses = micro_batch_loss(cfg, r.teacher, r.student, rows)
        sums = [total + value.item() * len(rows) for total, value in zip(sums, losses)]
    r.student.train()
    return {f"heldout_{name}": total / len(r.heldout) for name, total in zip(LOSS_TERMS[cfg.objective], sums)}


def run(cfg: DistillConfig) -> dict:
    """Distil; return a summary (steps, start step, final path, last metrics). See the module docstring."""
    from accelerate import Accelerator

    output_dir = Path(cfg.output_dir)
    accelerator = Accelerator(cpu=cfg.cpu, mixed_precision=cfg.mixed_precision, step_scheduler_with_optimizer=False)
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched != accelerator.num_processes:
        raise ValueError(f"launched as {launched} processes but accelerate set up {accelerator.num_processes} "
                         f"({accelerator.distributed_type}); without GPUs launch with --multi_gpu and set cpu=true "
                         "(gloo backend); FSDP and DeepSpeed need GPUs")
    quiet_progress_bars_in_logs()
    lock = lock_output_dir(output_dir) if accelerator.is_main_process else None
    try:
        return _train(cfg, accelerator, output_dir)
    finally:
        if lock is not None:
            lock.close()


def _train(cfg: DistillConfig, accelerator, output_dir: Path) -> dict:
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm

    resume_from = claim_output_dir(output_dir, config_to_dict(cfg), cfg.resume, cfg.resumable_changes())
    accelerator.wait_for_everyone()  # every process has checked output_dir before anything is written
    set_seed(cfg.seed)
    r = setup(cfg, accelerator)

    checkpoints = CheckpointManager(output_dir / "checkpoints", cfg.keep_last)
    start_step, tokens_seen, data_id = 0, 0, data_lib.fingerprint(r.packed)
    if resume_from is not None:
        state = load_checkpoint(accelerator, resume_from)
        if state["data"] != data_id:
            raise ValueError(f"cannot resume from {resume_from}: the packed data differ "
                             f"(checkpoint {state['data']}, now {data_id})")
        start_step, tokens_seen = checkpoint_step(resume_from), state["tokens_seen"]
        set_peak_lr(r.optimizer, r.scheduler, cfg.lr)
    if accelerator.is_main_process:
        checkpoints.remove_partial()
        save_run_config(cfg, output_dir, start_step if resume_from else None)
    metrics = MetricsWriter(output_dir, enabled=accelerator.is_main_process,
                            resume_step=start_step if resume_from else None, tensorboard=cfg.tensorboard)
    tokens_per_step = cfg.global_batch_size * cfg.seq_len
    n_trainable = sum(p.numel() for p in r.student.parameters() if p.requires_grad)
    accelerator.print(
        f"distill ({cfg.objective}): teacher {r.teacher_path} -> student neuron={cfg.neuron} D={cfg.D}; "
        f"{n_trainable:,} trainable "
        f"parameters; {len(r.packed):,} sequences of {cfg.seq_len} tokens; {r.total_steps} steps of "
        f"{cfg.global_batch_size} = {accelerator.num_processes} process(es) x {r.plan.accumulation_steps} "
        f"accumulation x {cfg.micro_batch_size}" + (f"; resuming at step {start_step}" if resume_from else ""))

    bar = tqdm(total=r.total_steps, initial=start_step, unit="step",
               disable=not (accelerator.is_main_process and interactive()), dynamic_ncols=True)
    record = {}
    for step in range(start_step, r.total_steps):
        t0, lr = time.perf_counter(), r.scheduler.get_last_lr()[0]
        try:
            means, grad_norm = train_step(cfg, r, step)
        except FloatingPointError as err:
            raise divergence(str(err), step + 1, checkpoints, cfg, accelerator.is_main_process) from None
        done, tokens_seen = step + 1, tokens_seen + tokens_per_step
        record = {**dict(zip(LOSS_TERMS[cfg.objective], means.tolist())), "learning_rate": lr,
                  "tokens_per_s": tokens_per_step / (time.perf_counter() - t0), "tokens_seen": tokens_seen,
                  "epoch": done / r.plan.steps_per_epoch, **({"grad_norm": grad_norm} if grad_norm is not None else {})}
        if r.heldout is not None and ((cfg.eval_every and done % cfg.eval_every == 0) or done == r.total_steps):
            record |= heldout_losses(cfg, r)
        bar.update(1)
        bar.set_postfix({name.removeprefix("loss_"): f"{record[name]:.4f}" for name in LOSS_TERMS[cfg.objective]},
                        tok_s=f"{record['tokens_per_s']:.0f}")
        if done % cfg.log_every == 0 or done == r.total_steps or "heldout_loss" in record:
            metrics.log(done, **record)
            if bar.disable:  # a log file, not a terminal: one line per logged step
                shown = (*LOSS_TERMS[cfg.objective], "learning_rate")
                accelerator.print(f"step {done}/{r.total_steps}: " + ", ".join(f"{k} {record[k]:.4g}" for k in shown))
        if done % cfg.save_every == 0 or done == r.total_steps:
            path = save_checkpoint(accelerator, checkpoints, done, {
                "global_step": done, "tokens_seen": tokens_seen, "data": data_id,
                "world_size": accelerator.num_processes, "loss": record["loss"]})
            if accelerator.is_main_process:
                tqdm.write(f"saved checkpoint {path}")
    bar.close()
    metrics.close()
    final = export_final(accelerator, r.student, r.tokenizer, output_dir)
    accelerator.print(f"final model and tokenizer: {final}")
    accelerator.end_training()
    return {"steps": r.total_steps, "start_step": start_step, "final": str(final), "last": record}
