"""SpikingMamba models: the Mamba2 block with neurons before in/out proj, the LM, SGC, cache, checkpoints.

    from models import SpikingMambaConfig, SpikingMambaForCausalLM

Names load on first use (PEP 562), so ``models.shape`` is importable without torch. Importing the
config (or the model) registers ``spiking_mamba`` with transformers' ``AutoConfig`` (and
``AutoModelForCausalLM``).
"""

import importlib

_EXPORTS = {
    "SpikingMambaConfig": "models.configuration",
    "SpikingMambaForCausalLM": "models.modeling",
    "SpikingMambaModel": "models.modeling",
    "Mamba2Shape": "models.shape",
}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'models' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__():
    return sorted(__all__)
