// Data-parallel training of a model on backend::Cuda with NCCL (issue 22):
// built whenever nvcc, MPI and NCCL are (so the NCCL path always compiles);
// without a GPU every case says why it skips. On one GPU the job runs as one
// rank (NCCL puts one rank per device): NcclSync then reduces over a
// one-rank communicator, and training must equal train::fit on the same
// device, within float rounding (the shard is the whole batch).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "distributed/mpi_world.hpp"
#include "fixtures/ring.hpp"
#include "fixtures/small_config.hpp"
#include "metarec/backbones/sasrec.hpp"
#include "metarec/distributed/nccl_sync.hpp"
#include "metarec/recommender/recommender.hpp"
#include "metarec/train/trainer.hpp"

using namespace metarec;

using test::world;

namespace {
using DeviceSASRec = RecommenderType<backbones::SASRec, quantizers::Identity, backend::Cuda, float>;

DeviceSASRec::Config small() {
  return test::config<DeviceSASRec>({.d = 16, .layers = 1, .heads = 1, .inner = 32, .max_len = 8, .dropout = 0.0});
}
}  // namespace

TEST_CASE("NCCL data-parallel training of SASRec on backend::Cuda equals one process") {
  if (cuda::Context::device_count() == 0) {
    MESSAGE("skipped: no CUDA device (" << cuda::Context::device_count_reason() << ")");
    return;
  }
  const data::Split split = test::ring_split("ring", 40, 96, 5, {.min_len = 6, .max_len = 10, .jumps = false});
  train::TrainerConfig cfg;
  cfg.epochs = 3;
  cfg.batch_size = 32;
  cfg.lr = 1e-2;
  cfg.patience = 0;
  distributed::NcclSync sync(*world);
  DeviceSASRec a(small(), 3);
  const int k1 = a.add_domain("ring", split.n_items);
  const train::TrainResult ra = distributed::fit(a, k1, split, cfg, sync);
  CHECK(sync.stats().steps > 0);
  CHECK(sync.stats().dense_payload_bytes > 0);
  if (world->size() != 1) return;  // several GPUs: the ranks agree with each other (checked by NCCL's own reduction)
  DeviceSASRec b(small(), 3);
  const int k2 = b.add_domain("ring", split.n_items);
  const train::TrainResult rb = train::fit(b, k2, split, cfg);
  CHECK(ra.history.back().loss == doctest::Approx(rb.history.back().loss).epsilon(1e-4));
  auto pa = a.parameters().all(), pb = b.parameters().all();
  for (std::size_t i = 0; i < pa.size(); ++i) {
    const Tensor<float> x = memory<backend::Cuda>::to_host(pa[i]->value), y = memory<backend::Cuda>::to_host(pb[i]->value);
    for (index_t j = 0; j < x.size(); ++j) REQUIRE(x[j] == doctest::Approx(y[j]).epsilon(1e-3));
  }
}

int main(int argc, char** argv) { return test::run_mpi_tests(argc, argv); }
