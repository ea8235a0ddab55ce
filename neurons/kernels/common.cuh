// Shared CUDA code of the three neurons: the T-step membrane recurrence (Eq 1) forward and backward,
// the rounding convention (docs/ARCHITECTURE.md), the micro-step expansion (Eq 7-8) and fp16/bf16
// storage. A neuron source (lif.cuh, ilif.cuh, tilif.cuh) defines a policy struct
//     binary                      true for LIF: s = (h >= 1), one micro-step
//     magnitude(h), negative(h)   the value whose rounding is the count, and the sign bit (TI-LIF)
//     window(h, D)                where the rectangular surrogate gradient is alpha (Eq 6 for TI-LIF)
// and instantiates its kernels with NEURON_KERNELS(name, Policy).
//
// This file mirrors neurons/functional.py (the reference); tests/neurons check both agree bit for
// bit by compiling these very sources for the host (tests/neurons/host_shim.cpp) and with nvcc --ptx.
// It is self-contained on purpose (no CUDA headers), so NVRTC through CuPy and a host C++ compiler
// read the same text. Arithmetic uses explicit round-to-nearest intrinsics: no FMA contraction or
// fast-math can move a rounding tie.
#pragma once

#define NEURON_FN static __device__ __forceinline__

// ---- float arithmetic with one rounding per operation ------------------------------------------
NEURON_FN float mul_rn(float a, float b) { return __fmul_rn(a, b); }
NEURON_FN float add_rn(float a, float b) { return __fadd_rn(a, b); }
NEURON_FN float sub_rn(float a, float b) { return __fsub_rn(a, b); }
NEURON_FN float div_rn(float a, float b) { return __fdiv_rn(a, b); }

// ---- storage types: float, fp16 and bf16 (computed in float) -----------------------------------
struct f16 { unsigned short bits; };
struct bf16 { unsigned short bits; };

NEURON_FN float to_float(float x) { return x; }
NEURON_FN float to_float(bf16 x) { return __uint_as_float((unsigned int)x.bits << 16); }
NEURON_FN float to_float(f16 x) {
    unsigned int sign = ((unsigned int)x.bits & 0x8000u) << 16;
    unsigned int e = (x.bits >> 10) & 0x1fu, m = x.bits & 0x3ffu;
    if (e == 0x1fu) return __uint_as_float(sign | 0x7f800000u | (m << 13));  // inf, nan
    if (e == 0u) {  // zero or subnormal: m * 2^-24, exact in float
        float mag = mul_rn((float)m, 5.9604644775390625e-8f);
        return __uint_as_float(__float_as_uint(mag) | sign);
    }
    return __uint_as_float(sign | ((e + 112u) << 23) | (m << 13));
}

// store(p, f): *p = f rounded to nearest even in p's storage type.
NEURON_FN void store(float* p, float f) { *p = f; }
NEURON_FN void store(bf16* p, float f) {
    unsigned int x = __float_as_uint(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) {
        p->bits = (unsigned short)((x >> 16) | 0x40u);  // nan stays a (quiet) nan
        return;
    }
    x += 0x7fffu + ((x >> 16) & 1u);
    p->bits = (unsigned short)(x >> 16);
}
NEURON_FN void store(f16* p, float f) {
    unsigned int x = __float_as_uint(f);
    unsigned int sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu, bits;
    if (ax > 0x7f800000u) {
        bits = 0x7e00u;  // nan
    } else if (ax >= 0x477ff000u) {
        bits = 0x7c00u;  // >= 65520 rounds to inf
    } else if (ax >= 0x38800000u) {  // normal half: rebias the exponent, round 23 -> 10 mantissa bits
        unsigned int r = ax - 0x38000000u;
        bits = (r + 0x0fffu + ((r >> 13) & 1u)) >> 13;
    } else if (ax < 0x33000000u) {
        bits = 0u;  // below 2^-25: rounds to zero
    } else {  // subnormal half: round(|f| * 2^24)
        unsigned int m = (ax & 0x7fffffu) | 0x800000u, shift = 126u - (ax >> 23);
        unsigned int q = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
        bits = q + ((rem > half || (rem == half && (q & 1u))) ? 1u : 0u);
    }
    p->bits = (unsigned short)(sign | bits);
}

// ---- the rounding convention: min(floor(a) + [a - floor(a) >= 1/2], D), all exact ---------------
// (a < D ? a : D is fminf(a, D) for every a, NaN included, and lets a host compiler vectorise it.)
NEURON_FN float round_clip(float a, float D) {
    a = a < D ? a : D;
    float f = floorf(a);
    return f + (sub_rn(a, f) >= 0.5f ? 1.0f : 0.0f);
}

// Integer-mode spike count (Eq 2 / 3 / 5); zero is +0.
template <class P> NEURON_FN float spike_count(float h, int D) {
    if (P::binary) return h >= 1.0f ? 1.0f : 0.0f;
    float m = round_clip(P::magnitude(h), (float)D);
    return (P::negative(h) && m > 0.0f) ? -m : m;
}

// Eq 7-8: IF with beta = 1, magnitude injected at micro-step 1, fire when v >= 1/2, soft reset by 1.
// Writes D signed spikes to out[0], out[stride], ... and returns their sum (the reconstructed count).
template <class P, class T> NEURON_FN float micro_steps(float h, int D, T* out, long long stride) {
    if (P::binary) {
        float s = h >= 1.0f ? 1.0f : 0.0f;
        store(out, s);
        return s;
    }
    float v = fminf(P::magnitude(h), (float)D);
    float sign = P::negative(h) ? -1.0f : 1.0f, total = 0.0f;
    for (int i = 0; i < D; ++i) {
        float fired = v >= 0.5f ? 1.0f : 0.0f;
        v = sub_rn(v, fired);
        store(out + i * stride, fired > 0.0f ? sign : 0.0f);
        total = add_rn(total, fired);
    }
    return (sign < 0.0f && total > 0.0f) ? -total : total;
}

// ---- one neuron element over T logical steps ------------------------------------------------------
// Forward (Eq 1): u = beta*v + x, h = u / vth, s = count(h), v = u - vth*s. x, out: [T, N] (out
// [T*D, N] when spike-driven); h_seq, v_seq: [T, N] float; v0: [N] float.
template <class P, class T>
NEURON_FN void forward_element(long long n, const T* x, const float* v0, T* out, float* h_seq,
                               float* v_seq, int* nan_flag, long long N, int steps, float beta,
                               float vth, int D, int spike_driven) {
    float v = v0[n];
    for (int t = 0; t < steps; ++t) {
        long long i = (long long)t * N + n;
        float u = add_rn(mul_rn(beta, v), to_float(x[i]));
        float h = vth == 1.0f ? u : div_rn(u, vth);
        if (h != h) *nan_flag = 1;
        float s;
        if (spike_driven) {
            s = micro_steps<P, T>(h, D, out + (long long)t * D * N + n, N);
        } else {
            s = spike_count<P>(h, D);
            store(out + i, s);
        }
        v = sub_rn(u, mul_rn(vth, s));
        h_seq[i] = h;
        v_seq[i] = v;
    }
}

// Backward through the recurrence, t = T-1 .. 0, with ds/dh = alpha * window(h):
//   dL/ds = g_out + (detach_reset ? 0 : -vth * g_v),  dL/du = dL/ds * ds/dh / vth + g_v,
//   grad_x[t] = dL/du,  g_v <- beta * dL/du + grad_v_seq[t-1];  grad_v0 = beta * dL/du[0].
template <class P, class T>
NEURON_FN void backward_element(long long n, const T* grad_out, const float* grad_v_seq,
                                const float* h_seq, T* grad_x, float* grad_v0, long long N,
                                int steps, float beta, float vth, float alpha, int D,
                                int detach_reset) {
    float g_v = 0.0f;
    for (int t = steps - 1; t >= 0; --t) {
        long long i = (long long)t * N + n;
        g_v = add_rn(g_v, grad_v_seq[i]);
        float g_s = to_float(grad_out[i]);
        if (!detach_reset) g_s = sub_rn(g_s, mul_rn(vth, g_v));
        float g_h = P::window(h_seq[i], D) ? mul_rn(g_s, alpha) : 0.0f;
        float g_u = add_rn(vth == 1.0f ? g_h : div_rn(g_h, vth), g_v);
        store(grad_x + i, g_u);
        g_v = mul_rn(beta, g_u);
    }
    grad_v0[n] = g_v;
}

#define NEURON_GRID_LOOP(n, N) \
    for (long long n = (long long)blockIdx.x * blockDim.x + threadIdx.x; n < (N); \
         n += (long long)gridDim.x * blockDim.x)

#define NEURON_KERNELS_FOR(NAME, P, SUFFIX, T)                                                    \
    extern "C" __global__ void NAME##_forward_##SUFFIX(                                          \
        const T* x, const float* v0, T* out, float* h_seq, float* v_seq, int* nan_flag,           \
        long long N, int steps, float beta, float vth, int D, int spike_driven) {                 \
        NEURON_GRID_LOOP(n, N)                                                                    \
        forward_element<P, T>(n, x, v0, out, h_seq, v_seq, nan_flag, N, steps, beta, vth, D,     \
                              spike_driven);                                                      \
    }                                                                                             \
    extern "C" __global__ void NAME##_backward_##SUFFIX(                                         \
        const T* grad_out, const float* grad_v_seq, const float* h_seq, T* grad_x,                \
        float* grad_v0, long long N, int steps, float beta, float vth, float alpha, int D,        \
        int detach_reset) {                                                                       \
        NEURON_GRID_LOOP(n, N)                                                                    \
        backward_element<P, T>(n, grad_out, grad_v_seq, h_seq, grad_x, grad_v0, N, steps, beta,  \
                               vth, alpha, D, detach_reset);                                      \
    }

// Kernels NAME_forward_{f32,f16,bf16} and NAME_backward_{f32,f16,bf16} for one neuron policy.
#define NEURON_KERNELS(NAME, P)              \
    NEURON_KERNELS_FOR(NAME, P, f32, float) \
    NEURON_KERNELS_FOR(NAME, P, f16, f16)   \
    NEURON_KERNELS_FOR(NAME, P, bf16, bf16)
