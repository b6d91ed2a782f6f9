#include <doctest/doctest.h>

#include "metarec/autograd.hpp"
#include "metarec/autograd/gradcheck.hpp"
#include "metarec/autograd/ops/fusion.hpp"
#include "metarec/autograd/ops/segment_attention.hpp"

using namespace metarec;
using V = Var<double>;
using Inputs = const std::vector<V>&;

TEST_CASE("segment_attention: gradients over uneven segments, empty segments, one head, dropout") {
  Rng rng(3);
  struct Case { std::vector<std::int32_t> qo, ko; index_t d; int heads; double drop; };
  for (const Case& c : {Case{{0, 1, 3, 3, 4}, {0, 2, 2, 5, 6}, 6, 2, 0.0},  // segment 1 has no keys, 2 no queries
                        Case{{0, 1}, {0, 1}, 3, 1, 0.0},                     // length-1 everything
                        Case{{0, 2, 5}, {0, 3, 4}, 4, 4, 0.3}}) {            // dh = 1, attention dropout
    const index_t S = static_cast<index_t>(c.qo.size()) - 1;
    auto q = random_tensor({c.qo.back(), c.d}, rng), k = random_tensor({c.ko.back(), c.d}, rng),
         v = random_tensor({c.ko.back(), c.d}, rng);
    auto r = gradcheck([&](Tape<double>&, Inputs x) {
      return ops::segment_attention(x[0], x[1], x[2], c.heads, c.qo.data(), c.ko.data(), S, c.drop);
    }, {q, k, v});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  }
}

TEST_CASE("segment_attention equals padded attention with a key mask") {
  Rng rng(4);
  const index_t d = 4;
  std::vector<std::int32_t> qo{0, 2, 4}, ko{0, 3, 4};  // segment 0: 2 queries x 3 keys; 1: 2 x 1
  auto q = random_tensor({4, d}, rng), k = random_tensor({4, d}, rng), v = random_tensor({4, d}, rng);
  Tape<double> t;
  auto y = ops::segment_attention(t.leaf(q), t.leaf(k), t.leaf(v), 2, qo.data(), ko.data(), 2).value();
  // Padded: [2, 2, d] queries over [2, 3, d] keys, the second row's last two keys masked.
  Tensor<double> qp({2, 2, d}), kp({2, 3, d}), vp({2, 3, d});
  for (index_t i = 0; i < 4 * d; ++i) qp[i] = q[i];
  for (index_t i = 0; i < 3 * d; ++i) kp[i] = k[i], vp[i] = v[i];
  for (index_t j = 0; j < d; ++j) kp[3 * d + j] = k[3 * d + j], vp[3 * d + j] = v[3 * d + j];
  std::vector<std::uint8_t> mask{1, 1, 1, 1, 0, 0};
  ops::AttentionOptions opt;
  opt.key_mask = mask.data();
  auto yp = ops::attention(t.leaf(qp), t.leaf(kp), t.leaf(vp), 2, opt).value();
  for (index_t i = 0; i < 4 * d; ++i) CHECK(y[i] == doctest::Approx(yp[i]).epsilon(1e-12));
}

TEST_CASE("segment_attention rejects offsets that do not cover the rows") {
  Tape<double> t;
  Tensor<double> q({3, 2}), k({2, 2});
  std::vector<std::int32_t> qo{0, 2}, ko{0, 2};
  CHECK_THROWS_AS(ops::segment_attention(t.leaf(q), t.leaf(k), t.leaf(k), 1, qo.data(), ko.data(), 1), ShapeError);
}

TEST_CASE("dynamic_fusion: gradients w.r.t. scores and beta, with absent modalities") {
  Rng rng(5);
  for (index_t M : {1, 2, 3}) {
    auto s = random_tensor({3, M, 5}, rng), beta = random_tensor({1}, rng, -2.0, 2.0);
    std::vector<std::uint8_t> present(static_cast<std::size_t>(M * 7), 1);
    present[1] = 0;                           // candidate 1 lacks modality 0
    if (M > 1) present[7 + 2] = 0;            // candidate 2 lacks modality 1
    for (index_t m = 0; m < M; ++m) present[static_cast<std::size_t>(m * 7 + 4)] = 0;  // candidate 4 has none
    auto r = gradcheck([&](Tape<double>&, Inputs x) { return ops::dynamic_fusion(x[0], x[1], present.data(), 7); },
                       {s, beta});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
    r = gradcheck([&](Tape<double>&, Inputs x) { return ops::dynamic_fusion(x[0], x[1]); }, {s, beta});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  }
}

TEST_CASE("dynamic_fusion: values by hand") {
  Tape<double> t;
  Tensor<double> s({1, 2, 2}), beta({1});
  s[0] = 0.2; s[1] = -0.4;  // modality 0, candidates 0 and 1
  s[2] = 0.6; s[3] = 0.8;   // modality 1
  beta[0] = 0.0;            // init: plain mean
  auto y = ops::dynamic_fusion(t.leaf(s), t.leaf(beta)).value();
  CHECK(y[0] == doctest::Approx(0.4));
  CHECK(y[1] == doctest::Approx(0.2));
  beta[0] = 3.0;
  y = ops::dynamic_fusion(t.leaf(s), t.leaf(beta)).value();
  const double w1 = std::exp(3 * 0.6) / (std::exp(3 * 0.2) + std::exp(3 * 0.6));
  CHECK(y[0] == doctest::Approx((1 - w1) * 0.2 + w1 * 0.6));
  std::vector<std::uint8_t> present{1, 0, 1, 0};  // candidate 1 has no modality at all
  y = ops::dynamic_fusion(t.leaf(s), t.leaf(beta), present.data(), 2).value();
  CHECK(y[1] == 0.0);
  present = {0, 1, 1, 1};  // candidate 0: only modality 1 -> its score alone
  y = ops::dynamic_fusion(t.leaf(s), t.leaf(beta), present.data(), 2).value();
  CHECK(y[0] == doctest::Approx(0.6));
}

TEST_CASE("mask_rows and segment_mean: gradients and values") {
  Rng rng(6);
  std::vector<std::uint8_t> keep{1, 0, 1, 1, 0};
  auto x = random_tensor({5, 3}, rng);
  auto r = gradcheck([&](Tape<double>&, Inputs v) { return ops::mask_rows(v[0], keep.data()); }, {x});
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  std::vector<std::int32_t> off{0, 2, 2, 5};  // middle segment empty
  r = gradcheck([&](Tape<double>&, Inputs v) { return ops::segment_mean(v[0], off.data(), 3); }, {x});
  CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
  Tape<double> t;
  auto m = ops::segment_mean(t.leaf(x), off.data(), 3).value();
  CHECK(m[0] == doctest::Approx((x[0] + x[3]) / 2));
  CHECK(m[3] == 0.0);
  auto y = ops::mask_rows(t.leaf(x), keep.data()).value();
  CHECK(y[3] == 0.0);
  CHECK(y[0] == x[0]);
}
