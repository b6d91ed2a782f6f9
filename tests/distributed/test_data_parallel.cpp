// Data-parallel training and evaluation over MPI, run by ctest as
// `mpirun -np 2` and `-np 3` (uneven shards). Every rank also trains the
// single-process reference itself (train::fit on the whole global batch), so
// each comparison is within one process: distributed vs one process within a
// float tolerance, and replicas bit-identical across ranks.
//
// Only CHECK (never REQUIRE) around collectives: a rank leaving a test case
// early would leave the others waiting in a collective.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "distributed/mpi_world.hpp"
#include "fixtures/ring.hpp"
#include "fixtures/small_config.hpp"
#include "metarec/backbones/bert4rec.hpp"
#include "metarec/backbones/gru4rec.hpp"
#include "metarec/backbones/sasrec.hpp"
#include "metarec/distributed/distributed.hpp"
#include "metarec/multimodal/missrec_train.hpp"
#include "missrec/missrec_fixtures.hpp"
#include "metarec/recommender/recommender.hpp"
#include "metarec/train/fit_checkpoint.hpp"
#include "metarec/train/trainer.hpp"

using namespace metarec;

using metarec::test::world;
using metarec::test::same_on_all_ranks;

namespace {

/// Attention key biases have an exactly zero gradient (adding q.b to every
/// score of a query leaves its softmax unchanged), so what they receive is
/// rounding noise, which Adam scales to lr-sized steps: their values depend on
/// the summation order alone and are left out of one-vs-many comparisons.
bool compared(const std::string& name) { return !name.ends_with(".k.bias"); }

std::vector<float> values(auto& model, bool all = false) {
  std::vector<float> v;
  for (auto* p : model.parameters().all())
    if (all || compared(p->name)) v.insert(v.end(), p->value.data(), p->value.data() + p->value.size());
  return v;
}

/// Name of the parameter where max_abs_diff is reached (for the test's message).
std::string worst_parameter(auto& a, auto& b) {
  std::string name;
  double m = -1;
  const auto pa = a.parameters().all(), pb = b.parameters().all();
  for (std::size_t k = 0; k < pa.size(); ++k)
    for (index_t i = 0; compared(pa[k]->name) && i < pa[k]->value.size(); ++i) {
      const double x = pa[k]->value[i], y = pb[k]->value[i];
      const double d = std::abs(x - y) / std::max(1.0, std::abs(x));
      if (d > m) m = d, name = pa[k]->name + " (|w| " + std::to_string(std::abs(x)) + ")";
    }
  return name;
}

/// max_i |a_i - b_i| / max(1, |a_i|): absolute for the usual |w| < 1, relative
/// for large entries (MISSRec's interest centroids reach ~10).
double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    m = std::max(m, std::abs(static_cast<double>(a[i]) - b[i]) / std::max(1.0, std::abs(static_cast<double>(a[i]))));
  return m;
}

// Dropout off: masks come from per-rank streams, so with dropout N ranks
// follow another (equally valid) trajectory than one process.
test::Sizes sizes() { return {.d = 16, .inner = 32, .max_len = 8, .dropout = 0.0}; }
data::Split ring() { return test::ring_split("ring", 30, 121, 5, {.min_len = 4, .max_len = 11}); }

train::TrainerConfig trainer(std::uint64_t seed) {
  train::TrainerConfig tc;
  tc.epochs = 2;
  tc.batch_size = 32;  // 121 users: batches of 32, 32, 32, 25 -> shards 11/11/10 ... 9/8/8 with 3 ranks
  tc.patience = 0;
  tc.lr = 1e-2;
  tc.seed = seed;
  return tc;
}

}  // namespace

TEST_CASE_TEMPLATE("data-parallel fit equals single-process fit of the same global batches", Policy,
                   backbones::SASRec, backbones::GRU4Rec, backbones::BERT4Rec) {
  using Model = Recommender<Policy>;
  const data::Split split = ring();
  Model one(test::config<Model>(sizes()), 7), many(test::config<Model>(sizes()), 7);
  const int k1 = one.add_domain("ring", split.n_items), kn = many.add_domain("ring", split.n_items);
  const std::vector<float> init = values(one);
  const train::TrainResult a = train::fit(one, k1, split, trainer(3));
  distributed::MpiSync sync(*world);
  const train::TrainResult b = distributed::fit(many, kn, split, trainer(3), sync);
  const std::vector<float> va = values(one), vb = values(many);
  // lr 1e-2 x 8 Adam steps: parameters move by up to ~8e-2; sums in another
  // order change gradients in the last float bits, which Adam's normalisation
  // can carry into ~1e-5 of a parameter. 1e-4 leaves a wide margin and is
  // still far below the distance travelled (checked, so the test is not vacuous).
  const double diff = max_abs_diff(va, vb), moved = max_abs_diff(va, init);
  MESSAGE("ranks=" << world->size() << " max |one - many| = " << diff << " at " << worst_parameter(one, many)
                     << ", max |one - init| = " << moved);
  CHECK(diff <= 1e-4);
  CHECK(moved >= 1e-2);
  CHECK(same_on_all_ranks(values(many, true)));
  for (std::size_t e = 0; e < a.history.size(); ++e) CHECK(std::abs(a.history[e].loss - b.history[e].loss) <= 1e-4);
  for (const char* m : {"NDCG@10", "HR@10", "MRR"}) {
    CHECK(std::abs(a.valid[m] - b.valid[m]) <= 1.0 / static_cast<double>(split.valid.size()));
    CHECK(std::abs(a.test[m] - b.test[m]) <= 1.0 / static_cast<double>(split.test.size()));
  }
  // Dense gradients only (CE ties the output to the item table): no sparse traffic.
  CHECK(sync.stats().steps == 8);
  CHECK(sync.stats().dense_payload_bytes == 8 * values(one, true).size() * sizeof(float));
  CHECK(sync.stats().sparse_sent_bytes == 0);
}

/// Keeps the training state of the last epoch in memory (the same on every rank).
struct KeepState {
  Checkpoint ck;
  void on_epoch_state(const train::FitState<float>& st, const std::vector<Parameter<float>*>& ps,
                      optim::Optimizer<float>& opt) {
    ck = {};
    train::add_fit_state(ck, st, ps, opt);
  }
};

TEST_CASE("a state written by N ranks resumes on one process, and one written by one process on N ranks") {
  using Model = Recommender<backbones::SASRec>;
  const data::Split split = ring();
  train::TrainerConfig half = trainer(3);
  half.epochs = 1;
  auto make = [&](std::uint64_t seed) {
    auto m = std::make_unique<Model>(test::config<Model>(sizes()), seed);
    m->add_domain("ring", split.n_items);
    return m;
  };
  auto straight = make(7);  // one process, 2 epochs in one go
  const train::TrainResult a = train::fit(*straight, 0, split, trainer(3));

  auto many = make(7);
  KeepState from_many;
  distributed::MpiSync sync(*world);
  distributed::fit(*many, 0, split, half, sync, from_many);
  auto one_resumed = make(99);  // another initialisation: everything comes from the state
  train::ResumeFrom r1{from_many.ck};
  const train::TrainResult b = train::fit(*one_resumed, 0, split, trainer(3), r1);

  auto one = make(7);
  KeepState from_one;
  train::fit(*one, 0, split, half, from_one);
  auto many_resumed = make(99);
  train::ResumeFrom rn{from_one.ck};
  distributed::MpiSync sync2(*world);
  const train::TrainResult c = distributed::fit(*many_resumed, 0, split, trainer(3), sync2, rn);

  // Same tolerance and reason as the data-parallel comparison above.
  const double d1 = max_abs_diff(values(*one_resumed), values(*straight)),
               dn = max_abs_diff(values(*many_resumed), values(*straight));
  MESSAGE("ranks=" << world->size() << " N ranks -> 1 process: " << d1 << ", 1 process -> N ranks: " << dn);
  CHECK(d1 <= 1e-4);
  CHECK(dn <= 1e-4);
  CHECK(max_abs_diff(values(*one_resumed), values(*one)) >= 1e-2);  // the second epoch moved the model
  CHECK(same_on_all_ranks(values(*many_resumed, true)));
  CHECK(b.history.size() == 2);
  CHECK(c.history.size() == 2);
  for (const char* m : {"NDCG@10", "HR@10", "MRR"}) {
    CHECK(std::abs(a.test[m] - b.test[m]) <= 1.0 / static_cast<double>(split.test.size()));
    CHECK(std::abs(a.test[m] - c.test[m]) <= 1.0 / static_cast<double>(split.test.size()));
  }
}

TEST_CASE("MISSRec fine-tuning (fused scores, interest refresh) data-parallel equals one process") {
  using namespace multimodal;
  Rng rng(15);
  const data::Split split = missrec_test::ring_split("S", 10, 61, rng);
  const Tensor<float> f0 = missrec_test::features(10, 6, rng), f1 = missrec_test::features(10, 3, rng);
  auto cfg = missrec_test::small_config({6, 3});
  cfg.dropout = cfg.attn_dropout = 0.0;
  MISSRec one(cfg, 4), many(cfg, 4);
  const int k1 = one.add_domain("S", 10, {f0, f1}), kn = many.add_domain("S", 10, {f0, f1});
  const std::vector<float> init = values(one);
  train::TrainerConfig tc;
  tc.epochs = 2;
  tc.batch_size = 16;
  tc.patience = 0;
  tc.lr = 1e-2;
  const train::TrainResult a = finetune(one, k1, split, tc, false);
  distributed::MpiSync sync(*world);
  const train::TrainResult b = finetune_synced(many, kn, split, tc, false, sync);
  const std::vector<float> va = values(one), vb = values(many);
  const double diff = max_abs_diff(va, vb);
  MESSAGE("MISSRec ranks=" << world->size() << " max |one - many| = " << diff << " at " << worst_parameter(one, many)
                             << ", moved " << max_abs_diff(va, init));
  CHECK(diff <= 1e-4);
  CHECK(max_abs_diff(va, init) >= 1e-2);
  CHECK(same_on_all_ranks(values(many, true)));
  CHECK(std::abs(a.test["NDCG@10"] - b.test["NDCG@10"]) <= 1.0 / static_cast<double>(split.test.size()));
}

TEST_CASE("distributed evaluation gives the single-process ranks") {
  using Model = Recommender<backbones::SASRec>;
  const data::Split split = ring();
  Model m(test::config<Model>(sizes()), 11);
  const int k = m.add_domain("ring", split.n_items);
  train::fit(m, k, split, [] { auto t = trainer(1); t.epochs = 1; return t; }());
  Tape<float> tape(1);
  std::vector<index_t> ranks(split.test.size());
  const eval::Metrics one = train::evaluate(m, tape, k, split.test, {}, std::span<index_t>(ranks));
  distributed::MpiSync sync(*world);
  const eval::Metrics many = distributed::evaluate(m, tape, k, split.test, {}, sync);
  CHECK(many.count() == one.count());
  for (const auto& [name, v] : one.items()) CHECK_MESSAGE(many[name] == v, name);
}

TEST_CASE("GradientReducer: dense sums, sparse rows in rank order, a dense rank makes a table dense") {
  const int N = world->size(), me = world->rank();
  Parameter<float> w("w", Shape{3, 4});
  Parameter<float> table("table", Shape{10, 2}, /*sparse=*/true), tied("tied", Shape{10, 2}, true);
  for (index_t i = 0; i < w.grad.size(); ++i) w.grad[i] = static_cast<float>(me + 1);
  // table: rank r touches row r and row 9 with value r + 1.
  for (index_t row : {static_cast<index_t>(me), index_t{9}}) {
    table.touch_row(row);
    for (index_t j = 0; j < 2; ++j) table.grad[row * 2 + j] = static_cast<float>(me + 1);
  }
  // tied: rank 0 wrote it densely (e.g. full-softmax CE), the others touched row 1.
  if (me == 0) {
    tied.grad.fill(1.0f);
    tied.dense_grad = true;
  } else {
    tied.touch_row(1);
    tied.grad[2] = tied.grad[3] = 1.0f;
  }
  distributed::GradientReducer red(*world, {.bucket_bytes = 64});  // 16 floats: w (12) and tied (20) span buckets
  const double loss = red.reduce<float>({&w, &table, &tied}, 0.5, static_cast<double>(me));
  const float tri = static_cast<float>(N * (N + 1) / 2);
  CHECK(loss == doctest::Approx(0.5 * N * (N - 1) / 2));
  for (index_t i = 0; i < w.grad.size(); ++i) CHECK(w.grad[i] == 0.5f * tri);
  CHECK_FALSE(table.grad_is_dense());
  CHECK(table.touched.size() == static_cast<std::size_t>(N) + 1);
  for (int r = 0; r < N; ++r) CHECK(table.grad[r * 2] == 0.5f * static_cast<float>(r + 1));
  CHECK(table.grad[9 * 2 + 1] == 0.5f * tri);
  CHECK(tied.grad_is_dense());
  CHECK(tied.grad[0] == 0.5f);                                  // row 0: rank 0 only
  CHECK(tied.grad[2] == 0.5f * static_cast<float>(N));          // row 1: every rank
  const auto& s = red.stats();
  CHECK(s.dense_payload_bytes == (12 + 20) * sizeof(float));
  CHECK(s.allreduce_calls == 2);
  CHECK(s.sparse_sent_bytes == 2 * (sizeof(std::int64_t) + 2 * sizeof(float)));
  CHECK(s.sparse_received_bytes == static_cast<std::uint64_t>(N - 1) * s.sparse_sent_bytes);
  // Zeroing afterwards leaves the invariant (rows outside `touched` are zero) for the next step.
  table.zero_grad();
  tied.zero_grad();
  for (index_t i = 0; i < table.grad.size(); ++i) CHECK(table.grad[i] == 0.0f);
  for (index_t i = 0; i < tied.grad.size(); ++i) CHECK(tied.grad[i] == 0.0f);
}

TEST_CASE("sampled losses (row-tracked tables): replicas stay identical and the model learns") {
  using Model = Recommender<backbones::SASRec>;
  const data::Split split = ring();
  Model m(test::config<Model>(sizes()), 7);
  m.set_sparse_item_tables(true);
  const int k = m.add_domain("ring", split.n_items);
  auto tc = trainer(5);
  tc.loss = LossKind::bce;
  tc.epochs = 3;
  distributed::MpiSync sync(*world);
  const train::TrainResult r = distributed::fit(m, k, split, tc, sync);
  CHECK(same_on_all_ranks(values(m, true)));
  CHECK(sync.stats().sparse_sent_bytes > 0);
  CHECK(r.history.back().loss < r.history.front().loss);
}

int main(int argc, char** argv) { return test::run_mpi_tests(argc, argv); }
