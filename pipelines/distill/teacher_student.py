"""Teacher, student and tokenizer for distillation, and the checks that they fit together."""
from __future__ import annotations

from pathlib import Path

from pipelines.distill.config import DistillConfig


def resolve_teacher(cfg: DistillConfig) -> str:
    """The teacher path: ``cfg.teacher``, or a tiny random teacher built (once) in OUTPUT_DIR/tiny_teacher."""
    if cfg.teacher is not None:
        from models.hub import resolve_dir

        resolve_dir(cfg.teacher, allow_patterns=["config.json"])  # a missing dir / unreachable hub: one error here
        return cfg.teacher
    from pipelines.tiny import ensure_tiny_teacher

    return str(ensure_tiny_teacher(Path(cfg.output_dir) / "tiny_teacher", seed=cfg.seed, **cfg.tiny_teacher))


def load_tokenizer(cfg: DistillConfig, teacher_path: str):
    """``cfg.tokenizer`` or the teacher's; a student_init with its own tokenizer must agree with it. The chat
    template the data is rendered with is attached, so the exported tokenizer carries it."""
    from transformers import AutoTokenizer

    from pipelines.data import DEFAULT_CHAT_TEMPLATE

    tokenizer = AutoTokenizer.from_pretrained(cfg.tokenizer or teacher_path)
    tokenizer.chat_template = cfg.chat_template or tokenizer.chat_template or DEFAULT_CHAT_TEMPLATE
    if cfg.student_init is not None and (Path(cfg.student_init) / "tokenizer_config.json").is_file():
        student_tok = AutoTokenizer.from_pretrained(cfg.student_init)
        if student_tok.get_vocab() != tokenizer.get_vocab():
            raise ValueError(
                f"tokenizer mismatch: the student_init {cfg.student_init!r} was saved with a different tokenizer "
                f"({len(student_tok)} tokens) than the teacher's ({len(tokenizer)} tokens, "
                f"{cfg.tokenizer or teacher_path!r}); distil with the tokenizer the student was trained with"
            )
    if tokenizer.eos_token is None:
        raise ValueError(f"tokenizer {cfg.tokenizer or teacher_path!r} has no eos_token to separate documents")
    return tokenizer


def load_teacher(path: str):
    """The Mamba2 teacher: neuron "none", no SGC, frozen, eval mode."""
    from models import SpikingMambaForCausalLM

    teacher = SpikingMambaForCausalLM.from_pretrained(path, neuron="none", sgc_layers=[])
    teacher.requires_grad_(False)
    return teacher.eval()


def load_student(cfg: DistillConfig, teacher_path: str, n_layer: int):
    """The SpikingMamba student from the teacher's weights (or ``student_init``), embedding frozen
    (Appendix C; the LM head is tied to it and stays frozen too). ``sgc_layers`` null means the first,
    middle and last block (§4.3) for a spiking student — also when ``student_init`` is an exported
    SpikingMamba, whose config says [] — and none for a neuron "none" student. ``n_layer``: the teacher's."""
    from models import SpikingMambaForCausalLM
    from models.configuration import default_sgc_layers

    sgc_layers = cfg.sgc_layers
    if sgc_layers is None:
        sgc_layers = default_sgc_layers(n_layer, cfg.neuron, cfg.neuron, cfg.D)
    student = SpikingMambaForCausalLM.from_pretrained(
        cfg.student_init or teacher_path, neuron=cfg.neuron, D=cfg.D, sgc_layers=sgc_layers
    )
    student.backbone.embedding.weight.requires_grad_(False)
    return student.train()


def vocab_size(model) -> int:
    return model.backbone.embedding.num_embeddings


def check_compatible(teacher, student, tokenizer, teacher_name: str) -> None:
    """Teacher and student must share the vocabulary, and the tokenizer must fit in it."""
    v_t, v_s = vocab_size(teacher), vocab_size(student)
    if v_t != v_s:
        raise ValueError(f"vocabulary mismatch: teacher {teacher_name!r} has {v_t} embeddings, the student {v_s}; "
                         "the KL of Eq 13 needs one shared vocabulary")
    if len(tokenizer) > v_t:
        raise ValueError(f"tokenizer mismatch: the tokenizer has {len(tokenizer)} tokens but the models only "
                         f"{v_t} embeddings; use the teacher's tokenizer (Mamba2 hub: EleutherAI/gpt-neox-20b)")


def check_seq_len(model, seq_len: int) -> None:
    """``seq_len`` must fit the context the model declares (Mamba2 declares none: any length runs)."""
    for key in ("max_position_embeddings", "n_positions", "max_seq_len"):
        limit = getattr(model.config, key, None)
        if isinstance(limit, int) and seq_len > limit:
            raise ValueError(f"seq_len={seq_len} is longer than the model can take ({key}={limit}); "
                             f"lower seq_len to at most {limit}")
