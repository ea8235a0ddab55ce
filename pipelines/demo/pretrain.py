"""Teacher pretraining: a small Mamba2 trained from scratch on the demo corpus (next-token CE).

The paper starts from a pretrained Mamba2 (state-spaces/mamba2-130m, -1.3b); offline on a CPU the
demo pretrains its own. A readable nanoGPT-style loop over the project's shared pieces: packed data
and its deterministic order (``pipelines.data``), the distillation pipeline's AdamW + warm-up/cosine
schedule (``pipelines.distill.train.build_optimizer``, which reads ``lr, betas, eps, weight_decay,
warmup_ratio, min_lr_ratio``), ``metrics.jsonl`` (``pipelines.metrics``) and the atomic directory
swap of ``pipelines.checkpointing``. The model is ``SpikingMambaForCausalLM`` with neuron "none",
i.e. plain Mamba2 (Eq 16–21), so the students load it exactly like a hub teacher.

    teacher_dir = pretrain_teacher(TeacherConfig(...), "train.jsonl", "tokenizer/", "runs/demo/cache/teacher-<key>")

The result directory holds ``config.json`` + ``model.safetensors`` + the tokenizer + ``metrics.jsonl``
(train CE every ``log_every`` steps, held-out CE every ``eval_every``) and appears only complete.
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from pipelines import data as data_lib
from pipelines.checkpointing import replace_directory
from pipelines.metrics import MetricsWriter


@dataclasses.dataclass(frozen=True)
class TeacherConfig:
    # Mamba2 shape (SpikingMambaConfig / mamba_ssm names); vocab_size comes from the tokenizer
    d_model: int = 128
    n_layer: int = 4
    d_state: int = 32
    headdim: int = 32
    expand: int = 2
    chunk_size: int = 64
    # optimisation
    seq_len: int = 128
    global_batch_size: int = 16
    micro_batch_size: int = 16
    max_steps: int = 640
    lr: float = 3e-3
    betas: tuple = (0.9, 0.98)
    eps: float = 1e-8
    weight_decay: float = 0.1
    warmup_ratio: float = 0.02
    min_lr_ratio: float = 0.1
    max_grad_norm: float = 1.0
    seed: int = 0
    log_every: int = 10
    eval_every: int = 80
    eval_sequences: int = 32     # held-out sequences of seq_len for the curve (the final ppl uses all)

    @property
    def shape(self) -> dict:
        return {k: getattr(self, k) for k in ("d_model", "n_layer", "d_state", "headdim", "expand", "chunk_size")}


def build_teacher(cfg: TeacherConfig, tokenizer):
    """A randomly initialised Mamba2 LM (``models.tiny.tiny_mamba2``: mamba_ssm's initialisation, vocab
    padded like mamba_ssm) sized for ``tokenizer``, with its special-token ids."""
    from models.tiny import tiny_mamba2

    with torch.random.fork_rng():
        model = tiny_mamba2(vocab_size=len(tokenizer), seed=cfg.seed, **cfg.shape)
    for name in ("eos_token_id", "pad_token_id", "bos_token_id"):
        setattr(model.config, name, getattr(tokenizer, name))
    return model


@torch.no_grad()
def mean_ce(model, rows: torch.Tensor, batch_size: int) -> float:
    """Mean next-token CE of ``model`` over ``rows`` [N, seq_len] (eval mode, restored after)."""
    was_training = model.training
    model.eval()
    total = sum(model(batch, labels=batch).loss.item() * len(batch) for batch in rows.split(batch_size))
    model.train(was_training)
    return total / len(rows)


def pretrain_teacher(cfg: TeacherConfig, train_file: str | Path, heldout_file: str | Path,
                     tokenizer_dir: str | Path, out_dir: str | Path, data_cache_dir: str | None = None,
                     progress: bool = True) -> Path:
    """Train the teacher and write it to ``out_dir`` (replaced atomically); returns ``out_dir``."""
    from transformers import AutoTokenizer

    from pipelines.distill.train import build_optimizer

    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    packed = data_lib.build_packed_dataset([data_lib.DataSource(str(train_file))], tokenizer, cfg.seq_len,
                                           cache_dir=data_cache_dir)
    heldout = data_lib.build_packed_dataset([data_lib.DataSource(str(heldout_file))], tokenizer, cfg.seq_len,
                                            cache_dir=data_cache_dir)
    eval_rows = torch.as_tensor(heldout[: cfg.eval_sequences]["input_ids"], dtype=torch.long)
    plan = data_lib.BatchPlan(len(packed), cfg.global_batch_size, cfg.micro_batch_size, seed=cfg.seed)
    model = build_teacher(cfg, tokenizer).train()
    optimizer, scheduler = build_optimizer(cfg, model, cfg.max_steps)
    tmp.mkdir(parents=True, exist_ok=True)
    metrics = MetricsWriter(tmp, tensorboard=False)
    tokens_per_step = cfg.global_batch_size * cfg.seq_len
    bar = tqdm(range(cfg.max_steps), desc="teacher", unit="step", disable=not progress, dynamic_ncols=True)
    for step in bar:
        t0 = time.perf_counter()
        loss_sum = 0.0
        for micro in range(plan.accumulation_steps):
            x = torch.as_tensor(packed[plan.micro_rows(step, micro).tolist()]["input_ids"], dtype=torch.long)
            loss = model(x, labels=x).loss
            (loss / plan.accumulation_steps).backward()
            loss_sum += loss.item()
        loss = loss_sum / plan.accumulation_steps
        if not math.isfinite(loss):
            raise FloatingPointError(f"teacher pretraining: non-finite loss {loss} at step {step + 1}; "
                                     f"lower lr (now {cfg.lr})")
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        lr = scheduler.get_last_lr()[0]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        done = step + 1
        record = {"loss": loss, "lr": lr, "grad_norm": float(grad_norm),
                  "tokens_per_s": tokens_per_step / (time.perf_counter() - t0), "tokens_seen": done * tokens_per_step}
        if done % cfg.eval_every == 0 or done == cfg.max_steps:
            record["heldout_loss"] = mean_ce(model, eval_rows, cfg.micro_batch_size)
        if done % cfg.log_every == 0 or done == cfg.max_steps or "heldout_loss" in record:
            metrics.log(done, **record)
        bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{record['tokens_per_s']:.0f}")
    metrics.close()
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    replace_directory(tmp, out_dir)
    return out_dir
