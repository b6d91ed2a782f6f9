// Device tests, sequence ops: attention (padded and packed), GRU, chunked
// full-catalogue CE, top-K, and one SASRec-style training step composed of
// the device ops, all against the CPU. Without a GPU each case skips.
#include <doctest/doctest.h>

#include <span>

#include "device_util.hpp"
#include "metarec/autograd.hpp"
#include "metarec/eval/ranking.hpp"

using namespace metarec;
using namespace metarec::test;
using cuda::DeviceTensor;

TEST_CASE_TEMPLATE("cuda device: attention, padded (causal, key mask, dropout) and packed", T, float, double) {
  METAREC_REQUIRE_GPU();
  cuda::Context ctx;
  Rng rng(5);
  const index_t B = 3, L = 6, d = 8;
  const int H = 2;
  Tensor<T> q = random_t<T>({B, L, d}, rng), k = random_t<T>({B, L, d}, rng), v = random_t<T>({B, L, d}, rng);
  std::vector<std::uint8_t> mask(B * L, 1);
  mask[0] = mask[1] = 0;
  for (double dropout : {0.0, 0.2}) {
    ops::AttentionOptions opt{true, mask.data(), dropout};
    auto ref = cpu_run<T>([&](Tape<T>&, const std::vector<Var<T>>& x) { return ops::attention(x[0], x[1], x[2], H, opt); },
                          {q, k, v}, rng, 42);
    cuda::AttentionArgs args;
    args.heads = H;
    args.causal = true;
    args.dropout = dropout;
    args.seed = dropout > 0 ? Rng(42).next() : 0;
    auto dmask = up(ctx, mask);
    args.key_mask = dmask.data();
    check_attention(ctx, q, k, v, args, B * H * L * L, ref, "attention");
  }
  // packed: lengths 3, 0, 1, 5
  const std::vector<std::int32_t> offsets = {0, 3, 3, 4, 9};
  Tensor<T> pq = random_t<T>({9, d}, rng), pk = random_t<T>({9, d}, rng), pv = random_t<T>({9, d}, rng);
  auto ref = cpu_run<T>([&](Tape<T>&, const std::vector<Var<T>>& x) {
    return ops::packed_attention(x[0], x[1], x[2], H, offsets.data(), 4, true);
  }, {pq, pk, pv}, rng);
  check_packed_attention(ctx, pq, pk, pv, offsets, H, true, 0.0, 0, ref, "packed");
}

TEST_CASE_TEMPLATE("cuda device: GRU recurrence with padding", T, float, double) {
  METAREC_REQUIRE_GPU();
  cuda::Context ctx;
  Rng rng(6);
  const index_t B = 3, L = 5, Hd = 4;
  Tensor<T> gi = random_t<T>({B, L, 3 * Hd}, rng), w = random_t<T>({3 * Hd, Hd}, rng), b = random_t<T>({3 * Hd}, rng);
  std::vector<std::uint8_t> mask = {0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0};
  auto ref = cpu_run<T>([&](Tape<T>&, const std::vector<Var<T>>& v) {
    return ops::detail::gru_recurrence(v[0], v[1], v[2], mask.data());
  }, {gi, w, b}, rng);
  auto dmask = up(ctx, mask);
  auto y = ctx.alloc<T>({B, L, Hd}), gates = ctx.alloc<T>({B, L, 4 * Hd});
  auto ggi = ctx.zeros<T>(gi.shape()), gw = ctx.zeros<T>(w.shape()), gb = ctx.zeros<T>(b.shape());
  auto dw = up(ctx, w);
  cuda::gru_recurrence_forward(ctx, up(ctx, gi), dw, up(ctx, b), dmask.data(), y, gates);
  cuda::gru_recurrence_backward(ctx, dw, dmask.data(), y, gates, up(ctx, ref.seed), ggi, gw, gb);
  check_close(down(ctx, y), ref.y, "gru y");
  check_close(down(ctx, ggi), ref.grads[0], "gru d gi");
  check_close(down(ctx, gw), ref.grads[1], "gru d W_hh");
  check_close(down(ctx, gb), ref.grads[2], "gru d b_hh");
}

TEST_CASE_TEMPLATE("cuda device: chunked full-catalogue CE and top-K", T, float, double) {
  METAREC_REQUIRE_GPU();
  cuda::Context ctx;
  Rng rng(7);
  const index_t N = 37, d = 16, n = 1001;
  Tensor<T> h = random_t<T>({N, d}, rng), items = random_t<T>({n, d}, rng);
  std::vector<std::int32_t> targets(N);
  for (auto& t : targets) t = static_cast<std::int32_t>(1 + rng.below(n - 1));
  auto ref = cpu_run<T>([&](Tape<T>&, const std::vector<Var<T>>& v) {
    return ops::full_softmax_ce(v[0], v[1], targets.data());
  }, {h, items}, rng);
  for (index_t chunk : {index_t(0), index_t(97), index_t(5000)}) {
    auto dh = ctx.alloc<T>(h.shape()), de = ctx.alloc<T>({n - 1, d});
    const double loss = cuda::full_softmax_ce(ctx, up(ctx, h), up(ctx, items), up(ctx, targets), 1, n, T(1), chunk, dh, de);
    CHECK(loss == doctest::Approx(static_cast<double>(ref.y[0])).epsilon(tol<T>()));
    check_close(down(ctx, dh), ref.grads[0], "CE dh");
    check_close(down(ctx, de), ref.grads[1].slice(1, n), "CE de");
  }
  // top-K over score rows with ties
  Tensor<T> scores({5, n});
  for (index_t i = 0; i < scores.size(); ++i) scores[i] = static_cast<T>(std::round(rng.uniform(-3, 3) * 8) / 8);
  auto ids = ctx.alloc<std::int32_t>({5, 50});
  cuda::top_k(ctx, up(ctx, scores), 50, ids);
  Tensor<std::int32_t> got = down(ctx, ids);
  for (index_t r = 0; r < 5; ++r) {
    const auto want = eval::top_k<T>(std::span<const T>(scores.data() + r * n, static_cast<std::size_t>(n)), 50);
    for (index_t m = 0; m < 50; ++m) CHECK(got(r, m) == want[static_cast<std::size_t>(m)]);
  }
}

// One SASRec-style step (embedding + positions, layer norm, causal
// self-attention with projections, residual, tied full-catalogue CE), on the
// CPU tape and composed from the device ops; loss and every gradient agree.
TEST_CASE_TEMPLATE("cuda device: a SASRec-style training step matches the CPU tape", T, float, double) {
  METAREC_REQUIRE_GPU();
  cuda::Context ctx;
  Rng rng(8);
  const index_t B = 4, L = 5, d = 8, n = 50;
  const int H = 2;
  std::vector<std::int32_t> ids(B * L), targets(B * L);
  for (auto& i : ids) i = static_cast<std::int32_t>(1 + rng.below(n - 1));
  for (auto& t : targets) t = static_cast<std::int32_t>(1 + rng.below(n - 1));
  Tensor<T> E = random_t<T>({n, d}, rng), pos = random_t<T>({L, d}, rng), g = random_t<T>({d}, rng, 0.5, 1.5),
            be = random_t<T>({d}, rng), Wq = random_t<T>({d, d}, rng), Wo = random_t<T>({d, d}, rng);
  auto ref = cpu_run<T>([&](Tape<T>&, const std::vector<Var<T>>& p) {
    Var<T> x = ops::add(ops::embedding(p[0], ids.data(), Shape{B, L}), p[1]);
    Var<T> z = ops::layer_norm(x, p[2], p[3]);
    Var<T> qkv = ops::linear(z, p[4]);
    Var<T> a = ops::attention(qkv, qkv, qkv, H, ops::AttentionOptions{true, nullptr, 0.0});
    Var<T> hdn = ops::add(x, ops::linear(a, p[5]));
    return ops::full_softmax_ce(ops::reshape(hdn, Shape{B * L, d}), p[0], targets.data());
  }, {E, pos, g, be, Wq, Wo}, rng);

  auto dE = up(ctx, E), dpos = up(ctx, pos), dg = up(ctx, g), dbe = up(ctx, be), dWq = up(ctx, Wq), dWo = up(ctx, Wo);
  auto dids = up(ctx, ids), dtg = up(ctx, targets);
  const Shape s3{B, L, d};
  auto emb = ctx.alloc<T>(s3), x = ctx.alloc<T>(s3), z = ctx.alloc<T>(s3), mean = ctx.alloc<T>({B * L}),
       rstd = ctx.alloc<T>({B * L}), qkv = ctx.alloc<T>(s3), P = ctx.alloc<T>({B * H * L * L}), a = ctx.alloc<T>(s3),
       o = ctx.alloc<T>(s3), hdn = ctx.alloc<T>(s3);
  cuda::embedding_forward(ctx, dE, dids, emb);
  cuda::binary_forward(ctx, cuda::Binary::add, emb, dpos, x);
  cuda::layer_norm_forward(ctx, x, dg, dbe, 1e-5, z, mean, rstd);
  cuda::linear_forward(ctx, z, dWq, DeviceTensor<T>(), qkv);
  cuda::AttentionArgs args;
  args.heads = H;
  args.causal = true;
  cuda::attention_forward(ctx, qkv, qkv, qkv, args, P, P, a);
  cuda::linear_forward(ctx, a, dWo, DeviceTensor<T>(), o);
  cuda::binary_forward(ctx, cuda::Binary::add, x, o, hdn);
  // backward, in reverse order of the tape
  auto gh = ctx.alloc<T>({B * L, d}), gE = ctx.zeros<T>(E.shape()), gE_ce = ctx.alloc<T>({n - 1, d});
  const double loss = cuda::full_softmax_ce(ctx, hdn.reshape({B * L, d}), dE, dtg, 1, n, T(1), 0, gh, gE_ce);
  CHECK(loss == doctest::Approx(static_cast<double>(ref.y[0])).epsilon(tol<T>()));
  cuda::scale_backward(ctx, gE_ce, 1.0, gE.slice(1, n));  // gE[1:] += dCE (the tied output table)
  auto gx = ctx.zeros<T>(s3), go = ctx.zeros<T>(s3), ga = ctx.zeros<T>(s3), gqkv = ctx.zeros<T>(s3), gz = ctx.zeros<T>(s3);
  auto gWo = ctx.zeros<T>(Wo.shape()), gWq = ctx.zeros<T>(Wq.shape()), gg = ctx.zeros<T>({d}), gbe = ctx.zeros<T>({d}),
       gpos = ctx.zeros<T>(pos.shape()), gemb = ctx.zeros<T>(s3);
  const auto ghr = gh.reshape(s3);
  cuda::binary_backward(ctx, cuda::Binary::add, x, o, ghr, gx, go);
  cuda::linear_backward(ctx, a, dWo, go, ga, gWo, DeviceTensor<T>());
  cuda::attention_backward(ctx, qkv, qkv, qkv, args, P, P, ga, gqkv, gqkv, gqkv);
  cuda::linear_backward(ctx, z, dWq, gqkv, gz, gWq, DeviceTensor<T>());
  cuda::layer_norm_backward(ctx, x, dg, mean, rstd, gz, gx, gg, gbe);
  cuda::binary_backward(ctx, cuda::Binary::add, emb, dpos, gx, gemb, gpos);
  cuda::embedding_backward(ctx, gemb, dids, -1, gE);
  const double t = 20 * tol<T>();  // a whole step: errors compound
  check_close(down(ctx, gE), ref.grads[0], "dE", t);
  check_close(down(ctx, gpos), ref.grads[1], "dpos", t);
  check_close(down(ctx, gg), ref.grads[2], "dgamma", t);
  check_close(down(ctx, gbe), ref.grads[3], "dbeta", t);
  check_close(down(ctx, gWq), ref.grads[4], "dWq", t);
  check_close(down(ctx, gWo), ref.grads[5], "dWo", t);
}
