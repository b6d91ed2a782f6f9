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
  bool skip = false, residual = false;
  template <class C>
  void operator()(C& c) const {
    c.quantizer.heads = 2;
    c.quantizer.codebook_size = 4;
    c.quantizer.code_dim = 3;
    c.quantizer.skip = skip;
    c.quantizer.residual = residual;
  }
};
}  // namespace

TEST_CASE("SASRec + MultiHeadVQ trains on backend::Cuda as on backend::Cpu") {
  test::train_on_both<backbones::SASRec, quantizers::MultiHeadVQ>({.dropout = 0.0, .steps = 5}, SmallVQ{});
}
TEST_CASE("SASRec + MultiHeadVQ (skip, residual, dropout) trains on backend::Cuda as on backend::Cpu") {
  test::train_on_both<backbones::SASRec, quantizers::MultiHeadVQ>({.dropout = 0.2}, SmallVQ{true, true});
}
TEST_CASE("GRU4Rec + MultiHeadVQ trains on backend::Cuda as on backend::Cpu") {
  test::train_on_both<backbones::GRU4Rec, quantizers::MultiHeadVQ>({.dropout = 0.0}, SmallVQ{false, true});
}
TEST_CASE("BERT4Rec + MultiHeadVQ trains on backend::Cuda as on backend::Cpu") {
  test::train_on_both<backbones::BERT4Rec, quantizers::MultiHeadVQ>({.dropout = 0.0}, SmallVQ{true, false});
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

TEST_CASE_TEMPLATE("MetaTransfer runs a backend::Cuda model as a backend::Cpu one", Policy, meta::SimilarityRescaled,
                   meta::FOMAML, meta::Reptile, meta::JointPretrain, meta::TargetOnly) {
  METAREC_REQUIRE_GPU();
  using CpuModel = RecommenderType<backbones::GRU4Rec, quantizers::MultiHeadVQ, backend::Cpu, float>;
  using GpuModel = RecommenderType<backbones::GRU4Rec, quantizers::MultiHeadVQ, backend::Cuda, float>;
  const std::vector<data::Split> sources{test::ring_split("a", 12, 24, 5), test::ring_split("b", 10, 24, 6)};
  const data::Split target = test::ring_split("t", 11, 16, 7);
  CpuModel cpu(meta_config<CpuModel>(), 21);
  GpuModel gpu(meta_config<GpuModel>(), 21);
  const meta::TransferResult rc = run_meta<Policy>(cpu, sources, target);
  const meta::TransferResult rg = run_meta<Policy>(gpu, sources, target);
  // Same iterations logged with nearby similarities and weights (the similarity is a cosine summed in
  // another order on the device, and the weights a softmax of it at temperature 0.1).
  REQUIRE(rg.iterations.size() == rc.iterations.size());
  for (std::size_t it = 0; it < rc.iterations.size(); ++it) {
    const auto& a = rc.iterations[it];
    const auto& b = rg.iterations[it];
    REQUIRE(b.similarity.size() == a.similarity.size());
    REQUIRE(b.weight.size() == a.weight.size());
    for (std::size_t i = 0; i < a.similarity.size(); ++i)
      CHECK(std::abs(b.similarity[i] - a.similarity[i]) < 1e-3);
    for (std::size_t i = 0; i < a.weight.size(); ++i) CHECK(std::abs(b.weight[i] - a.weight[i]) < 1e-2);
    CHECK(b.query_loss == doctest::Approx(a.query_loss).epsilon(1e-3));
  }
  // Shared parameters after meta-training and fine-tuning: within 2e-3 (relative to 1 + |x|); a few
  // dozen Adam / SGD steps amplify the per-step rounding differences (2e-4 in train_on_both).
  const auto sc = cpu.shared_parameters();
  const auto sg = gpu.shared_parameters();
  REQUIRE(sc.size() == sg.size());
  for (std::size_t i = 0; i < sc.size(); ++i) {
    if (sc[i]->name.find(".attn.k.bias") != std::string::npos) continue;  // zero gradient: Adam follows noise
    test::check_close(memory<backend::Cuda>::to_host(sg[i]->value), sc[i]->value,
                      std::string(Policy::name) + " shared " + sc[i]->name, 2e-3);
  }
}
