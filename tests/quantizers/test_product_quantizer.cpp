#include <doctest/doctest.h>

#include "metarec/autograd.hpp"
#include "metarec/backbones/sasrec.hpp"
#include "metarec/recommender/recommender.hpp"
#include "metarec/quantizers/product_quantizer.hpp"

using namespace metarec;
using quantizers::ProductQuantizer;

namespace {
using PQModel = RecommenderType<backbones::SASRec, ProductQuantizer, backend::Cpu, double>;
/// d = 4, two sub-spaces of three codewords.
PQModel::Config pq_config() {
  PQModel::Config c;
  c.model.d = 4;
  c.quantizer.subspaces = 2;
  c.quantizer.codewords = 3;
  return c;
}
/// Rows 0 (padding) .. 8, f = 4: sub-space 0 = features 0-1, sub-space 1 = features 2-3.
/// Item i sits at group (i % 3) in sub-space 0 and (i / 3) % 3 in sub-space 1; item 4 has no features.
Tensor<float> features(index_t rows = 9) {
  Tensor<float> f({rows, 4});
  Rng rng(2);
  for (index_t i = 1; i < rows; ++i) {
    if (i == 4) continue;
    const float a = static_cast<float>(i % 3) * 10.f, b = static_cast<float>((i / 3) % 3) * 10.f;
    f(i, 0) = a + 0.01f * static_cast<float>(rng.uniform());
    f(i, 1) = -a + 1.f;
    f(i, 2) = b + 0.01f * static_cast<float>(rng.uniform());
    f(i, 3) = b + 1.f;
  }
  return f;
}
}  // namespace

TEST_CASE("ProductQuantizer: codes follow the feature clusters; item = mean of its code embeddings") {
  nn::ParameterStore<double> s;
  Rng rng(1);
  ProductQuantizer::Model<double> pq(s, pq_config().model, pq_config().quantizer, rng);
  pq.add_domain(0, 10);  // 9 feature rows + a [MASK] row without features
  pq.set_features(0, features());
  auto& table = s.add("items.a.weight", {10, 4}, nn::Init::normal(1.0), rng);
  Tape<double> t;
  auto y = pq.apply(t, t.param(table), 0).items;
  const auto& codes = pq.codes(0);
  auto same = [&](index_t a, index_t b, index_t sub) { return codes[a * 2 + sub] == codes[b * 2 + sub]; };
  for (index_t i = 1; i < 9; ++i)
    for (index_t j = 1; j < 9; ++j) {
      if (i == 4 || j == 4) continue;
      CHECK(same(i, j, 0) == (i % 3 == j % 3));
      CHECK(same(i, j, 1) == ((i / 3) % 3 == (j / 3) % 3));
    }
  CHECK(codes[4 * 2] == -1);
  CHECK(codes[9 * 2] == -1);
  for (index_t i = 1; i < 9; ++i)
    if (i != 4) CHECK(codes[i * 2 + 1] >= 3);  // sub-space 1 codes live in rows M..2M-1
  const auto& e = pq.code_embedding().value;
  for (index_t k = 0; k < 4; ++k) {
    CHECK(y.value()(0, k) == 0.0);
    CHECK(y.value()(5, k) == doctest::Approx((e(codes[10], k) + e(codes[11], k)) / 2));
    CHECK(y.value()(4, k) == table.value(4, k));  // no features: its own ID row
    CHECK(y.value()(9, k) == table.value(9, k));
  }
  auto u = pq.usage(0);
  CHECK(u.items == 7);
  CHECK(u.used_fraction == doctest::Approx(1.0));
  // Gradients reach the code embeddings and the featureless rows of the table.
  t.backward(ops::sum(y));
  CHECK(t.grad_of(t.param(pq.code_embedding())).empty() == false);
  CHECK(table.grad(4, 0) == 1.0);
  CHECK(table.grad(5, 0) == 0.0);
}

TEST_CASE("ProductQuantizer: shared centroids across domains, determinism, errors") {
  auto codes_of = [](std::uint64_t seed) {
    nn::ParameterStore<float> s;
    Rng rng(1);
    PQModel::Config c = pq_config();
    c.quantizer.seed = seed;
    ProductQuantizer::Model<float> pq(s, c.model, c.quantizer, rng);
    pq.set_features(0, features());
    pq.fit();
    pq.set_features(1, features(7));  // coded with the same centroids
    return std::make_pair(pq.codes(0), pq.codes(1));
  };
  auto [a0, a1] = codes_of(3);
  auto [b0, b1] = codes_of(3);
  CHECK(a0 == b0);
  CHECK(a1 == b1);
  for (std::size_t i = 0; i < a1.size(); ++i) CHECK(a1[i] == a0[i]);  // same features -> same codes
  nn::ParameterStore<float> s;
  Rng rng(1);
  ProductQuantizer::Model<float> pq(s, pq_config().model, pq_config().quantizer, rng);
  pq.set_features(0, features());
  CHECK_THROWS_AS(pq.set_features(1, Tensor<float>({5, 6})), ShapeError);
  CHECK_THROWS_AS(pq.set_features(1, Tensor<float>({5, 1})), ConfigError);
  PQModel::Config bad = pq_config();
  bad.quantizer.codewords = 1;
  CHECK_THROWS_WITH_AS((ProductQuantizer::Model<float>(s, bad.model, bad.quantizer, rng)), doctest::Contains("quantizer.pq_codewords"), ConfigError);
}

TEST_CASE("ProductQuantizer in a Recommender: no features = identity, features = codes") {
  PQModel::Config c = pq_config();
  c.backbone.heads = 2;
  c.backbone.inner = 8;
  c.model.max_len = 5;
  PQModel m(c, 1);
  const int k = m.add_domain("a", 8);
  Tape<double> t;
  auto before = m.item_matrix(t, k);
  CHECK(before(3, 1) == m.item_table(k).value(3, 1));
  m.quantizer().set_features(k, features());
  auto after = m.item_matrix(t, k);
  CHECK(after(3, 1) != m.item_table(k).value(3, 1));
  CHECK(after(4, 1) == m.item_table(k).value(4, 1));
}
