"""SpikingMamba models: the Mamba2 block with neurons before in/out proj, the LM, SGC, cache, checkpoints.

    from models import SpikingMambaConfig, SpikingMambaForCausalLM
"""

from transformers import AutoConfig, AutoModelForCausalLM

from models.configuration import SpikingMambaConfig
from models.modeling import SpikingMambaForCausalLM

AutoConfig.register(SpikingMambaConfig.model_type, SpikingMambaConfig, exist_ok=True)
AutoModelForCausalLM.register(SpikingMambaConfig, SpikingMambaForCausalLM, exist_ok=True)

__all__ = ["SpikingMambaConfig", "SpikingMambaForCausalLM"]
