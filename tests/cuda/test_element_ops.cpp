// Host checks of the CUDA element bodies (element_ops.hpp): each runs the
// body in a host loop the way its kernel's grid-stride loop does and compares
// with the CPU op of autograd/ops. Runs in every build: needs no CUDA.
#include <doctest/doctest.h>

#include <limits>

#include "cuda/cuda_test_util.hpp"
#include "metarec/autograd.hpp"
#include "metarec/cuda/element_ops.hpp"

using namespace metarec;
using namespace metarec::test;
namespace elem = metarec::cuda::elem;

TEST_CASE_TEMPLATE("element bodies: broadcasting add/sub/mul forward and both gradients", T, float, double) {
  Rng rng(1);
  for (auto [a_shape, b_shape] : {std::pair{Shape{3, 4, 5}, Shape{5}}, std::pair{Shape{2, 3}, Shape{2, 3}},
                                  std::pair{Shape{1, 1}, Shape{1}}, std::pair{Shape{4, 2, 3}, Shape{2, 3}}}) {
    for (elem::Binary k : {elem::Binary::add, elem::Binary::sub, elem::Binary::mul}) {
      Tensor<T> a = random_t<T>(a_shape, rng), b = random_t<T>(b_shape, rng);
      auto ref = cpu_run<T>(
          [k](Tape<T>&, const std::vector<Var<T>>& v) {
            return k == elem::Binary::add ? ops::add(v[0], v[1]) : k == elem::Binary::sub ? ops::sub(v[0], v[1])
                                                                                         : ops::mul(v[0], v[1]);
          },
          {a, b}, rng);
      const index_t total = a.size(), period = b.size();
      Tensor<T> y(a_shape), ga(a_shape), gb(b_shape);
      for (index_t i = 0; i < total; ++i) y[i] = elem::binary_apply(k, a[i], b[i % period]);
      for (index_t i = 0; i < total; ++i) ga[i] += elem::binary_grad_a(k, ref.seed.data(), b.data(), i, period);
      for (index_t j = 0; j < period; ++j) gb[j] += elem::binary_grad_b(k, ref.seed.data(), a.data(), j, period, total);
      check_close(y, ref.y, "y");
      check_close(ga, ref.grads[0], "ga");
      check_close(gb, ref.grads[1], "gb");
    }
  }
}

TEST_CASE_TEMPLATE("element bodies: relu, gelu, tanh, sigmoid forward and gradient", T, float, double) {
  Rng rng(2);
  Tensor<T> x = random_t<T>({7, 13}, rng, -4, 4);
  x[0] = T(0);  // relu's gradient at exactly 0 is 0
  for (elem::Activation k : {elem::Activation::relu, elem::Activation::gelu, elem::Activation::tanh,
                             elem::Activation::sigmoid}) {
    auto ref = cpu_run<T>(
        [k](Tape<T>&, const std::vector<Var<T>>& v) {
          switch (k) {
            case elem::Activation::relu: return ops::relu(v[0]);
            case elem::Activation::gelu: return ops::gelu(v[0]);
            case elem::Activation::tanh: return ops::tanh(v[0]);
            default: return ops::sigmoid(v[0]);
          }
        },
        {x}, rng);
    Tensor<T> y(x.shape()), gx(x.shape());
    for (index_t i = 0; i < x.size(); ++i) y[i] = elem::activation_forward(k, x[i]);
    for (index_t i = 0; i < x.size(); ++i) gx[i] += elem::activation_grad(k, x[i], y[i], ref.seed[i]);
    check_close(y, ref.y, "activation y");
    check_close(gx, ref.grads[0], "activation gx");
  }
}

TEST_CASE_TEMPLATE("element bodies: softmax and log_softmax rows, masked rows included", T, float, double) {
  Rng rng(3);
  for (index_t d : {1, 5, 33}) {
    Tensor<T> x = random_t<T>({4, d}, rng, -3, 3);
    x(1, 0) = -std::numeric_limits<T>::infinity();                   // one masked entry
    for (index_t j = 0; j < d; ++j) x(2, j) = -std::numeric_limits<T>::infinity();  // fully masked row
    for (bool log : {false, true}) {
      Tape<T> t;
      Var<T> xv = t.leaf(x, true);
      Var<T> y = log ? ops::log_softmax(xv) : ops::softmax(xv);
      Tensor<T> mine(x.shape());
      for (index_t r = 0; r < 4; ++r) {
        if (log) elem::softmax_row<T, true>(x.data() + r * d, mine.data() + r * d, d);
        else elem::softmax_row<T, false>(x.data() + r * d, mine.data() + r * d, d);
      }
      check_close(mine, y.value(), log ? "log_softmax y" : "softmax y");
      if (log) continue;  // log_softmax's gradient at a fully masked row is NaN-free only for finite seeds below
      Tensor<T> seed = random_t<T>(x.shape(), rng);
      t.backward(y, seed);
      Tensor<T> gx(x.shape());
      for (index_t r = 0; r < 4; ++r)
        elem::softmax_backward_row<T, false>(y.value().data() + r * d, seed.data() + r * d, gx.data() + r * d, d);
      check_close(gx, t.grad_of(xv), "softmax gx");
    }
    // log_softmax backward on finite rows
    Tensor<T> xf = random_t<T>({3, d}, rng, -3, 3);
    auto ref = cpu_run<T>([](Tape<T>&, const std::vector<Var<T>>& v) { return ops::log_softmax(v[0]); }, {xf}, rng);
    Tensor<T> gx(xf.shape());
    for (index_t r = 0; r < 3; ++r)
      elem::softmax_backward_row<T, true>(ref.y.data() + r * d, ref.seed.data() + r * d, gx.data() + r * d, d);
    check_close(gx, ref.grads[0], "log_softmax gx");
  }
}

TEST_CASE_TEMPLATE("element bodies: layer norm rows and parameter columns; l2 normalize rows", T, float, double) {
  Rng rng(4);
  for (index_t d : {1, 4, 65}) {
    const index_t rows = 7;
    Tensor<T> x = random_t<T>({rows, d}, rng, -2, 2), gamma = random_t<T>({d}, rng), beta = random_t<T>({d}, rng);
    auto ref = cpu_run<T>(
        [](Tape<T>&, const std::vector<Var<T>>& v) { return ops::layer_norm(v[0], v[1], v[2], 1e-5); },
        {x, gamma, beta}, rng);
    Tensor<T> y(x.shape()), mean({rows}), rstd({rows}), gx(x.shape()), gg({d}), gb({d});
    for (index_t r = 0; r < rows; ++r)
      elem::layer_norm_row_forward(x.data() + r * d, gamma.data(), beta.data(), d, T(1e-5), y.data() + r * d,
                                   mean.data() + r, rstd.data() + r);
    for (index_t r = 0; r < rows; ++r)
      elem::layer_norm_row_backward(x.data() + r * d, ref.seed.data() + r * d, gamma.data(), mean[r], rstd[r], d,
                                    gx.data() + r * d);
    for (index_t j = 0; j < d; ++j)
      elem::layer_norm_param_grad(x.data(), ref.seed.data(), mean.data(), rstd.data(), rows, d, j, gg.data(), gb.data());
    // d = 1: x - mean = 0 exactly, so y = beta and dx = 0 on both sides.
    check_close(y, ref.y, "layer_norm y");
    check_close(gx, ref.grads[0], "layer_norm gx", 50 * tol<T>());  // 1/std amplifies rounding
    check_close(gg, ref.grads[1], "layer_norm dgamma");
    check_close(gb, ref.grads[2], "layer_norm dbeta");

    Tensor<T> xl = random_t<T>({rows, d}, rng);
    for (index_t j = 0; j < d; ++j) xl(0, j) = T(0);  // zero row: the eps branch
    auto ref2 = cpu_run<T>([](Tape<T>&, const std::vector<Var<T>>& v) { return ops::l2_normalize(v[0], 1e-6); }, {xl},
                           rng);
    Tensor<T> y2(xl.shape()), norm({rows}), gx2(xl.shape());
    for (index_t r = 0; r < rows; ++r) {
      elem::l2_normalize_row_forward(xl.data() + r * d, d, T(1e-6), y2.data() + r * d, norm.data() + r);
      elem::l2_normalize_row_backward(y2.data() + r * d, ref2.seed.data() + r * d, norm[r], T(1e-6), d,
                                      gx2.data() + r * d);
    }
    check_close(y2, ref2.y, "l2_normalize y");
    check_close(gx2, ref2.grads[0], "l2_normalize gx");
  }
}

// The device CE (ops_sequence.cpp) run on the host: logits chunk by chunk,
// online log-sum-exp per row, then (softmax - onehot) / N per logit and the
// two gradient products, with chunk sizes that do not divide the catalogue.
TEST_CASE_TEMPLATE("element bodies: chunked full-catalogue CE equals ops::full_softmax_ce", T, float, double) {
  Rng rng(5);
  const index_t N = 9, d = 6, rows_table = 40, first = 1, end = 37, nc = end - first;
  Tensor<T> h = random_t<T>({N, d}, rng, -2, 2), items = random_t<T>({rows_table, d}, rng, -2, 2);
  std::vector<std::int32_t> targets(N);
  for (auto& t : targets) t = static_cast<std::int32_t>(first + rng.below(static_cast<std::uint64_t>(nc)));
  targets[0] = first;
  targets[1] = static_cast<std::int32_t>(end - 1);
  ops::FullCEOptions opt;
  opt.end_item = end;
  auto ref = cpu_run<T>(
      [&](Tape<T>&, const std::vector<Var<T>>& v) { return ops::full_softmax_ce(v[0], v[1], targets.data(), opt); },
      {h, items}, rng);
  for (index_t C : {index_t(1), index_t(7), nc, index_t(100)}) {
    std::vector<double> m(N, -std::numeric_limits<double>::infinity()), s(N, 0), tl(N, 0), lse(N);
    std::vector<T> z(static_cast<std::size_t>(N * nc));  // all chunks side by side (the device recomputes them)
    for (index_t c0 = 0; c0 < nc; c0 += C) {
      const index_t cols = std::min(C, nc - c0);
      for (index_t r = 0; r < N; ++r) {
        double mx = -std::numeric_limits<double>::infinity(), acc = 0;
        for (index_t c = 0; c < cols; ++c) {
          T& zz = z[static_cast<std::size_t>(r * nc + c0 + c)];
          zz = elem::dot(h.data() + r * d, items.data() + (first + c0 + c) * d, d);
          mx = std::max(mx, static_cast<double>(zz));
        }
        for (index_t c = 0; c < cols; ++c) acc += std::exp(static_cast<double>(z[static_cast<std::size_t>(r * nc + c0 + c)]) - mx);
        elem::lse_combine(m[static_cast<std::size_t>(r)], s[static_cast<std::size_t>(r)], mx, acc);
        const index_t t = targets[static_cast<std::size_t>(r)] - (first + c0);
        if (t >= 0 && t < cols) tl[static_cast<std::size_t>(r)] = static_cast<double>(z[static_cast<std::size_t>(r * nc + c0 + t)]);
      }
    }
    double loss = 0;
    for (index_t r = 0; r < N; ++r) {
      lse[static_cast<std::size_t>(r)] = m[static_cast<std::size_t>(r)] + std::log(s[static_cast<std::size_t>(r)]);
      loss += lse[static_cast<std::size_t>(r)] - tl[static_cast<std::size_t>(r)];
    }
    CHECK(loss / N == doctest::Approx(static_cast<double>(ref.y[0])).epsilon(tol<T>()));
    Tensor<T> dh({N, d}), de({rows_table, d});
    for (index_t r = 0; r < N; ++r)
      for (index_t c = 0; c < nc; ++c) {
        const T g = elem::ce_grad(z[static_cast<std::size_t>(r * nc + c)], lse[static_cast<std::size_t>(r)],
                                  targets[static_cast<std::size_t>(r)] - first == c, 1.0 / N);
        for (index_t k = 0; k < d; ++k) {
          dh(r, k) += g * items(first + c, k);
          de(first + c, k) += g * h(r, k);
        }
      }
    check_close(dh, ref.grads[0], "CE dh");
    check_close(de, ref.grads[1], "CE de");
  }
}

// The device GRU (ops_sequence.cpp) run on the host: per step a GEMM for
// h_{t-1} W_hh^T and the gate body per unit; backward per step the gate
// body, a GEMM for the carry, then column sums and one GEMM for W_hh.
TEST_CASE_TEMPLATE("element bodies: GRU gate steps reproduce ops::gru's recurrence", T, float, double) {
  Rng rng(6);
  const index_t B = 3, L = 4, H = 5, H3 = 3 * H;
  Tensor<T> gi = random_t<T>({B, L, H3}, rng), w_hh = random_t<T>({H3, H}, rng, -0.5, 0.5), b_hh = random_t<T>({H3}, rng);
  std::vector<std::uint8_t> mask = {0, 1, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0};  // left padding, a gap, a fully padded row
  auto ref = cpu_run<T>(
      [&](Tape<T>&, const std::vector<Var<T>>& v) { return ops::detail::gru_recurrence(v[0], v[1], v[2], mask.data()); },
      {gi, w_hh, b_hh}, rng);
  Tensor<T> y({B, L, H}), gates({B, L, 4 * H}), gh({B, H3});
  for (index_t step = 0; step < L; ++step) {
    if (step > 0) gemm<T>(false, true, B, H3, H, T(1), y.data() + (step - 1) * H, L * H, w_hh.data(), H, T(0), gh.data(), H3);
    for (index_t x = 0; x < B * H; ++x) {  // the kernel's grid-stride body
      const index_t b = x / H, j = x % H, rs = b * L + step;
      const T* hp = step > 0 ? y.data() + (rs - 1) * H : nullptr;
      if (!mask[static_cast<std::size_t>(rs)]) {
        y[rs * H + j] = hp ? hp[j] : T(0);
        continue;
      }
      y[rs * H + j] = elem::gru_gate_forward(gi.data() + rs * H3, step > 0 ? gh.data() + b * H3 : nullptr, b_hh.data(),
                                             hp, H, j, gates.data() + rs * 4 * H);
    }
  }
  check_close(y, ref.y, "gru y");
  Tensor<T> d_hid({B * L, H3}), carry({B, H}), g_gi({B, L, H3}), g_w({H3, H}), g_b({H3});
  for (index_t step = L - 1; step >= 0; --step) {
    for (index_t x = 0; x < B * H; ++x) {
      const index_t b = x / H, j = x % H, rs = b * L + step;
      T* dg = d_hid.data() + rs * H3;
      if (!mask[static_cast<std::size_t>(rs)]) {
        carry[b * H + j] += ref.seed[rs * H + j];
        dg[j] = dg[H + j] = dg[2 * H + j] = T(0);
        continue;
      }
      elem::gru_gate_backward(gates.data() + rs * 4 * H, step > 0 ? y.data() + (rs - 1) * H : nullptr,
                              ref.seed[rs * H + j], H, j, carry.data() + b * H, dg, g_gi.data() + rs * H3);
    }
    if (step > 0) gemm<T>(false, false, B, H, H3, T(1), d_hid.data() + step * H3, L * H3, w_hh.data(), H, T(1), carry.data(), H);
  }
  for (index_t j = 0; j < H3; ++j) elem::column_sum(d_hid.data(), B * L, H3, j, g_b.data());
  for (index_t b = 0; b < B; ++b) std::fill_n(d_hid.data() + b * L * H3, H3, T(0));
  gemm<T>(true, false, H3, H, B * L - 1, T(1), d_hid.data() + H3, H3, y.data(), H, T(1), g_w.data(), H);
  check_close(g_gi, ref.grads[0], "gru d gi");
  check_close(g_w, ref.grads[1], "gru d W_hh");
  check_close(g_b, ref.grads[2], "gru d b_hh");
}
