"""Spiking neurons of SpikingMamba: LIF, I-LIF, TI-LIF (SpikingJelly 2.x nodes), their functional
forms, the spike-driven linear layer and an optional CuPy/CUDA backend (imported only when used).

Names load on first use (PEP 562), so ``neurons.kinds`` — the table of neuron kinds — is importable
without torch.
"""

import importlib

_EXPORTS = {
    "functional": "neurons.functional",
    "kinds": "neurons.kinds",
    "make_neuron": "neurons.factory",
    "LIFNode": "neurons.lif",
    "ILIFNode": "neurons.ilif",
    "TILIFNode": "neurons.tilif",
    "SpikingNode": "neurons.node",
    "SpikeDrivenLinear": "neurons.linear",
}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'neurons' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name])
    return module if module.__name__ == f"neurons.{name}" else getattr(module, name)


def __dir__():
    return sorted(__all__)
