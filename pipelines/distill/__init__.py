"""Single-stage distillation of a SpikingMamba student from a Mamba2 teacher (§4.3, Appendix C).

    python -m pipelines distill --config pipelines/configs/distill_tiny.yaml      # CPU, offline, raw-text KD
    python -m pipelines distill --config pipelines/configs/distill_tiny_sft.yaml  # CPU, offline, pseudo-labels
    accelerate launch --config_file pipelines/accelerate/deepspeed_zero3.yaml \\
        -m pipelines distill --config pipelines/configs/paper_1.3b.yaml [key=value ...]
    python -m pipelines distill --config ... --resume                            # after a crash or kill

What a run writes to ``output_dir``: ``config.yaml`` (the resolved config), ``metrics.jsonl`` (one JSON
object per logged step: step, loss, loss_kl (``objective: ce``: loss_ce), loss_hidden, lr, grad_norm,
tokens_per_s, tokens_seen, epoch, and heldout_<term> with ``eval_datasets``), ``tensorboard/``,
``pseudo_labels/`` (with ``pseudo_labels: true``, the paper presets' default: the teacher's responses to the
prompts, resumable; ``label_cache.py``), ``checkpoints/step-N/`` (atomic, the last ``keep_last`` kept) and
``final/`` (inference checkpoint without SGC weights, tokenizer beside it). The terminal shows a progress bar with
the loss components, tokens/s and ETA.

Modules: ``config`` (every key), ``teacher_student`` (loading and compatibility checks), ``losses``
(Eq 12–13), ``prompts`` / ``pseudo_labels`` / ``label_cache`` (§4.3: prompts, the teacher's responses ŷ,
their cache), ``train`` (the loop), ``cli``. Config loading,
data, checkpoints and metrics are the shared ``pipelines.config`` / ``data`` / ``checkpointing`` /
``metrics`` modules.

Run here (CPU): one process and two DDP processes (gloo). Written for but not run here: CUDA, bf16 at
scale, DeepSpeed ZeRO-3 and FSDP (``pipelines/accelerate/``), hub models and datasets.
"""
