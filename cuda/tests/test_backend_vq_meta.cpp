// MultiHeadVQ and the meta-learners on backend::Cuda against backend::Cpu
// from the same seed (issue 21): the quantized models train alike (every
// loss, gradient and trained value), and meta::MetaTransfer ends on nearby
// shared parameters. In the host emulation this runs in every build.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "backend_compare.hpp"
#include "fixtures/small_config.hpp"
#include "metarec/backbones/bert4rec.hpp"
#include "metarec/backbones/gru4rec.hpp"
#include "metarec/backbones/sasrec.hpp"
#include "metarec/quantizers/multi_head_vq.hpp"
#include "metarec/recommender/recommender.hpp"

using namespace metarec;

namespace {
/// A small quantizer: 2 heads of 3-dim codes, 4 codewords (fewer than the 9
/// items, so data init picks distinct rows and no two codewords tie).
struct SmallVQ {
  bool skip = false, residual = false, ema = false;
  int dead_after = 200;
  template <class C>
  void operator()(C& c) const {
    c.quantizer.heads = 2;
    c.quantizer.codebook_size = 4;
    c.quantizer.code_dim = 3;
    c.quantizer.skip = skip;
    c.quantizer.residual = residual;
    c.quantizer.ema = ema;
    c.quantizer.decay = 0.8;
    c.quantizer.dead_after = dead_after;
  }
};
}  // namespace

TEST_CASE("SASRec + MultiHeadVQ trains on backend::Cuda as on backend::Cpu") {
  test::train_on_both<backbones::SASRec, quantizers::MultiHeadVQ>({.dropout = 0.0, .steps = 5}, SmallVQ{});
}
TEST_CASE("SASRec + MultiHeadVQ (skip, residual, dropout) trains on backend::Cuda as on backend::Cpu") {
  test::train_on_both<backbones::SASRec, quantizers::MultiHeadVQ>({.dropout = 0.2}, SmallVQ{.skip = true, .residual = true});
}
TEST_CASE("SASRec + MultiHeadVQ (EMA codebooks, dead-code restarts) trains on backend::Cuda as on backend::Cpu") {
  // dead_after = 2: codes unused for two steps are restarted from the same host draws on both backends.
  test::train_on_both<backbones::SASRec, quantizers::MultiHeadVQ>({.dropout = 0.0, .steps = 6},
                                                                   SmallVQ{.skip = true, .ema = true, .dead_after = 2});
}
TEST_CASE("GRU4Rec + MultiHeadVQ trains on backend::Cuda as on backend::Cpu") {
  test::train_on_both<backbones::GRU4Rec, quantizers::MultiHeadVQ>({.dropout = 0.0}, SmallVQ{.residual = true});
}
TEST_CASE("BERT4Rec + MultiHeadVQ trains on backend::Cuda as on backend::Cpu") {
  test::train_on_both<backbones::BERT4Rec, quantizers::MultiHeadVQ>({.dropout = 0.0}, SmallVQ{.skip = true});
}

// ---- meta::MetaTransfer on both backends ------------------------------------
#include "fixtures/ring.hpp"
#include "metarec/meta/transfer.hpp"

namespace {

template <class Model>
typename Model::Config meta_config() {
  auto c = test::config<Model>({.d = 8, .layers = 1, .heads = 2, .inner = 16, .max_len = 8, .dropout = 0.0,
                                .ln_eps = 1e-5, .init_std = 0.3});
  c.quantizer.heads = 2;
  c.quantizer.codebook_size = 6;
  c.quantizer.code_dim = 3;
  return c;
}

template <class Policy>
config_of<Policy> meta_policy() {
  config_of<Policy> c;
  if constexpr (requires { c.iterations; }) {
    c.iterations = 3;
    c.inner_steps = 2;
  }
  if constexpr (requires { c.source_weight; }) c.source_weight = 0.5;  // exercises the source term too
  if constexpr (requires { c.epochs; }) c.epochs = 1;
  return c;
}

meta::MetaConfig meta_run_config() {
  meta::MetaConfig m;
  m.batch_size = 16;
  m.seed = 3;
  m.finetune.epochs = 1;
  m.finetune.batch_size = 16;
  m.finetune.patience = 0;
  return m;
}

/// Two ring sources and one ring target, attached to `model`; MetaTransfer<Model, Policy> run on them.
template <class Policy, class Model>
meta::TransferResult run_meta(Model& model, const std::vector<data::Split>& sources, const data::Split& target) {
  std::vector<std::pair<int, const data::Split*>> src;
  for (const auto& s : sources) src.emplace_back(model.add_domain(s.name, s.n_items), &s);
  const int t = model.add_domain(target.name, target.n_items);
  meta::MetaTransfer<Model, Policy> learner(meta_run_config(), meta_policy<Policy>());
  return learner.run(model, src, t, target);
}

}  // namespace

/// MetaTransfer<Model, Policy> on both backends from the same seed. check_logs: compare the logged
/// similarities too (not with SASRec: its attention key biases have an exactly zero query gradient, so
/// their cosine, one term of the mean similarity, is the cosine of rounding noise on either backend).
template <class Backbone, class Policy>
void meta_on_both(bool check_logs) {
  METAREC_REQUIRE_GPU();
  using CpuModel = RecommenderType<Backbone, quantizers::MultiHeadVQ, backend::Cpu, float>;
  using GpuModel = RecommenderType<Backbone, quantizers::MultiHeadVQ, backend::Cuda, float>;
  const std::vector<data::Split> sources{test::ring_split("a", 12, 24, 5), test::ring_split("b", 10, 24, 6)};
  const data::Split target = test::ring_split("t", 11, 16, 7);
  CpuModel cpu(meta_config<CpuModel>(), 21);
  GpuModel gpu(meta_config<GpuModel>(), 21);
  const meta::TransferResult rc = run_meta<Policy>(cpu, sources, target);
  const meta::TransferResult rg = run_meta<Policy>(gpu, sources, target);
  REQUIRE(rg.iterations.size() == rc.iterations.size());
  for (std::size_t it = 0; it < rc.iterations.size(); ++it) {
    const auto& a = rc.iterations[it];
    const auto& b = rg.iterations[it];
    REQUIRE(b.similarity.size() == a.similarity.size());
    REQUIRE(b.weight.size() == a.weight.size());
    CHECK(b.query_loss == doctest::Approx(a.query_loss).epsilon(1e-3));
    if (!check_logs) continue;
    // s_i: a mean of cosines summed in another order on the device; w = softmax(s / 0.1) of it.
    for (std::size_t i = 0; i < a.similarity.size(); ++i) CHECK(std::abs(b.similarity[i] - a.similarity[i]) < 1e-3);
    for (std::size_t i = 0; i < a.weight.size(); ++i) CHECK(std::abs(b.weight[i] - a.weight[i]) < 1e-2);
  }
  // Shared parameters after meta-training and fine-tuning: within 2e-3 (relative to 1 + |x|); a few
  // dozen SGD / Adam steps amplify the per-step rounding differences (2e-4 in train_on_both).
  const auto sc = cpu.shared_parameters();
  const auto sg = gpu.shared_parameters();
  REQUIRE(sc.size() == sg.size());
  for (std::size_t i = 0; i < sc.size(); ++i) {
    if (sc[i]->name.find(".attn.k.bias") != std::string::npos) continue;  // zero gradient: Adam follows noise
    test::check_close(memory<backend::Cuda>::to_host(sg[i]->value), sc[i]->value,
                      std::string(Policy::name) + " shared " + sc[i]->name, 2e-3);
  }
}

TEST_CASE_TEMPLATE("MetaTransfer runs a backend::Cuda GRU4Rec + MultiHeadVQ as on backend::Cpu", Policy,
                   meta::SimilarityRescaled, meta::FOMAML, meta::Reptile, meta::JointPretrain, meta::TargetOnly) {
  meta_on_both<backbones::GRU4Rec, Policy>(true);
}
TEST_CASE_TEMPLATE("MetaTransfer runs a backend::Cuda SASRec + MultiHeadVQ as on backend::Cpu", Policy,
                   meta::SimilarityRescaled, meta::Reptile) {
  meta_on_both<backbones::SASRec, Policy>(false);
}

TEST_CASE("meta helpers on backend::Cuda: cosine_of, clip_meta_gradient, memory<Cuda>::axpy / scale") {
  METAREC_REQUIRE_GPU();
  using Dev = backend::Cuda;
  Rng rng(4);
  Tensor<float> a(Shape{3, 70}), b(Shape{300});
  for (index_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(rng.uniform(-1.0, 1.0));
  for (index_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(rng.uniform(-2.0, 2.0));
  Tensor<float> a2(Shape{210});
  for (index_t i = 0; i < 210; ++i) a2[i] = a[i] * 0.5f + static_cast<float>(rng.uniform(-0.1, 0.1));
  auto da = memory<Dev>::zeros<float>(Shape{210}), da2 = memory<Dev>::zeros<float>(Shape{210});
  memory<Dev>::upload(a.reshape(Shape{210}), da);
  memory<Dev>::upload(a2, da2);
  CHECK(meta::cosine_of<float, Dev>(da, da2) ==
        doctest::Approx(meta::cosine_of<float, backend::Cpu>(a.reshape(Shape{210}), a2)).epsilon(1e-12));
  auto dz = memory<Dev>::zeros<float>(Shape{210});
  CHECK(meta::cosine_of<float, Dev>(da, dz) == 0.0);
  // axpy and in-place scale: the same float arithmetic per element as the host.
  Tensor<float> y = a2.clone();
  memory<backend::Cpu>::axpy(-0.3, a.reshape(Shape{210}), y);
  memory<Dev>::axpy(-0.3, da, da2);
  test::check_close(memory<Dev>::to_host(da2), y, "axpy", 0.0);
  memory<backend::Cpu>::scale(y, 1.7);
  memory<Dev>::scale(da2, 1.7);
  test::check_close(memory<Dev>::to_host(da2), y, "scale", 0.0);
  // clipping: global norm over two parameters (one not trainable) above max_norm, then below it.
  for (double max_norm : {1.0, 1e6}) {
    Parameter<float> p1("p1", Shape{3, 70}), p2("p2", Shape{300}), p3("p3", Shape{300});
    Parameter<float, Dev> q1("p1", Shape{3, 70}), q2("p2", Shape{300}), q3("p3", Shape{300});
    p1.grad.copy_from(a);
    p2.grad.copy_from(b);
    p3.grad.copy_from(b);
    p3.trainable = q3.trainable = false;
    memory<Dev>::upload(a, q1.grad);
    memory<Dev>::upload(b, q2.grad);
    memory<Dev>::upload(b, q3.grad);
    meta::clip_meta_gradient<float, backend::Cpu>({&p1, &p2, &p3}, max_norm);
    meta::clip_meta_gradient<float, Dev>({&q1, &q2, &q3}, max_norm);
    test::check_close(memory<Dev>::to_host(q1.grad), p1.grad, "clipped p1", 1e-6);
    test::check_close(memory<Dev>::to_host(q2.grad), p2.grad, "clipped p2", 1e-6);
    test::check_close(memory<Dev>::to_host(q3.grad), p3.grad, "frozen p3", 0.0);
  }
}
