// Models on backend::Cuda against the same models on backend::Cpu: the same
// seed gives the same initial parameters (drawn on the host, then copied) and
// the same dropout masks, so a few Adam steps on the same batches must agree
// to float rounding (cuBLAS / kernel summation orders differ from Eigen's).
// In the host emulation this runs in every build; on a GPU it is the device
// check of benchmarks/gpu/run.sh.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backend_compare.hpp"
#include "fixtures/ring.hpp"
#include "fixtures/small_config.hpp"
#include "metarec/backbones/bert4rec.hpp"
#include "metarec/backbones/gru4rec.hpp"
#include "metarec/backbones/sasrec.hpp"
#include "metarec/optim/adam.hpp"
#include "metarec/recommender/recommender.hpp"
#include "metarec/eval/device_ranking.hpp"
#include "metarec/eval/scorer.hpp"
#include "metarec/train/trainer.hpp"

using namespace metarec;


TEST_CASE("SASRec trains on backend::Cuda as on backend::Cpu (no dropout)") {
  test::train_on_both<backbones::SASRec>({.dropout = 0.0});
}
TEST_CASE("SASRec trains on backend::Cuda as on backend::Cpu (dropout: the same masks)") {
  test::train_on_both<backbones::SASRec>({.dropout = 0.3});
}
TEST_CASE("BERT4Rec trains on backend::Cuda as on backend::Cpu") {
  test::train_on_both<backbones::BERT4Rec>({.dropout = 0.2});
}

TEST_CASE("GRU4Rec trains on backend::Cuda as on backend::Cpu") {
  test::train_on_both<backbones::GRU4Rec>({.dropout = 0.2});
}

TEST_CASE("train::fit runs SASRec on backend::Cuda and learns the ring") {
  METAREC_REQUIRE_GPU();
  using GpuModel = RecommenderType<backbones::SASRec, quantizers::Identity, backend::Cuda, float>;
  test::Sizes sizes{.d = 16, .layers = 1, .heads = 1, .inner = 32, .max_len = 8, .dropout = 0.1};
  GpuModel model(test::config<GpuModel>(sizes), 3);
  const data::Split split = test::ring_split("ring", 60, 200, 5, {.min_len = 6, .max_len = 10, .jumps = false});
  const int k = model.add_domain("ring", split.n_items);
  train::TrainerConfig cfg;
  cfg.epochs = 12;
  cfg.batch_size = 32;
  cfg.lr = 1e-2;
  cfg.eval_every = 4;
  cfg.patience = 0;
  const train::TrainResult r = train::fit(model, k, split, cfg);
  MESSAGE("device SASRec on the ring: test HR@10 " << r.test["HR@10"] << ", loss " << r.history.front().loss
                                                   << " -> " << r.history.back().loss);
  CHECK(r.history.back().loss < r.history.front().loss);
  CHECK(r.test["HR@10"] > 0.5);  // chance is 10/60; the next item is always the current + 1
}

TEST_CASE("device full ranking gives the host evaluator's ranks (exact scores: ties, masking, NaN)") {
  METAREC_REQUIRE_GPU();
  cuda::Context& ctx = cuda::default_context();
  const index_t n_items = 40, d = 3, users = 25;
  Rng rng(9);
  // Small integers: every dot product is exact in float on both sides, and many scores tie.
  Tensor<float> U({users, d}), E({n_items + 1, d});
  for (auto& v : U) v = static_cast<float>(static_cast<int>(rng.below(5)) - 2);
  for (auto& v : E) v = static_cast<float>(static_cast<int>(rng.below(5)) - 2);
  std::vector<std::int32_t> targets;
  std::vector<std::vector<std::int32_t>> histories;
  for (index_t u = 0; u < users; ++u) {
    targets.push_back(static_cast<std::int32_t>(1 + rng.below(n_items)));
    std::vector<std::int32_t> h;
    for (int j = 0; j < 6; ++j) h.push_back(static_cast<std::int32_t>(rng.below(n_items + 1)));  // 0 = padding too
    if (u % 4 == 0) h.push_back(targets.back());  // a repeat: the target stays a candidate
    histories.push_back(h);
  }
  std::vector<std::span<const std::int32_t>> hs(histories.begin(), histories.end());
  const auto cases = eval::make_cases(targets, hs);
  for (bool mask : {false, true}) {
    eval::FullRankingOptions fo;
    fo.mask_history = mask;
    std::vector<index_t> host(cases.size()), dev(cases.size());
    const eval::Metrics mh = eval::FullRankingEvaluator<float>(n_items, fo).evaluate(cases, eval::EmbeddingScorer<float>(U, E), host);
    const eval::Metrics md = eval::device_full_ranking(ctx, std::span<const eval::EvalCase>(cases), U, E, n_items, fo, dev);
    CHECK(dev == host);
    CHECK(md["NDCG@10"] == mh["NDCG@10"]);
    CHECK(md["MRR"] == mh["MRR"]);
  }
  Tensor<float> bad = U.clone();
  bad(3, 0) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(eval::device_full_ranking(ctx, std::span<const eval::EvalCase>(cases), bad, E, n_items, {}),
                  NumericError);
}
