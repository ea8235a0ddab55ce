// Event-driven accumulation of a spiking projection on a CPU (Eq 4, Eq 9), for one or a few rows.
//
// A projection whose input q [R, in] is mostly zero needs only the weight columns of its events:
//     integer form (Eq 4)   y = Σ_{j: q_j≠0} q_j · W[:, j] + b          (one multiply-add per output)
//     spike form   (Eq 9)   y = Σ_{events (i, j)} ±W[:, j] + b          (one signed add per event)
// With W [out, in] stored column-major (stride(0) == 1, the eval-mode CPU layout of
// models/mamba2.py `set_decode_layout`) a column is contiguous: the kernel streams the active
// columns eight at a time into a float32 accumulator row (an L1-resident axpy the compiler
// vectorises), so it reads only the active columns' bytes. The spike form adds one signed column
// (sign bit flipped) per spike event, additions only; a column's repeated events hit L1. Any
// other layout takes a strided scalar loop (correct, slow). With R > 1 rows the input columns are
// visited in blocks of ~1 MiB of weights and every row accumulates its events of a block while the
// block is in L2, so each active column (of the union over the rows) is read from memory once.
//
// The fused form `spike_project` also runs the neuron (fresh membrane, one logical step): the count
// of h = x / V_th is the neurons' own CUDA source (neurons/kernels/, `spike_count`, compiled for the
// host through cuda_on_host.h), bit for bit neurons.functional.quantize. Built by
// neurons/event_build.py with -ffp-contract=off (the count's roundings must not move).
#include <torch/extension.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <tuple>
#include <vector>

#include "cuda_on_host.h"
#include "ilif.cuh"
#include "lif.cuh"
#include "tilif.cuh"

namespace {

constexpr int kGroup = 8;                 // columns accumulated per pass over the output row
constexpr int64_t kBlockBytes = 1 << 20;  // weights per column block when R > 1 (L2-resident)
constexpr uint32_t kSignBit = 0x80000000u;

// One event of a row: a weight column (pointer to its first weight) and, integer form, its count v;
// spike form, one spike's sign bit (a column that received m spikes is m consecutive events).
struct Event {
    const float* col;
    float v;
    uint32_t sign;
    int64_t block;  // the column block it belongs to (R > 1)
};

// Every row's events in column order.
struct Rows {
    bool spikes;
    int64_t block;  // input columns per block
    std::vector<std::vector<Event>> events;
    Rows(int64_t R, int64_t in, int64_t out, bool spikes)
        : spikes(spikes),
          block(R == 1 ? std::max<int64_t>(in, 1) : std::max<int64_t>(kGroup, kBlockBytes / std::max<int64_t>(4 * out, 1))),
          events(R) {
        for (auto& e : events) e.reserve(in);
    }
    void push(int64_t r, const float* col, float v, int64_t j) { events[r].push_back({col, v, 0u, j / block}); }
    void push_spikes(int64_t r, const float* col, uint32_t sign, int64_t m, int64_t j) {
        for (int64_t i = 0; i < m; ++i) events[r].push_back({col, 1.0f, sign, j / block});
    }
};

inline float signed_weight(float w, uint32_t sign) { return __uint_as_float(__float_as_uint(w) ^ sign); }

// y[o] += Σ_i v_i · c_i[o] over eight contiguous columns (Eq 4).
void group_fma(float* __restrict y, const float* const* c, const float* v, int64_t out) {
#pragma GCC ivdep
    for (int64_t o = 0; o < out; ++o)
        y[o] += ((v[0] * c[0][o] + v[1] * c[1][o]) + (v[2] * c[2][o] + v[3] * c[3][o])) +
                ((v[4] * c[4][o] + v[5] * c[5][o]) + (v[6] * c[6][o] + v[7] * c[7][o]));
}

// y[o] += Σ_i ±c_i[o] over eight spike events (Eq 9): signed additions only (a sign is a flipped
// sign bit); a column that received several spikes appears that many times (read from L1 again).
void group_spikes(float* __restrict y, const float* const* c, const uint32_t* s, int64_t out) {
#pragma GCC ivdep
    for (int64_t o = 0; o < out; ++o)
        y[o] += ((signed_weight(c[0][o], s[0]) + signed_weight(c[1][o], s[1])) +
                 (signed_weight(c[2][o], s[2]) + signed_weight(c[3][o], s[3]))) +
                ((signed_weight(c[4][o], s[4]) + signed_weight(c[5][o], s[5])) +
                 (signed_weight(c[6][o], s[6]) + signed_weight(c[7][o], s[7])));
}

// Columns with stride `step` between consecutive outputs (any non-column-major layout): one event
// at a time.
void accumulate_strided(float* y, const Event* e, int64_t n, int64_t out, int64_t step, bool spikes) {
    for (int64_t k = 0; k < n; ++k)
        for (int64_t o = 0; o < out; ++o) {
            const float w = e[k].col[o * step];
            y[o] += spikes ? signed_weight(w, e[k].sign) : e[k].v * w;
        }
}

// y += the events e[0, n) of one row, eight at a time, the last group padded with the zero column.
void accumulate(float* y, const Event* e, int64_t n, int64_t out, int64_t step, bool spikes, const float* zero) {
    if (step != 1) return accumulate_strided(y, e, n, out, step, spikes);
    for (int64_t k = 0; k < n; k += kGroup) {
        const float* c[kGroup];
        float v[kGroup];
        uint32_t s[kGroup];
        for (int i = 0; i < kGroup; ++i) {
            const bool real = k + i < n;
            c[i] = real ? e[k + i].col : zero;
            v[i] = real ? e[k + i].v : 0.0f;
            s[i] = real ? e[k + i].sign : 0u;
        }
        if (spikes) group_spikes(y, c, s, out);
        else group_fma(y, c, v, out);
    }
}

// acc [R, out] += every row's events, block by block of input columns (one block when R = 1).
void accumulate_rows(float* acc, const Rows& rows, int64_t in, int64_t out, int64_t step) {
    const int64_t R = static_cast<int64_t>(rows.events.size());
    const int64_t blocks = (in + rows.block - 1) / rows.block;
    std::vector<float> zero(out, 0.0f);
    std::vector<int64_t> cursor(R, 0);
    for (int64_t b = 0; b < blocks; ++b)
        for (int64_t r = 0; r < R; ++r) {
            const std::vector<Event>& e = rows.events[r];
            int64_t end = cursor[r];
            while (end < static_cast<int64_t>(e.size()) && e[end].block == b) ++end;
            accumulate(acc + r * out, e.data() + cursor[r], end - cursor[r], out, step, rows.spikes, zero.data());
            cursor[r] = end;
        }
}

void check_weight(const at::Tensor& weight, const std::optional<at::Tensor>& bias) {
    TORCH_CHECK(weight.dim() == 2 && weight.scalar_type() == at::kFloat && weight.device().is_cpu(),
                "weight must be a 2-D float32 CPU tensor");
    TORCH_CHECK(!bias || (bias->dim() == 1 && bias->size(0) == weight.size(0) &&
                          bias->scalar_type() == at::kFloat && bias->is_contiguous()),
                "bias must be a contiguous float32 [out] tensor");
}

// y = scale · acc + b, float32 [R, out]; adds events · out to the accumulate counter (int64 scalar).
at::Tensor finish(const Rows& rows, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                  double scale, const std::optional<at::Tensor>& counter, int64_t events) {
    const int64_t R = static_cast<int64_t>(rows.events.size()), out = weight.size(0), in = weight.size(1);
    at::Tensor y = at::zeros({R, out}, weight.options());
    float* acc = y.data_ptr<float>();
    accumulate_rows(acc, rows, in, out, weight.stride(0));
    const float s = static_cast<float>(scale);
    const float* b = bias ? bias->data_ptr<float>() : nullptr;
    if (s != 1.0f || b)
        for (int64_t r = 0; r < R; ++r)
            for (int64_t o = 0; o < out; ++o) {
                float v = s == 1.0f ? acc[r * out + o] : s * acc[r * out + o];
                acc[r * out + o] = b ? v + b[o] : v;
            }
    if (counter) *counter->data_ptr<int64_t>() += events * out;
    return y;
}

// Integer form: q [R, in] float32 contiguous (non-zero entries are the events).
at::Tensor linear_counts(const at::Tensor& q, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                         const std::optional<at::Tensor>& counter) {
    check_weight(weight, bias);
    TORCH_CHECK(q.dim() == 2 && q.size(1) == weight.size(1) && q.scalar_type() == at::kFloat && q.is_contiguous(),
                "q must be a contiguous float32 [R, in] tensor");
    const int64_t R = q.size(0), in = q.size(1), ld = weight.stride(1);
    const float* qp = q.data_ptr<float>();
    const float* w = weight.data_ptr<float>();
    Rows rows(R, in, weight.size(0), false);
    double magnitude = 0.0;
    for (int64_t r = 0; r < R; ++r)
        for (int64_t j = 0; j < in; ++j)
            if (const float v = qp[r * in + j]; v != 0.0f) {
                rows.push(r, w + j * ld, v, j);
                magnitude += std::fabs(v);
            }
    return finish(rows, weight, bias, 1.0, counter, std::llround(magnitude));
}

// Spike form: spikes [D, R, in] float32 contiguous in {−1, 0, 1}. Returns (y, number of entries
// outside {−1, 0, 1}); y is not computed when that number is non-zero.
std::tuple<at::Tensor, int64_t> linear_spikes(const at::Tensor& spikes, const at::Tensor& weight,
                                              const std::optional<at::Tensor>& bias,
                                              const std::optional<at::Tensor>& counter) {
    check_weight(weight, bias);
    TORCH_CHECK(spikes.dim() == 3 && spikes.size(2) == weight.size(1) && spikes.scalar_type() == at::kFloat &&
                    spikes.is_contiguous(),
                "spikes must be a contiguous float32 [D, R, in] tensor");
    const int64_t D = spikes.size(0), R = spikes.size(1), in = spikes.size(2), ld = weight.stride(1);
    const float* s = spikes.data_ptr<float>();
    const float* w = weight.data_ptr<float>();
    Rows rows(R, in, weight.size(0), true);
    int64_t events = 0, invalid = 0;
    std::vector<int32_t> plus(in), minus(in);
    for (int64_t r = 0; r < R; ++r) {
        std::fill(plus.begin(), plus.end(), 0);
        std::fill(minus.begin(), minus.end(), 0);
        for (int64_t i = 0; i < D; ++i) {  // branch-free over each plane: vectorised
            const float* plane = s + (i * R + r) * in;
            for (int64_t j = 0; j < in; ++j) {
                const float v = plane[j];
                plus[j] += v == 1.0f;
                minus[j] += v == -1.0f;
                invalid += v != 0.0f && v != 1.0f && v != -1.0f;
            }
        }
        for (int64_t j = 0; j < in; ++j) {
            if (plus[j]) rows.push_spikes(r, w + j * ld, 0u, plus[j], j);
            if (minus[j]) rows.push_spikes(r, w + j * ld, kSignBit, minus[j], j);
            events += plus[j] + minus[j];
        }
    }
    if (invalid) return {at::Tensor(), invalid};
    return {finish(rows, weight, bias, 1.0, counter, events), 0};
}

// The neuron at a fresh membrane, one logical step: u = x + 0, h = u / V_th (Eq 1), the count of
// h (Eq 2 / 3 / 5) into q, and the events of q (integer form, or |q| spikes of q's sign).
template <class P, class T>
int64_t count_row(const T* x, T* q, float* counts, int64_t in, int D, float vth, bool spike_driven, const float* w,
                  int64_t ld, Rows& rows, int64_t r, int64_t& events) {
    int64_t nans = 0;
    for (int64_t j = 0; j < in; ++j) {  // branch-free: the compiler vectorises it
        const float u = add_rn(to_float(x[j]), 0.0f);
        const float h = vth == 1.0f ? u : div_rn(u, vth);
        nans += h != h;
        counts[j] = spike_count<P>(h, D);
    }
    for (int64_t j = 0; j < in; ++j) {
        const float c = counts[j];
        store(q + j, c);
        if (c == 0.0f) continue;
        const int64_t m = static_cast<int64_t>(std::fabs(c));
        events += m;
        if (spike_driven) rows.push_spikes(r, w + j * ld, c < 0.0f ? kSignBit : 0u, m, j);
        else rows.push(r, w + j * ld, c, j);
    }
    return nans;
}

template <class P, class T>
int64_t count_rows(const at::Tensor& x, at::Tensor& q, int D, float vth, bool spike_driven, const at::Tensor& weight,
                   Rows& rows, int64_t& events) {
    const int64_t R = x.size(0), in = x.size(1);
    const T* xp = reinterpret_cast<const T*>(x.data_ptr());
    T* qp = reinterpret_cast<T*>(q.data_ptr());
    std::vector<float> counts(in);
    int64_t nans = 0;
    for (int64_t r = 0; r < R; ++r)
        nans += count_row<P, T>(xp + r * in, qp + r * in, counts.data(), in, D, vth, spike_driven,
                                weight.data_ptr<float>(), weight.stride(1), rows, r, events);
    return nans;
}

template <class P>
int64_t count_any(const at::Tensor& x, at::Tensor& q, int D, float vth, bool spike_driven, const at::Tensor& weight,
                  Rows& rows, int64_t& events) {
    switch (x.scalar_type()) {
        case at::kFloat: return count_rows<P, float>(x, q, D, vth, spike_driven, weight, rows, events);
        case at::kBFloat16: return count_rows<P, bf16>(x, q, D, vth, spike_driven, weight, rows, events);
        case at::kHalf: return count_rows<P, f16>(x, q, D, vth, spike_driven, weight, rows, events);
        default: TORCH_CHECK(false, "x must be float32, bfloat16 or float16");
    }
}

// Neuron + projection (models/mamba2.py `spike_project`, T = 1): q = count(x / V_th) and
// y = scale · Σ events + b. kind: 0 lif, 1 ilif, 2 tilif. Returns (y, q, number of NaNs in x);
// y is not computed when x holds a NaN.
std::tuple<at::Tensor, at::Tensor, int64_t> spike_project(const at::Tensor& x, const at::Tensor& weight,
                                                          const std::optional<at::Tensor>& bias, int64_t kind,
                                                          int64_t D, double v_threshold, double scale,
                                                          bool spike_driven, const std::optional<at::Tensor>& counter) {
    check_weight(weight, bias);
    TORCH_CHECK(x.dim() == 2 && x.size(1) == weight.size(1) && x.is_contiguous(), "x must be a contiguous [R, in] tensor");
    TORCH_CHECK(kind >= 0 && kind <= 2 && D >= 1, "kind must be 0 (lif), 1 (ilif) or 2 (tilif), D >= 1");
    at::Tensor q = at::empty_like(x);
    Rows rows(x.size(0), x.size(1), weight.size(0), spike_driven);
    int64_t events = 0;
    const float vth = static_cast<float>(v_threshold);
    const int d = static_cast<int>(D);
    const int64_t nans = kind == 0   ? count_any<LIF>(x, q, d, vth, spike_driven, weight, rows, events)
                         : kind == 1 ? count_any<ILIF>(x, q, d, vth, spike_driven, weight, rows, events)
                                     : count_any<TILIF>(x, q, d, vth, spike_driven, weight, rows, events);
    if (nans) return {at::Tensor(), q, nans};
    return {finish(rows, weight, bias, scale, counter, events), q, 0};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("linear_counts", &linear_counts, "integer form (Eq 4)");
    m.def("linear_spikes", &linear_spikes, "spike form (Eq 9)");
    m.def("spike_project", &spike_project, "neuron + projection");
}
