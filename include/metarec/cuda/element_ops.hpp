#pragma once
/// @file element_ops.hpp
/// Per-element and per-row bodies of the CUDA kernels, written once as
/// `METAREC_HD` (= `__host__ __device__` under nvcc) inline functions on raw
/// pointers. The .cu kernels are thin grid-stride loops over them; the host
/// tests (tests/cuda/) run the same bodies in host loops and compare them with
/// the CPU ops of autograd/ops, so CI checks the kernels' indexing and
/// arithmetic without a GPU. No Eigen, no CUDA headers: nvcc and the host
/// compiler both read this file.
///
/// Every function states which CPU op (file and detail function) it mirrors;
/// where the CPU op sums in a fixed order, these bodies sum in the same order.
#include <cmath>
#include <cstdint>
#include <limits>

#if defined(__CUDACC__)
#define METAREC_HD __host__ __device__
#else
#define METAREC_HD
#endif

namespace metarec::cuda::elem {

using idx = std::int64_t;  // == metarec::index_t

// ---- math: device intrinsics under nvcc's device pass, <cmath> on the host --
#if defined(__CUDA_ARCH__)
#define METAREC_ELEM_MATH(name, fname)                                  \
  METAREC_HD inline float m_##name(float x) { return ::fname(x); }     \
  METAREC_HD inline double m_##name(double x) { return ::name(x); }
#else
#define METAREC_ELEM_MATH(name, fname)                                  \
  METAREC_HD inline float m_##name(float x) { return std::name(x); }   \
  METAREC_HD inline double m_##name(double x) { return std::name(x); }
#endif
METAREC_ELEM_MATH(exp, expf)
METAREC_ELEM_MATH(log, logf)
METAREC_ELEM_MATH(tanh, tanhf)
METAREC_ELEM_MATH(erf, erff)
METAREC_ELEM_MATH(sqrt, sqrtf)
#undef METAREC_ELEM_MATH

/// erf and exp of a value: scalars here; autograd/ops/activation.hpp specialises it for Eigen array
/// expressions, so a body written once below also runs as the CPU op's SIMD expression.
template <class X, class = void>
struct Math {
  METAREC_HD static X erf(X x) { return m_erf(x); }
  METAREC_HD static X exp(X x) { return m_exp(x); }
};
template <class X>
METAREC_HD inline auto erf_of(const X& x) { return Math<X>::erf(x); }
template <class X>
METAREC_HD inline auto exp_of(const X& x) { return Math<X>::exp(x); }

template <class T>
METAREC_HD inline T neg_inf() { return -std::numeric_limits<T>::infinity(); }
template <class T>
METAREC_HD inline T max_(T a, T b) { return a > b ? a : b; }
template <class T>
METAREC_HD inline bool is_nan(T x) { return x != x; }
/// log of the smallest normal: below it exp underflows (softmax.hpp, underflow_log).
template <class T>
METAREC_HD inline T underflow_log() { return m_log(std::numeric_limits<T>::min()); }

// ---- elementwise (ops/elementwise.hpp) -------------------------------------
enum class Binary : int { add = 0, sub = 1, mul = 2 };

template <class T>
METAREC_HD inline T binary_apply(Binary k, T x, T z) {
  return k == Binary::add ? x + z : k == Binary::sub ? x - z : x * z;
}
/// Gradient of the first operand at flat index i (b repeats with `period`).
template <class T>
METAREC_HD inline T binary_grad_a(Binary k, const T* g, const T* b, idx i, idx period) {
  return k == Binary::mul ? g[i] * b[i % period] : g[i];
}
/// Gradient of the broadcast operand at j: summed over repetitions in order.
template <class T>
METAREC_HD inline T binary_grad_b(Binary k, const T* g, const T* a, idx j, idx period, idx total) {
  T acc = 0;
  for (idx base = 0; base < total; base += period) acc += k == Binary::mul ? g[base + j] * a[base + j] : g[base + j];
  return k == Binary::sub ? -acc : acc;
}

// ---- activations (ops/activation.hpp) -------------------------------------
/// GELU(x) = x Phi(x) with the exact normal CDF (Hendrycks & Gimpel 2016; PyTorch's
/// approximate='none'). S is the scalar type; X a scalar or an Eigen array expression (the CPU op).
template <class S, class X>
METAREC_HD inline auto gelu_forward(const X& x) {
  return x * (S(0.5) * (S(1) + erf_of(x * S(0.70710678118654752440))));
}
/// g * d/dx x Phi(x) = g * (Phi(x) + x phi(x)).
template <class S, class X, class G>
METAREC_HD inline auto gelu_grad(const X& x, const G& g) {
  return g * (S(0.5) * (S(1) + erf_of(x * S(0.70710678118654752440))) +
              x * S(0.39894228040143267794) * exp_of(x * x * S(-0.5)));
}

enum class Activation : int { relu = 0, gelu = 1, tanh = 2, sigmoid = 3 };

template <class T>
METAREC_HD inline T activation_forward(Activation k, T x) {
  switch (k) {
    case Activation::relu: return x > T(0) ? x : T(0);
    case Activation::gelu: return gelu_forward<T>(x);
    case Activation::tanh: return m_tanh(x);
    default: return T(1) / (T(1) + m_exp(-x));
  }
}
/// g * dy/dx given x and y = f(x).
template <class T>
METAREC_HD inline T activation_grad(Activation k, T x, T y, T g) {
  switch (k) {
    case Activation::relu: return x > T(0) ? g : T(0);
    case Activation::gelu: return gelu_grad<T>(x, g);
    case Activation::tanh: return g * (T(1) - y * y);
    default: return g * y * (T(1) - y);
  }
}

// ---- softmax rows (ops/softmax.hpp, softmax_impl) --------------------------
template <class T, bool Log>
METAREC_HD inline void softmax_row(const T* x, T* y, idx d) {
  T m = neg_inf<T>();
  for (idx j = 0; j < d; ++j) m = max_(m, x[j]);
  if (!(m > neg_inf<T>())) {  // fully masked row
    for (idx j = 0; j < d; ++j) y[j] = Log ? neg_inf<T>() : T(0);
    return;
  }
  const T lo = underflow_log<T>();
  T s = 0;
  for (idx j = 0; j < d; ++j) {
    const T e = x[j] - m < lo ? T(0) : m_exp(x[j] - m);
    y[j] = e;
    s += e;
  }
  if (Log) {
    const T ls = m_log(s);
    for (idx j = 0; j < d; ++j) y[j] = (x[j] - m) - ls;
  } else {
    const T inv = T(1) / s;
    for (idx j = 0; j < d; ++j) y[j] *= inv;
  }
}
/// gx += y (g - <g, y>) (softmax) or g - exp(y) sum(g) (log_softmax).
template <class T, bool Log>
METAREC_HD inline void softmax_backward_row(const T* y, const T* g, T* gx, idx d) {
  T c = 0;
  for (idx j = 0; j < d; ++j) c += Log ? g[j] : g[j] * y[j];
  const T lo = underflow_log<T>();
  for (idx j = 0; j < d; ++j)
    gx[j] += Log ? g[j] - (y[j] < lo ? T(0) : m_exp(y[j])) * c : y[j] * (g[j] - c);
}

// ---- layer norm / l2 normalize (ops/normalization.hpp) --------------------
template <class T>
METAREC_HD inline void layer_norm_row_forward(const T* x, const T* gamma, const T* beta, idx d, T eps, T* y, T* mean,
                                              T* rstd) {
  T mu = 0;
  for (idx j = 0; j < d; ++j) mu += x[j];
  mu /= T(d);
  T var = 0;  // two-pass: no cancellation
  for (idx j = 0; j < d; ++j) var += (x[j] - mu) * (x[j] - mu);
  var /= T(d);
  const T rs = T(1) / m_sqrt(var + eps);
  for (idx j = 0; j < d; ++j) y[j] = (x[j] - mu) * rs * gamma[j] + beta[j];
  *mean = mu;
  *rstd = rs;
}
/// gx += rstd (g gamma - mean(g gamma) - xhat mean(g gamma xhat)).
template <class T>
METAREC_HD inline void layer_norm_row_backward(const T* x, const T* g, const T* gamma, T mu, T rs, idx d, T* gx) {
  T a = 0, c = 0;
  for (idx j = 0; j < d; ++j) {
    a += g[j] * gamma[j];
    c += g[j] * gamma[j] * (x[j] - mu);
  }
  a /= T(d);
  c = c * rs / T(d);
  for (idx j = 0; j < d; ++j) gx[j] += rs * (g[j] * gamma[j] - a - (x[j] - mu) * rs * c);
}
/// dgamma[j] and dbeta[j] (accumulated) summed over rows in order.
template <class T>
METAREC_HD inline void layer_norm_param_grad(const T* x, const T* g, const T* mean, const T* rstd, idx rows, idx d,
                                             idx j, T* dgamma, T* dbeta) {
  T sg = 0, sb = 0;
  for (idx r = 0; r < rows; ++r) {
    sg += g[r * d + j] * (x[r * d + j] - mean[r]) * rstd[r];
    sb += g[r * d + j];
  }
  if (dgamma) dgamma[j] += sg;
  if (dbeta) dbeta[j] += sb;
}
template <class T>
METAREC_HD inline void l2_normalize_row_forward(const T* x, idx d, T eps, T* y, T* norm) {
  T s = 0;
  for (idx j = 0; j < d; ++j) s += x[j] * x[j];
  const T nr = m_sqrt(s), den = max_(nr, eps);
  for (idx j = 0; j < d; ++j) y[j] = x[j] / den;
  *norm = nr;
}
template <class T>
METAREC_HD inline void l2_normalize_row_backward(const T* y, const T* g, T norm, T eps, idx d, T* gx) {
  if (norm > eps) {
    T c = 0;
    for (idx j = 0; j < d; ++j) c += g[j] * y[j];
    for (idx j = 0; j < d; ++j) gx[j] += (g[j] - y[j] * c) / norm;
  } else {
    for (idx j = 0; j < d; ++j) gx[j] += g[j] / eps;
  }
}

/// Column sums (linear bias gradient, GRU b_hh gradient): out[j] += sum_r m[r, j].
template <class T>
METAREC_HD inline void column_sum(const T* m, idx rows, idx cols, idx j, T* out) {
  T acc = 0;
  for (idx r = 0; r < rows; ++r) acc += m[r * cols + j];
  out[j] += acc;
}

// ---- full-catalogue CE (ops/cross_entropy.hpp) ------------------------------
/// Online log-sum-exp: merges a chunk's (max, sum of exp(z - max)) into the
/// running (m, s) (Milakov & Gimelshein 2018, "Online normalizer calculation").
METAREC_HD inline void lse_combine(double& m, double& s, double chunk_max, double chunk_sum) {
  if (!(chunk_sum > 0)) return;
  const double m_new = max_(m, chunk_max);
  s = (s > 0 ? s * m_exp(m - m_new) : 0.0) + chunk_sum * m_exp(chunk_max - m_new);
  m = m_new;
}
/// Gradient of the mean CE w.r.t. one logit: (softmax - onehot) / N.
template <class T>
METAREC_HD inline T ce_grad(T z, double lse, bool is_target, double invN) {
  return static_cast<T>(m_exp(static_cast<double>(z) - lse) * invN - (is_target ? invN : 0.0));
}

// ---- dropout mask (ops/attention.hpp, dropout_probabilities) ---------------
/// SplitMix64 output for counter i of stream `key` (Steele et al. 2014).
METAREC_HD inline std::uint64_t splitmix_at(std::uint64_t key, std::uint64_t i) {
  std::uint64_t z = key + (i + 1) * 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
/// 1/keep or 0 for element e: each 64-bit draw e & ~1 decides elements e
/// (low 32 bits) and e + 1 (high 32 bits), exactly as the CPU loop.
template <class T>
METAREC_HD inline T dropout_scale_at(std::uint64_t key, idx e, double keep) {
  const std::uint64_t u = splitmix_at(key, static_cast<std::uint64_t>(e & ~idx(1)));
  const std::uint64_t bits = (e & 1) ? (u >> 32) : (u & 0xffffffffu);
  const auto threshold = static_cast<std::uint64_t>(keep * 4294967296.0);
  return bits < threshold ? static_cast<T>(1.0 / keep) : T(0);
}

// ---- dropout keep mask (ops/dropout.hpp) -------------------------------------
/// Chunk c of draw_keep_mask: xoshiro256** seeded with base + c (SplitMix64
/// state fill, as metarec::Rng) decides elements [begin, end), two per draw:
/// keep when the 32-bit half is >= threshold. The CPU op and the device kernel
/// (one thread per chunk) run this same body, so their masks are equal.
METAREC_HD inline std::uint64_t rotl64(std::uint64_t v, int k) { return (v << k) | (v >> (64 - k)); }
METAREC_HD inline void keep_mask_chunk(std::uint64_t seed, std::uint64_t threshold, std::uint8_t* keep, idx begin,
                                       idx end) {
  std::uint64_t s[4];
  std::uint64_t x = seed;
  for (auto& w : s) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    w = z ^ (z >> 31);
  }
  for (idx i = begin; i < end; i += 2) {
    const std::uint64_t u = rotl64(s[1] * 5, 7) * 9;
    const std::uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    keep[i] = (u & 0xffffffffULL) >= threshold;
    if (i + 1 < end) keep[i + 1] = (u >> 32) >= threshold;
  }
}

// ---- Adam (optim/adam.hpp) ------------------------------------------------------
/// Scalars of one Adam(W) update of a parameter (optim/adam.hpp has the formula).
template <class T>
struct AdamScalars {
  T b1, c1, b2, c2, eps, step_size, inv_sqrt_bc2, l2, shrink;
};
/// Element i of the update: the device kernel's body. The host optimiser
/// spells the same arithmetic as Eigen array expressions (vectorised sqrt).
template <class T>
METAREC_HD inline void adam_update_at(const AdamScalars<T>& a, T* w, const T* g, T* m, T* v, idx i) {
  const T G = g[i] + a.l2 * w[i];
  m[i] = a.b1 * m[i] + a.c1 * G;
  v[i] = a.b2 * v[i] + a.c2 * (G * G);
  w[i] = a.shrink * w[i] - a.step_size * m[i] / (m_sqrt(v[i]) * a.inv_sqrt_bc2 + a.eps);
}

// ---- GRU gates: the CPU op (ops/gru.hpp) calls these same bodies ----------
/// Logistic function.
template <class T>
METAREC_HD inline T logistic(T a) { return T(1) / (T(1) + m_exp(-a)); }

/// Hidden unit j of one real step. a: this step's input pre-activations [3h];
/// c: h_{t-1} W_hh^T [3h] or null at t = 0; hp: h_{t-1} or null. Writes the 4
/// saved gate values g[j], g[H+j], g[2H+j], g[3H+j] and returns h_t[j].
template <class T>
METAREC_HD inline T gru_gate_forward(const T* a, const T* c, const T* b_hh, const T* hp, idx H, idx j, T* g) {
  const T cr = b_hh[j] + (c ? c[j] : T(0)), cz = b_hh[H + j] + (c ? c[H + j] : T(0));
  const T cn = b_hh[2 * H + j] + (c ? c[2 * H + j] : T(0));
  const T r = logistic(a[j] + cr), z = logistic(a[H + j] + cz);
  const T nn = m_tanh(a[2 * H + j] + r * cn);
  g[j] = r;
  g[H + j] = z;
  g[2 * H + j] = nn;
  g[3 * H + j] = cn;
  return (T(1) - z) * nn + z * (hp ? hp[j] : T(0));
}
/// Back-propagation of unit j of one real step. dh: dLoss/dh_t from later
/// steps (in), becomes the direct part of dLoss/dh_{t-1} (out). dg: [3h]
/// gradient of W_hh h + b_hh; gi: gradient of the input pre-activations (+=).
template <class T>
METAREC_HD inline void gru_gate_backward(const T* g, const T* hp, T gy, idx H, idx j, T* dh, T* dg, T* gi) {
  const T r = g[j], z = g[H + j], nn = g[2 * H + j], ghn = g[3 * H + j];
  const T dhj = dh[j] + gy;
  const T dan = dhj * (T(1) - z) * (T(1) - nn * nn);
  const T daz = dhj * ((hp ? hp[j] : T(0)) - nn) * z * (T(1) - z);
  const T dar = dan * ghn * r * (T(1) - r);
  dg[j] = dar;
  dg[H + j] = daz;
  dg[2 * H + j] = dan * r;
  if (gi) {
    gi[j] += dar;
    gi[H + j] += daz;
    gi[2 * H + j] += dan;
  }
  dh[j] = dhj * z;
}

}  // namespace metarec::cuda::elem

#include "metarec/cuda/element_rows.hpp"
