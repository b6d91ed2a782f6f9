// Device tests, the paths the op-by-op tests do not reach: optional saved
// outputs left empty, candidate windows and logit scales of the full CE,
// top-K over several launch groups with fewer candidates than k, cross
// attention, packed dropout, a GRU without mask, long reductions. Every
// result is compared with the CPU op (or the same device op with the option
// off). Without a GPU each case skips (it runs in the host emulation).
#include <doctest/doctest.h>

#include <limits>
#include <span>

#include "device_util.hpp"
#include "metarec/autograd.hpp"
#include "metarec/eval/ranking.hpp"

using namespace metarec;
using namespace metarec::test;
using cuda::DeviceTensor;

TEST_CASE_TEMPLATE("cuda device: layer norm and l2 normalize without saved statistics", T, float, double) {
  METAREC_REQUIRE_GPU();
  cuda::Context ctx;
  Rng rng(21);
  const index_t rows = 9, d = 6;
  Tensor<T> x = random_t<T>({rows, d}, rng), gamma = random_t<T>({d}, rng), beta = random_t<T>({d}, rng);
  auto dx = up(ctx, x), dg = up(ctx, gamma), db = up(ctx, beta);
  auto y = ctx.alloc<T>(x.shape()), y_saved = ctx.alloc<T>(x.shape()), mean = ctx.alloc<T>({rows}),
       rstd = ctx.alloc<T>({rows});
  cuda::layer_norm_forward(ctx, dx, dg, db, 1e-5, y_saved, mean, rstd);
  cuda::layer_norm_forward(ctx, dx, dg, db, 1e-5, y, DeviceTensor<T>(), DeviceTensor<T>());  // inference: nothing saved
  check_close(down(ctx, y), down(ctx, y_saved), "layer_norm y without mean/rstd", 0.0);
  auto n = ctx.alloc<T>({rows});
  cuda::l2_normalize_forward(ctx, dx, 1e-12, y_saved, n);
  cuda::l2_normalize_forward(ctx, dx, 1e-12, y, DeviceTensor<T>());
  check_close(down(ctx, y), down(ctx, y_saved), "l2 y without norm", 0.0);
}

TEST_CASE_TEMPLATE("cuda device: long sums, and top-K over several row groups with fewer candidates than k", T, float,
                   double) {
  METAREC_REQUIRE_GPU();
  cuda::Context ctx;
  Rng rng(22);
  {
    Tensor<T> x = random_t<T>({5003}, rng);  // many elements per thread of the one-block tree
    auto ref = cpu_run<T>([](Tape<T>&, const std::vector<Var<T>>& v) { return ops::mean(v[0]); }, {x}, rng);
    auto m = ctx.alloc<T>(Shape{});
    cuda::sum_forward(ctx, up(ctx, x), 1.0 / x.size(), m);
    check_close(down(ctx, m), ref.y, "mean of 5003");
  }
  const index_t R = 300, n = 21;  // 300 rows: two launches of at most 256 rows; 20 candidates < k = 30
  const int k = 30;
  Tensor<T> scores({R, n});
  for (index_t i = 0; i < scores.size(); ++i) scores[i] = static_cast<T>(std::round(rng.uniform(-2, 2) * 4) / 4);
  for (index_t r = 0; r < R; r += 7) scores(r, 1 + r % (n - 1)) = std::numeric_limits<T>::quiet_NaN();
  auto ids = ctx.alloc<std::int32_t>({R, k});
  cuda::top_k(ctx, up(ctx, scores), k, ids);
  Tensor<std::int32_t> got = down(ctx, ids);
  index_t wrong = 0;
  for (index_t r = 0; r < R; ++r) {
    const auto want = eval::top_k<T>(std::span<const T>(scores.data() + r * n, static_cast<std::size_t>(n)), k);
    REQUIRE(want.size() == static_cast<std::size_t>(n - 1));
    for (index_t m = 0; m < k; ++m)
      wrong += got(r, m) != (m < n - 1 ? want[static_cast<std::size_t>(m)] : std::int32_t(-1));
  }
  CHECK(wrong == 0);
}

TEST_CASE_TEMPLATE("cuda device: full CE over a candidate window with a logit scale", T, float, double) {
  METAREC_REQUIRE_GPU();
  cuda::Context ctx;
  Rng rng(23);
  const index_t N = 13, d = 8, n = 300, first = 3, end = n - 5;
  const double s = 0.5;
  Tensor<T> h = random_t<T>({N, d}, rng), items = random_t<T>({n, d}, rng), hs({N, d});
  for (index_t i = 0; i < h.size(); ++i) hs[i] = static_cast<T>(s * h[i]);
  std::vector<std::int32_t> targets(N);
  for (auto& t : targets) t = static_cast<std::int32_t>(first + rng.below(end - first));
  ops::FullCEOptions opt;
  opt.first_item = first;
  opt.end_item = end;
  // The scale multiplies the logits: the CPU op on s h has the same loss, dL/dh = s dL/d(s h).
  auto ref = cpu_run<T>([&](Tape<T>&, const std::vector<Var<T>>& v) {
    return ops::full_softmax_ce(v[0], v[1], targets.data(), opt);
  }, {hs, items}, rng);
  Tensor<T> want_dh({N, d});
  for (index_t i = 0; i < want_dh.size(); ++i) want_dh[i] = static_cast<T>(s * ref.grads[0][i]);
  for (index_t chunk : {index_t(0), index_t(7)}) {
    auto dh = ctx.alloc<T>(h.shape()), de = ctx.alloc<T>({end - first, d});
    const double loss =
        cuda::full_softmax_ce(ctx, up(ctx, h), up(ctx, items), up(ctx, targets), first, end, T(s), chunk, dh, de);
    CHECK(loss == doctest::Approx(static_cast<double>(ref.y[0])).epsilon(tol<T>()));
    check_close(down(ctx, dh), want_dh, "CE window dh");
    check_close(down(ctx, de), ref.grads[1].slice(first, end), "CE window de");
  }
}

TEST_CASE_TEMPLATE("cuda device: cross attention (Lq != Lk) and packed attention with dropout", T, float, double) {
  METAREC_REQUIRE_GPU();
  cuda::Context ctx;
  Rng rng(24);
  const index_t B = 2, Lq = 3, Lk = 5, d = 6;
  const int H = 3;
  Tensor<T> q = random_t<T>({B, Lq, d}, rng), k = random_t<T>({B, Lk, d}, rng), v = random_t<T>({B, Lk, d}, rng);
  std::vector<std::uint8_t> mask = {1, 1, 0, 1, 0, 0, 1, 1, 1, 1};
  {
    ops::AttentionOptions opt{false, mask.data(), 0.25};
    auto ref = cpu_run<T>([&](Tape<T>&, const std::vector<Var<T>>& x) { return ops::attention(x[0], x[1], x[2], H, opt); },
                          {q, k, v}, rng, 7);
    cuda::AttentionArgs args;
    args.heads = H;
    args.dropout = 0.25;
    args.seed = Rng(7).next();
    auto dmask = up(ctx, mask);
    args.key_mask = dmask.data();
    check_attention(ctx, q, k, v, args, B * H * Lq * Lk, ref, "cross attention");
  }
  const std::vector<std::int32_t> offsets = {0, 4, 5, 8};  // lengths 4, 1, 3
  Tensor<T> pq = random_t<T>({8, d}, rng), pk = random_t<T>({8, d}, rng), pv = random_t<T>({8, d}, rng);
  auto ref = cpu_run<T>([&](Tape<T>&, const std::vector<Var<T>>& x) {
    return ops::packed_attention(x[0], x[1], x[2], H, offsets.data(), 3, true, 0.3);
  }, {pq, pk, pv}, rng, 9);
  check_packed_attention(ctx, pq, pk, pv, offsets, H, true, 0.3, Rng(9).next(), ref, "packed dropout");
}

TEST_CASE_TEMPLATE("cuda device: GRU without a mask, one step, and partial gradients", T, float, double) {
  METAREC_REQUIRE_GPU();
  cuda::Context ctx;
  Rng rng(25);
  for (index_t L : {index_t(1), index_t(4)}) {
    const index_t B = 2, Hd = 3;
    Tensor<T> gi = random_t<T>({B, L, 3 * Hd}, rng), w = random_t<T>({3 * Hd, Hd}, rng), b = random_t<T>({3 * Hd}, rng);
    auto ref = cpu_run<T>([&](Tape<T>&, const std::vector<Var<T>>& v) {
      return ops::detail::gru_recurrence(v[0], v[1], v[2], nullptr);
    }, {gi, w, b}, rng);
    auto y = ctx.alloc<T>({B, L, Hd}), gates = ctx.alloc<T>({B, L, 4 * Hd});
    auto dw = up(ctx, w);
    cuda::gru_recurrence_forward(ctx, up(ctx, gi), dw, up(ctx, b), nullptr, y, gates);
    check_close(down(ctx, y), ref.y, "gru y (no mask)");
    auto gw = ctx.zeros<T>(w.shape());  // only dW_hh wanted: no d gi, no d b_hh
    cuda::gru_recurrence_backward(ctx, dw, nullptr, y, gates, up(ctx, ref.seed), DeviceTensor<T>(), gw,
                                  DeviceTensor<T>());
    check_close(down(ctx, gw), ref.grads[1], "gru d W_hh alone");
  }
}

TEST_CASE("cuda device: backward ops name a gradient or saved tensor of the wrong shape") {
  METAREC_REQUIRE_GPU();
  cuda::Context ctx;
  auto x = ctx.zeros<float>({4, 3}), w = ctx.zeros<float>({2, 3}), g = ctx.zeros<float>({4, 2});
  CHECK_THROWS_WITH_AS(cuda::linear_backward(ctx, x, w, g, DeviceTensor<float>(), ctx.zeros<float>({3, 3}),
                                             DeviceTensor<float>()),
                       doctest::Contains("gw"), ShapeError);
  CHECK_THROWS_WITH_AS(cuda::layer_norm_backward(ctx, x, ctx.zeros<float>({3}), DeviceTensor<float>(),
                                                 DeviceTensor<float>(), x, x, DeviceTensor<float>(),
                                                 DeviceTensor<float>()),
                       doctest::Contains("mean and rstd"), ShapeError);
  CHECK_THROWS_WITH_AS(cuda::sum_backward(ctx, x, 1.0, x), doctest::Contains("one element"), ShapeError);
  auto ids = ctx.zeros<std::int32_t>({5});
  CHECK_THROWS_WITH_AS(cuda::embedding_backward(ctx, x, ids, 0, w), doctest::Contains("ids of a table"), ShapeError);
}
