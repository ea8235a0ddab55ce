"""The one SpikingJelly node shared by LIF, I-LIF and TI-LIF: memory, step modes, backends, modes.

A subclass only names its ``kind``; the state transition is ``functional.neuron_step`` (torch
backend) or the CUDA kernels of ``neurons/kernels/`` (cupy backend, ``neurons.cupy_backend``).

Backends: "auto" (the default) picks per call, by the input tensor: the CuPy kernels for a CUDA
tensor (float32/16, bfloat16) once they compiled on its device, the torch path otherwise — the habit
of SpikingJelly 2.0, whose nodes take no backend argument and choose native CUDA > Triton > torch per
device (spikingjelly/_ops/selection.py, ``_CudaSelection``). "torch" and "cupy" force one; "cupy"
raises on a machine without CUDA or cupy. ``$SPIKINGMAMBA_NEURON_BACKEND`` overrides the argument
when set, read when a node is built (``neurons.params.requested_backend``; SpikingJelly's own
variables are ``SJ_<NEURON>_CUDA_IMPLEMENTATION``).
"""

import torch
from spikingjelly.activation_based.neuron import BaseNode

from . import cupy_backend
from . import functional as nf
from .params import check_neuron_params, requested_backend


class SpikingNode(BaseNode):
    """Integer-valued-training / spike-driven-inference neuron (SpikingJelly 2.x ``BaseNode``).

    Memory ``v``: the membrane after soft reset, u[t] − V_th·s[t], float32 for fp16/bf16/fp32 input.
    step_mode 's': x [N, *] → s [N, *] (integer mode) or signed spikes [D, N, *] (spike-driven).
    step_mode 'm': x [T, N, *] → s [T, N, *] or signed spikes [T·D, N, *] (time-major, the layout of
    SpikingJelly ``layer.SpikeCountToBinary``; ``layer.TemporalBinSum(D)`` of it gives s).
    ``spike_driven`` (default False) switches mode; spike-driven outputs carry no gradient.
    backend 'auto' (default: the CUDA kernels where they run, else torch; see the module docstring),
    'torch' or 'cupy' (CUDA kernels; needs a GPU and cupy, see neurons.cupy_backend).
    """

    kind: str = ""  # a row of neurons.kinds.KINDS

    def __init__(
        self,
        D: int = 4,
        beta: float = 0.25,
        v_threshold: float = 1.0,
        alpha: float = 1.0,
        detach_reset: bool = False,
        step_mode: str = "s",
        backend: str = "auto",
        store_v_seq: bool = False,
    ):
        _, D, beta, v_threshold, alpha = check_neuron_params(self.kind, D, beta, v_threshold, alpha)
        if step_mode not in ("s", "m"):
            raise ValueError(f"step_mode must be 's' ([N, *]) or 'm' ([T, N, *]), got {step_mode!r}")
        super().__init__(
            v_threshold=v_threshold,
            v_reset=None,
            surrogate_function=None,  # the spike function is fixed by `kind` (functional.quantize)
            detach_reset=bool(detach_reset),
            step_mode=step_mode,
            store_v_seq=store_v_seq,
        )
        self.D, self.beta, self.alpha = D, beta, alpha
        self.backend = requested_backend(backend)
        if self.backend == "cupy":
            cupy_backend.require_cupy()
        self.spike_driven = False

    def extra_repr(self) -> str:
        return (
            f"D={self.D}, beta={self.beta}, v_threshold={self.v_threshold}, alpha={self.alpha}, "
            f"detach_reset={self.detach_reset}, step_mode={self.step_mode}, backend={self.backend}, "
            f"spike_driven={self.spike_driven}"
        )

    def materialize_states(self, inputs, states, step_mode):
        x = inputs[0][0] if step_mode == "m" else inputs[0]
        dtype = torch.promote_types(x.dtype, torch.float32)
        v = states[0]
        if isinstance(v, torch.Tensor) and v.shape == x.shape:
            v = v.to(dtype=dtype, device=x.device)
        else:  # first step, or a new input shape: start from the reset value 0 (soft reset)
            v = torch.zeros(x.shape, dtype=dtype, device=x.device)
        return (v, *states[1:])

    def uses_cupy(self, x: torch.Tensor) -> bool:
        """Whether this call on ``x`` runs the CUDA kernels (backend 'cupy', or 'auto' where usable)."""
        return self.backend == "cupy" or (self.backend == "auto" and cupy_backend.usable(x))

    def _run(self, x_seq: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x_seq [T, N, *], v [N, *] → (out [T, N, *] or [T·D, N, *], v_seq [T, N, *])."""
        args = (self.kind, self.D, self.beta, self.v_threshold, self.alpha, self.detach_reset, self.spike_driven)
        if self.uses_cupy(x_seq):
            return cupy_backend.neuron_sequence(x_seq, v, *args)
        return nf.neuron_sequence(x_seq, v, *args)

    def single_step_forward(self, x: torch.Tensor, *args, **kwargs):
        """One step ('s' mode). Fast path when the membrane is fresh (after ``reset()``: v is still the
        float reset value) on the torch path: one ``functional.neuron_step`` from u[t−1] = 0, without
        the zero tensor, β·v and the stacks of the general path (bit-identical to it, gradients too)."""
        fresh = not isinstance(self.v, torch.Tensor) and not self.store_v_seq and not args
        if fresh and not self.uses_cupy(x):
            out, self.v = nf.neuron_step(x, None, self.kind, self.D, self.beta, self.v_threshold, self.alpha,
                                         self.detach_reset, self.spike_driven)
            return out
        return super().single_step_forward(x, *args, **kwargs)

    def single_step_functional_forward(self, inputs, states, **kwargs):
        out, v_seq = self._run(inputs[0].unsqueeze(0), states[0])
        return (out if self.spike_driven else out[0],), (v_seq[0], *states[1:])

    def multi_step_functional_forward(self, inputs, states, **kwargs):
        out, v_seq = self._run(inputs[0], states[0])
        return (out,), (v_seq[-1], *states[1:])

    def multi_step_forward(self, x_seq: torch.Tensor, *args, **kwargs):
        states = self.materialize_states((x_seq,), tuple(self._memories.values()), "m")
        out, v_seq = self._run(x_seq, states[0])
        self.v = v_seq[-1]
        if self.store_v_seq:
            self.v_seq = v_seq
        return out
