"""SpikingMamba models: the Mamba2 block with neurons before in/out proj, the LM, SGC, cache, checkpoints.

    from models import SpikingMambaConfig, SpikingMambaForCausalLM

Names load on first use (PEP 562), so ``models.shape`` is importable without torch. Importing the
config (or the model) registers ``spiking_mamba`` with transformers' ``AutoConfig`` (and
``AutoModelForCausalLM``).
"""

import importlib

_HOMES = {"SpikingMambaConfig": "configuration", "SpikingMambaForCausalLM": "modeling",
          "SpikingMambaModel": "modeling", "Mamba2Shape": "shape"}
__all__ = list(_HOMES)


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
