// Event-driven accumulation of a spiking projection on a CPU (Eq 4, Eq 9), for one or a few rows.
//
// A projection whose input q [R, in] is mostly zero needs only the weight columns of its events:
//     integer form (Eq 4)   y = Σ_{j: q_j≠0} q_j · W[:, j] + b          (one multiply-add per output)
//     spike form   (Eq 9)   y = Σ_{events (i, j)} ±W[:, j] + b          (one signed add per event)
// With W [out, in] stored column-major (stride(0) == 1, the eval-mode CPU layout of
// models/mamba2.py `set_decode_layout`) a column is contiguous: the kernel streams the active
// columns eight at a time into a float32 accumulator row (an L1-resident axpy the compiler
// vectorises), so it reads only the active columns' bytes. In the spike form the columns that
// receive m events of one sign in a row are summed once and that sum is added m times. Any other layout takes a strided scalar
// loop (correct, slow). With R > 1 rows the input columns are visited in blocks of ~1 MiB of
// weights and every row accumulates its events of a block while the block is in L2, so each active
// column (of the union over the rows) is read from memory once.
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

constexpr int kGroup = 8;                     // columns accumulated per pass over the output row
constexpr int64_t kBlockBytes = 1 << 20;      // weights per column block when R > 1 (L2-resident)

enum class Op { Fma, Add, Sub };  // y += v·W[:, j] (Eq 4) | y += W[:, j] | y −= W[:, j] (Eq 9)

// The events of one input row in column order: the column's first weight, its value (Fma), its index.
struct Events {
    std::vector<const float*> col;
    std::vector<float> val;
    std::vector<int64_t> index;
    void reserve(int64_t n) {
        col.reserve(n);
        val.reserve(n);
        index.reserve(n);
    }
    void push(const float* c, float v, int64_t j) {
        col.push_back(c);
        val.push_back(v);
        index.push_back(j);
    }
};

// Every row's events. Slot 0: multiply-add events (integer form). Spike form: slot m (1..D) holds
// the columns that receive m +1 events in that row, slot D + m those that receive m −1 events; such
// a column is read once and added m times (m additions, no multiplication).
struct Rows {
    int64_t D;
    std::vector<Events> slots;  // [R, 2 D + 1]
    Rows(int64_t n, int64_t D) : D(D), slots(n * (2 * D + 1)) {}
    int64_t n_rows() const { return static_cast<int64_t>(slots.size()) / (2 * D + 1); }
    Events& fma(int64_t r) { return slots[r * (2 * D + 1)]; }
    Events& spikes(int64_t r, int64_t m, bool negative) { return slots[r * (2 * D + 1) + m + (negative ? D : 0)]; }
};

template <Op op>
inline float term(float w, float v) { return op == Op::Fma ? v * w : w; }

// y[o] (op)= Σ_k v_k · col_k[o] over n events whose columns are contiguous.
template <Op op>
void accumulate(float* __restrict y, const float* const* col, const float* val, int64_t n, int64_t out) {
    int64_t k = 0;
    for (; k + kGroup <= n; k += kGroup) {
        const float* c[kGroup];
        float v[kGroup];
        for (int i = 0; i < kGroup; ++i) c[i] = col[k + i], v[i] = val[k + i];
#pragma GCC ivdep
        for (int64_t o = 0; o < out; ++o) {
            float s = (term<op>(c[0][o], v[0]) + term<op>(c[1][o], v[1])) +
                      (term<op>(c[2][o], v[2]) + term<op>(c[3][o], v[3])) +
                      ((term<op>(c[4][o], v[4]) + term<op>(c[5][o], v[5])) +
                       (term<op>(c[6][o], v[6]) + term<op>(c[7][o], v[7])));
            y[o] = op == Op::Sub ? y[o] - s : y[o] + s;
        }
    }
    for (; k < n; ++k) {
        const float* c = col[k];
        const float v = val[k];
#pragma GCC ivdep
        for (int64_t o = 0; o < out; ++o) y[o] = op == Op::Sub ? y[o] - c[o] : y[o] + term<op>(c[o], v);
    }
}

// The same for columns with stride `step` between consecutive outputs (any non-column-major layout).
template <Op op>
void accumulate_strided(float* y, const float* const* col, const float* val, int64_t n, int64_t out,
                        int64_t step) {
    for (int64_t k = 0; k < n; ++k)
        for (int64_t o = 0; o < out; ++o)
            y[o] = op == Op::Sub ? y[o] - col[k][o * step] : y[o] + term<op>(col[k][o * step], val[k]);
}

template <Op op>
void run(float* y, const Events& e, int64_t begin, int64_t end, int64_t out, int64_t step) {
    if (step == 1)
        accumulate<op>(y, e.col.data() + begin, e.val.data() + begin, end - begin, out);
    else
        accumulate_strided<op>(y, e.col.data() + begin, e.val.data() + begin, end - begin, out, step);
}

// y (+/−)= m · Σ t, as m additions of t (a column that received m spikes of one sign).
void add_repeated(float* __restrict y, const float* __restrict t, int64_t m, bool negative, int64_t out) {
    for (int64_t o = 0; o < out; ++o) {
        float a = t[o];
        for (int64_t i = 1; i < m; ++i) a += t[o];
        y[o] = negative ? y[o] - a : y[o] + a;
    }
}

// The events of one slot of one row, e[begin, end), into y.
void run_slot(float* y, float* scratch, const Rows& rows, int64_t slot, const Events& e, int64_t begin,
              int64_t end, int64_t out, int64_t step) {
    if (begin == end) return;
    if (slot == 0) return run<Op::Fma>(y, e, begin, end, out, step);
    const bool negative = slot > rows.D;
    const int64_t m = negative ? slot - rows.D : slot;
    if (m == 1) return negative ? run<Op::Sub>(y, e, begin, end, out, step) : run<Op::Add>(y, e, begin, end, out, step);
    std::fill(scratch, scratch + out, 0.0f);
    run<Op::Add>(scratch, e, begin, end, out, step);
    add_repeated(y, scratch, m, negative, out);
}

// acc [R, out] += every row's events, visiting the input columns in blocks when R > 1.
void accumulate_rows(float* acc, const Rows& rows, int64_t in, int64_t out, int64_t step) {
    const int64_t R = rows.n_rows(), per_row = 2 * rows.D + 1;
    const int64_t block = R == 1 ? std::max<int64_t>(in, 1)
                                 : std::max<int64_t>(kGroup, kBlockBytes / std::max<int64_t>(out * 4, 1));
    std::vector<int64_t> cursor(rows.slots.size(), 0);
    std::vector<float> scratch(out);
    for (int64_t j0 = 0; j0 < in; j0 += block)
        for (int64_t r = 0; r < R; ++r)
            for (int64_t slot = 0; slot < per_row; ++slot) {
                const Events& e = rows.slots[r * per_row + slot];
                int64_t& begin = cursor[r * per_row + slot];
                int64_t end = begin;
                while (end < static_cast<int64_t>(e.index.size()) && e.index[end] < j0 + block) ++end;
                run_slot(acc + r * out, scratch.data(), rows, slot, e, begin, end, out, step);
                begin = end;
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
    const int64_t R = rows.n_rows(), out = weight.size(0), in = weight.size(1);
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
    Rows rows(R, 1);
    for (int64_t r = 0; r < R; ++r) rows.fma(r).reserve(in);
    double magnitude = 0.0;
    for (int64_t r = 0; r < R; ++r)
        for (int64_t j = 0; j < in; ++j)
            if (const float v = qp[r * in + j]; v != 0.0f) {
                rows.fma(r).push(w + j * ld, v, j);
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
    Rows rows(R, D);
    int64_t events = 0, invalid = 0;
    for (int64_t r = 0; r < R; ++r)
        for (int64_t j = 0; j < in; ++j) {
            int64_t plus = 0, minus = 0;
            for (int64_t i = 0; i < D; ++i) {
                const float v = s[(i * R + r) * in + j];
                plus += v == 1.0f;
                minus += v == -1.0f;
                invalid += v != 0.0f && v != 1.0f && v != -1.0f;
            }
            if (plus) rows.spikes(r, plus, false).push(w + j * ld, 1.0f, j);
            if (minus) rows.spikes(r, minus, true).push(w + j * ld, 1.0f, j);
            events += plus + minus;
        }
    if (invalid) return {at::Tensor(), invalid};
    return {finish(rows, weight, bias, 1.0, counter, events), 0};
}

// The neuron at a fresh membrane, one logical step: u = x + 0, h = u / V_th (Eq 1), the count of
// h (Eq 2 / 3 / 5) into q, and the events of q (integer form, or |q| signed adds when spike_driven).
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
    Events& fma = rows.fma(r);
    if (!spike_driven) fma.reserve(in);
    for (int64_t j = 0; j < in; ++j) {
        const float c = counts[j];
        store(q + j, c);
        if (c == 0.0f) continue;
        const int64_t m = static_cast<int64_t>(std::fabs(c));
        events += m;
        if (spike_driven) rows.spikes(r, m, c < 0.0f).push(w + j * ld, 1.0f, j);
        else fma.push(w + j * ld, c, j);
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
    Rows rows(x.size(0), D);
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
