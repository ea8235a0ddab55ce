// TI-LIF (Eq 5-6): s = Clip(Round(h), -D, D), round half away from zero; gradient alpha on [-D, D].
// Spike-driven: |h| drives the micro-steps (Eq 7-8), the sign bit of h is the one-bit polarity (Eq 9).
#include "common.cuh"

struct TILIF {
    static const bool binary = false;
    NEURON_FN float magnitude(float h) { return fabsf(h); }
    NEURON_FN bool negative(float h) { return (__float_as_uint(h) >> 31) != 0u; }
    NEURON_FN bool window(float h, int D) { return h >= -(float)D && h <= (float)D; }
};

NEURON_KERNELS(tilif, TILIF)
