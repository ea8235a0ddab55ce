// The CUDA sources of neurons/kernels/ as plain host C++: CUDA qualifiers vanish, the grid is one
// block of one thread (the kernels' grid-stride loops then visit every element), and the _rn
// intrinsics are single IEEE float operations (build with -ffp-contract=off, no -ffast-math).
// Included by neurons/csrc/event_linear.cpp (the CPU event kernels reuse the neurons' rounding
// convention, spike_count) and tests/neurons/host_shim.cpp (the host build of the kernels' tests).
#pragma once

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
