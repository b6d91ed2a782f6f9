#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "metarec/autograd.hpp"
#include "metarec/autograd/gradcheck.hpp"
#include "metarec/autograd/ops/cross_entropy.hpp"
#include "metarec/autograd/ops/info_nce.hpp"
#include "metarec/autograd/ops/sampled_losses.hpp"
#include "metarec/autograd/ops/shared_negative_losses.hpp"
#include "metarec/autograd/ops/straight_through.hpp"

using namespace metarec;
using V = Var<double>;
using Inputs = const std::vector<V>&;

namespace {

std::vector<std::int32_t> random_targets(index_t n, index_t lo, index_t hi, Rng& rng) {
  std::vector<std::int32_t> t(static_cast<std::size_t>(n));
  for (auto& v : t) v = static_cast<std::int32_t>(lo + static_cast<index_t>(rng.below(static_cast<std::uint64_t>(hi - lo))));
  return t;
}

/// Dense reference in double: loss, dL/dh, dL/dE for logits scale * h E[first:end]^T.
struct Dense {
  double loss = 0;
  std::vector<double> dh, de;
};
template <class T>
Dense dense_ce(const Tensor<T>& h, const Tensor<T>& e, const std::vector<std::int32_t>& tg, index_t first, index_t end,
               double scale = 1) {
  const index_t N = h.dim(0), d = h.dim(1);
  Dense r;
  r.dh.assign(static_cast<std::size_t>(N * d), 0);
  r.de.assign(static_cast<std::size_t>(e.size()), 0);
  std::vector<double> z(static_cast<std::size_t>(end - first));
  for (index_t i = 0; i < N; ++i) {
    double mx = -1e300;
    for (index_t j = first; j < end; ++j) {
      double s = 0;
      for (index_t k = 0; k < d; ++k) s += double(h(i, k)) * double(e(j, k));
      z[static_cast<std::size_t>(j - first)] = scale * s;
      mx = std::max(mx, scale * s);
    }
    double sum = 0;
    for (double v : z) sum += std::exp(v - mx);
    r.loss += (mx + std::log(sum) - z[static_cast<std::size_t>(tg[static_cast<std::size_t>(i)] - first)]) / double(N);
    for (index_t j = first; j < end; ++j) {
      const double g = (std::exp(z[static_cast<std::size_t>(j - first)] - mx) / sum - (j == tg[static_cast<std::size_t>(i)])) * scale / double(N);
      for (index_t k = 0; k < d; ++k) {
        r.dh[static_cast<std::size_t>(i * d + k)] += g * double(e(j, k));
        r.de[static_cast<std::size_t>(j * d + k)] += g * double(h(i, k));
      }
    }
  }
  return r;
}

template <class T>
Tensor<T> random_t(Shape s, Rng& rng, double lo, double hi) {
  Tensor<T> t(s);
  for (auto& v : t) v = static_cast<T>(rng.uniform(lo, hi));
  return t;
}

template <class T>
double max_diff(const Tensor<T>& a, const std::vector<double>& b) {
  double m = 0;
  for (index_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(double(a[i]) - b[static_cast<std::size_t>(i)]));
  return m;
}

struct ThreadGuard {
  int saved = num_threads();
  explicit ThreadGuard(int n) { set_num_threads(n); }
  ~ThreadGuard() { set_num_threads(saved); }
};

}  // namespace

TEST_CASE("full_softmax_ce: gradcheck with odd sizes, N=1, first_item 1 and 2, end_item < rows, ragged blocks") {
  Rng rng(11);
  struct Case { index_t n, rows, d; std::int32_t first; index_t end, rb, ib; };
  for (Case c : {Case{1, 5, 3, 1, -1, 0, 0}, Case{7, 13, 5, 2, 11, 3, 4}, Case{9, 23, 4, 1, 20, 4, 7},
                 Case{5, 9, 2, 2, -1, 2, 3}, Case{6, 17, 3, 1, 16, 6, 16}}) {
    const index_t end = c.end < 0 ? c.rows : c.end;
    auto tg = random_targets(c.n, c.first, end, rng);
    ops::FullCEOptions opt;
    opt.first_item = c.first;
    opt.end_item = c.end;
    opt.row_block = c.rb;
    opt.item_block = c.ib;
    auto r = gradcheck([&](Tape<double>&, Inputs v) { return ops::full_softmax_ce(v[0], v[1], tg.data(), opt); },
                       {random_tensor({c.n, c.d}, rng, -2, 2), random_tensor({c.rows, c.d}, rng, -2, 2)});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, "N=" << c.n << " rows=" << c.rows << ": " << r.str());
  }
}

TEST_CASE_TEMPLATE("full_softmax_ce: values and gradients match a dense computation, 1 and 3 threads", T, float, double) {
  const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-12;
  Rng rng(12);
  const index_t N = 67, rows = 1203, d = 37;  // big enough for the threaded path
  auto h = random_t<T>({N, d}, rng, -1, 1), e = random_t<T>({rows, d}, rng, -1, 1);
  for (int threads : {1, 3}) {
    ThreadGuard guard(threads);
    for (auto [first, end, rb, ib] : {std::tuple<std::int32_t, index_t, index_t, index_t>{1, -1, 0, 0},
                                      {2, 1100, 16, 100}, {1, 1203, 67, 33}}) {
      const index_t last = end < 0 ? rows : end;
      auto tg = random_targets(N, first, last, rng);
      Dense ref = dense_ce(h, e, tg, first, last);
      Tape<T> t;
      auto hv = t.leaf(h, true), ev = t.leaf(e, true);
      ops::FullCEOptions opt{first, end, rb, ib};
      auto loss = ops::full_softmax_ce(hv, ev, tg.data(), opt);
      CHECK(double(loss.value()[0]) == doctest::Approx(ref.loss).epsilon(tol));
      t.backward(loss);
      CHECK(max_diff(t.grad_of(hv), ref.dh) < tol);
      CHECK(max_diff(t.grad_of(ev), ref.de) < tol);  // rows outside [first, end) stay zero
      NoGradGuard<T> ng(t);
      auto l2 = ops::full_softmax_ce(t.leaf(h), t.leaf(e), tg.data(), opt);
      CHECK(double(l2.value()[0]) == doctest::Approx(ref.loss).epsilon(tol));
    }
  }
}

TEST_CASE("full_softmax_ce: bit-identical across runs with a fixed thread count; large logits stay finite") {
  ThreadGuard guard(2);
  Rng rng(13);
  const index_t N = 50, rows = 3001, d = 32;
  auto h = random_t<float>({N, d}, rng, -3, 3), e = random_t<float>({rows, d}, rng, -3, 3);
  auto tg = random_targets(N, 1, rows, rng);
  std::vector<float> first_run;
  for (int run = 0; run < 3; ++run) {
    Tape<float> t;
    auto hv = t.leaf(h, true), ev = t.leaf(e, true);
    auto loss = ops::full_softmax_ce(hv, ev, tg.data());
    t.backward(loss);
    std::vector<float> all{loss.value()[0]};
    all.insert(all.end(), t.grad_of(hv).begin(), t.grad_of(hv).end());
    all.insert(all.end(), t.grad_of(ev).begin(), t.grad_of(ev).end());
    if (run == 0) first_run = all;
    else CHECK(std::memcmp(all.data(), first_run.data(), all.size() * sizeof(float)) == 0);
    CHECK(std::isfinite(loss.value()[0]));  // logits up to ~300: needs the max shift
  }
}

TEST_CASE("full_softmax_ce: tied Parameter gets a dense gradient scaled by the upstream gradient") {
  Rng rng(14);
  Parameter<double> table("items", {9, 4}, /*sparse=*/true);
  table.value.copy_from(random_tensor({9, 4}, rng));
  auto h = random_tensor({3, 4}, rng);
  std::vector<std::int32_t> tg{1, 8, 4};
  Tape<double> t;
  auto loss = ops::scale(ops::full_softmax_ce(t.leaf(h), t.param(table), tg.data()), 2.0);
  t.backward(loss);
  CHECK(table.dense_grad);
  Dense ref = dense_ce(h, table.value, tg, 1, 9);
  CHECK(max_diff(table.grad, ref.de) > 0);
  for (auto& v : ref.de) v *= 2;
  CHECK(max_diff(table.grad, ref.de) < 1e-12);
}

TEST_CASE("full_softmax_ce: errors name the op, row and value") {
  Tape<float> t;
  auto h = t.leaf(Tensor<float>({3, 4}, 0.1f), true), e = t.leaf(Tensor<float>({6, 4}, 0.2f), true);
  std::vector<std::int32_t> bad{1, 2, 6};
  CHECK_THROWS_WITH_AS(ops::full_softmax_ce(h, e, bad.data()), doctest::Contains("target of row 2 is 6"), ShapeError);
  std::vector<std::int32_t> pad{1, 0, 2};
  CHECK_THROWS_WITH_AS(ops::full_softmax_ce(h, e, pad.data()), doctest::Contains("row 1 is 0"), ShapeError);
  std::vector<std::int32_t> ok{1, 2, 3};
  CHECK_THROWS_AS(ops::full_softmax_ce(h, e, ok.data(), {1, 3}), ShapeError);  // 3 >= end_item
  CHECK_THROWS_AS(ops::full_softmax_ce(h, e, ok.data(), {1, 9}), ShapeError);  // end beyond table
  CHECK_THROWS_AS(ops::full_softmax_ce(h, t.leaf(Tensor<float>({6, 5})), ok.data()), ShapeError);
  Tensor<float> nan_h({3, 4}, 0.1f);
  nan_h[5] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH_AS(ops::full_softmax_ce(t.leaf(nan_h), e, ok.data()), doctest::Contains("full_softmax_ce"), NumericError);
  Tensor<float> inf_h({3, 4}, 0.1f);
  inf_h[0] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS(ops::full_softmax_ce(t.leaf(inf_h), e, ok.data()), NumericError);
}

TEST_CASE_TEMPLATE("softmax_cross_entropy: gradcheck and dense values", T, float, double) {
  Rng rng(15);
  for (auto [n, c] : {std::pair<index_t, index_t>{1, 1}, {1, 4}, {5, 7}, {4, 3}}) {
    auto tg = random_targets(n, 0, c, rng);
    if constexpr (std::is_same_v<T, double>) {
      auto r = gradcheck([&](Tape<double>&, Inputs v) { return ops::softmax_cross_entropy(v[0], tg.data()); },
                         {random_tensor({n, c}, rng, -3, 3)});
      CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
    }
    // Dense: logits = x * I, i.e. full CE with an identity table and first_item 0.
    auto x = random_t<T>({n, c}, rng, -3, 3);
    Tensor<T> eye({c, c});
    for (index_t i = 0; i < c; ++i) eye(i, i) = T(1);
    Dense ref = dense_ce(x, eye, tg, 0, c);
    Tape<T> t;
    auto xv = t.leaf(x, true);
    auto loss = ops::softmax_cross_entropy(xv, tg.data());
    t.backward(loss);
    CHECK(double(loss.value()[0]) == doctest::Approx(ref.loss).epsilon(1e-5));
    CHECK(max_diff(t.grad_of(xv), ref.dh) < 1e-5);
  }
  Tape<T> t;
  Tensor<T> x({2, 3});
  std::vector<std::int32_t> bad{0, 3};
  CHECK_THROWS_WITH_AS(ops::softmax_cross_entropy(t.leaf(x), bad.data()), doctest::Contains("row 1 is 3"), ShapeError);
  x[1] = std::numeric_limits<T>::infinity();
  std::vector<std::int32_t> ok{0, 1};
  CHECK_THROWS_WITH_AS(ops::softmax_cross_entropy(t.leaf(x), ok.data()), doctest::Contains("softmax_cross_entropy"), NumericError);
}

TEST_CASE("sampled_bce and bpr: gradcheck with repeated items, dense values") {
  Rng rng(16);
  const index_t N = 5, rows = 6, d = 3;
  std::vector<std::int32_t> pos{1, 2, 2, 5, 1}, neg{3, 1, 4, 3, 0};  // repeats accumulate
  auto h = random_tensor({N, d}, rng, -2, 2), e = random_tensor({rows, d}, rng, -2, 2);
  for (bool is_bpr : {false, true}) {
    auto f = [&](Tape<double>&, Inputs v) {
      return is_bpr ? ops::bpr(v[0], v[1], pos.data(), neg.data()) : ops::sampled_bce(v[0], v[1], pos.data(), neg.data());
    };
    auto r = gradcheck(f, {h, e});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
    double ref = 0;
    for (index_t i = 0; i < N; ++i) {
      double sp = 0, sn = 0;
      for (index_t k = 0; k < d; ++k) sp += h(i, k) * e(pos[i], k), sn += h(i, k) * e(neg[i], k);
      auto sig = [](double x) { return 1 / (1 + std::exp(-x)); };
      ref += is_bpr ? -std::log(sig(sp - sn)) : -std::log(sig(sp)) - std::log(1 - sig(sn));
    }
    Tape<double> t;
    CHECK(f(t, {t.leaf(h), t.leaf(e)}).value()[0] == doctest::Approx(ref / N).epsilon(1e-12));
  }
  // N = 1 and extreme scores stay finite (softplus without overflow).
  Tensor<float> big({1, 2}, 100.f), table({3, 2}, 1.f);
  std::vector<std::int32_t> p1{1}, n1{2};
  Tape<float> t;
  CHECK(std::isfinite(ops::sampled_bce(t.leaf(big), t.leaf(table), p1.data(), n1.data()).value()[0]));
  std::vector<std::int32_t> oob{3};
  CHECK_THROWS_WITH_AS(ops::bpr(t.leaf(big), t.leaf(table), p1.data(), oob.data()), doctest::Contains("bpr: target of row 0 is 3"), ShapeError);
}

TEST_CASE("sampled losses: a sparse_rows parameter gets only the touched rows") {
  Rng rng(17);
  Parameter<float> table("items", {10, 4}, /*sparse=*/true);
  for (auto& v : table.value) v = float(rng.uniform(-1, 1));
  Tensor<float> h({2, 4}, 0.5f);
  std::vector<std::int32_t> pos{3, 3}, neg{7, 1};
  Tape<float> t;
  t.backward(ops::sampled_bce(t.leaf(h), t.param(table), pos.data(), neg.data()));
  CHECK_FALSE(table.dense_grad);
  std::vector<std::int32_t> touched = table.touched;
  std::sort(touched.begin(), touched.end());
  CHECK(touched == std::vector<std::int32_t>{1, 3, 7});
  CHECK(table.grad(0, 0) == 0.f);
  CHECK(table.grad(3, 0) != 0.f);
}

TEST_CASE("sampled_softmax and gbce: gradcheck with accidental hits, repeated draws and a logQ correction") {
  Rng rng(21);
  const index_t N = 6, rows = 9, d = 4;
  std::vector<std::int32_t> pos{1, 2, 2, 5, 8, 3};
  std::vector<std::int32_t> neg{2, 7, 5, 7, 1};  // 2 and 5 are hits of rows 1-3, 7 is drawn twice
  std::vector<double> log_q{0.3, -1.2, 0.0, -1.2, 2.0};
  auto h = random_tensor({N, d}, rng, -2, 2), e = random_tensor({rows, d}, rng, -2, 2);
  for (const double* lq : {static_cast<const double*>(nullptr), static_cast<const double*>(log_q.data())}) {
    const ops::SharedNegatives sn{neg.data(), 5, lq};
    auto r = gradcheck([&](Tape<double>&, Inputs v) { return ops::sampled_softmax(v[0], v[1], pos.data(), sn); }, {h, e});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  }
  for (double beta : {1.0, 0.3}) {
    const ops::SharedNegatives sn{neg.data(), 5, nullptr};
    auto r = gradcheck([&](Tape<double>&, Inputs v) { return ops::gbce(v[0], v[1], pos.data(), sn, beta); }, {h, e});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  }
}

TEST_CASE("sampled_softmax and gbce with draws per group of rows: gradcheck, equal to one group, malformed groups") {
  Rng rng(25);
  const index_t N = 7, rows = 9, d = 4, K = 3;
  std::vector<std::int32_t> pos{1, 2, 2, 5, 8, 3, 2};
  std::vector<std::int32_t> group{0, 0, 0, 1, 2, 2, 2};         // three sequences' rows
  std::vector<std::int32_t> neg{2, 7, 7, 5, 1, 4, 3, 7, 2};      // hits in groups 0 and 2; 7 drawn in two groups
  std::vector<double> log_q{0.3, -1.2, -1.2, 0.0, 0.5, -0.7, 1.1, -1.2, 0.3};
  auto h = random_tensor({N, d}, rng, -2, 2), e = random_tensor({rows, d}, rng, -2, 2);
  for (const double* lq : {static_cast<const double*>(nullptr), static_cast<const double*>(log_q.data())}) {
    const ops::SharedNegatives sn{neg.data(), K, lq, group.data(), 3};
    auto r = gradcheck([&](Tape<double>&, Inputs v) { return ops::sampled_softmax(v[0], v[1], pos.data(), sn); }, {h, e});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
    r = gradcheck([&](Tape<double>&, Inputs v) { return ops::gbce(v[0], v[1], pos.data(), sn, 0.4); }, {h, e});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  }
  // Every group drawing the same K items is the one-group op (to rounding: the GEMMs are split).
  std::vector<std::int32_t> same;
  for (int g = 0; g < 3; ++g) same.insert(same.end(), neg.begin(), neg.begin() + K);
  auto run = [&](const ops::SharedNegatives& sn) {
    Tape<double> t;
    auto hv = t.leaf(h, true), ev = t.leaf(e, true);
    auto l = ops::sampled_softmax(hv, ev, pos.data(), sn);
    t.backward(l);
    return std::vector<Tensor<double>>{l.value().clone(), t.grad_of(hv).clone(), t.grad_of(ev).clone()};
  };
  const auto grouped = run({same.data(), K, nullptr, group.data(), 3}), one = run({neg.data(), K, nullptr});
  CHECK(grouped[0][0] == doctest::Approx(one[0][0]).epsilon(1e-13));
  CHECK(max_abs_difference(grouped[1], one[1]) < 1e-13);
  CHECK(max_abs_difference(grouped[2], one[2]) < 1e-13);
  // Other draws per group give another loss: the groups do read their own draws.
  CHECK(std::abs(run({neg.data(), K, nullptr, group.data(), 3})[0][0] - one[0][0]) > 1e-6);
  // Groups must run 0, then +0 or +1, to groups - 1.
  Tape<double> t;
  for (const auto& bad : {std::vector<std::int32_t>{0, 0, 2, 2, 2, 2, 2}, std::vector<std::int32_t>{1, 1, 1, 2, 2, 2, 2},
                          std::vector<std::int32_t>{0, 0, 1, 1, 0, 2, 2}})
    CHECK_THROWS_WITH_AS(ops::sampled_softmax(t.leaf(h), t.leaf(e), pos.data(), {neg.data(), K, nullptr, bad.data(), 3}),
                         doctest::Contains("negative group"), ShapeError);
  CHECK_THROWS_WITH_AS(ops::gbce(t.leaf(h), t.leaf(e), pos.data(), {neg.data(), K, nullptr, group.data(), 4}, 1.0),
                       doctest::Contains("the last row is in negative group 2 of 4"), ShapeError);
  CHECK_THROWS_AS(ops::gbce(t.leaf(h), t.leaf(e), pos.data(), {neg.data(), K, nullptr, nullptr, 3}, 1.0), ShapeError);
}

TEST_CASE("sampled_softmax: draws covering every item once give exactly full-catalogue CE") {
  // K = n draws of a uniform Q: log(K Q(j)) = 0; the positive's own draw is masked as a hit.
  Rng rng(22);
  const index_t N = 7, n = 11, d = 5;
  auto h = random_tensor({N, d}, rng, -1.5, 1.5), e = random_tensor({n + 1, d}, rng, -1.5, 1.5);
  auto tg = random_targets(N, 1, n + 1, rng);
  std::vector<std::int32_t> all(static_cast<std::size_t>(n));
  for (index_t j = 0; j < n; ++j) all[static_cast<std::size_t>(j)] = static_cast<std::int32_t>(j + 1);
  std::vector<double> log_kq(all.size(), std::log(double(n) * (1.0 / double(n))));
  auto run = [&](bool sampled) {
    Tape<double> t;
    auto hv = t.leaf(h, true), ev = t.leaf(e, true);
    auto l = sampled ? ops::sampled_softmax(hv, ev, tg.data(), {all.data(), n, log_kq.data()})
                     : ops::full_softmax_ce(hv, ev, tg.data());
    t.backward(l);
    return std::vector<Tensor<double>>{l.value().clone(), t.grad_of(hv).clone(), t.grad_of(ev).clone()};
  };
  const auto s = run(true), f = run(false);
  CHECK(s[0][0] == doctest::Approx(f[0][0]).epsilon(1e-12));
  CHECK(max_abs_difference(s[1], f[1]) < 1e-12);
  CHECK(max_abs_difference(s[2], f[2]) < 1e-12);
  // A constant correction c moves every negative logit alike: the loss is the CE of
  // logits whose negatives are shifted by -c, i.e. not a constant offset; it grows as c falls.
  std::vector<double> lower(all.size(), -1.0);
  Tape<double> t;
  CHECK(ops::sampled_softmax(t.leaf(h), t.leaf(e), tg.data(), {all.data(), n, lower.data()}).value()[0] > f[0][0]);
}

TEST_CASE("gbce: beta from the sampling rate; t = 0 with one shared negative is half of sampled_bce") {
  CHECK(ops::gbce_beta(256, 12102, 0.0) == doctest::Approx(1.0));
  CHECK(ops::gbce_beta(256, 12102, 1.0) == doctest::Approx(256.0 / 12101.0));
  const double b = ops::gbce_beta(256, 12102, 0.75);
  CHECK(b == doctest::Approx(1.0 - 0.75 * (1.0 - 256.0 / 12101.0)));
  CHECK(ops::gbce_beta(50, 20, 0.75) == doctest::Approx(1.0));  // K >= n - 1: alpha = 1
  Rng rng(23);
  const index_t N = 5, d = 3;
  auto h = random_tensor({N, d}, rng, -2, 2), e = random_tensor({7, d}, rng, -2, 2);
  std::vector<std::int32_t> pos{1, 2, 3, 4, 5}, neg(static_cast<std::size_t>(N), 6), one{6};
  Tape<double> t;
  const double g = ops::gbce(t.leaf(h), t.leaf(e), pos.data(), {one.data(), 1, nullptr}, 1.0).value()[0];
  const double bce = ops::sampled_bce(t.leaf(h), t.leaf(e), pos.data(), neg.data()).value()[0];
  CHECK(g == doctest::Approx(bce / 2).epsilon(1e-12));
  // A smaller beta weighs the positive less: the loss falls.
  CHECK(ops::gbce(t.leaf(h), t.leaf(e), pos.data(), {one.data(), 1, nullptr}, 0.5).value()[0] < g);
}

TEST_CASE("shared-negative losses: a sparse_rows table gets only the touched rows; errors name the op") {
  Rng rng(24);
  Parameter<float> table("items", {10, 4}, /*sparse=*/true);
  for (auto& v : table.value) v = float(rng.uniform(-1, 1));
  Tensor<float> h({2, 4}, 0.5f);
  std::vector<std::int32_t> pos{3, 3}, neg{7, 1, 7};
  Tape<float> t;
  t.backward(ops::sampled_softmax(t.leaf(h), t.param(table), pos.data(), {neg.data(), 3, nullptr}));
  CHECK_FALSE(table.dense_grad);
  std::vector<std::int32_t> touched = table.touched;
  std::sort(touched.begin(), touched.end());
  CHECK(touched == std::vector<std::int32_t>{1, 3, 7});
  CHECK(table.grad(0, 0) == 0.f);
  std::vector<std::int32_t> oob{10};
  CHECK_THROWS_WITH_AS(ops::gbce(t.leaf(h), t.leaf(table.value), pos.data(), {oob.data(), 1, nullptr}, 1.0),
                       doctest::Contains("gbce: target of row 0 is 10"), ShapeError);
  CHECK_THROWS_AS(ops::sampled_softmax(t.leaf(h), t.leaf(table.value), pos.data(), {neg.data(), 0, nullptr}), ShapeError);
}

TEST_CASE("info_nce: gradcheck, temperature, dense values") {
  Rng rng(18);
  for (index_t n : {1, 2, 7}) {
    auto a = random_tensor({n, 3}, rng), b = random_tensor({n, 3}, rng);
    auto r = gradcheck([](Tape<double>&, Inputs v) { return ops::info_nce(v[0], v[1], 0.3); }, {a, b});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
    std::vector<std::int32_t> diag(static_cast<std::size_t>(n));
    for (index_t i = 0; i < n; ++i) diag[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i);
    Dense ref = dense_ce(a, b, diag, 0, n, 1 / 0.3);
    Tape<double> t;
    CHECK(ops::info_nce(t.leaf(a), t.leaf(b), 0.3).value()[0] == doctest::Approx(ref.loss).epsilon(1e-12));
  }
  Tape<double> t;
  auto a = t.leaf(Tensor<double>({2, 3}));
  CHECK_THROWS_AS(ops::info_nce(a, a, 0.0), ConfigError);
  CHECK_THROWS_AS(ops::info_nce(a, t.leaf(Tensor<double>({3, 3})), 0.1), ShapeError);
}

TEST_CASE("straight_through: value of z_q, gradient unchanged to z_e, none to z_q") {
  Rng rng(19);
  auto ze = random_tensor({3, 4}, rng), zq = random_tensor({3, 4}, rng), w = random_tensor({3, 4}, rng);
  Tape<double> t;
  auto e = t.leaf(ze, true), q = t.leaf(zq, true);
  auto y = ops::straight_through(e, q);
  for (index_t i = 0; i < zq.size(); ++i) CHECK(y.value()[i] == zq[i]);
  t.backward(ops::sum(ops::mul(y, t.leaf(w))));
  for (index_t i = 0; i < w.size(); ++i) CHECK(t.grad_of(e)[i] == doctest::Approx(w[i]));
  CHECK(t.grad_of(q).empty());
  // z_q also used elsewhere still gets that gradient only.
  Tape<double> t2;
  auto e2 = t2.leaf(ze, true), q2 = t2.leaf(zq, true);
  t2.backward(ops::sum(ops::add(ops::straight_through(e2, q2), q2)));
  CHECK(t2.grad_of(q2)[0] == doctest::Approx(1.0));
  CHECK(t2.grad_of(e2)[0] == doctest::Approx(1.0));
  CHECK_THROWS_AS(ops::straight_through(e, t.leaf(Tensor<double>({4, 3}))), ShapeError);
}
