// The sampled losses (BCE, BPR with one negative per position; sampled softmax
// and gBCE with negatives shared by the batch or by each sequence), SGD and gradient clipping on
// backend::Cuda against the same model on backend::Cpu: every loss, gradient
// and trained value must agree to float rounding (backend_compare.hpp). In
// the host emulation this runs in every build; on a GPU it is a device check.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "backend_compare.hpp"
#include "fixtures/ring.hpp"
#include "metarec/autograd/ops/elementwise.hpp"
#include "metarec/autograd/ops/shared_negative_losses.hpp"
#include "metarec/backbones/bert4rec.hpp"
#include "metarec/backbones/gru4rec.hpp"
#include "metarec/backbones/sasrec.hpp"
#include "metarec/train/trainer.hpp"

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
TEST_CASE("sampled softmax and gBCE with K draws per sequence train on backend::Cuda as on backend::Cpu") {
  // SASRec packs its rows, GRU4Rec keeps the padded layout; BERT4Rec's cloze leaves a sequence without targets.
  test::train_on_both<backbones::SASRec>(
      {.dropout = 0.2, .loss = LossKind::sampled_softmax, .negatives_per = NegativeScope::sequence});
  test::train_on_both<backbones::GRU4Rec>({.loss = LossKind::gbce, .negatives_per = NegativeScope::sequence});
  test::train_on_both<backbones::BERT4Rec>({.loss = LossKind::sampled_softmax, .negatives_per = NegativeScope::sequence});
}
TEST_CASE("item dropout (one mask over the item table per step) trains on backend::Cuda as on backend::Cpu") {
  auto item_dropout = [](auto& c) { c.model.item_dropout = 0.3; };
  test::train_on_both<backbones::SASRec>({.loss = LossKind::sampled_softmax, .negatives_per = NegativeScope::sequence},
                                         item_dropout);
  test::train_on_both<backbones::GRU4Rec>({}, item_dropout);
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

TEST_CASE("train::fit on backend::Cuda with sampled losses, SGD and clipping learns the ring") {
  METAREC_REQUIRE_GPU();
  using GpuModel = RecommenderType<backbones::SASRec, quantizers::Identity, backend::Cuda, float>;
  const data::Split split = test::ring_split("ring", 60, 200, 5, {.min_len = 6, .max_len = 10, .jumps = false});
  struct Run {
    LossKind loss;
    optim::OptimizerKind optimizer;
    double lr, momentum;
  };
  for (const Run& run : {Run{LossKind::sampled_softmax, optim::OptimizerKind::adam, 1e-2, 0.0},
                         Run{LossKind::bce, optim::OptimizerKind::sgd, 0.5, 0.9}}) {
    test::Sizes sizes{.d = 16, .layers = 1, .heads = 1, .inner = 32, .max_len = 8, .dropout = 0.1};
    GpuModel model(test::config<GpuModel>(sizes), 3);
    const int k = model.add_domain("ring", split.n_items);
    train::TrainerConfig cfg;
    cfg.epochs = 12;
    cfg.batch_size = 32;
    cfg.lr = run.lr;
    cfg.optimizer = run.optimizer;
    cfg.momentum = run.momentum;
    cfg.loss = run.loss;
    cfg.negatives = 16;
    cfg.clip_norm = 1.0;
    cfg.eval_every = 4;
    cfg.patience = 0;
    const train::TrainResult r = train::fit(model, k, split, cfg);
    MESSAGE("device SASRec, " << std::string(loss_kind_name(run.loss)) << ": test HR@10 " << r.test["HR@10"] << ", loss "
                              << r.history.front().loss << " -> " << r.history.back().loss);
    CHECK(r.history.back().loss < r.history.front().loss);
    CHECK(r.test["HR@10"] > 0.5);  // chance is 10/60; the next item is always the current + 1
  }
}

TEST_CASE_TEMPLATE("sampled losses on a device tape: each input alone wanting a gradient, repeated rows, hits, an upstream scale",
                   T, float, double) {
  METAREC_REQUIRE_GPU();
  using Dev = backend::Cuda;
  cuda::Context& ctx = cuda::default_context();
  Rng rng(31);
  const index_t N = 23, d = 7, rows = 9, K = 6;
  const Tensor<T> h = test::random_t<T>({N, d}, rng, -1.5, 1.5), e = test::random_t<T>({rows, d}, rng, -1.5, 1.5);
  std::vector<std::int32_t> pos(N), neg(N), shared{3, 1, 3, 8, 0, 5};  // 3 twice; hits where pos is 3, 1, 8, 0, 5
  // Grouped draws: rows 0-4, 5, 6-15, 16-22 in four groups of K (rows repeat across groups).
  std::vector<std::int32_t> row_group(N), grouped(4 * K);
  std::vector<double> grouped_log_q(4 * K);
  for (index_t i = 0; i < N; ++i) row_group[i] = i < 5 ? 0 : i < 6 ? 1 : i < 16 ? 2 : 3;
  for (index_t j = 0; j < 4 * K; ++j)
    grouped[j] = static_cast<std::int32_t>((j * 5 + 2) % rows), grouped_log_q[j] = -0.5 - 0.1 * static_cast<double>(j % 7);
  for (index_t i = 0; i < N; ++i) pos[i] = static_cast<std::int32_t>((i * 4) % rows), neg[i] = static_cast<std::int32_t>((i * 2 + 1) % rows);
  const std::vector<double> log_q{-1.0, -1.5, -1.0, -2.0, -0.5, -1.2};
  const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-12;
  for (int kind = 0; kind < 6; ++kind)  // 4, 5: sampled softmax and gBCE with grouped draws
    for (int wants = 1; wants <= 3; ++wants) {  // bit 0: h, bit 1: items
      auto loss_of = [&](auto hv, auto ev) {
        const ops::SharedNegatives sn = kind < 4 ? ops::SharedNegatives{shared.data(), K, log_q.data()}
                                                 : ops::SharedNegatives{grouped.data(), K, grouped_log_q.data(),
                                                                        row_group.data(), 4};
        auto l = kind == 0 ? ops::sampled_bce(hv, ev, pos.data(), neg.data())
                 : kind == 1 ? ops::bpr(hv, ev, pos.data(), neg.data())
                 : kind % 2 == 0 ? ops::sampled_softmax(hv, ev, pos.data(), sn)
                                 : ops::gbce(hv, ev, pos.data(), sn, ops::gbce_beta(K, rows - 1, 0.5));
        return ops::scale(l, -1.75);  // the backward scales by a device scalar
      };
      Tape<T> tc;
      auto hc = tc.leaf(h, wants & 1), ec = tc.leaf(e, (wants & 2) != 0);
      auto lc = loss_of(hc, ec);
      tc.backward(lc);
      Tape<T, Dev> tg;
      auto hg = tg.leaf(cuda::copy_to_device(ctx, h), wants & 1), eg = tg.leaf(cuda::copy_to_device(ctx, e), (wants & 2) != 0);
      auto lg = loss_of(hg, eg);
      tg.backward(lg);
      const std::string what = "kind " + std::to_string(kind) + " wants " + std::to_string(wants);
      CHECK_MESSAGE(static_cast<double>(lg.item()) == doctest::Approx(static_cast<double>(lc.item())).epsilon(tol), what);
      if (wants & 1) test::check_close(memory<Dev>::to_host(tg.grad_of(hg)), tc.grad_of(hc), what + " dh", tol);
      if (wants & 2) test::check_close(memory<Dev>::to_host(tg.grad_of(eg)), tc.grad_of(ec), what + " de", tol);
    }
}
