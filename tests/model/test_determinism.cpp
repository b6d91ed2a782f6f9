// The determinism the library promises (docs/architecture.md, "Determinism"):
// the same seed, thread count and machine give bit-identical results. Across
// machines results agree within float tolerance only (Eigen's GEMM blocking
// follows the CPU's cache sizes), so no test here pins a trajectory's values.
#include <doctest/doctest.h>

#include <cstring>

#include "fixtures/ring.hpp"
#include "fixtures/small_config.hpp"
#include "metarec/backbones/bert4rec.hpp"
#include "metarec/backbones/gru4rec.hpp"
#include "metarec/backbones/sasrec.hpp"
#include "metarec/core/parallel.hpp"
#include "metarec/recommender/recommender.hpp"
#include "metarec/train/trainer.hpp"

using namespace metarec;

namespace {

data::Split ring_split() { return test::ring_split("ring", 30, 120, 5, {.min_len = 4, .max_len = 11}); }

/// Trains two epochs (dropout on, batches shuffled) and returns every parameter's bytes and the metrics.
template <class Policy>
std::pair<std::vector<float>, std::vector<double>> train_once(const data::Split& split, std::uint64_t seed = 1) {
  Recommender<Policy> model(test::config<Recommender<Policy>>({.d = 16, .inner = 32, .max_len = 8, .dropout = 0.2}), 7);
  const int k = model.add_domain("ring", split.n_items);
  train::TrainerConfig tc;
  tc.epochs = 2;
  tc.batch_size = 32;
  tc.patience = 0;
  tc.seed = seed;  // batch order and dropout masks
  const train::TrainResult r = train::fit(model, k, split, tc);
  std::vector<float> v;
  for (auto* p : model.parameters().all()) v.insert(v.end(), p->value.data(), p->value.data() + p->value.size());
  return {v, {r.valid["NDCG@10"], r.valid["HR@10"], r.test["NDCG@10"], r.test["HR@10"]}};
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE_TEMPLATE("determinism: the same seed and thread count give bit-identical training", Policy,
                   backbones::SASRec, backbones::GRU4Rec, backbones::BERT4Rec) {
  const data::Split split = ring_split();
  const int threads = num_threads();
  for (int n : {1, 2}) {
    CAPTURE(n);
    set_num_threads(n);
    const auto a = train_once<Policy>(split), b = train_once<Policy>(split);
    CHECK(same_bits(a.first, b.first));
    CHECK(a.second == b.second);
    CHECK_FALSE(same_bits(a.first, train_once<Policy>(split, 2).first));  // the comparison is not vacuous
  }
  set_num_threads(threads);
}
