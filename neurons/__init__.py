"""Spiking neurons of SpikingMamba: LIF, I-LIF, TI-LIF (SpikingJelly 2.x nodes), their functional
forms, the spike-driven linear layer and an optional CuPy/CUDA backend (imported only when used).

Names load on first use (PEP 562), so ``neurons.kinds`` — the table of neuron kinds — is importable
without torch.
"""

import importlib

_SUBMODULES = ("functional", "kinds")
_NAMES = {"make_neuron": "factory", "LIFNode": "lif", "ILIFNode": "ilif", "TILIFNode": "tilif",
          "SpikingNode": "node", "SpikeDrivenLinear": "linear"}
__all__ = [*_SUBMODULES, *_NAMES]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
