"""Teacher/student setup, the per-batch loss and the run's clear errors (pseudo-labels: test_pseudo_labels.py)."""
import types

import pytest
import torch

from distill_helpers import CORPUS, run_in_process, small_config
from pipelines.distill import teacher_student, train
from pipelines.tiny import ensure_tiny_teacher


def batch(n=2, length=24, seed=0):
    return torch.randint(0, 257, (n, length), generator=torch.Generator().manual_seed(seed))


def test_kl_is_zero_when_the_student_is_the_teacher(teacher_dir, tmp_path):
    cfg = small_config(teacher_dir, tmp_path, "neuron=none")
    teacher = teacher_student.load_teacher(teacher_dir)
    student = teacher_student.load_student(cfg, teacher_dir, 3)
    loss, kl, hidden = train.micro_batch_loss(cfg, teacher, student, batch())
    assert kl.item() == 0.0 and hidden.item() == 0.0 and loss.item() == 0.0
    loss.backward()  # at p_S = p_T the gradient p_S - p_T vanishes up to rounding of Σ p_T = 1
    assert max(p.grad.abs().max().item() for p in student.parameters() if p.grad is not None) < 1e-7
    # the same check can fail: a spiking student differs from its teacher
    spiking = teacher_student.load_student(small_config(teacher_dir, tmp_path), teacher_dir, 3)
    _, kl, hidden = train.micro_batch_loss(cfg, teacher, spiking, batch())
    assert kl.item() > 0 and hidden.item() > 0


def test_ce_objective_is_the_next_token_ce_without_a_teacher(teacher_dir, tmp_path):
    cfg = small_config(teacher_dir, tmp_path, "objective=ce", "neuron=none")
    student, ids = teacher_student.load_student(cfg, teacher_dir, 3), batch()
    loss, ce, hidden = train.micro_batch_loss(cfg, None, student, ids)
    logits = student(ids).logits.float()  # oracle: the shifted CE written out
    oracle = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten())
    assert ce.item() == pytest.approx(oracle.item(), rel=1e-6) and hidden.item() == 0.0 and loss.item() == ce.item()


def test_ce_run_trains_the_embedding_and_logs_the_held_out_curve(teacher_dir, tmp_path):
    from safetensors.torch import load_file

    from pipelines.metrics import read_metrics

    run_in_process(small_config(teacher_dir, tmp_path, "objective=ce", "neuron=none", "freeze_embedding=false",
                                f"eval_datasets=[{CORPUS}]", "eval_every=4", "eval_sequences=3", "max_steps=8"))
    records = read_metrics(tmp_path)
    assert all("loss_ce" in r and "loss_kl" not in r for r in records)
    held = [(r["step"], r["heldout_loss"]) for r in records if "heldout_loss" in r]
    assert [step for step, _ in held] == [4, 8] and held[1][1] < held[0][1]
    start = teacher_student.load_teacher(teacher_dir).backbone.embedding.weight
    assert not torch.equal(start, load_file(tmp_path / "final/model.safetensors")["backbone.embedding.weight"])


def test_student_setup_freezes_embedding_and_teacher(teacher_dir, tmp_path):
    cfg = small_config(teacher_dir, tmp_path)
    teacher, student = teacher_student.load_teacher(teacher_dir), teacher_student.load_student(cfg, teacher_dir, 3)
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    assert student.training and not student.backbone.embedding.weight.requires_grad
    assert student.lm_head.weight is student.backbone.embedding.weight  # tied: the head stays frozen too
    assert student.config.sgc_layers == [0, 1, 2] and student.config.neuron_in == "tilif"
    for name, p in teacher.state_dict().items():  # initialised from the same weights
        assert torch.equal(p, student.state_dict()[name]), name
    student.save_pretrained(tmp_path / "exported")  # an inference export has no SGC ...
    again = teacher_student.load_student(small_config(teacher_dir, tmp_path, f"student_init={tmp_path / 'exported'}"),
                                         teacher_dir, 3)
    assert again.config.sgc_layers == [0, 1, 2]  # ... but distilling from it again adds them back


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(teacher_dir, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = train.micro_batch_loss

    def poisoned(*args):
        calls["n"] += 1
        loss, kl, hidden = real(*args)
        return (loss * float("nan"), kl, hidden) if calls["n"] >= 5 else (loss, kl, hidden)  # step 3

    monkeypatch.setattr(train, "micro_batch_loss", poisoned)
    with pytest.raises(FloatingPointError, match=r"diverged at step 3: non-finite loss L=nan.*weights of step 2: "
                                                 r"step-00000002 renamed.*step-00000001 \(step 1\)"):
        run_in_process(small_config(teacher_dir, tmp_path, "save_every=1"))
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-00000001", "step-00000002.diverged"]


def test_vocabulary_and_tokenizer_mismatches_are_reported(teacher_dir, tmp_path):
    other = ensure_tiny_teacher(tmp_path / "bigger_vocab", vocab_size=300, d_model=32, n_layer=3, d_state=8,
                                headdim=8)
    with pytest.raises(ValueError, match="vocabulary mismatch: .* 272 embeddings, the student 304"):
        run_in_process(small_config(teacher_dir, tmp_path / "a", f"student_init={other}"))
    small = ensure_tiny_teacher(tmp_path / "small_vocab", vocab_size=100, d_model=32, n_layer=3, d_state=8,
                                headdim=8)
    with pytest.raises(ValueError, match="tokenizer mismatch: the tokenizer has 257 tokens but the models only 112"):
        run_in_process(small_config(str(small), tmp_path / "b"))


def test_too_short_data_and_too_long_sequences_are_reported(teacher_dir, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text(open(CORPUS).read()[:100])
    with pytest.raises(ValueError, match="fewer than one global batch of 4"):
        run_in_process(small_config(teacher_dir, tmp_path / "a", f"datasets=[{short}]"))
    model = types.SimpleNamespace(config=types.SimpleNamespace(max_position_embeddings=16))
    with pytest.raises(ValueError, match="seq_len=32 is longer than the model can take"):
        teacher_student.check_seq_len(model, 32)
    teacher_student.check_seq_len(teacher_student.load_teacher(teacher_dir), 10**6)  # Mamba2: no limit
