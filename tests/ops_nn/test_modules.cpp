#include <doctest/doctest.h>

#include <cmath>

#include "metarec/autograd.hpp"
#include "metarec/autograd/gradcheck.hpp"
#include "metarec/autograd/ops/activation.hpp"
#include "metarec/autograd/ops/normalization.hpp"
#include "metarec/autograd/ops/softmax.hpp"
#include "metarec/autograd/ops/tensor_ops.hpp"
#include "metarec/nn/dropout.hpp"
#include "metarec/nn/embedding.hpp"
#include "metarec/nn/feed_forward.hpp"
#include "metarec/nn/layer_norm.hpp"

using namespace metarec;
using V = Var<double>;
using Inputs = const std::vector<V>&;

TEST_CASE("nn::Embedding registers a sparse N(0, 0.02) table and looks rows up") {
  nn::ParameterStore<float> store;
  Rng rng(51);
  nn::Embedding<float> emb(store, "item", 1000, 16, rng);
  auto& w = store.at("item.weight");
  CHECK(&w == &emb.weight());
  CHECK(w.value.shape() == Shape{1000, 16});
  CHECK(w.sparse_rows);
  double s2 = 0;
  for (float v : w.value) s2 += static_cast<double>(v) * v;
  CHECK(std::sqrt(s2 / 16000) == doctest::Approx(0.02).epsilon(0.05));
  nn::Embedding<float> dense(store, "pos", 50, 16, rng, nn::Init::zeros(), false);
  CHECK_FALSE(dense.weight().sparse_rows);
  CHECK_THROWS_AS(nn::Embedding<float>(store, "item", 10, 4, rng), ConfigError);  // duplicate name
  CHECK_THROWS_AS(nn::Embedding<float>(store, "bad", 0, 4, rng), ConfigError);

  emb.zero_row(0);
  Tape<float> t;
  std::vector<std::int32_t> ids{0, 5, 5};
  auto y = emb(t, ids.data(), {1, 3}, 0);
  CHECK(y.shape() == Shape{1, 3, 16});
  CHECK(y.value()[0] == 0.f);
  CHECK(y.value()[16] == w.value[5 * 16]);
  t.backward(ops::sum(y));
  CHECK(w.touched == std::vector<std::int32_t>{5});
  CHECK(w.grad[5 * 16] == 2.f);
}

TEST_CASE("nn::LayerNorm: ones/zeros init, normalised rows, gradients reach the affine parameters") {
  nn::ParameterStore<double> store;
  nn::LayerNorm<double> ln(store, "ln", 6);
  CHECK(store.at("ln.weight").value[3] == 1.0);
  CHECK(store.at("ln.bias").value[3] == 0.0);
  CHECK(ln.eps() == 1e-5);
  Rng rng(52);
  Tape<double> t;
  auto y = ln(t, t.leaf(random_tensor({4, 6}, rng, -3, 5))).value();
  for (index_t r = 0; r < 4; ++r) {
    double m = 0, v = 0;
    for (index_t k = 0; k < 6; ++k) m += y[r * 6 + k] / 6;
    for (index_t k = 0; k < 6; ++k) v += (y[r * 6 + k] - m) * (y[r * 6 + k] - m) / 6;
    CHECK(m == doctest::Approx(0.0).epsilon(1e-12));
    CHECK(v == doctest::Approx(1.0).epsilon(1e-4));
  }
  t.backward(ops::sum(ops::mul(ln(t, t.leaf(random_tensor({4, 6}, rng))), t.leaf(random_tensor({4, 6}, rng)))));
  CHECK(ln.weight().grad.vec().norm() > 0);
  CHECK(ln.bias().grad.vec().norm() > 0);
  CHECK_THROWS_AS(nn::LayerNorm<double>(store, "ln2", 0), ConfigError);
  CHECK_THROWS_AS(nn::LayerNorm<double>(store, "ln3", 4, -1.0), ConfigError);
}

TEST_CASE("nn::Dropout holds p and follows the tape mode") {
  CHECK_THROWS_AS(nn::Dropout(1.0), ConfigError);
  CHECK_THROWS_AS(nn::Dropout(-0.5), ConfigError);
  nn::Dropout drop(0.5);
  CHECK(drop.p() == 0.5);
  Tape<float> t;
  auto x = t.leaf(Tensor<float>({64}, 1.f));
  CHECK(drop(t, x).id != x.id);
  t.set_training(false);
  CHECK(drop(t, x).id == x.id);
}

TEST_CASE("nn::FeedForward: parameter names, eval-mode value, gradients in train mode") {
  nn::ParameterStore<double> store;
  Rng rng(53);
  nn::FeedForward<double> ff(store, "ffn", 4, 7, 0.3, rng);
  CHECK(store.at("ffn.linear1.weight").value.shape() == Shape{7, 4});
  CHECK(store.at("ffn.linear1.bias").value.shape() == Shape{7});
  CHECK(store.at("ffn.linear2.weight").value.shape() == Shape{4, 7});
  CHECK(store.at("ffn.linear2.bias").value.shape() == Shape{4});
  CHECK(ff.activation() == nn::Activation::gelu);
  CHECK(ff.dropout() == 0.3);

  auto x = random_tensor({2, 3, 4}, rng);
  {  // eval: exactly linear2(gelu(linear1(x)))
    Tape<double> t;
    t.set_training(false);
    auto xv = t.leaf(x);
    auto got = ff(t, xv).value();
    auto want = ff.linear2()(t, ops::gelu(ff.linear1()(t, xv))).value();
    for (index_t i = 0; i < got.size(); ++i) REQUIRE(got[i] == want[i]);
  }
  // Train mode: dropout active; gradcheck replays the same mask each evaluation.
  for (auto act : {nn::Activation::gelu, nn::Activation::relu}) {
    nn::ParameterStore<double> s2;
    nn::FeedForward<double> f2(s2, "f", 4, 5, 0.3, rng, act);
    auto r = gradcheck([&](Tape<double>& t, Inputs v) { return f2(t, v[0]); }, {x});
    CHECK_MESSAGE(r.max_rel_error < 1e-7, r.str());
    Tape<double> t(9);
    t.backward(ops::sum(f2(t, t.leaf(x))));
    for (auto* p : s2.all()) CHECK_MESSAGE(p->grad.vec().norm() > 0, p->name);
  }
  CHECK_THROWS_AS(nn::FeedForward<double>(store, "bad", 4, 8, 1.0, rng), ConfigError);
  CHECK(store.find("bad.linear1.weight") == nullptr);  // nothing registered before the error
  CHECK_THROWS_AS(nn::FeedForward<double>(store, "bad", 4, 0, 0.1, rng), ConfigError);
}

TEST_CASE("a step through every NN op allocates nothing after warm-up") {
  nn::ParameterStore<float> store;
  Rng rng(54);
  nn::Embedding<float> emb(store, "emb", 100, 8, rng);
  nn::LayerNorm<float> ln(store, "ln", 8);
  nn::FeedForward<float> ff(store, "ff", 8, 16, 0.2, rng);
  std::vector<std::int32_t> ids(64);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int32_t>((i * 7) % 100);
  Tape<float> t(1);
  std::size_t warm = 0;
  for (int step = 0; step < 4; ++step) {
    t.reset();
    store.zero_grad();
    auto h = ln(t, ff(t, emb(t, ids.data(), {4, 16}, 0)));   // [4, 16, 8]
    auto heads = ops::permute(ops::reshape(h, {4, 16, 2, 4}), {0, 2, 1, 3});
    auto last = ops::slice(heads, 2, 15, 16);
    auto both = ops::concat({ops::l2_normalize(last), ops::tanh(last)}, -1);
    auto loss = ops::mean(ops::log_softmax(ops::sigmoid(ops::relu(both))));
    t.backward(ops::add(loss, ops::mean(ops::softmax(h))));
    if (step == 1) warm = t.workspace().heap_allocations();
  }
  CHECK(t.workspace().heap_allocations() == warm);
  CHECK_FALSE(emb.weight().touched.empty());
}
