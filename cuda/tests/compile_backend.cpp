// Compile test of the backend axis: every built-in backbone with every
// quantizer that has a device path, trained by train::fit, evaluated by
// train::evaluate and meta-transferred by meta::MetaTransfer (SimilarityRescaled,
// MetaRec's learner) on backend::Cuda. Instantiating them here makes any op the
// models use without a device path a build error (a device tensor has no
// host element access), in every build with nvcc or the host emulation.
// Nothing here runs; test_backend_models.cpp runs them.
#include "metarec/backbones/bert4rec.hpp"
#include "metarec/backbones/gru4rec.hpp"
#include "metarec/backbones/sasrec.hpp"
#include "metarec/meta/transfer.hpp"
#include "metarec/quantizers/identity.hpp"
#include "metarec/quantizers/multi_head_vq.hpp"
#include "metarec/recommender/recommender.hpp"
#include "metarec/train/evaluate.hpp"
#include "metarec/train/trainer.hpp"

namespace metarec::test {

template <class Backbone, class Quantizer>
void instantiate_on_cuda(bool run) {
  using Model = RecommenderType<Backbone, Quantizer, backend::Cuda, float>;
  static_assert(std::is_same_v<backend_of<Model>, backend::Cuda>);
  if (!run) return;  // never taken: the calls below exist to be compiled and linked
  Model model(ModelConfig{}, 1);
  const int k = model.add_domain("d", 10);
  data::Split split;
  train::TrainerConfig cfg;
  (void)train::fit(model, k, split, cfg);
  tape_of<Model> tape;
  (void)train::evaluate(model, tape, k, split.test);
  meta::MetaTransfer<Model, meta::SimilarityRescaled> transfer(meta::MetaConfig{});
  (void)transfer.run(model, {{k, &split}}, k, split);
}

/// Called from nowhere; its body is the compile test.
void compile_backend_cuda(bool run) {
  instantiate_on_cuda<backbones::SASRec, quantizers::Identity>(run);
  instantiate_on_cuda<backbones::GRU4Rec, quantizers::Identity>(run);
  instantiate_on_cuda<backbones::BERT4Rec, quantizers::Identity>(run);
  instantiate_on_cuda<backbones::SASRec, quantizers::MultiHeadVQ>(run);
  instantiate_on_cuda<backbones::GRU4Rec, quantizers::MultiHeadVQ>(run);
  instantiate_on_cuda<backbones::BERT4Rec, quantizers::MultiHeadVQ>(run);
}

}  // namespace metarec::test
