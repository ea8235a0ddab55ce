"""The single-stage distillation objective, Eq 12–13 (L_hidden itself, Eq 10, lives in models/sgc.py).

    L = L_KL + λ · L_hidden                                                     (Eq 12; the paper uses λ = 1)
    L_KL = 1/T Σ_t KL( p(·|ŷ_{1:t}, x; θ_T) || p(·|ŷ_{1:t}, x; θ_S) )           (Eq 13)
    L_CE = −1/(T−1) Σ_t log p(x_{t+1} | x_{1:t}; θ_S)       (``objective: ce`` in place of L_KL; not the paper's:
                                                            pretraining without a teacher, as the demo's teacher)

Direction: forward KL, teacher first — Σ_v p_T(v) (log p_T(v) − log p_S(v)) — so the student is
pushed to cover all of the teacher's probability mass (not the mode-seeking reverse KL).
Temperature τ (not in the paper, which uses plain softmax, i.e. τ = 1): both distributions are
softmax(z/τ) and the KL is multiplied by τ² so its gradient scale does not shrink with τ (Hinton et al.).
The average 1/T Σ_t runs over the positions selected by ``mask`` (all positions for dataset text; the
teacher-generated positions ŷ for pseudo-labels), over every sequence of the batch.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


class DistillLoss:
    """Static functions of the objective; each takes and returns plain tensors."""

    @staticmethod
    def kl_teacher_student(teacher_logits: torch.Tensor, student_logits: torch.Tensor,
                           mask: torch.Tensor | None = None, temperature: float = 1.0) -> torch.Tensor:
        """Eq 13: mean over masked positions of KL(p_T || p_S) with temperature τ (times τ²).

        teacher_logits, student_logits: ``[B, L, V]`` (any float dtype; computed in fp32).
        mask: ``[B, L]`` bool/0-1, positions t that enter the average (None = all).
        Returns a scalar ``[]``; 0 iff the two distributions agree on every masked position.
        """
        if teacher_logits.shape != student_logits.shape:
            raise ValueError(
                f"teacher logits {tuple(teacher_logits.shape)} and student logits {tuple(student_logits.shape)}"
                " differ: teacher and student must share the vocabulary"
            )
        log_p_t = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
        log_p_s = F.log_softmax(student_logits.float() / temperature, dim=-1)
        per_position = (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1)  # [B, L]
        if mask is None:
            mean = per_position.mean()
        else:
            mask = mask.to(per_position.dtype)
            mean = (per_position * mask).sum() / mask.sum().clamp_min(1)
        return mean * temperature**2

    @staticmethod
    def next_token_ce(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        """L_CE: mean next-token cross-entropy of ``logits [B, L, V]`` on ``input_ids [B, L]`` (fp32), by
        transformers' ``ForCausalLMLoss``, as the model's own ``labels=`` loss. Returns a scalar ``[]``."""
        from transformers.loss.loss_utils import ForCausalLMLoss

        return ForCausalLMLoss(logits, input_ids, vocab_size=logits.shape[-1])

    @staticmethod
    def total(loss_kl: torch.Tensor, loss_hidden: torch.Tensor, hidden_weight: float) -> torch.Tensor:
        """Eq 12: ``L = L_KL + λ · L_hidden`` (scalars ``[]``)."""
        return loss_kl + hidden_weight * loss_hidden
