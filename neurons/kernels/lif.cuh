// LIF (Eq 1-2): binary spike s = (h >= 1), h = u / V_th; surrogate alpha on 1/2 < h < 3/2.
#include "common.cuh"

struct LIF {
    static const bool binary = true;
    NEURON_FN float magnitude(float h) { return h; }
    NEURON_FN bool negative(float) { return false; }
    NEURON_FN bool window(float h, int) { return h > 0.5f && h < 1.5f; }
};

NEURON_KERNELS(lif, LIF)
