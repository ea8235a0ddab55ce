// I-LIF (Eq 3): s = Clip(Round(h), 0, D), round half away from zero; surrogate alpha on 0 <= h <= D.
#include "common.cuh"

struct ILIF {
    static const bool binary = false;
    NEURON_FN float magnitude(float h) { return h > 0.0f ? h : 0.0f; }
    NEURON_FN bool negative(float) { return false; }
    NEURON_FN bool window(float h, int D) { return h >= 0.0f && h <= (float)D; }
};

NEURON_KERNELS(ilif, ILIF)
