// One decoded token of a Mamba2 mixer on a CPU, between in_proj and out_proj, in one pass (float32).
//
// The plain-PyTorch step (models/mamba2.py `Mamba2Mixer.forward_step`) is ~30 small eager kernels per
// layer: the conv window (cat, copy, vecdot, SiLU), Δ (softplus), three passes over the SSM state
// (decay, outer-product update, read-out) and the gated RMSNorm. At one token they cost more than the
// arithmetic; this function does the same per row b, reading and writing each state row once:
//
//   xBC  = SiLU(conv_state ⊛ w + bias), the window shifted by one      (the causal conv, Eq 17)
//   Δ_h  = softplus(dt_h + dt_bias_h) clamped to dt_limit, α_h = exp(−Δ_h · exp(A_log_h))
//   h_t  = α_h · h_{t−1} + (x_hp · Δ_h) · B_g                            (Eq 18, in place)
//   y_hp = C_g · h_t + D · x_hp                                           (Eq 19)
//   out  = Norm(y ⊙ SiLU(z)) per group of `group_size` (norm_before_gate: Norm(y) ⊙ SiLU(z)), or
//          y ⊙ SiLU(z) without the norm                                   (Eq 20)
//
// The state update is the torch step's operations in its order, but the conv's four products, the
// read-out and the norm's mean sum in another order, and exp / log1p are libm's (torch vectorises its
// own), so the output and the state equal the torch step's up to float rounding (tests/models/
// test_models_cpu_step.py: relative 1e-5; ~1e-6 here). Inputs are contiguous float32 (models/kernels.py
// `cpu_step` chooses this step only then; checked again here); built through neurons/event_build.py.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <cmath>
#include <optional>

namespace {

constexpr int64_t kLanes = 16;  // partial sums of a dot product (one AVX-512 register)

inline float silu(float v) { return v / (1.0f + std::exp(-v)); }
inline float softplus(float v) { return v > 20.0f ? v : std::log1p(std::exp(v)); }  // torch's threshold

// Σ_n a[n] · b[n] in kLanes partial sums, added pairwise (vectorised without reassociation flags).
inline float dot(const float* a, const float* b, int64_t n) {
    float part[kLanes] = {0.0f};
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes)
        for (int64_t l = 0; l < kLanes; ++l) part[l] += a[i + l] * b[i + l];
    for (; i < n; ++i) part[i % kLanes] += a[i] * b[i];
    for (int64_t w = kLanes / 2; w > 0; w /= 2)
        for (int64_t l = 0; l < w; ++l) part[l] += part[l + w];
    return part[0];
}

// y ← rmsnorm(y) · w over each group of g channels (mean of squares in float, eps inside the root).
void rms_norm_groups(float* y, const float* w, int64_t n, int64_t g, float eps) {
    for (int64_t start = 0; start < n; start += g) {
        float* v = y + start;
        const float r = 1.0f / std::sqrt(dot(v, v, g) / static_cast<float>(g) + eps);
        for (int64_t i = 0; i < g; ++i) v[i] = v[i] * r * w[start + i];
    }
}

}  // namespace

// zxbcdt [B, 2·d_inner + 2·G·N + H] (in_proj's output), conv_state [B, conv_dim, K] and
// ssm_state [B, H, P, N] (both updated in place), conv_weight [conv_dim, 1, K], conv_bias [conv_dim]?,
// dt_bias [H], A_log [H], D [H] or [H·P], norm_weight [d_inner]? (None: no norm) -> out [B, d_inner].
at::Tensor mixer_step(const at::Tensor& zxbcdt, at::Tensor& conv_state, at::Tensor& ssm_state,
                      const at::Tensor& conv_weight, const std::optional<at::Tensor>& conv_bias,
                      const at::Tensor& dt_bias, const at::Tensor& A_log, const at::Tensor& D,
                      const std::optional<at::Tensor>& norm_weight, int64_t ngroups, int64_t group_size,
                      bool norm_before_gate, double eps, double dt_min, double dt_max) {
    const int64_t R = zxbcdt.size(0), H = ssm_state.size(1), P = ssm_state.size(2), N = ssm_state.size(3);
    const int64_t d_inner = H * P, conv_dim = conv_state.size(1), K = conv_state.size(2);
    const int64_t width = zxbcdt.size(1), per_group = H / ngroups;
    const bool D_per_channel = D.numel() == d_inner, clamp = dt_min > 0.0 || std::isfinite(dt_max);
    TORCH_CHECK(width == d_inner + conv_dim + H && conv_dim == d_inner + 2 * ngroups * N &&
                conv_weight.numel() == conv_dim * K && dt_bias.numel() == H && A_log.numel() == H &&
                (D.numel() == H || D_per_channel) && (!norm_weight || norm_weight->numel() == d_inner),
                "mixer_step: shapes do not match");
    for (const at::Tensor* t : std::initializer_list<const at::Tensor*>{&zxbcdt, &conv_state, &ssm_state,
                                                                        &conv_weight, &dt_bias, &A_log, &D})
        TORCH_CHECK(t->scalar_type() == at::kFloat && t->is_contiguous(), "mixer_step: contiguous float32 tensors");
    for (const auto* t : {&conv_bias, &norm_weight})
        TORCH_CHECK(!*t || ((*t)->scalar_type() == at::kFloat && (*t)->is_contiguous()), "mixer_step: float32");
    auto out = at::empty({R, d_inner}, zxbcdt.options());
    auto xbc = at::empty({R, conv_dim}, zxbcdt.options());
    const float* cw = conv_weight.data_ptr<float>();
    const float* cb = conv_bias ? conv_bias->data_ptr<float>() : nullptr;
    const float* nw = norm_weight ? norm_weight->data_ptr<float>() : nullptr;
    const float *bias = dt_bias.data_ptr<float>(), *alog = A_log.data_ptr<float>(), *dskip = D.data_ptr<float>();
    for (int64_t r = 0; r < R; ++r) {
        const float* row = zxbcdt.data_ptr<float>() + r * width;
        float* cs = conv_state.data_ptr<float>() + r * conv_dim * K;
        float* u = xbc.data_ptr<float>() + r * conv_dim;
        for (int64_t c = 0; c < conv_dim; ++c) {  // the causal conv's window, shifted by the new input
            float* win = cs + c * K;
            for (int64_t k = 0; k + 1 < K; ++k) win[k] = win[k + 1];
            win[K - 1] = row[d_inner + c];
            float acc = 0.0f;
            for (int64_t k = 0; k < K; ++k) acc += win[k] * cw[c * K + k];
            u[c] = silu(cb ? acc + cb[c] : acc);
        }
        const float *x = u, *Bm = u + d_inner, *Cm = Bm + ngroups * N, *dt_raw = row + d_inner + conv_dim;
        float* y = out.data_ptr<float>() + r * d_inner;
        float* state = ssm_state.data_ptr<float>() + r * H * P * N;
        at::parallel_for(0, H, 1, [&](int64_t h0, int64_t h1) {
            for (int64_t h = h0; h < h1; ++h) {
                float dt = softplus(dt_raw[h] + bias[h]);
                if (clamp) dt = std::min(std::max(dt, static_cast<float>(dt_min)), static_cast<float>(dt_max));
                const float decay = std::exp(dt * -std::exp(alog[h]));
                const float *Bg = Bm + (h / per_group) * N, *Cg = Cm + (h / per_group) * N;
                for (int64_t p = 0; p < P; ++p) {
                    const float xv = x[h * P + p], xdt = xv * dt;
                    float* s = state + (h * P + p) * N;
                    for (int64_t n = 0; n < N; ++n) s[n] = s[n] * decay + xdt * Bg[n];
                    y[h * P + p] = dot(s, Cg, N) + xv * dskip[D_per_channel ? h * P + p : h];
                }
            }
        });
        const float* z = row;
        if (nw == nullptr || !norm_before_gate)
            for (int64_t i = 0; i < d_inner; ++i) y[i] = y[i] * silu(z[i]);
        if (nw != nullptr) {
            rms_norm_groups(y, nw, d_inner, group_size, static_cast<float>(eps));
            if (norm_before_gate)
                for (int64_t i = 0; i < d_inner; ++i) y[i] = y[i] * silu(z[i]);
        }
    }
    return out;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("mixer_step", &mixer_step, "one decoded token of a Mamba2 mixer between in_proj and out_proj");
}
