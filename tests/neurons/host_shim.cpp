// Compiles a neuron's CUDA source (neurons/kernels/<kind>.cuh, chosen by -DNEURON_SOURCE) for the
// host, so the kernel code runs on a CPU: CUDA qualifiers become plain C++, the grid is one block of
// one thread (the kernels' grid-stride loops then visit every element), and the _rn intrinsics are
// single IEEE float operations (build with -ffp-contract=off, no -ffast-math). The extern "C"
// kernels become exported functions called from Python through ctypes (tests/neurons/conftest.py).
#include <math.h>
#include <string.h>

#define __global__
#define __device__
#define __forceinline__ inline

struct HostIndex { unsigned int x; };
static const HostIndex blockIdx = {0}, threadIdx = {0}, blockDim = {1}, gridDim = {1};

static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline unsigned int __float_as_uint(float f) { unsigned int u; memcpy(&u, &f, sizeof u); return u; }
static inline float __uint_as_float(unsigned int u) { float f; memcpy(&f, &u, sizeof f); return f; }

#include NEURON_SOURCE

// The kernels' fp16 / bf16 conversions, exported so the tests compare them with torch's.
extern "C" void host_store_f16(const float* in, unsigned short* out, long long n) {
    for (long long i = 0; i < n; ++i) store(reinterpret_cast<f16*>(out + i), in[i]);
}
extern "C" void host_store_bf16(const float* in, unsigned short* out, long long n) {
    for (long long i = 0; i < n; ++i) store(reinterpret_cast<bf16*>(out + i), in[i]);
}
extern "C" void host_load_f16(const unsigned short* in, float* out, long long n) {
    for (long long i = 0; i < n; ++i) { f16 h; h.bits = in[i]; out[i] = to_float(h); }
}
