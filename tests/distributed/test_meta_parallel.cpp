// Per-source meta-training over MPI ranks (distributed::MpiSourceSync), run
// by ctest as `mpirun -np 2` (3 sources: 2 + 1 per rank) and `-np 3` (one
// source per rank). Every rank also runs the single-process reference; the
// learners combine the gathered per-source blocks in source order, so the
// comparison is bit for bit (same host, same thread count).
#include <doctest/doctest.h>

#include <cstring>

#include "distributed/mpi_world.hpp"
#include "fixtures/ring.hpp"
#include "fixtures/small_config.hpp"
#include "metarec/backbones/sasrec.hpp"
#include "metarec/distributed/meta_parallel.hpp"
#include "metarec/meta/transfer.hpp"
#include "metarec/recommender/recommender.hpp"

using namespace metarec;
using metarec::test::world;

namespace {
using Model = Recommender<backbones::SASRec>;

std::vector<float> all_values(Model& m) {
  std::vector<float> v;
  for (auto* p : m.parameters().all()) v.insert(v.end(), p->value.data(), p->value.data() + p->value.size());
  return v;
}

struct World {
  std::vector<data::Split> sources{test::ring_split("a", 20, 40, 1), test::ring_split("b", 25, 40, 2),
                                   test::ring_split("c", 15, 40, 3)};
  data::Split target = test::ring_split("t", 20, 40, 4);
};

/// Runs the learner on a fresh model (same seed every time) and returns its parameters.
template <class Policy>
std::pair<std::vector<float>, meta::TransferResult> transfer(const World& w, meta::SourceSync& sync,
                                                             const config_of<Policy>& pc) {
  Model model(test::config<Model>({.d = 8, .max_len = 6, .dropout = 0.1}), 7);
  std::vector<std::pair<int, const data::Split*>> src;
  for (const auto& s : w.sources) src.emplace_back(model.add_domain(s.name, s.n_items), &s);
  const int t = model.add_domain(w.target.name, w.target.n_items);
  meta::MetaConfig mc;
  mc.batch_size = 16;
  mc.eval_every = 2;  // meta-phase validation on every rank, keep_best for the first-order learners
  mc.keep_best = !std::is_same_v<Policy, meta::Reptile>;
  mc.seed = 3;
  mc.finetune.epochs = 1;
  mc.finetune.batch_size = 16;
  mc.finetune.patience = 0;
  mc.finetune.seed = 3;
  meta::MetaTransfer<Model, Policy> learner(mc, pc);
  meta::TransferResult r = learner.run_synced(sync, model, src, t, w.target);
  return {all_values(model), std::move(r)};
}

template <class Policy>
config_of<Policy> quick() {
  config_of<Policy> c;
  c.iterations = 4;
  c.inner_steps = 2;
  if constexpr (requires { c.source_weight; }) c.source_weight = 0.5;
  return c;
}
}  // namespace

TEST_CASE_TEMPLATE("per-source meta-training over ranks gives one process's bits", Policy, meta::SimilarityRescaled,
                   meta::FOMAML, meta::Reptile) {
  const World w;
  const auto [one, r1] = transfer<Policy>(w, meta::local_source_sync(), quick<Policy>());
  distributed::MpiSourceSync sync(*world);
  const auto [many, rn] = transfer<Policy>(w, sync, quick<Policy>());
  REQUIRE(one.size() == many.size());
  CHECK(std::memcmp(one.data(), many.data(), one.size() * sizeof(float)) == 0);
  CHECK(test::same_on_all_ranks(many));
  CHECK(sync.received_bytes() > 0);  // the blocks of other ranks' sources did travel
  REQUIRE(r1.iterations.size() == rn.iterations.size());
  for (std::size_t i = 0; i < r1.iterations.size(); ++i) {
    CHECK(r1.iterations[i].similarity == rn.iterations[i].similarity);
    CHECK(r1.iterations[i].weight == rn.iterations[i].weight);
    CHECK(r1.iterations[i].query_loss == rn.iterations[i].query_loss);
  }
  CHECK(r1.meta_best_iteration == rn.meta_best_iteration);
  CHECK(r1.finetune.test.sums() == rn.finetune.test.sums());
  if constexpr (!std::is_same_v<Policy, meta::Reptile>) {
    // Not vacuous: three sources with different similarities.
    CHECK(r1.iterations[0].similarity[0] != r1.iterations[0].similarity[1]);
  }
}

TEST_CASE("joint pre-training refuses to run over ranks") {
  const World w;
  distributed::MpiSourceSync sync(*world);
  CHECK_THROWS_WITH_AS(transfer<meta::JointPretrain>(w, sync, {}), doctest::Contains("runs in one process"),
                       ConfigError);
}
