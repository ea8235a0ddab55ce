"""The policy (a distilled SpikingMamba, or a dense Mamba2 baseline), its frozen reference and the tokenizer.

By default the policy has no SGC branch and the loss is TRL's plain DPO / KTO (Eq 14–15). With
``sgc=true`` (an option, not in the paper) the policy's TI-LIF projections get SGC branches whose
λ·L_hidden the trainer adds (``pipelines/rl/trainer.py``). An exported checkpoint (a distillation run's
``final/``) holds no SGC weights, so the branches start from W′ ← W — the paper's initialisation, from
the *distilled* W — unless ``sgc_init`` names the distillation checkpoint that produced the policy
(``checkpoints/step-N/model.safetensors``, whose other weights must equal the policy's). The branch
never changes the logits, so it only acts through λ·L_hidden.

A dense policy (``neuron_in = neuron_out = 'none'``: the Mamba2 teacher) runs the same way: Table 2's
"Mamba2 + DPO / + KTO" baselines.

The reference policy is a second, frozen load of the same checkpoint without SGC, in eval mode, passed
to TRL explicitly (TRL would otherwise rebuild one from ``config._name_or_path`` with
``AutoModelForCausalLM``, i.e. without our loading logic). TRL scores sequences through
``model.base_model(input_ids=..., attention_mask=..., use_cache=False).last_hidden_state``, which
`SpikingMambaModel` serves as transformers' ``Mamba2Model`` does.
"""
from __future__ import annotations

from pathlib import Path

import torch

from models.sgc import is_sgc_key, rename_legacy_keys, sgc_layer


def resolve_policy(cfg) -> str:
    """The policy path: ``cfg.policy``, or a tiny random TI-LIF student built (once) in OUTPUT_DIR/tiny_policy
    from the tiny teacher of ``pipelines.tiny`` — an untrained stand-in for a distilled model."""
    if cfg.policy is not None:
        from models.hub import resolve_dir

        resolve_dir(cfg.policy, allow_patterns=["config.json"])  # a missing dir / unreachable hub: one error here
        return cfg.policy
    from transformers import AutoTokenizer

    from models import SpikingMambaForCausalLM
    from pipelines.tiny import ensure_built, ensure_tiny_teacher

    def build(tmp: Path) -> None:
        teacher = ensure_tiny_teacher(Path(cfg.output_dir) / "tiny_teacher", seed=cfg.seed, key="tiny_policy",
                                      **cfg.tiny_policy)
        student = SpikingMambaForCausalLM.from_pretrained(str(teacher), neuron="tilif", D=4, sgc_layers=[])
        student.save_pretrained(tmp)
        AutoTokenizer.from_pretrained(teacher).save_pretrained(tmp)

    settings = {"seed": cfg.seed, **cfg.tiny_policy}
    return str(ensure_built(Path(cfg.output_dir) / "tiny_policy", settings, build, "tiny_policy"))


def load_tokenizer(cfg, policy_path: str):
    """``cfg.tokenizer`` or the one saved with the policy; it needs an EOS (TRL ends completions with it)."""
    from transformers import AutoTokenizer

    import models.configuration  # noqa: F401  (registers "spiking_mamba" with AutoConfig: AutoTokenizer reads config.json)

    name = cfg.tokenizer or policy_path
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except OSError as err:
        raise FileNotFoundError(f"no tokenizer at {name!r} ({err}); set tokenizer= to the one the policy was "
                                "distilled with (Mamba2 hub checkpoints: EleutherAI/gpt-neox-20b)") from None
    if tokenizer.eos_token is None:
        raise ValueError(f"tokenizer {name!r} has no eos_token; TRL appends it to every completion")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # right padding, masked out of every loss
    return tokenizer


def _sgc_layers(cfg, path: str, sgc_state: dict | None) -> list[int]:
    if not cfg.sgc:
        return []
    if sgc_state is not None:
        found = sorted({sgc_layer(k) for k in sgc_state})
        if cfg.sgc_layers is not None and sorted(cfg.sgc_layers) != found:
            raise ValueError(f"sgc_layers={cfg.sgc_layers} but sgc_init {cfg.sgc_init!r} holds SGC branches "
                             f"on layers {found}; drop sgc_layers or make them match")
        return found
    if cfg.sgc_layers is not None:
        return list(cfg.sgc_layers)
    from models import SpikingMambaConfig
    from models.configuration import default_sgc_layers

    config = SpikingMambaConfig.from_pretrained(path)
    layers = default_sgc_layers(config.n_layer, config.neuron_in, config.neuron_out, config.D)
    if not layers:
        raise ValueError(f"sgc=true but policy {path!r} (neuron_in={config.neuron_in!r}, neuron_out="
                         f"{config.neuron_out!r}) has no TI-LIF projection, the only kind SGC is defined for "
                         "(Eq 11); set sgc=false")
    return layers


def read_sgc_state(checkpoint_dir: str) -> tuple[dict, dict]:
    """(SGC tensors, other tensors) of a distillation checkpoint's ``model.safetensors``."""
    from safetensors.torch import load_file

    file = Path(checkpoint_dir) / "model.safetensors"
    if not file.is_file():
        raise FileNotFoundError(f"sgc_init={checkpoint_dir!r} has no model.safetensors; give a distillation "
                                "checkpoint directory (OUTPUT_DIR/checkpoints/step-N) or sgc_init=null")
    state = load_file(str(file))
    state = rename_legacy_keys(state)
    sgc = {k: v for k, v in state.items() if is_sgc_key(k)}
    if not sgc:
        raise ValueError(f"sgc_init={checkpoint_dir!r} holds no SGC weights (no '*_proj.sgc.*' tensors); "
                         "use sgc_init=null to initialise W' from W")
    return sgc, {k: v for k, v in state.items() if not is_sgc_key(k)}


def load_policy(cfg, path: str):
    """The policy in training mode: SGC branches if ``cfg.sgc`` (W′ from ``sgc_init`` or from W), embedding
    frozen if ``cfg.freeze_embedding`` (Appendix C; the tied LM head with it)."""
    from models import SpikingMambaForCausalLM

    sgc_state, rest = read_sgc_state(cfg.sgc_init) if cfg.sgc_init else (None, None)
    policy = SpikingMambaForCausalLM.from_pretrained(path, sgc_layers=_sgc_layers(cfg, path, sgc_state))
    if sgc_state is not None:
        own = policy.state_dict()
        differing = [k for k, v in rest.items() if k in own and not torch.equal(own[k], v.to(own[k].dtype))]
        if differing:
            raise ValueError(f"sgc_init {cfg.sgc_init!r} is not the training state of policy {path!r}: "
                             f"{len(differing)} weight(s) differ, e.g. {differing[0]}; give the checkpoint "
                             "the policy was exported from")
        policy.load_state_dict(sgc_state, strict=False)
    if cfg.freeze_embedding:
        policy.get_input_embeddings().weight.requires_grad_(False)
    return policy.train()


def load_reference(path: str):
    """The frozen reference θ_T of Eq 14–15: the policy's own checkpoint (the model RL starts from, so
    policy = reference at step 0), no SGC, eval mode."""
    from models import SpikingMambaForCausalLM

    reference = SpikingMambaForCausalLM.from_pretrained(path, sgc_layers=[])
    return reference.requires_grad_(False).eval()
