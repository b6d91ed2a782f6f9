#include <doctest/doctest.h>

#include "metarec/autograd.hpp"
#include "metarec/autograd/gradcheck.hpp"
#include "metarec/quantizers/usage.hpp"
#include "metarec/quantizers/vq_ops.hpp"

using namespace metarec;
using namespace metarec::quantizers;

TEST_CASE("head_project: values and gradients (several head counts, one row, odd sizes)") {
  Rng rng(1);
  struct Case { index_t R, H, dh, dc; };
  for (Case c : {Case{5, 2, 3, 4}, Case{1, 1, 4, 3}, Case{7, 3, 1, 2}, Case{4, 4, 2, 5}}) {
    CAPTURE(c.R);
    CAPTURE(c.H);
    auto x = random_tensor({c.R, c.H * c.dh}, rng), w = random_tensor({c.H, c.dc, c.dh}, rng);
    Tape<double> t;
    auto y = head_project(t.leaf(x), t.leaf(w)).value();
    for (index_t r = 0; r < c.R; ++r)
      for (index_t h = 0; h < c.H; ++h)
        for (index_t o = 0; o < c.dc; ++o) {
          double s = 0;
          for (index_t i = 0; i < c.dh; ++i) s += x(r, h * c.dh + i) * w(h, o, i);
          REQUIRE(y(r, h * c.dc + o) == doctest::Approx(s));
        }
    auto res = gradcheck([](Tape<double>&, const std::vector<Var<double>>& v) { return head_project(v[0], v[1]); },
                         {x, w});
    CHECK_MESSAGE(res.max_rel_error < 1e-7, res.str());
  }
  Tape<double> t;
  CHECK_THROWS_AS(head_project(t.leaf(Tensor<double>({3, 5})), t.leaf(Tensor<double>({2, 2, 2}))), ShapeError);
}

namespace {
/// Well-separated data: every z row lies near one codeword, so finite differences never flip an assignment.
struct VQCase {
  Tensor<double> z, cb;
  index_t R, H, K, dc;
};
VQCase make_case(index_t R, index_t H, index_t K, index_t dc, std::uint64_t seed) {
  Rng rng(seed);
  VQCase c{Tensor<double>({R, H * dc}), random_tensor({H, K, dc}, rng, -3, 3), R, H, K, dc};
  for (index_t r = 0; r < R; ++r)
    for (index_t h = 0; h < H; ++h) {
      const index_t j = static_cast<index_t>(rng.below(static_cast<std::uint64_t>(K)));
      for (index_t e = 0; e < dc; ++e) c.z(r, h * dc + e) = c.cb(h, j, e) + rng.uniform(-0.05, 0.05);
    }
  return c;
}
}  // namespace

TEST_CASE("vq_assign: nearest codewords, padding row, straight-through gradient") {
  auto c = make_case(6, 3, 5, 2, 4);
  Tape<double> t;
  auto z = t.leaf(c.z, true);
  auto a = vq_assign(z, t.leaf(c.cb, true), 0.25, 1.0, 1);
  const auto& q = a.quantized.value();
  for (index_t h = 0; h < c.H; ++h) {
    CHECK(a.codes[h * c.R] == -1);
    for (index_t r = 1; r < c.R; ++r) {
      index_t best = 0;
      double bd = 1e300;
      for (index_t j = 0; j < c.K; ++j) {
        double s = 0;
        for (index_t e = 0; e < c.dc; ++e) s += std::pow(c.z(r, h * c.dc + e) - c.cb(h, j, e), 2);
        if (s < bd) { bd = s; best = j; }
      }
      REQUIRE(a.codes[h * c.R + r] == best);
      for (index_t e = 0; e < c.dc; ++e) CHECK(q(r, h * c.dc + e) == c.cb(h, best, e));
    }
  }
  for (index_t e = 0; e < q.cols(); ++e) CHECK(q(0, e) == 0.0);
  // Straight-through: the gradient reaching z is the output gradient (rows >= 1).
  Rng rng(9);
  auto seed = random_tensor(q.shape(), rng);
  t.backward(a.quantized, seed);
  const auto& gz = t.grad_of(z);
  for (index_t i = 0; i < gz.size(); ++i) CHECK(gz[i] == (i < q.cols() ? 0.0 : seed[i]));
}

TEST_CASE("vq_assign: commitment gradient to z, codebook gradient to the codewords") {
  for (index_t first : {index_t(0), index_t(1)}) {
    auto c = make_case(5, 2, 4, 3, 7 + static_cast<std::uint64_t>(first));
    // beta only: the loss value is beta * mse, its gradient w.r.t. z is exact, none to the codebook.
    auto commit = gradcheck(
        [&](Tape<double>&, const std::vector<Var<double>>& v) { return vq_assign(v[0], v[1], 0.25, 0.0, first).loss; },
        {c.z, c.cb}, {true, false});
    CHECK_MESSAGE(commit.max_rel_error < 1e-7, commit.str());
    // codebook term only: gradient w.r.t. the codebook exact.
    auto code = gradcheck(
        [&](Tape<double>&, const std::vector<Var<double>>& v) { return vq_assign(v[0], v[1], 0.0, 1.0, first).loss; },
        {c.z, c.cb}, {false, true});
    CHECK_MESSAGE(code.max_rel_error < 1e-7, code.str());
    // Both terms: each input receives only its own term (value has both).
    Tape<double> t;
    auto z = t.leaf(c.z, true), cb = t.leaf(c.cb, true);
    auto a = vq_assign(z, cb, 0.25, 1.0, first);
    double mse = 0;
    for (index_t r = first; r < c.R; ++r)
      for (index_t e = 0; e < c.z.cols(); ++e) mse += std::pow(c.z(r, e) - a.quantized.value()(r, e), 2);
    mse /= static_cast<double>((c.R - first) * c.z.cols());
    CHECK(a.loss.value()[0] == doctest::Approx(1.25 * mse));
    t.backward(a.loss);
    const index_t r = c.R - 1;
    const double scale = 2.0 / static_cast<double>((c.R - first) * c.z.cols());
    CHECK(t.grad_of(z)(r, 0) == doctest::Approx(0.25 * scale * (c.z(r, 0) - a.quantized.value()(r, 0))));
  }
  auto c = make_case(3, 2, 4, 3, 1);
  Tape<double> t;
  CHECK(!vq_assign(t.leaf(c.z), t.leaf(c.cb), 0.0, 0.0).loss.valid());
  CHECK_THROWS_AS(vq_assign(t.leaf(Tensor<double>({3, 5})), t.leaf(c.cb), 0.25, 1.0), ShapeError);
}

TEST_CASE("add_rows_from and code_mean gradients") {
  Rng rng(3);
  auto a = random_tensor({4, 3}, rng), b = random_tensor({4, 3}, rng);
  auto res = gradcheck([](Tape<double>&, const std::vector<Var<double>>& v) { return add_rows_from(v[0], v[1], 1); },
                       {a, b});
  CHECK_MESSAGE(res.max_rel_error < 1e-7, res.str());
  {
    Tape<double> t;
    auto y = add_rows_from(t.leaf(a), t.leaf(b), 1).value();
    CHECK(y(0, 1) == a(0, 1));
    CHECK(y(2, 1) == a(2, 1) + b(2, 1));
  }
  // 5 rows, D = 3 codes into 2*3 + 1 = 7 code rows; row 2 has no features; a code repeats in a row.
  const index_t D = 3;
  std::vector<std::int32_t> codes{-1, -1, -1, 0, 3, 6, -1, -1, -1, 1, 1, 5, 2, 4, 6};
  auto table = random_tensor({5, 4}, rng), emb = random_tensor({7, 4}, rng);
  auto f = [&](Tape<double>&, const std::vector<Var<double>>& v) { return code_mean(v[0], v[1], codes.data(), D, 1); };
  auto r2 = gradcheck(f, {table, emb});
  CHECK_MESSAGE(r2.max_rel_error < 1e-7, r2.str());
  Tape<double> t;
  auto y = code_mean(t.leaf(table), t.leaf(emb), codes.data(), D, 1).value();
  CHECK(y(0, 2) == 0.0);
  CHECK(y(2, 2) == table(2, 2));
  CHECK(y(3, 1) == doctest::Approx((2 * emb(1, 1) + emb(5, 1)) / 3));
  std::vector<std::int32_t> bad{-1, -1, -1, 0, 3, 7};
  CHECK_THROWS_AS(code_mean(t.leaf(table.slice(0, 2)), t.leaf(emb), bad.data(), D, 1), ShapeError);
}

TEST_CASE("codebook_usage: perplexity, used fraction, collisions") {
  // Uniform over K = 4 codes in both heads: perplexity K, all codes used.
  std::vector<std::int32_t> uniform;  // [H = 2, rows = 9], row 0 ignored
  for (int h = 0; h < 2; ++h)
    for (int r = 0; r < 9; ++r) uniform.push_back(r == 0 ? -1 : (r + h) % 4);
  auto u = codebook_usage(uniform.data(), 2, 9, 1, 1, 9, 4);
  CHECK(u.items == 8);
  CHECK(u.perplexity == doctest::Approx(4.0));
  CHECK(u.used_fraction == doctest::Approx(1.0));
  // Rows r and r+4 share both codes: every item collides, 4 distinct tuples.
  CHECK(u.collision_rate == doctest::Approx(1.0));
  CHECK(u.distinct_tuples == 4);
  // Row-major [rows, H] codes: (0,0) (0,0) (1,2) (1,3) (1,2) (3,3) -> 4 of 6 collide.
  std::vector<std::int32_t> rm{0, 0, 0, 0, 1, 2, 1, 3, 1, 2, 3, 3};
  auto v = codebook_usage(rm.data(), 2, 1, 2, 0, 6, 8);
  CHECK(v.collision_rate == doctest::Approx(4.0 / 6.0));
  CHECK(v.distinct_tuples == 4);
  CHECK(v.head_used_fraction[0] == doctest::Approx(3.0 / 8.0));
  // Head 0 histogram (2, 3, 0, 1)/6.
  const double p[] = {2.0 / 6, 3.0 / 6, 1.0 / 6};
  double ent = 0;
  for (double x : p) ent -= x * std::log(x);
  CHECK(v.head_perplexity[0] == doctest::Approx(std::exp(ent)));
  // A single code everywhere: perplexity 1.
  std::vector<std::int32_t> one(5, 2);
  CHECK(codebook_usage(one.data(), 1, 5, 1, 0, 5, 4).perplexity == doctest::Approx(1.0));
}
