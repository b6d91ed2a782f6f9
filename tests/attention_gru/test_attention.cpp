#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

#include "metarec/autograd.hpp"
#include "metarec/autograd/gradcheck.hpp"
#include "metarec/autograd/ops/attention.hpp"
#include "metarec/nn/attention.hpp"

using namespace metarec;
using V = Var<double>;
using Inputs = const std::vector<V>&;
using Mask = std::vector<std::uint8_t>;

namespace {

/// Straightforward reference: per batch, head, query a masked softmax over the keys, then the weighted sum.
Tensor<double> naive_attention(const Tensor<double>& q, const Tensor<double>& k, const Tensor<double>& v, int heads,
                               bool causal, const std::uint8_t* key_mask) {
  const index_t B = q.dim(0), Lq = q.dim(1), Lk = k.dim(1), d = q.dim(2), dh = d / heads;
  Tensor<double> out(q.shape());
  for (index_t b = 0; b < B; ++b)
    for (index_t h = 0; h < heads; ++h)
      for (index_t i = 0; i < Lq; ++i) {
        std::vector<double> w(static_cast<std::size_t>(Lk), 0.0);
        double mx = -1e300, total = 0;
        bool any = false;
        auto allowed = [&](index_t j) { return (!causal || j <= i) && (!key_mask || key_mask[b * Lk + j]); };
        for (index_t j = 0; j < Lk; ++j) {
          if (!allowed(j)) continue;
          double s = 0;
          for (index_t c = 0; c < dh; ++c) s += q(b, i, h * dh + c) * k(b, j, h * dh + c);
          w[static_cast<std::size_t>(j)] = s / std::sqrt(static_cast<double>(dh));
          mx = std::max(mx, w[static_cast<std::size_t>(j)]);
          any = true;
        }
        if (!any) continue;  // stays zero
        for (index_t j = 0; j < Lk; ++j) {
          auto& e = w[static_cast<std::size_t>(j)];
          e = allowed(j) ? std::exp(e - mx) : 0.0;
          total += e;
        }
        for (index_t j = 0; j < Lk; ++j)
          for (index_t c = 0; c < dh; ++c) out(b, i, h * dh + c) += w[static_cast<std::size_t>(j)] / total * v(b, j, h * dh + c);
      }
  return out;
}

struct Case {
  const char* what;
  index_t B, Lq, Lk, d;
  int heads;
  bool causal;
  Mask mask;  // empty = none
  double dropout = 0.0;
};

std::vector<Case> cases() {
  return {
      {"self, non-causal, d=6 heads=3", 2, 4, 4, 6, 3, false, {}},
      {"self, causal, one head", 2, 5, 5, 4, 1, true, {}},
      {"cross, Lq != Lk", 2, 3, 5, 4, 2, false, {}},
      {"key padding incl. a fully masked row", 3, 3, 4, 4, 2, false, {1, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1}},
      {"causal + left padding (padded queries see no key)", 2, 4, 4, 6, 2, true, {0, 0, 1, 1, 1, 1, 1, 1}},
      {"length 1", 3, 1, 1, 5, 1, true, {}},
      {"length 1 keys, fully masked row", 2, 2, 1, 4, 4, false, {1, 0}},
      {"dropout 0.3", 2, 4, 4, 4, 2, true, {}, 0.3},
      {"dropout 0.5 + key padding", 2, 3, 5, 6, 3, false, {1, 1, 1, 0, 0, 0, 1, 1, 0, 1}, 0.5},
  };
}

ops::AttentionOptions options(const Case& c) { return {c.causal, c.mask.empty() ? nullptr : c.mask.data(), c.dropout}; }

}  // namespace

TEST_CASE("attention: values match a naive reference (eval mode)") {
  Rng rng(11);
  for (const Case& c : cases()) {
    CAPTURE(c.what);
    auto q = random_tensor({c.B, c.Lq, c.d}, rng, -2, 2), k = random_tensor({c.B, c.Lk, c.d}, rng, -2, 2),
         v = random_tensor({c.B, c.Lk, c.d}, rng);
    Tape<double> t;
    t.set_training(false);  // dropout off: must equal the reference exactly
    auto y = ops::attention(t.leaf(q), t.leaf(k), t.leaf(v), c.heads, options(c)).value();
    auto ref = naive_attention(q, k, v, c.heads, c.causal, c.mask.empty() ? nullptr : c.mask.data());
    REQUIRE(y.shape() == ref.shape());
    CHECK(max_abs_difference(y, ref) < 1e-12);
  }
}

TEST_CASE("attention: gradcheck for q, k, v") {
  Rng rng(12);
  for (const Case& c : cases()) {
    CAPTURE(c.what);
    auto q = random_tensor({c.B, c.Lq, c.d}, rng, -2, 2), k = random_tensor({c.B, c.Lk, c.d}, rng, -2, 2),
         v = random_tensor({c.B, c.Lk, c.d}, rng);
    auto r = gradcheck(
        [&](Tape<double>&, Inputs x) { return ops::attention(x[0], x[1], x[2], c.heads, options(c)); }, {q, k, v});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  }
}

TEST_CASE("attention: one input used as q, k and v accumulates all three gradients") {
  Rng rng(13);
  auto x = random_tensor({2, 4, 6}, rng);
  for (bool causal : {false, true}) {
    auto r = gradcheck(
        [&](Tape<double>&, Inputs v) { return ops::attention(v[0], v[0], v[0], 2, {causal, nullptr, 0.0}); }, {x});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  }
}

TEST_CASE("attention: a fully masked query row gives zero output and zero gradient, never NaN") {
  Rng rng(14);
  Mask mask{1, 1, 1, 0, 0, 0};  // batch row 1 has no real key
  auto q = random_tensor({2, 3, 4}, rng), k = random_tensor({2, 3, 4}, rng), v = random_tensor({2, 3, 4}, rng);
  Tape<double> t;
  auto vq = t.leaf(q, true), vk = t.leaf(k, true), vv = t.leaf(v, true);
  auto y = ops::attention(vq, vk, vv, 2, {false, mask.data(), 0.0});
  t.backward(y, Tensor<double>(y.shape(), 1.0));
  for (index_t i = 0; i < 3; ++i)
    for (index_t c = 0; c < 4; ++c) {
      CHECK(y.value()(1, i, c) == 0.0);
      CHECK(t.grad_of(vq)(1, i, c) == 0.0);
      CHECK(t.grad_of(vk)(1, i, c) == 0.0);
      CHECK(t.grad_of(vv)(1, i, c) == 0.0);
      CHECK(std::isfinite(y.value()(0, i, c)));
    }
  CHECK(t.grad_of(vv)(0, 0, 0) != 0.0);  // the real row does get gradients
}

TEST_CASE("attention: dropout is seeded, scaled, and off in eval mode") {
  Rng rng(15);
  auto q = random_tensor({4, 6, 8}, rng), k = random_tensor({4, 6, 8}, rng), v = random_tensor({4, 6, 8}, rng);
  auto run = [&](std::uint64_t seed, bool training, double p) {
    Tape<double> t(seed);
    t.set_training(training);
    return ops::attention(t.leaf(q), t.leaf(k), t.leaf(v), 2, {false, nullptr, p}).value().clone();
  };
  auto a = run(3, true, 0.4), b = run(3, true, 0.4), c = run(4, true, 0.4), e = run(3, false, 0.4);
  auto ref = naive_attention(q, k, v, 2, false, nullptr);
  CHECK(max_abs_difference(a, b) == 0.0);  // same tape seed, same masks
  CHECK(max_abs_difference(a, c) > 1e-3);  // another seed, other masks
  CHECK(max_abs_difference(e, ref) < 1e-12);
  // Inverted dropout keeps the expectation: averaged over many seeds the output approaches the reference.
  Tensor<double> avg(q.shape());
  const int n = 400;
  for (int s = 0; s < n; ++s) {
    auto y = run(100 + static_cast<std::uint64_t>(s), true, 0.4);
    for (index_t i = 0; i < y.size(); ++i) avg[i] += y[i] / n;
  }
  double mean_err = 0;
  for (index_t i = 0; i < avg.size(); ++i) mean_err += std::abs(avg[i] - ref[i]) / static_cast<double>(avg.size());
  CHECK(mean_err < 0.03);
}

TEST_CASE("attention: shape and option errors name the op and the sizes") {
  Tape<float> t;
  auto x = t.leaf(Tensor<float>({2, 3, 6})), y = t.leaf(Tensor<float>({2, 4, 6}));
  CHECK_THROWS_WITH_AS(ops::attention(x, x, x, 4), doctest::Contains("heads = 4 must be >= 1 and divide d = 6"),
                       ShapeError);
  CHECK_THROWS_AS(ops::attention(x, x, x, 0), ShapeError);
  CHECK_THROWS_WITH_AS(ops::attention(x, y, y, 2, {true, nullptr, 0.0}), doctest::Contains("causal masking needs Lq == Lk"),
                       ShapeError);
  CHECK_THROWS_AS(ops::attention(x, y, x, 2), ShapeError);                          // k, v differ
  CHECK_THROWS_AS(ops::attention(x, t.leaf(Tensor<float>({3, 3, 6})), t.leaf(Tensor<float>({3, 3, 6})), 2), ShapeError);
  CHECK_THROWS_AS(ops::attention(x, t.leaf(Tensor<float>({2, 3, 4})), t.leaf(Tensor<float>({2, 3, 4})), 2), ShapeError);
  CHECK_THROWS_AS(ops::attention(t.leaf(Tensor<float>({6, 6})), x, x, 2), ShapeError);
  CHECK_THROWS_AS(ops::attention(x, x, x, 2, {false, nullptr, 1.0}), ConfigError);
  CHECK_NOTHROW(ops::attention(x, y, y, 3));
}

TEST_CASE("MultiHeadAttention module: parameters, composition, errors") {
  nn::ParameterStore<double> store;
  Rng rng(16);
  nn::MultiHeadAttention<double> mha(store, "attn", 6, 3, 0.0, rng);
  CHECK(store.size() == 8);
  for (const char* p : {"attn.q.weight", "attn.k.bias", "attn.v.weight", "attn.out.bias"}) CHECK(store.find(p));
  CHECK(store.at("attn.q.bias").value[0] == 0.0);
  const double lim = std::sqrt(6.0 / 24.0);
  for (double w : store.at("attn.k.weight").value) CHECK(std::abs(w) <= lim);

  auto xq = random_tensor({2, 3, 6}, rng), xkv = random_tensor({2, 5, 6}, rng);
  Mask mask{1, 1, 1, 0, 0, 0, 1, 1, 1, 1};
  Tape<double> t;
  auto y = mha(t, t.leaf(xq), t.leaf(xkv), {false, mask.data(), 0.0});
  auto proj = [&](const char* n, const Tensor<double>& x) {
    return ops::linear(t.leaf(x), t.param(store.at(std::string("attn.") + n + ".weight")),
                       t.param(store.at(std::string("attn.") + n + ".bias")));
  };
  auto manual = ops::linear(ops::attention(proj("q", xq), proj("k", xkv), proj("v", xkv), 3, {false, mask.data(), 0.0}),
                            t.param(store.at("attn.out.weight")), t.param(store.at("attn.out.bias")));
  for (index_t i = 0; i < y.value().size(); ++i) CHECK(y.value()[i] == doctest::Approx(manual.value()[i]).epsilon(1e-12));
  // Gradients reach every projection.
  t.backward(ops::sum(ops::mul(y, y)));
  for (auto* p : store.all()) {
    double norm = 0;
    for (double g : p->grad) norm += g * g;
    CHECK_MESSAGE(norm > 0, p->name);
  }

  nn::ParameterStore<float> s2;
  CHECK_THROWS_WITH_AS(nn::MultiHeadAttention<float>(s2, "bad", 10, 3, 0.0, rng),
                       doctest::Contains("heads = 3 must be >= 1 and divide d = 10"), ConfigError);
  CHECK_THROWS_AS(nn::MultiHeadAttention<float>(s2, "bad2", 8, 2, 1.5, rng), ConfigError);
}

TEST_CASE("attention: steady-state steps allocate nothing; timing B=256 L=50 d=64 heads=2 (float)") {
  const index_t B = 256, L = 50, d = 64;
  Rng rng(17);
  Tensor<float> q({B, L, d}), k({B, L, d}), v({B, L, d}), seed({B, L, d});
  for (auto* x : {&q, &k, &v, &seed})
    for (auto& e : *x) e = static_cast<float>(rng.uniform(-1, 1));
  Mask mask(static_cast<std::size_t>(B * L), 1);
  for (index_t b = 0; b < B; ++b)
    for (index_t j = 0; j < (b * 7) % L; ++j) mask[static_cast<std::size_t>(b * L + j)] = 0;  // left padding
  Tape<float> t(1);
  std::size_t allocs = 0;
  const int warm = 2, reps = 5;
  double ms = 0, best = 1e300;
  for (int step = 0; step < warm + reps; ++step) {
    auto t0 = std::chrono::steady_clock::now();
    t.reset();
    auto y = ops::attention(t.leaf(q, true), t.leaf(k, true), t.leaf(v, true), 2, {true, mask.data(), 0.5});
    t.backward(y, seed);
    auto t1 = std::chrono::steady_clock::now();
    if (step == warm - 1) allocs = t.workspace().heap_allocations();
    const double step_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    if (step >= warm) ms += step_ms / reps, best = std::min(best, step_ms);
  }
  CHECK(t.workspace().heap_allocations() == allocs);
  std::printf("[timing] attention fwd+bwd float B=256 L=50 d=64 heads=2 causal+padding+dropout: "
              "mean %.2f ms, best %.2f ms (%d threads)\n",
              ms, best, num_threads());
}

TEST_CASE("attention: the parallel path matches the serial one") {
  // B * heads * Lq * Lk * dh crosses parallel_grain, so 3 threads split the (batch, head) tasks.
  Rng rng(18);
  const index_t B = 5, L = 16, d = 32;
  Mask mask(static_cast<std::size_t>(B * L), 1);
  for (index_t b = 0; b < B; ++b)
    for (index_t j = 0; j < 3 * b; ++j) mask[static_cast<std::size_t>(b * L + j)] = 0;
  auto q = random_tensor({B, L, d}, rng), k = random_tensor({B, L, d}, rng), v = random_tensor({B, L, d}, rng),
       seed = random_tensor({B, L, d}, rng);
  auto run = [&](int threads) {
    const int before = num_threads();
    set_num_threads(threads);
    Tape<double> t(5);
    auto vq = t.leaf(q, true), vk = t.leaf(k, true), vv = t.leaf(v, true);
    auto y = ops::attention(vq, vk, vv, 2, {true, mask.data(), 0.2});
    t.backward(y, seed);
    std::vector<Tensor<double>> out{y.value().clone(), t.grad_of(vq).clone(), t.grad_of(vk).clone(),
                                    t.grad_of(vv).clone()};
    set_num_threads(before);
    return out;
  };
  auto serial = run(1), parallel = run(3);
  for (std::size_t i = 0; i < serial.size(); ++i) {
    CAPTURE(i);
    CHECK(max_abs_difference(serial[i], parallel[i]) < 1e-12);
  }
}

TEST_CASE("packed_attention equals padded attention with a key mask, values and gradients") {
  using namespace metarec;
  Rng rng(77);
  const index_t d = 6;
  const int heads = 2;
  const std::vector<std::int32_t> lengths{3, 1, 4, 0, 2};
  std::vector<std::int32_t> offsets{0};
  for (auto n : lengths) offsets.push_back(offsets.back() + n);
  const index_t N = offsets.back(), B = static_cast<index_t>(lengths.size()), L = 4;
  for (bool causal : {true, false}) {
    auto q = random_tensor({N, d}, rng), k = random_tensor({N, d}, rng), v = random_tensor({N, d}, rng);
    // Padded copies: left padding, mask on real keys.
    Tensor<double> qp({B, L, d}), kp({B, L, d}), vp({B, L, d});
    std::vector<std::uint8_t> mask(static_cast<std::size_t>(B * L), 0);
    for (index_t b = 0; b < B; ++b)
      for (index_t j = 0; j < lengths[b]; ++j) {
        const index_t row = offsets[b] + j, col = L - lengths[b] + j;
        mask[static_cast<std::size_t>(b * L + col)] = 1;
        for (index_t e = 0; e < d; ++e) {
          qp(b, col, e) = q(row, e);
          kp(b, col, e) = k(row, e);
          vp(b, col, e) = v(row, e);
        }
      }
    Tape<double> t1, t2;
    ops::AttentionOptions opt;
    opt.causal = causal;
    opt.key_mask = mask.data();
    auto padded = ops::attention(t1.leaf(qp), t1.leaf(kp), t1.leaf(vp), heads, opt).value();
    auto packed = ops::packed_attention(t2.leaf(q), t2.leaf(k), t2.leaf(v), heads, offsets.data(), B, causal).value();
    for (index_t b = 0; b < B; ++b)
      for (index_t j = 0; j < lengths[b]; ++j)
        for (index_t e = 0; e < d; ++e)
          CHECK(packed(offsets[b] + j, e) == doctest::Approx(padded(b, L - lengths[b] + j, e)).epsilon(1e-12));
    auto r = gradcheck(
        [&](Tape<double>&, const std::vector<Var<double>>& x) {
          return ops::packed_attention(x[0], x[1], x[2], heads, offsets.data(), B, causal, 0.3);
        },
        {q, k, v});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  }
  Tape<double> t;
  std::vector<std::int32_t> bad{0, 2, 1};
  auto x = t.leaf(random_tensor({3, d}, rng));
  CHECK_THROWS_AS(ops::packed_attention(x, x, x, heads, bad.data(), 2, true), ShapeError);
}
