"""Alignment stage (§4.3, Eq 14–15, Appendix C): DPO or KTO of a distilled SpikingMamba (or dense Mamba2) with TRL.

``run(cfg)`` wires the pieces: the output directory is claimed (``pipelines.checkpointing``: a new run,
or a resume with the same config), the policy (SGC branches only with ``sgc=true``), its frozen reference and the tokenizer are
loaded (``policy.py``), the preference data checked and put in TRL's format (``data.py``), and TRL
trains (``trainer.py``): AdamW β = (0.9, 0.98), linear warm-up over ``warmup_ratio`` of the steps then
cosine, ``global_batch_size`` = processes × accumulation × ``micro_batch_size`` examples per step (an
incomplete last batch of an epoch is used as it is), a tqdm bar, ``metrics.jsonl`` every ``log_every`` steps, atomic
checkpoints every ``save_every`` steps and at the end. ``OUTPUT_DIR/final/`` is the inference checkpoint
(no SGC weights) with the tokenizer, written atomically.

TRL pads every batch on the right (prompt + completion, then padding), which a causal SSM reads
correctly: padding comes after every real token and is masked out of the log-probabilities and of
L_hidden. Runs under ``accelerate launch`` like any transformers Trainer; only one CPU process was
run here.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from transformers import TrainerCallback

from pipelines.checkpointing import CheckpointManager, adopt_special_tokens, checkpoint_step, claim_output_dir, export_final, \
    lock_output_dir, save_run_config
from pipelines.config import config_to_dict
from pipelines.metrics import MetricsWriter, interactive, quiet_progress_bars_in_logs
from pipelines.rl import data as rl_data
from pipelines.rl import policy as rl_policy
from pipelines.rl.config import RLConfig
from pipelines.rl.trainer import TRAINERS


class MetricsCallback(TrainerCallback):
    """Every log of the trainer (train and eval) -> one ``metrics.jsonl`` record at its step; the run summary
    (``train_runtime``, ...) is printed by transformers and not recorded."""

    def __init__(self, writer: MetricsWriter):
        self.writer = writer

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "train_runtime" not in logs:
            self.writer.log(state.global_step, **logs)


def trl_args(cfg: RLConfig):
    """TRL's ``DPOConfig`` / ``KTOConfig`` for ``cfg`` (transformers TrainingArguments underneath)."""
    import torch
    from trl import DPOConfig, KTOConfig

    common = dict(
        output_dir=cfg.output_dir, per_device_train_batch_size=cfg.micro_batch_size,
        per_device_eval_batch_size=cfg.micro_batch_size, optim="adamw_torch", learning_rate=cfg.lr,
        adam_beta1=cfg.betas[0], adam_beta2=cfg.betas[1], adam_epsilon=cfg.eps, weight_decay=cfg.weight_decay,
        lr_scheduler_type="cosine_with_min_lr", lr_scheduler_kwargs={"min_lr_rate": cfg.min_lr_ratio},
        warmup_steps=cfg.warmup_ratio, max_grad_norm=cfg.max_grad_norm or 0.0, num_train_epochs=cfg.num_epochs,
        max_steps=cfg.max_steps or -1, bf16=cfg.mixed_precision == "bf16", fp16=cfg.mixed_precision == "fp16",
        use_cpu=cfg.cpu, seed=cfg.seed, activation_checkpointing=cfg.activation_checkpointing,
        dataloader_pin_memory=torch.cuda.is_available() and not cfg.cpu,
        logging_steps=cfg.log_every, logging_nan_inf_filter=False, save_strategy="steps", save_steps=cfg.save_every,
        eval_strategy="steps" if cfg.eval_data and cfg.eval_every else "no", eval_steps=cfg.eval_every,
        report_to="none", disable_tqdm=not interactive(), beta=cfg.beta, max_length=cfg.max_length,
        dataset_num_proc=cfg.num_proc,
    )
    if cfg.loss == "dpo":
        args = DPOConfig(**common, loss_type=["sigmoid"])  # Eq 14
    else:
        args = KTOConfig(**common, loss_type="kto", desirable_weight=cfg.desirable_weight,  # Eq 15
                         undesirable_weight=cfg.undesirable_weight)
    per_step = cfg.micro_batch_size * args.world_size
    if cfg.global_batch_size % per_step:
        raise ValueError(f"global_batch_size={cfg.global_batch_size} is not a multiple of micro_batch_size="
                         f"{cfg.micro_batch_size} x {args.world_size} processes")
    args.gradient_accumulation_steps = cfg.global_batch_size // per_step
    return args


@dataclass
class Alignment:
    """A configured run: the TRL trainer (policy = ``trainer.model``, reference = ``trainer.ref_model``)
    and what ``run`` needs to train, resume and export it."""

    trainer: object
    tokenizer: object
    metrics: MetricsWriter
    output_dir: Path
    resume_from: Path | None
    resume_step: int | None
    lock: object  # the open OUTPUT_DIR/.lock of the main process (None elsewhere)


def build(cfg: RLConfig, callbacks: tuple = ()) -> Alignment:
    """Claim the output directory, load policy/reference/tokenizer/data and configure TRL (nothing trained).
    ``callbacks``: extra transformers ``TrainerCallback``s."""
    output_dir = Path(cfg.output_dir)
    quiet_progress_bars_in_logs()
    args = trl_args(cfg)
    lock = lock_output_dir(output_dir) if args.should_save else None
    resume_from = claim_output_dir(output_dir, config_to_dict(cfg), cfg.resume, cfg.resumable_changes())
    with args.main_process_first(desc="policy and data"):
        policy_path = rl_policy.resolve_policy(cfg)
        tokenizer = rl_policy.load_tokenizer(cfg, policy_path)
        train = rl_data.load_preferences(cfg.data, cfg.train_split, cfg.loss, cfg.seed, cfg.data_cache_dir)
        held_out = (rl_data.load_preferences(cfg.eval_data, cfg.eval_split, cfg.loss, cfg.seed, cfg.data_cache_dir)
                    if cfg.eval_data else None)
    if rl_data.is_conversational(train):
        rl_data.ensure_chat_template(tokenizer, cfg.chat_template)
    policy = rl_policy.load_policy(cfg, policy_path)
    if len(tokenizer) > policy.config.vocab_size:
        raise ValueError(f"tokenizer mismatch: {len(tokenizer)} tokens but the policy {policy_path!r} has only "
                         f"{policy.config.vocab_size} embeddings; use the tokenizer it was distilled with")
    reference = rl_policy.load_reference(policy_path)
    for model in (policy, reference):
        adopt_special_tokens(model, tokenizer)  # as TRL would, silently; the export's generate stops at EOS

    checkpoints = CheckpointManager(output_dir / "checkpoints", cfg.keep_last)
    resume_step = checkpoint_step(resume_from) if resume_from else None
    if args.should_save:
        checkpoints.remove_partial()
        save_run_config(cfg, output_dir, resume_step)
    metrics = MetricsWriter(output_dir, enabled=args.should_save, resume_step=resume_step,
                            tensorboard=cfg.tensorboard)
    trainer = TRAINERS[cfg.loss](
        model=policy, ref_model=reference, args=args, train_dataset=train, eval_dataset=held_out,
        processing_class=tokenizer, callbacks=[MetricsCallback(metrics), *callbacks],
        hidden_weight=cfg.hidden_weight, checkpoints=checkpoints, cfg=cfg)
    if len(trainer.train_dataset) < cfg.global_batch_size:
        raise ValueError(f"the data is too short: {len(trainer.train_dataset)} usable examples in {cfg.data!r}, "
                         f"fewer than one global batch of {cfg.global_batch_size} (examples whose prompt alone "
                         f"fills max_length={cfg.max_length} are dropped); add data or lower global_batch_size")
    n_trainable = sum(p.numel() for p in policy.parameters() if p.requires_grad)
    sgc_layers = policy.config.sgc_layers
    sgc = f"SGC on layers {sgc_layers} (λ={cfg.hidden_weight})" if sgc_layers else "no SGC"
    if args.should_log:
        print(f"rl: {cfg.loss.upper()} (β={cfg.beta}) of {policy_path}, {sgc}; {n_trainable:,} trainable parameters; "
              f"{len(trainer.train_dataset):,} examples; {cfg.global_batch_size} per step = {args.world_size} "
              f"process(es) x {args.gradient_accumulation_steps} accumulation x {cfg.micro_batch_size}"
              + (f"; resuming from {resume_from}" if resume_from else ""))
    return Alignment(trainer, tokenizer, metrics, output_dir, resume_from, resume_step, lock)


def run(cfg: RLConfig, callbacks: tuple = ()) -> dict:
    """Align (see the module docstring); return a summary: steps, final path, training loss, last log."""
    job = build(cfg, callbacks)
    trainer = job.trainer
    try:
        result = trainer.train(resume_from_checkpoint=str(job.resume_from) if job.resume_from else None)
        if trainer.eval_dataset is not None and not cfg.eval_every:
            trainer.evaluate()
        final = export_final(trainer.accelerator, trainer.model_wrapped, job.tokenizer, job.output_dir)
    finally:
        job.metrics.close()
        if job.lock is not None:
            job.lock.close()
    if trainer.args.should_log:
        print(f"final model and tokenizer: {final}")
    return {"steps": trainer.state.global_step, "start_step": job.resume_step or 0, "final": str(final),
            "train_loss": result.training_loss, "last": trainer.state.log_history[-1]}
