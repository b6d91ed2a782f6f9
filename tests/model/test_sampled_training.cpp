// Training with negatives shared by a batch (sampled softmax, gBCE) and the
// sampled evaluation protocol, end to end through train::fit.
#include <doctest/doctest.h>

#include <string>

#include "fixtures/ring.hpp"
#include "fixtures/small_config.hpp"
#include "metarec/backbones/sasrec.hpp"
#include "metarec/recommender/recommender.hpp"
#include "metarec/train/trainer.hpp"

using namespace metarec;

namespace {

using Model = Recommender<backbones::SASRec>;

// 60 items, steps of 1: the next item follows from the last one. Chance HR@10 = 1/6.
data::Split ring() { return test::ring_split("r", 60, 240, 3, {.min_len = 6, .max_len = 6, .jumps = false}); }

train::TrainerConfig trainer(LossKind loss, data::Sampling sampling = data::Sampling::uniform) {
  train::TrainerConfig tc;
  tc.epochs = 40;
  tc.eval_every = 40;
  tc.patience = 0;
  tc.batch_size = 32;
  tc.lr = 5e-3;
  tc.loss = loss;
  tc.negatives = 8;  // far fewer than the 60 items
  tc.sampling = sampling;
  return tc;
}

train::TrainResult fit(const data::Split& split, const train::TrainerConfig& tc) {
  Model model(test::config<Model>({.d = 16, .heads = 1, .inner = 32, .dropout = 0.0}), 4);
  const int k = model.add_domain("r", split.n_items);
  return train::fit(model, k, split, tc);
}

}  // namespace

TEST_CASE("fit: sampled softmax (uniform, popularity) and gBCE learn the ring far above chance") {
  const data::Split split = ring();
  struct Case {
    const char* name;
    LossKind loss;
    data::Sampling sampling;
  };
  for (Case c : {Case{"sampled-softmax uniform", LossKind::sampled_softmax, data::Sampling::uniform},
                 Case{"sampled-softmax popularity", LossKind::sampled_softmax, data::Sampling::popularity},
                 Case{"gbce", LossKind::gbce, data::Sampling::uniform}}) {
    const train::TrainResult r = fit(split, trainer(c.loss, c.sampling));
    INFO(c.name << ": test " << r.test.str());
    CHECK(r.test["HR@10"] > 0.5);  // 3x chance
  }
}

TEST_CASE("fit: pre-LN SASRec with a final LayerNorm and no attention dropout learns the ring far above chance") {
  const data::Split split = ring();
  Model::Config c = test::config<Model>({.d = 16, .layers = 2, .heads = 2, .inner = 32, .dropout = 0.1});
  c.backbone.norm_first = true;
  c.backbone.final_norm = true;
  c.backbone.attn_dropout = 0.0;
  for (LossKind loss : {LossKind::ce, LossKind::sampled_softmax}) {
    Model model(c, 4);
    const int k = model.add_domain("r", split.n_items);
    const train::TrainResult r = train::fit(model, k, split, trainer(loss));
    INFO("loss " << static_cast<int>(loss) << ": test " << r.test.str());
    CHECK(r.test["HR@10"] > 0.5);  // 3x chance
  }
}

TEST_CASE("fit: shared negatives are drawn from the seed (same seed, same run)") {
  const data::Split split = test::ring_split("r", 30, 60, 5);
  train::TrainerConfig tc = trainer(LossKind::gbce);
  tc.epochs = 2;
  tc.eval_every = 1;
  const train::TrainResult a = fit(split, tc), b = fit(split, tc);
  CHECK(a.history[0].loss == b.history[0].loss);
  CHECK(a.test["NDCG@10"] == b.test["NDCG@10"]);
}

TEST_CASE("TrainerConfig: the new settings are validated, naming the field") {
  train::TrainerConfig tc;
  tc.negatives = 0;
  CHECK_THROWS_WITH_AS(tc.validate(), doctest::Contains("negatives"), ConfigError);
  tc = {};
  tc.gbce_t = 1.5;
  CHECK_THROWS_WITH_AS(tc.validate(), doctest::Contains("gbce_t"), ConfigError);
  tc = {};
  tc.loss = LossKind::gbce;
  tc.sampling = data::Sampling::popularity;
  CHECK_THROWS_WITH_AS(tc.validate(), doctest::Contains("popularity"), ConfigError);
  tc = {};
  tc.eval.negatives = 0;
  CHECK_THROWS_WITH_AS(tc.validate(), doctest::Contains("eval_negatives"), ConfigError);
}

TEST_CASE("evaluate: the sampled protocol ranks among fewer items than masked full ranking") {
  // Sampled negatives lie outside the history, so a target's sampled rank never exceeds its
  // rank among all items with the history masked: HR@K can only rise.
  const data::Split split = test::ring_split("r", 80, 120, 6);
  Model model(test::config<Model>({.d = 16, .heads = 1, .inner = 32, .dropout = 0.0}), 4);
  const int k = model.add_domain("r", split.n_items);
  train::TrainerConfig tc = trainer(LossKind::ce);
  tc.epochs = 3;
  train::fit(model, k, split, tc);
  Tape<float> tape;
  train::EvalOptions full;
  full.ks = {1, 5, 10};
  full.mask_history = true;
  const eval::Metrics m_full = train::evaluate(model, tape, k, split.test, full);
  for (data::Sampling s : {data::Sampling::uniform, data::Sampling::popularity}) {
    train::EvalOptions sampled = full;
    sampled.protocol = train::EvalProtocol::sampled;
    sampled.negatives = 20;
    sampled.sampling = s;
    if (s == data::Sampling::popularity) {
      CHECK_THROWS_AS(train::evaluate(model, tape, k, split.test, sampled), ConfigError);  // needs the counts
      sampled.item_counts = data::item_counts(split.train, split.n_items);
    }
    const eval::Metrics m = train::evaluate(model, tape, k, split.test, sampled);
    for (const char* key : {"HR@1", "HR@5", "HR@10"}) CHECK(m[key] >= m_full[key]);
    CHECK(train::evaluate(model, tape, k, split.test, sampled)["NDCG@10"] == m["NDCG@10"]);  // fixed negatives
  }
}
