"""The model code every saved SpikingMamba ships as ``modeling_spiking_mamba.py`` (config.json's ``auto_map``
names it), so that stock transformers loads the checkpoint without importing this project first:
``AutoModelForCausalLM.from_pretrained(dir, trust_remote_code=True)``, or
``lm_eval --model hf --model_args pretrained=DIR,trust_remote_code=True``. It re-exports this project's
classes, which must be installed (``pip install -e .`` in the repository) where it runs."""

try:  # transformers' import check skips try blocks, so a missing project gets the message below
    from models.configuration import SpikingMambaConfig
    from models.modeling import SpikingMambaForCausalLM
except ImportError as err:
    raise ImportError(
        f"this SpikingMamba checkpoint needs the SpikingMamba project's code ({err}); install it in this "
        "environment (pip install -e /path/to/SpikingMamba) or run from the repository root"
    ) from err

__all__ = ["SpikingMambaConfig", "SpikingMambaForCausalLM"]
