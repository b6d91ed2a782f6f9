#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

#include "metarec/autograd.hpp"
#include "metarec/autograd/gradcheck.hpp"
#include "metarec/autograd/ops/gru.hpp"
#include "metarec/nn/gru.hpp"

using namespace metarec;
using V = Var<double>;
using Inputs = const std::vector<V>&;
using Mask = std::vector<std::uint8_t>;

namespace {

double sig(double a) { return 1.0 / (1.0 + std::exp(-a)); }

/// Reference GRU, one scalar at a time, straight from the PyTorch nn.GRU equations.
Tensor<double> naive_gru(const Tensor<double>& x, const Tensor<double>& wih, const Tensor<double>& whh,
                         const Tensor<double>& bih, const Tensor<double>& bhh, const std::uint8_t* mask) {
  const index_t B = x.dim(0), L = x.dim(1), in = x.dim(2), H = whh.dim(1);
  Tensor<double> y({B, L, H});
  for (index_t b = 0; b < B; ++b) {
    std::vector<double> h(static_cast<std::size_t>(H), 0.0), nh(h);
    for (index_t t = 0; t < L; ++t) {
      if (!mask || mask[b * L + t]) {
        for (index_t j = 0; j < H; ++j) {
          double gi[3], gh[3];
          for (int g = 0; g < 3; ++g) {
            gi[g] = bih[g * H + j];
            gh[g] = bhh[g * H + j];
            for (index_t c = 0; c < in; ++c) gi[g] += wih(g * H + j, c) * x(b, t, c);
            for (index_t c = 0; c < H; ++c) gh[g] += whh(g * H + j, c) * h[static_cast<std::size_t>(c)];
          }
          const double r = sig(gi[0] + gh[0]), z = sig(gi[1] + gh[1]), n = std::tanh(gi[2] + r * gh[2]);
          nh[static_cast<std::size_t>(j)] = (1 - z) * n + z * h[static_cast<std::size_t>(j)];
        }
        h = nh;
      }
      for (index_t j = 0; j < H; ++j) y(b, t, j) = h[static_cast<std::size_t>(j)];
    }
  }
  return y;
}

struct GruCase {
  const char* what;
  index_t B, L, in, H;
  Mask mask;  // empty = none
};

std::vector<GruCase> gru_cases() {
  return {
      {"no mask", 2, 4, 3, 5, {}},
      {"L = 1", 3, 1, 2, 3, {}},
      {"left padding, a fully masked row", 3, 4, 3, 4, {0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1}},
      {"holes in the middle", 2, 5, 2, 3, {1, 0, 1, 0, 1, 0, 1, 1, 0, 1}},
      {"L = 1, masked", 2, 1, 3, 2, {0, 1}},
  };
}

std::vector<Tensor<double>> random_inputs(const GruCase& c, Rng& rng) {
  return {random_tensor({c.B, c.L, c.in}, rng, -1.5, 1.5), random_tensor({3 * c.H, c.in}, rng),
          random_tensor({3 * c.H, c.H}, rng), random_tensor({3 * c.H}, rng), random_tensor({3 * c.H}, rng)};
}

const std::uint8_t* ptr(const Mask& m) { return m.empty() ? nullptr : m.data(); }

}  // namespace

TEST_CASE("gru: one step and a second step, by hand") {
  // in = 2, h = 1; rows of w_ih / w_hh are the r, z, n gates.
  Tensor<double> x({1, 2, 2}), wih({3, 2}), whh({3, 1}), bih({3}), bhh({3});
  const double xs[] = {1, -1, 0, 2}, wi[] = {0.5, 0.2, -0.3, 0.1, 0.4, -0.6}, wh[] = {0.7, -0.2, 0.3},
               bi[] = {0.1, 0.2, -0.1}, bh[] = {0.05, -0.05, 0.2};
  std::copy_n(xs, 4, x.data());
  std::copy_n(wi, 6, wih.data());
  std::copy_n(wh, 3, whh.data());
  std::copy_n(bi, 3, bih.data());
  std::copy_n(bh, 3, bhh.data());
  Tape<double> t;
  auto y = ops::gru(t.leaf(x), t.leaf(wih), t.leaf(whh), t.leaf(bih), t.leaf(bhh)).value();
  // step 1, h0 = 0: the hidden-side terms are just the biases
  const double r1 = sig(0.5 - 0.2 + 0.1 + 0.05), z1 = sig(-0.3 - 0.1 + 0.2 - 0.05);
  const double n1 = std::tanh(0.4 + 0.6 - 0.1 + r1 * 0.2), h1 = (1 - z1) * n1;
  // step 2, x = (0, 2)
  const double r2 = sig(0.4 + 0.1 + 0.7 * h1 + 0.05), z2 = sig(0.2 + 0.2 - 0.2 * h1 - 0.05);
  const double n2 = std::tanh(-1.2 - 0.1 + r2 * (0.3 * h1 + 0.2)), h2 = (1 - z2) * n2 + z2 * h1;
  CHECK(y[0] == doctest::Approx(h1).epsilon(1e-14));
  CHECK(y[1] == doctest::Approx(h2).epsilon(1e-14));
}

TEST_CASE("gru: values match a naive reference, with and without mask") {
  Rng rng(21);
  for (const GruCase& c : gru_cases()) {
    CAPTURE(c.what);
    auto in = random_inputs(c, rng);
    Tape<double> t;
    auto y = ops::gru(t.leaf(in[0]), t.leaf(in[1]), t.leaf(in[2]), t.leaf(in[3]), t.leaf(in[4]), ptr(c.mask)).value();
    auto ref = naive_gru(in[0], in[1], in[2], in[3], in[4], ptr(c.mask));
    REQUIRE(y.shape() == ref.shape());
    CHECK(max_abs_difference(y, ref) < 1e-13);
  }
}

TEST_CASE("gru: left padding keeps h = 0 until the first real item") {
  Rng rng(22);
  GruCase c{"", 2, 4, 3, 4, {0, 0, 1, 1, 0, 0, 0, 0}};
  auto in = random_inputs(c, rng);
  Tape<double> t;
  auto y = ops::gru(t.leaf(in[0]), t.leaf(in[1]), t.leaf(in[2]), t.leaf(in[3]), t.leaf(in[4]), c.mask.data()).value();
  for (index_t j = 0; j < 4; ++j) {
    CHECK(y(0, 0, j) == 0.0);
    CHECK(y(0, 1, j) == 0.0);
    CHECK(y(0, 2, j) != 0.0);
    for (index_t s = 0; s < 4; ++s) CHECK(y(1, s, j) == 0.0);
  }
}

TEST_CASE("gru: gradcheck for x and all four weights") {
  Rng rng(23);
  for (const GruCase& c : gru_cases()) {
    CAPTURE(c.what);
    auto r = gradcheck(
        [&](Tape<double>&, Inputs v) { return ops::gru(v[0], v[1], v[2], v[3], v[4], ptr(c.mask)); },
        random_inputs(c, rng));
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  }
  // Two stacked layers sharing one mask, and a subset of inputs wanting gradients.
  GruCase c = gru_cases()[2];
  auto in = random_inputs(c, rng);
  in.push_back(random_tensor({3 * c.H, c.H}, rng));
  in.push_back(random_tensor({3 * c.H, c.H}, rng));
  auto two = [&](Tape<double>&, Inputs v) {
    auto h = ops::gru(v[0], v[1], v[2], v[3], v[4], ptr(c.mask));
    return ops::gru(h, v[5], v[6], v[3], v[4], ptr(c.mask));
  };
  auto r = gradcheck(two, in);
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  r = gradcheck(two, in, {false, false, true, false, true, true, false});
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
}

TEST_CASE("gru: shape errors name the op and the shapes") {
  Tape<float> t;
  auto x = t.leaf(Tensor<float>({2, 3, 4}));
  auto wih = t.leaf(Tensor<float>({15, 4})), whh = t.leaf(Tensor<float>({15, 5})), b = t.leaf(Tensor<float>({15}));
  CHECK_NOTHROW(ops::gru(x, wih, whh, b, b));
  CHECK_THROWS_WITH_AS(ops::gru(t.leaf(Tensor<float>({2, 3, 3})), wih, whh, b, b),
                       doctest::Contains("gru: w_ih has shape [15, 4], expected [15, 3]"), ShapeError);
  CHECK_THROWS_AS(ops::gru(t.leaf(Tensor<float>({6, 4})), wih, whh, b, b), ShapeError);
  CHECK_THROWS_AS(ops::gru(x, wih, t.leaf(Tensor<float>({12, 5})), b, b), ShapeError);
  CHECK_THROWS_AS(ops::gru(x, wih, whh, t.leaf(Tensor<float>({14})), b), ShapeError);
  CHECK_THROWS_AS(ops::gru(x, wih, whh, b, t.leaf(Tensor<float>({5}))), ShapeError);
}

TEST_CASE("GRU module: PyTorch names, init range, stacked layers") {
  nn::ParameterStore<double> store;
  Rng rng(24);
  nn::GRU<double> gru(store, "enc", 3, 4, rng, 2);
  CHECK(store.size() == 8);
  CHECK(store.at("enc.weight_ih_l0").value.shape() == Shape{12, 3});
  CHECK(store.at("enc.weight_ih_l1").value.shape() == Shape{12, 4});
  CHECK(store.at("enc.weight_hh_l1").value.shape() == Shape{12, 4});
  CHECK(store.at("enc.bias_hh_l0").value.shape() == Shape{12});
  for (auto* p : store.all())
    for (double w : p->value) CHECK(std::abs(w) <= 0.5);
  CHECK(gru.num_layers() == 2);
  CHECK(gru.hidden_size() == 4);

  auto x = random_tensor({2, 3, 3}, rng);
  Mask mask{1, 1, 1, 0, 1, 1};
  Tape<double> t;
  auto y = gru(t, t.leaf(x), mask.data());
  CHECK(y.shape() == Shape{2, 3, 4});
  auto p = [&](const char* n) { return t.param(store.at(n)); };
  auto h = ops::gru(t.leaf(x), p("enc.weight_ih_l0"), p("enc.weight_hh_l0"), p("enc.bias_ih_l0"), p("enc.bias_hh_l0"),
                    mask.data());
  h = ops::gru(h, p("enc.weight_ih_l1"), p("enc.weight_hh_l1"), p("enc.bias_ih_l1"), p("enc.bias_hh_l1"), mask.data());
  for (index_t i = 0; i < y.value().size(); ++i) CHECK(y.value()[i] == h.value()[i]);

  nn::ParameterStore<float> s2;
  CHECK_THROWS_AS(nn::GRU<float>(s2, "bad", 3, 0, rng), ConfigError);
}

TEST_CASE("gru: steady-state steps allocate nothing; timing B=256 L=50 in=h=64 (float)") {
  const index_t B = 256, L = 50, d = 64;
  Rng rng(25);
  auto fill = [&](Shape s) {
    Tensor<float> x(s);
    for (auto& e : x) e = static_cast<float>(rng.uniform(-0.2, 0.2));
    return x;
  };
  Tensor<float> x = fill({B, L, d}), wih = fill({3 * d, d}), whh = fill({3 * d, d}), bih = fill({3 * d}),
                bhh = fill({3 * d}), seed = fill({B, L, d});
  Mask mask(static_cast<std::size_t>(B * L), 1);
  for (index_t b = 0; b < B; ++b)
    for (index_t j = 0; j < (b * 7) % L; ++j) mask[static_cast<std::size_t>(b * L + j)] = 0;
  Tape<float> t(1);
  std::size_t allocs = 0;
  const int warm = 2, reps = 2;  // the arena reaches its steady size after two steps
  double ms = 0, best = 1e300;
  for (int step = 0; step < warm + reps; ++step) {
    auto t0 = std::chrono::steady_clock::now();
    t.reset();
    auto y = ops::gru(t.leaf(x, true), t.leaf(wih, true), t.leaf(whh, true), t.leaf(bih, true), t.leaf(bhh, true),
                      mask.data());
    t.backward(y, seed);
    auto t1 = std::chrono::steady_clock::now();
    if (step == warm - 1) allocs = t.workspace().heap_allocations();
    const double step_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    if (step >= warm) ms += step_ms / reps, best = std::min(best, step_ms);
  }
  CHECK(t.workspace().heap_allocations() == allocs);
  std::printf("[timing] gru fwd+bwd float B=256 L=50 in=h=64 with padding: mean %.2f ms, best %.2f ms (%d threads)\n", ms,
              best, num_threads());
}

TEST_CASE("gru: the batch-chunked parallel path matches the serial one") {
  // Large enough that the work crosses parallel_grain; 3 threads give 3 uneven chunks of B = 8.
  Rng rng(26);
  GruCase c{"", 8, 9, 5, 16, Mask(72, 1)};
  for (index_t b = 0; b < 8; ++b)
    for (index_t j = 0; j < b; ++j) c.mask[static_cast<std::size_t>(b * 9 + j)] = 0;  // left padding, row 7 nearly empty
  auto in = random_inputs(c, rng);
  auto seed = random_tensor({c.B, c.L, c.H}, rng);
  auto run = [&](int threads) {
    const int before = num_threads();
    set_num_threads(threads);
    Tape<double> t;
    std::vector<V> v;
    for (auto& x : in) v.push_back(t.leaf(x, true));
    auto y = ops::gru(v[0], v[1], v[2], v[3], v[4], c.mask.data());
    t.backward(y, seed);
    std::vector<Tensor<double>> out{y.value().clone()};
    for (auto& x : v) out.push_back(t.grad_of(x).clone());
    set_num_threads(before);
    return out;
  };
  auto serial = run(1), parallel = run(3);
  for (std::size_t k = 0; k < serial.size(); ++k) {
    CAPTURE(k);
    CHECK(max_abs_difference(serial[k], parallel[k]) < 1e-12);
  }
}

TEST_CASE("gru: left-padded batches run packed and equal the masked path, values and gradients") {
  // Random lengths (some rows empty, some full), 1 and 3 threads: the packed order must not matter.
  Rng rng(27);
  const index_t B = 11, L = 7, in_dim = 4, H = 6;
  Mask mask(static_cast<std::size_t>(B * L), 0);
  for (index_t b = 0; b < B; ++b) {
    const index_t len = b == 0 ? 0 : b == 1 ? L : static_cast<index_t>(rng.below(static_cast<std::uint64_t>(L + 1)));
    for (index_t j = L - len; j < L; ++j) mask[static_cast<std::size_t>(b * L + j)] = 1;
  }
  GruCase c{"", B, L, in_dim, H, mask};
  auto in = random_inputs(c, rng);
  auto seed = random_tensor({B, L, H}, rng);
  auto run = [&](bool packed, int threads) {
    const int before = num_threads();
    set_num_threads(threads);
    Tape<double> t;
    std::vector<V> v;
    for (auto& x : in) v.push_back(t.leaf(x, true));
    auto y = ops::detail::gru_recurrence(ops::linear(v[0], v[1], v[3]), v[2], v[4], mask.data(), packed);
    CHECK((t.node(y).ptr[1] != nullptr) == packed);
    t.backward(y, seed);
    std::vector<Tensor<double>> out{y.value().clone()};
    for (auto& x : v) out.push_back(t.grad_of(x).clone());
    set_num_threads(before);
    return out;
  };
  const auto ref = run(false, 1);
  for (int threads : {1, 3}) {
    const auto got = run(true, threads);
    for (std::size_t k = 0; k < ref.size(); ++k) {
      CAPTURE(threads);
      CAPTURE(k);
      CHECK(max_abs_difference(ref[k], got[k]) < 1e-12);
    }
  }
  // A mask with a hole falls back to the masked path.
  Mask holes = mask;
  holes[static_cast<std::size_t>(1 * L + 3)] = 0;
  Tape<double> t;
  auto y = ops::detail::gru_recurrence(ops::linear(t.leaf(in[0]), t.leaf(in[1]), t.leaf(in[3])), t.leaf(in[2]),
                                       t.leaf(in[4]), holes.data());
  CHECK(t.node(y).ptr[1] == nullptr);
}
