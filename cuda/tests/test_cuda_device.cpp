// Device tests, pointwise ops: every CUDA op against its CPU op (float and
// double, per-type tolerances). Without a GPU each case prints why it skipped.
#include <doctest/doctest.h>

#include "device_util.hpp"
#include "metarec/autograd.hpp"

using namespace metarec;
using namespace metarec::test;
using cuda::DeviceTensor;

TEST_CASE("cuda device: context, copies and the caching allocator's steady state") {
  METAREC_REQUIRE_GPU();
  cuda::Context ctx;
  Rng rng(1);
  Tensor<float> h = random_t<float>({17, 5}, rng);
  check_close(down(ctx, up(ctx, h)), h, "round trip", 0.0);
  std::size_t after_first = 0;
  for (int step = 0; step < 4; ++step) {  // same sizes every step: no cudaMalloc after the first
    auto a = ctx.alloc<float>({1000});
    auto b = ctx.zeros<float>({1 << 20});
    if (step == 0) after_first = ctx.allocator().stats().raw_allocations;
  }
  CHECK(ctx.allocator().stats().raw_allocations == after_first);
}

TEST_CASE_TEMPLATE("cuda device: gemm matches metarec::gemm for every transpose and beta", T, float, double) {
  METAREC_REQUIRE_GPU();
  cuda::Context ctx;
  Rng rng(2);
  const index_t M = 7, N = 5, K = 9;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (double beta : {0.0, 1.0, 0.5}) {
        Tensor<T> A = random_t<T>(ta ? Shape{K, M} : Shape{M, K}, rng), B = random_t<T>(tb ? Shape{N, K} : Shape{K, N}, rng);
        Tensor<T> C = random_t<T>({M, N}, rng), want = C.clone();
        gemm<T>(ta, tb, M, N, K, T(1.5), A.data(), A.cols(), B.data(), B.cols(), T(beta), want.data(), N);
        auto dC = up(ctx, C);
        cuda::gemm<T>(ctx, ta, tb, M, N, K, T(1.5), up(ctx, A).data(), A.cols(), up(ctx, B).data(), B.cols(), T(beta),
                      dC.data(), N);
        check_close(down(ctx, dC), want, "gemm");
      }
}

TEST_CASE_TEMPLATE("cuda device: elementwise, scale, sum, activations, softmax", T, float, double) {
  METAREC_REQUIRE_GPU();
  cuda::Context ctx;
  Rng rng(3);
  Tensor<T> a = random_t<T>({4, 3, 5}, rng), b = random_t<T>({5}, rng);
  for (auto k : {cuda::Binary::add, cuda::Binary::sub, cuda::Binary::mul}) {
    auto ref = cpu_run<T>([k](Tape<T>&, const std::vector<Var<T>>& v) {
      return k == cuda::Binary::add ? ops::add(v[0], v[1]) : k == cuda::Binary::sub ? ops::sub(v[0], v[1]) : ops::mul(v[0], v[1]);
    }, {a, b}, rng);
    auto y = ctx.alloc<T>(a.shape());
    auto ga = ctx.zeros<T>(a.shape()), gb = ctx.zeros<T>(b.shape());
    cuda::binary_forward(ctx, k, up(ctx, a), up(ctx, b), y);
    cuda::binary_backward(ctx, k, up(ctx, a), up(ctx, b), up(ctx, ref.seed), ga, gb);
    check_close(down(ctx, y), ref.y, "binary y");
    check_close(down(ctx, ga), ref.grads[0], "binary ga");
    check_close(down(ctx, gb), ref.grads[1], "binary gb");
  }
  {
    auto ref = cpu_run<T>([](Tape<T>&, const std::vector<Var<T>>& v) { return ops::mean(ops::scale(v[0], -2.5)); }, {a}, rng);
    auto s = ctx.alloc<T>(a.shape()), m = ctx.alloc<T>(Shape{}), gs = ctx.zeros<T>(a.shape()), ga = ctx.zeros<T>(a.shape());
    cuda::scale_forward(ctx, up(ctx, a), -2.5, s);
    cuda::sum_forward(ctx, s, 1.0 / a.size(), m);
    cuda::sum_backward(ctx, up(ctx, ref.seed), 1.0 / a.size(), gs);
    cuda::scale_backward(ctx, gs, -2.5, ga);
    check_close(down(ctx, m), ref.y, "mean(scale)");
    check_close(down(ctx, ga), ref.grads[0], "mean(scale) grad");
  }
  for (auto k : {cuda::Activation::relu, cuda::Activation::gelu, cuda::Activation::tanh, cuda::Activation::sigmoid}) {
    auto ref = cpu_run<T>([k](Tape<T>&, const std::vector<Var<T>>& v) {
      return k == cuda::Activation::relu ? ops::relu(v[0]) : k == cuda::Activation::gelu ? ops::gelu(v[0])
             : k == cuda::Activation::tanh ? ops::tanh(v[0]) : ops::sigmoid(v[0]);
    }, {a}, rng);
    auto y = ctx.alloc<T>(a.shape()), gx = ctx.zeros<T>(a.shape());
    cuda::activation_forward(ctx, k, up(ctx, a), y);
    cuda::activation_backward(ctx, k, up(ctx, a), y, up(ctx, ref.seed), gx);
    check_close(down(ctx, y), ref.y, "activation y");
    check_close(down(ctx, gx), ref.grads[0], "activation gx");
  }
  for (bool log : {false, true}) {
    auto ref = cpu_run<T>([log](Tape<T>&, const std::vector<Var<T>>& v) {
      return log ? ops::log_softmax(v[0]) : ops::softmax(v[0]);
    }, {a}, rng);
    auto y = ctx.alloc<T>(a.shape()), gx = ctx.zeros<T>(a.shape());
    cuda::softmax_forward(ctx, log, up(ctx, a), y);
    cuda::softmax_backward(ctx, log, y, up(ctx, ref.seed), gx);
    check_close(down(ctx, y), ref.y, "softmax y");
    check_close(down(ctx, gx), ref.grads[0], "softmax gx");
  }
}

TEST_CASE_TEMPLATE("cuda device: layer norm, l2 normalize, linear, embedding", T, float, double) {
  METAREC_REQUIRE_GPU();
  cuda::Context ctx;
  Rng rng(4);
  const index_t rows = 11, d = 12;
  Tensor<T> x = random_t<T>({rows, d}, rng), gamma = random_t<T>({d}, rng), beta = random_t<T>({d}, rng);
  {
    auto ref = cpu_run<T>([](Tape<T>&, const std::vector<Var<T>>& v) { return ops::layer_norm(v[0], v[1], v[2]); },
                          {x, gamma, beta}, rng);
    auto y = ctx.alloc<T>(x.shape()), mean = ctx.alloc<T>({rows}), rstd = ctx.alloc<T>({rows});
    auto gx = ctx.zeros<T>(x.shape()), gg = ctx.zeros<T>({d}), gb = ctx.zeros<T>({d});
    auto dx = up(ctx, x), dg = up(ctx, gamma);
    cuda::layer_norm_forward(ctx, dx, dg, up(ctx, beta), 1e-5, y, mean, rstd);
    cuda::layer_norm_backward(ctx, dx, dg, mean, rstd, up(ctx, ref.seed), gx, gg, gb);
    check_close(down(ctx, y), ref.y, "layer_norm y");
    check_close(down(ctx, gx), ref.grads[0], "layer_norm gx", 50 * tol<T>());
    check_close(down(ctx, gg), ref.grads[1], "layer_norm dgamma");
    check_close(down(ctx, gb), ref.grads[2], "layer_norm dbeta");
  }
  {
    auto ref = cpu_run<T>([](Tape<T>&, const std::vector<Var<T>>& v) { return ops::l2_normalize(v[0]); }, {x}, rng);
    auto y = ctx.alloc<T>(x.shape()), norm = ctx.alloc<T>({rows}), gx = ctx.zeros<T>(x.shape());
    cuda::l2_normalize_forward(ctx, up(ctx, x), 1e-12, y, norm);
    cuda::l2_normalize_backward(ctx, y, norm, 1e-12, up(ctx, ref.seed), gx);
    check_close(down(ctx, y), ref.y, "l2 y");
    check_close(down(ctx, gx), ref.grads[0], "l2 gx");
  }
  {
    Tensor<T> w = random_t<T>({7, d}, rng), b = random_t<T>({7}, rng);
    auto ref = cpu_run<T>([](Tape<T>&, const std::vector<Var<T>>& v) { return ops::linear(v[0], v[1], v[2]); },
                          {x, w, b}, rng);
    auto y = ctx.alloc<T>({rows, 7}), gx = ctx.zeros<T>(x.shape()), gw = ctx.zeros<T>(w.shape()), gb = ctx.zeros<T>({7});
    auto dx = up(ctx, x), dw = up(ctx, w);
    cuda::linear_forward(ctx, dx, dw, up(ctx, b), y);
    cuda::linear_backward(ctx, dx, dw, up(ctx, ref.seed), gx, gw, gb);
    check_close(down(ctx, y), ref.y, "linear y");
    check_close(down(ctx, gx), ref.grads[0], "linear gx");
    check_close(down(ctx, gw), ref.grads[1], "linear gw");
    check_close(down(ctx, gb), ref.grads[2], "linear gb");
  }
  {
    std::vector<std::int32_t> ids = {3, 0, 3, 10, 1, 3, 0};  // repeats and padding (0)
    auto ref = cpu_run<T>([&](Tape<T>&, const std::vector<Var<T>>& v) {
      return ops::embedding(v[0], ids.data(), Shape{7}, 0);
    }, {x}, rng);
    auto y = ctx.alloc<T>({7, d}), gt = ctx.zeros<T>(x.shape());
    auto dids = up(ctx, ids);
    cuda::embedding_forward(ctx, up(ctx, x), dids, y);
    cuda::embedding_backward(ctx, up(ctx, ref.seed), dids, 0, gt);
    check_close(down(ctx, y), ref.y, "embedding y", 0.0);
    check_close(down(ctx, gt), ref.grads[0], "embedding scatter-add");
  }
}
