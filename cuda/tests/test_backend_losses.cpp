// The sampled losses (BCE, BPR with one negative per position; sampled softmax
// and gBCE with negatives shared by the batch), SGD and gradient clipping on
// backend::Cuda against the same model on backend::Cpu: every loss, gradient
// and trained value must agree to float rounding (backend_compare.hpp). In
// the host emulation this runs in every build; on a GPU it is a device check.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "backend_compare.hpp"
#include "metarec/autograd/ops/shared_negative_losses.hpp"
#include "metarec/backbones/bert4rec.hpp"
#include "metarec/backbones/gru4rec.hpp"
#include "metarec/backbones/sasrec.hpp"

using namespace metarec;
using test::CompareOptimizer;

TEST_CASE("SASRec with sampled BCE trains on backend::Cuda as on backend::Cpu") {
  test::train_on_both<backbones::SASRec>({.dropout = 0.2, .loss = LossKind::bce});
}
TEST_CASE("SASRec with BPR trains on backend::Cuda as on backend::Cpu") {
  test::train_on_both<backbones::SASRec>({.loss = LossKind::bpr});
}
TEST_CASE("SASRec with sampled softmax (logQ correction) trains on backend::Cuda as on backend::Cpu") {
  test::train_on_both<backbones::SASRec>({.dropout = 0.2, .loss = LossKind::sampled_softmax});
}
TEST_CASE("SASRec with gBCE trains on backend::Cuda as on backend::Cpu") {
  test::train_on_both<backbones::SASRec>({.loss = LossKind::gbce});
}
TEST_CASE("BERT4Rec with sampled softmax trains on backend::Cuda as on backend::Cpu") {
  test::train_on_both<backbones::BERT4Rec>({.dropout = 0.2, .loss = LossKind::sampled_softmax});
}
TEST_CASE("GRU4Rec with BPR and gBCE trains on backend::Cuda as on backend::Cpu") {
  test::train_on_both<backbones::GRU4Rec>({.loss = LossKind::bpr});
  test::train_on_both<backbones::GRU4Rec>({.loss = LossKind::gbce});
}

TEST_CASE("SGD (momentum, Nesterov, weight decay) trains on backend::Cuda as on backend::Cpu") {
  test::train_on_both<backbones::SASRec>({.optimizer = CompareOptimizer::sgd_momentum});
  test::train_on_both<backbones::GRU4Rec>({.loss = LossKind::bce, .optimizer = CompareOptimizer::sgd_nesterov});
}

TEST_CASE("clip_grad_norm on backend::Cuda: the same norms and clipped steps as on backend::Cpu") {
  test::train_on_both<backbones::SASRec>({.loss = LossKind::sampled_softmax, .clip = 0.05});
  test::train_on_both<backbones::BERT4Rec>({.dropout = 0.2, .optimizer = CompareOptimizer::sgd_momentum, .clip = 0.05});
}

TEST_CASE("grad_norm and clip_grad_norm on backend::Cuda: sizes over several blocks, zero, non-finite") {
  METAREC_REQUIRE_GPU();
  using Dev = backend::Cuda;
  // Sizes below, at and above one block's share (16 x 256) and the 64-block cap.
  const std::vector<index_t> sizes{1, 255, 4096, 4097, 70000, 300000};
  std::vector<Parameter<float, Dev>> store;
  store.reserve(sizes.size());
  double want = 0;
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    Tensor<float> g(Shape{sizes[k]});
    for (index_t i = 0; i < sizes[k]; ++i) {
      g[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i) + static_cast<double>(k)) * 1e-2);
      want += static_cast<double>(g[i]) * g[i];
    }
    store.emplace_back("p" + std::to_string(k), Shape{sizes[k]});
    memory<Dev>::upload(g, store.back().grad);
  }
  std::vector<Parameter<float, Dev>*> ps;
  for (auto& p : store) ps.push_back(&p);
  const double n1 = optim::grad_norm(ps), n2 = optim::grad_norm(ps);
  CHECK(n1 == n2);  // deterministic: fixed partials, fixed tree, fixed host order
  CHECK(n1 == doctest::Approx(std::sqrt(want)).epsilon(1e-12));
  // Clipping to half the norm halves every gradient (PyTorch's coefficient max / (norm + 1e-6)).
  const Tensor<float> before = memory<Dev>::to_host(store[4].grad);
  CHECK(optim::clip_grad_norm(ps, 0.5 * n1) == doctest::Approx(n1).epsilon(1e-12));
  const Tensor<float> after = memory<Dev>::to_host(store[4].grad);
  const float coef = static_cast<float>(0.5 * n1 / (n1 + 1e-6));
  for (index_t i = 0; i < after.size(); i += 997) CHECK(after[i] == before[i] * coef);
  CHECK(optim::grad_norm(ps) == doctest::Approx(0.5 * n1).epsilon(1e-5));
  // Below the threshold nothing changes.
  CHECK(optim::clip_grad_norm(ps, 10 * n1) == doctest::Approx(0.5 * n1).epsilon(1e-5));
  CHECK(memory<Dev>::to_host(store[4].grad)[1] == after[1]);
  // A non-finite gradient is named.
  Tensor<float> bad(Shape{sizes[2]});
  bad[7] = std::numeric_limits<float>::quiet_NaN();
  memory<Dev>::upload(bad, store[2].grad);
  CHECK_THROWS_WITH_AS(optim::clip_grad_norm(ps, 1.0), doctest::Contains("'p2'"), NumericError);
}
