// The trainer's run-time policies: the optimizer is a choice (Adam default,
// AdamW, SGD), and callbacks can end training (bool, as ensmallen's callbacks);
// the meta phase takes callbacks the same way.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "fixtures/ring.hpp"
#include "fixtures/small_config.hpp"
#include "metarec/backbones/sasrec.hpp"
#include "metarec/meta/transfer.hpp"
#include "metarec/recommender/recommender.hpp"
#include "metarec/train/joint_training.hpp"
#include "metarec/train/trainer.hpp"

using namespace metarec;

namespace {

data::Split ring(const std::string& name, std::int32_t n_items, int users, std::uint64_t seed) {
  return test::ring_split(name, n_items, users, seed, {.min_len = 6, .max_len = 6, .jumps = false});
}

Recommender<backbones::SASRec>::Config tiny() { return test::config<Recommender<backbones::SASRec>>(); }

std::vector<float> values(nn::ParameterStore<float>& store) {
  std::vector<float> v;
  for (auto* p : store.all()) v.insert(v.end(), p->value.data(), p->value.data() + p->value.size());
  return v;
}

/// Ends training once `at` epochs have run.
struct StopAfter {
  int at;
  int seen = 0;
  bool on_epoch_end(const train::EpochRecord& r) {
    ++seen;
    return r.epoch >= at;
  }
};

/// Counts the meta iterations it sees and ends the phase at `at`.
struct StopMetaAt {
  int at;
  int seen = 0;
  bool on_meta_iteration(const meta::IterationLog& log) {
    ++seen;
    return log.iteration >= at;
  }
};

}  // namespace

TEST_CASE("fit: a callback returning true ends training after that epoch") {
  const data::Split split = ring("r", 12, 60, 1);
  Recommender<backbones::SASRec> model(tiny(), 2);
  const int k = model.add_domain("r", split.n_items);
  train::TrainerConfig tc;
  tc.epochs = 10;
  tc.patience = 0;
  tc.batch_size = 16;
  StopAfter stop{3};
  const train::TrainResult r = train::fit(model, k, split, tc, stop);
  CHECK(r.epochs_run == 3);
  CHECK(stop.seen == 3);
  CHECK(r.early_stopped);
  CHECK(r.stopped_by_callback);
  CHECK(r.history.size() == 3);
}

TEST_CASE("fit: the optimizer is a run-time choice; settings it does not read are refused") {
  const data::Split split = ring("r", 12, 60, 1);
  auto trained = [&](optim::OptimizerKind kind, double momentum) {
    Recommender<backbones::SASRec> model(tiny(), 2);
    const int k = model.add_domain("r", split.n_items);
    train::TrainerConfig tc;
    tc.epochs = 2;
    tc.patience = 0;
    tc.batch_size = 16;
    tc.optimizer = kind;
    tc.momentum = momentum;
    tc.lr = kind == optim::OptimizerKind::sgd ? 0.1 : 1e-3;
    train::fit(model, k, split, tc);
    return values(model.parameters());
  };
  Recommender<backbones::SASRec> init(tiny(), 2);
  init.add_domain("r", split.n_items);
  const auto start = values(init.parameters());
  const auto adam = trained(optim::OptimizerKind::adam, 0), sgd = trained(optim::OptimizerKind::sgd, 0.9);
  CHECK(adam != start);
  CHECK(sgd != start);
  CHECK(sgd != adam);
  CHECK(adam == trained(optim::OptimizerKind::adam, 0));  // same choice, same bits
  train::TrainerConfig bad;
  bad.momentum = 0.9;  // Adam has no momentum setting
  CHECK_THROWS_WITH_AS(bad.validate(), doctest::Contains("sgd optimizer only"), ConfigError);
  CHECK(optim::parse_optimizer("adamw") == optim::OptimizerKind::adamw);
  CHECK_THROWS_AS(optim::parse_optimizer("lbfgs"), ConfigError);
}

TEST_CASE("meta: callbacks see every meta iteration and can end the phase") {
  using Model = Recommender<backbones::SASRec>;
  const data::Split a = ring("a", 12, 60, 1), t = ring("t", 10, 60, 2);
  for (bool joint : {false, true}) {
    CAPTURE(joint);
    Model model(tiny(), 3);
    const int ka = model.add_domain("a", a.n_items), kt = model.add_domain("t", t.n_items);
    meta::MetaConfig mc;
    mc.batch_size = 16;
    mc.finetune.epochs = 1;
    mc.finetune.batch_size = 16;
    StopMetaAt stop{joint ? 2 : 5};
    meta::TransferResult r;
    if (joint) r = meta::MetaTransfer<Model, meta::JointPretrain>(mc, {.epochs = 6}).run(model, {{ka, &a}}, kt, t, stop);
    else r = meta::MetaTransfer<Model, meta::FOMAML>(mc, {{.iterations = 20}}).run(model, {{ka, &a}}, kt, t, stop);
    CHECK(stop.seen == stop.at);
    CHECK(r.iterations.size() == static_cast<std::size_t>(stop.at));
    CHECK(r.finetune.epochs_run == 1);  // fine-tuning still runs after an early end of the meta phase
  }
}

TEST_CASE("joint training: batch orders, the shared loop's stop and skip") {
  const std::vector<int> rr = train::round_robin_order(3, 2);
  CHECK(rr == std::vector<int>{0, 1, 2, 0, 1, 2});
  Rng r1(5), r2(5), r3(6);
  const std::vector<index_t> batches{4, 1, 3};
  const auto a = train::shuffled_order(batches, r1), b = train::shuffled_order(batches, r2), c = train::shuffled_order(batches, r3);
  CHECK(a == b);  // seeded
  CHECK(a != c);
  for (int i = 0; i < 3; ++i) CHECK(std::count(a.begin(), a.end(), i) == batches[static_cast<std::size_t>(i)]);

  // The loop: a skipped step (invalid loss) takes no optimizer step; end_epoch's true ends training.
  using Model = Recommender<backbones::SASRec>;
  Model model(tiny(), 3);
  const data::Split s = ring("s", 12, 40, 1);
  const int k = model.add_domain("s", s.n_items);
  data::BatchIterator it(s, train::batch_options(model, 16, 1));
  train::BatchInputs inputs(s, LossKind::ce, 2);
  REQUIRE(it.batches_per_epoch() == 3);  // 40 users in batches of 16
  struct CountingOptimizer {
    int steps = 0;
    void step() { ++steps; }
  } opt;
  Tape<float> tape(1);
  std::vector<double> means;
  const int run = train::train_jointly(
      model, opt, tape, 5, 0.0,
      [&](int epoch) {
        it.start_epoch(static_cast<std::uint64_t>(epoch));
        return std::vector<int>(4, 0);  // one slot more than there are batches
      },
      [&](Tape<float>& t, int) -> Var<float> {
        if (!it.next()) return {};
        return model.loss(t, k, inputs.prepare(it.batch()));
      },
      [&](int epoch, double mean) {
        means.push_back(mean);
        return epoch == 2;
      });
  CHECK(run == 2);
  CHECK(opt.steps == 6);
  REQUIRE(means.size() == 2);
  for (double m : means) CHECK((std::isfinite(m) && m > 0));
}
