"""``spikingmamba``: SpikingMamba (or its Mamba2 teacher) as an lm-evaluation-harness model.

Built on lm-eval's ``HFLM``: tokenization, batching, the log-likelihood of continuations
(``loglikelihood``), rolling log-likelihoods and ``generate_until`` (through the model's transformers
``generate`` with its recurrent cache; left padding is masked out of the state) are lm-eval's own
code; this class only loads the model (``SpikingMambaForCausalLM.from_pretrained``). Registered under
the name ``spikingmamba`` by ``import pipelines.eval``.

model_args (``--model_args k=v,...`` or ``simple_evaluate(model_args={...})``):

    pretrained    checkpoint dir or hub id: a Mamba2 teacher (mamba_ssm or transformers format) or a
                  saved SpikingMamba student
    neuron, D     neuron kind (none|lif|ilif|tilif) and max spike count; default: the checkpoint's own
                  (a Mamba2 teacher loads as plain Mamba2 with neuron=none)
    spike_driven  True -> run every neuron as micro-step spikes + accumulate-only projections
    tokenizer     name or path; default: the checkpoint dir if it holds a tokenizer, else
                  EleutherAI/gpt-neox-20b (the Mamba2 tokenizer; state-spaces checkpoints ship none)
    plus HFLM's own: device, dtype, batch_size, max_length (default 2048, the paper's length), ...

Only single-process evaluation was run here (CPU); lm-eval's accelerate data parallelism applies
unchanged on GPUs. ``parallelize``/PEFT/GPTQ/GGUF loading is not supported (ValueError).
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from lm_eval.models.huggingface import HFLM
from lm_eval.models.utils_hf import get_dtype

# importing models also registers spiking_mamba with transformers' AutoConfig, which AutoTokenizer
# consults when it reads a student's config.json (before the model itself is loaded)
from models import SpikingMambaForCausalLM

from . import register_with_lm_eval

log = logging.getLogger(__name__)
DEFAULT_TOKENIZER = "EleutherAI/gpt-neox-20b"
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
_UNSUPPORTED = ("parallelize", "peft", "delta", "autogptq", "gptqmodel", "gguf_file", "tp_plan", "subfolder")
# what HFLM.__init__ always hands to _create_model and that needs nothing here (placement, hub auth)
_HFLM_PASSED = {"trust_remote_code", "gpus", "max_memory_per_gpu", "max_cpu_memory", "offload_folder",
                "quantization_config"}


def check_checkpoint(source) -> None:
    """A local checkpoint must be a directory with config.json; anything else must be a hub id (and, offline,
    one in the hub cache). Raises FileNotFoundError naming ``source`` otherwise."""
    from huggingface_hub import constants
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    from models.hub import resolve_dir

    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} has no config.json, so it is not a checkpoint directory; give the "
                                    "directory that holds config.json and the weights (e.g. runs/distill/final)")
        return
    fix = "give a checkpoint directory (config.json + weights) or a hub id such as state-spaces/mamba2-130m"
    if path.exists():
        raise FileNotFoundError(f"checkpoint {source} is a file; {fix}")
    try:
        validate_repo_id(str(source))
    except HFValidationError:
        raise FileNotFoundError(f"checkpoint directory {source} does not exist; {fix}") from None
    if constants.HF_HUB_OFFLINE:  # offline: the hub cache must hold it (models.hub words the error)
        resolve_dir(str(source), allow_patterns=["config.json"], local_files_only=True)


def resolve_tokenizer(pretrained, tokenizer=None):
    """The tokenizer to load: explicit > one saved beside the checkpoint > the Mamba2 default.

    ``pretrained`` is a path / hub id (checked with ``check_checkpoint``), or a loaded model (its
    ``name_or_path`` is looked at).
    """
    if isinstance(pretrained, (str, Path)):
        check_checkpoint(pretrained)
    if tokenizer:
        return tokenizer
    source = getattr(pretrained, "name_or_path", pretrained)
    if source and any((Path(source) / f).is_file() for f in _TOKENIZER_FILES):
        return str(source)
    log.warning("no tokenizer files in %s; using %s (the Mamba2 tokenizer) - pass tokenizer=... to change",
                source, DEFAULT_TOKENIZER)
    return DEFAULT_TOKENIZER


class SpikingMambaLM(HFLM):
    """lm-eval model for SpikingMamba checkpoints (see the module docstring for model_args)."""

    _DEFAULT_MAX_LENGTH = 2048

    def __init__(self, pretrained, neuron: str | None = None, D: int | None = None,
                 spike_driven: bool = False, tokenizer=None, backend: str = "causal", **kwargs):
        if backend != "causal":
            raise ValueError(f"SpikingMamba is a causal LM; got backend={backend!r} (use 'causal')")
        if not isinstance(pretrained, (str, Path, torch.nn.Module)):
            raise ValueError(f"pretrained must be a checkpoint path / hub id or a model, got {type(pretrained)}")
        self._load_kwargs = {k: v for k, v in {"neuron": neuron, "D": D}.items() if v is not None}
        self._spike_driven = bool(spike_driven)
        if isinstance(pretrained, torch.nn.Module) and self._load_kwargs:
            raise ValueError("neuron/D apply when loading from a path; the model passed in is used as is")
        super().__init__(
            pretrained=str(pretrained) if isinstance(pretrained, Path) else pretrained,
            backend="causal", tokenizer=resolve_tokenizer(pretrained, tokenizer), **kwargs,
        )
        if isinstance(pretrained, torch.nn.Module) and self._spike_driven:
            self._model.set_spike_driven(True)

    def _get_config(self, pretrained, **kwargs) -> None:
        # The config comes with the model (mamba_ssm, transformers or SpikingMamba layout), set in
        # _create_model; the backend is fixed to causal, so nothing needs it before then.
        self._config = None

    def _create_model(self, pretrained, dtype="auto", revision="main", **kwargs) -> None:
        bad = {k: kwargs[k] for k in _UNSUPPORTED if kwargs.get(k)}
        if bad:
            raise ValueError(f"spikingmamba does not support {bad}; drop these model_args")
        unknown = sorted(set(kwargs) - set(_UNSUPPORTED) - _HFLM_PASSED)
        if unknown:
            raise ValueError(f"unknown model_args {unknown} for spikingmamba; it takes pretrained, neuron, D, "
                             "spike_driven, tokenizer and HFLM's options (device, dtype, batch_size, max_length, ...)")
        model = SpikingMambaForCausalLM.from_pretrained(
            pretrained, dtype=get_dtype(dtype), device=self._device, revision=revision, **self._load_kwargs)
        if self._spike_driven:
            model.set_spike_driven(True)
        self._model = model
        self._config = model.config

    def get_model_info(self) -> dict:
        """HFLM's info without the hub SHA lookup for local checkpoints (which would need network)."""
        info = {"model_num_parameters": sum(p.numel() for p in self._model.parameters()),
                "model_dtype": str(next(self._model.parameters()).dtype),
                "spiking_neurons": {k: getattr(self._config, k, None) for k in ("neuron_in", "neuron_out", "D")},
                "spike_driven": self._spike_driven}
        if isinstance(self.pretrained, str) and not Path(self.pretrained).exists():
            info |= super().get_model_info()
        return info


register_with_lm_eval()
