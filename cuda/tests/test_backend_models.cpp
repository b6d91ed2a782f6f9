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

#include "device_util.hpp"
#include "fixtures/ring.hpp"
#include "fixtures/small_config.hpp"
#include "metarec/backbones/bert4rec.hpp"
#include "metarec/backbones/gru4rec.hpp"
#include "metarec/backbones/sasrec.hpp"
#include "metarec/optim/adam.hpp"
#include "metarec/recommender/recommender.hpp"
#include "metarec/train/trainer.hpp"

using namespace metarec;

namespace {

/// Left-padded next-item batch: rows of a ring walk with lengths 6, 4, 2, 5 (L = 6).
struct RingBatch {
  std::vector<std::int32_t> items, targets;
  std::vector<std::uint8_t> mask;
  index_t B = 4, L = 6;
  RingBatch(int step, std::int32_t n_items, std::int32_t mask_token) {
    const int lens[4] = {6, 4, 2, 5};
    for (index_t b = 0; b < B; ++b) {
      const int len = lens[b];
      for (index_t j = 0; j < L; ++j) {
        const index_t pos = j - (L - len);
        const bool real = pos >= 0;
        const auto item = static_cast<std::int32_t>((b * 3 + step + pos) % n_items + 1);
        items.push_back(real ? item : 0);
        mask.push_back(real ? 1 : 0);
        targets.push_back(real ? item % n_items + 1 : 0);
      }
    }
    if (mask_token > 0)  // cloze: mask every third real position, predict the item there
      for (std::size_t i = 0; i < items.size(); ++i) {
        targets[i] = mask[i] && i % 3 == 0 ? items[i] : 0;
        if (targets[i]) items[i] = mask_token;
      }
  }
  TrainInputs inputs() { return TrainInputs{SequenceView{B, L, items.data(), mask.data()}, targets.data(), nullptr}; }
};

template <class Backbone>
void train_on_both(double dropout, int steps) {
  METAREC_REQUIRE_GPU();
  using CpuModel = RecommenderType<Backbone, quantizers::Identity, backend::Cpu, float>;
  using GpuModel = RecommenderType<Backbone, quantizers::Identity, backend::Cuda, float>;
  test::Sizes sizes{.d = 8, .layers = 2, .heads = 2, .inner = 16, .max_len = 6, .dropout = dropout,
                    .ln_eps = 1e-5, .init_std = 0.3};
  CpuModel cpu(test::config<CpuModel>(sizes), 11);
  GpuModel gpu(test::config<GpuModel>(sizes), 11);
  const std::int32_t n_items = 9;
  const int dc = cpu.add_domain("ring", n_items), dg = gpu.add_domain("ring", n_items);
  const std::int32_t mask_token = CpuModel::objective == Objective::cloze ? n_items + 1 : 0;
  auto pc = cpu.parameters().all();
  auto pg = gpu.parameters().all();
  REQUIRE(pc.size() == pg.size());
  for (std::size_t i = 0; i < pc.size(); ++i)  // same draws, copied to the device
    test::check_close(memory<backend::Cuda>::to_host(pg[i]->value), pc[i]->value, "initial " + pc[i]->name, 0.0);
  optim::Adam<float> opt_c(pc, {.lr = 1e-2});
  optim::Adam<float, backend::Cuda> opt_g(pg, {.lr = 1e-2});
  Tape<float> tc(5);
  Tape<float, backend::Cuda> tg(5);
  for (int s = 0; s < steps; ++s) {
    RingBatch batch(s, n_items, mask_token);
    tc.reset();
    tg.reset();
    opt_c.zero_grad();
    opt_g.zero_grad();
    Var<float> lc = cpu.loss(tc, dc, batch.inputs());
    Var<float, backend::Cuda> lg = gpu.loss(tg, dg, batch.inputs());
    const float loss_c = lc.value()[0];
    const float loss_g = memory<backend::Cuda>::to_host(lg.value())[0];
    CHECK(loss_g == doctest::Approx(loss_c).epsilon(1e-4));
    tc.backward(lc);
    tg.backward(lg);
    for (std::size_t i = 0; i < pc.size(); ++i)
      test::check_close(memory<backend::Cuda>::to_host(pg[i]->grad), pc[i]->grad, "step " + std::to_string(s) + " grad " + pc[i]->name, 2e-4);
    opt_c.step();
    opt_g.step();
  }
  // The key bias gets an exactly zero gradient (it adds the same q.b to every logit of a row, which the
  // softmax ignores), so its Adam steps follow the sign of rounding noise and differ between backends;
  // its gradient matched above (to noise), every other trained value must match.
  for (std::size_t i = 0; i < pc.size(); ++i)
    if (pc[i]->name.find(".attn.k.bias") == std::string::npos)
      test::check_close(memory<backend::Cuda>::to_host(pg[i]->value), pc[i]->value, "trained " + pc[i]->name, 2e-4);
}

}  // namespace

TEST_CASE("SASRec trains on backend::Cuda as on backend::Cpu (no dropout)") {
  train_on_both<backbones::SASRec>(0.0, 4);
}
TEST_CASE("SASRec trains on backend::Cuda as on backend::Cpu (dropout: the same masks)") {
  train_on_both<backbones::SASRec>(0.3, 4);
}
TEST_CASE("BERT4Rec trains on backend::Cuda as on backend::Cpu") {
  train_on_both<backbones::BERT4Rec>(0.2, 4);
}

TEST_CASE("GRU4Rec trains on backend::Cuda as on backend::Cpu") {
  train_on_both<backbones::GRU4Rec>(0.2, 4);
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
