// Compiles a neuron's CUDA source (neurons/kernels/<kind>.cuh, chosen by -DNEURON_SOURCE) for the
// host through neurons/csrc/cuda_on_host.h, so the kernel code runs on a CPU. The extern "C"
// kernels become exported functions called from Python through ctypes (tests/neurons/conftest.py).
#include "cuda_on_host.h"

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
