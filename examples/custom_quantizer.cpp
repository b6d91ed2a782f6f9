// A user-defined quantizer (item-representation policy) plugged into
// metarec::Recommender with no library change. It meets the metarec::Quantizer
// contract (model/concepts.hpp):
//   name, template <class T> class Model { Model(store, model config, rng);
//   QuantizedItems<T> apply(Tape<T>&, Var<T> table [rows, d], int domain); }
// Here: a shared residual map, items = E + E W^T with W [d, d] shared by every
// domain and zero at the start (so training starts from plain ID embeddings),
// plus a small L2 penalty on W as the auxiliary loss. The model trains with the
// library's trainer on a synthetic ring (next item = current + 1), which it must
// learn (exit code 1 otherwise). It has no settings of its own, so it defines
// no `Config` and its Model is built without one (examples/custom_backbone.cpp
// shows a policy with a Config). To make the tool offer it, add one line to
// tools/metarec/registry.hpp.
#include <cstdio>

#include "metarec/metarec.hpp"

namespace my {

struct SharedResidual {
  static constexpr const char* name = "shared-residual";

  template <class T>
  class Model {
   public:
    Model(metarec::nn::ParameterStore<T>& store, const metarec::ModelConfig& c, metarec::Rng& rng)
        : w_(&store.add("quantizer.residual_map", {c.d, c.d}, metarec::nn::Init::zeros(), rng)) {}

    metarec::QuantizedItems<T> apply(metarec::Tape<T>& t, metarec::Var<T> table, int /*domain*/) {
      using namespace metarec;
      Var<T> w = t.param(*w_);
      Var<T> items = ops::add(table, ops::linear(table, w));  // row 0 (padding) stays zero: no bias
      return {items, ops::scale(ops::mean(ops::mul(w, w)), 1e-3)};
    }

   private:
    metarec::Parameter<T>* w_;
  };
};

}  // namespace my

int main() {
  using namespace metarec;
  static_assert(Quantizer<my::SharedResidual>, "my::SharedResidual satisfies the Quantizer contract");
  data::Domain d;
  d.name = "ring";
  d.n_items = 30;
  Rng rng(1);
  for (int u = 0; u < 300; ++u) {
    std::vector<std::int32_t> s;
    auto item = static_cast<std::int32_t>(1 + rng.below(30));
    for (int t = 0; t < 8; ++t) s.push_back(item = item % 30 + 1);
    d.sequences.push_back(s);
  }
  const data::Split split = data::split_leave_one_out(d);
  Recommender<backbones::SASRec, my::SharedResidual>::Config cfg;
  cfg.model.d = 16;
  cfg.model.max_len = 10;
  cfg.backbone.inner = 32;
  cfg.backbone.layers = 1;
  cfg.backbone.dropout = cfg.backbone.attn_dropout = 0.1;
  Recommender<backbones::SASRec, my::SharedResidual> model(cfg, 3);
  const int k = model.add_domain("ring", d.n_items);
  train::TrainerConfig tc;
  tc.epochs = 30;
  tc.batch_size = 64;
  tc.lr = 1e-2;
  tc.patience = 5;
  const train::TrainResult r = train::fit(model, k, split, tc);
  const Parameter<float>& w = model.parameters().at("quantizer.residual_map");
  double moved = 0;
  for (index_t i = 0; i < w.value.size(); ++i) moved += std::abs(w.value[i]);
  std::printf("SASRec + shared-residual on the ring: test HR@5 %.3f NDCG@10 %.3f (best epoch %d), |W|_1 %.3f\n",
              r.test["HR@5"], r.test["NDCG@10"], r.best_epoch, moved);
  return r.test["HR@5"] > 0.9 && moved > 0 ? 0 : 1;
}
