"""Spiking neurons of SpikingMamba: LIF, I-LIF, TI-LIF (SpikingJelly 2.x nodes), their functional
forms, the spike-driven linear layer and an optional CuPy/CUDA backend (imported only when used)."""

from . import functional
from .factory import make_neuron
from .ilif import ILIFNode
from .lif import LIFNode
from .linear import SpikeDrivenLinear
from .node import SpikingNode
from .tilif import TILIFNode

__all__ = ["functional", "make_neuron", "LIFNode", "ILIFNode", "TILIFNode", "SpikingNode", "SpikeDrivenLinear"]
