// A user-defined meta-learner plugged into metarec::meta::MetaTransfer with no
// library change. It meets the metarec::meta::MetaLearner contract
// (meta/transfer_task.hpp): `name`, its own settings `Config` (visit +
// validate, model/policy_config.hpp; the tool offers them as options), and
//   template <class Model> static void pretrain(TransferTask<Model>&, const Config&, TransferResult&)
// run before fine-tuning on the target. Here: "largest source first", a
// curriculum that pre-trains on the sources one after another, biggest first,
// each for Config::epochs epochs with Adam on the shared parameters and that
// source's item table. Built from the library's pieces (SourceTasks, Adam).
// Two synthetic ring domains transfer to a third with 20% of its users; the
// program checks that pre-training moved the shared parameters and that the
// target is learned (exit code 1 otherwise). To make the tool offer it, add one
// line to tools/metarec/registry.hpp.
#include <algorithm>
#include <cstdio>
#include <numeric>

#include "metarec/metarec.hpp"

namespace my {

struct LargestSourceFirst {
  static constexpr const char* name = "largest-first";

  struct Config {
    int epochs = 3;  ///< epochs on each source
    template <class V>
    void visit(V&& v) {
      v("epochs", epochs, "largest-first: epochs on each source", "--stage-epochs");
    }
    void validate() const { metarec::check_range("largest-first.epochs", epochs, 1, 1000); }
  };

  template <class Model>
  static void pretrain(metarec::meta::TransferTask<Model>& task, const Config& c, metarec::meta::TransferResult& res) {
    using namespace metarec;
    using T = typename Model::Scalar;
    Model& model = task.model;
    meta::SourceTasks<Model> sources(task);
    std::vector<std::size_t> order(sources.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return task.source_splits[a]->train_users.size() > task.source_splits[b]->train_users.size();
    });
    Tape<T> tape(task.config.seed);
    for (std::size_t i : order) {
      std::vector<Parameter<T>*> params = model.shared_parameters();
      params.insert(params.end(), sources.tables(i).begin(), sources.tables(i).end());
      optim::Adam<T> adam(params, optim::AdamConfig{.lr = task.config.finetune.lr});
      const index_t steps = sources.stream(i).batches_per_epoch() * c.epochs;
      meta::IterationLog log;
      log.iteration = static_cast<int>(res.iterations.size()) + 1;
      for (index_t s = 0; s < steps; ++s) {
        tape.reset();
        model.parameters().zero_grad();
        Var<T> loss = model.loss(tape, task.sources[i], sources.stream(i).next());
        log.query_loss = static_cast<double>(loss.value()[0]);  // last source loss, for the log
        tape.backward(loss);
        adam.step();
      }
      log.weight.assign(sources.size(), 0.0);
      log.weight[i] = 1.0;  // this stage trained on source i only
      res.iterations.push_back(std::move(log));
    }
  }
};

metarec::data::Split ring(const std::string& name, std::int32_t n_items, int users, std::uint64_t seed) {
  metarec::data::Domain d;
  d.name = name;
  d.n_items = n_items;
  metarec::Rng rng(seed);
  for (int u = 0; u < users; ++u) {
    std::vector<std::int32_t> s;
    auto item = static_cast<std::int32_t>(1 + rng.below(static_cast<std::uint64_t>(n_items)));
    for (int t = 0; t < 8; ++t) s.push_back(item = item % n_items + 1);
    d.sequences.push_back(s);
    d.user_names.push_back(std::to_string(u));
  }
  d.item_names.assign(static_cast<std::size_t>(n_items) + 1, "");
  return metarec::data::split_leave_one_out(d);
}

}  // namespace my

int main() {
  using namespace metarec;
  using Model = Recommender<backbones::SASRec>;
  static_assert(meta::MetaLearner<my::LargestSourceFirst, Model>, "my::LargestSourceFirst is a MetaLearner");
  const data::Split a = my::ring("a", 30, 300, 1), b = my::ring("b", 25, 150, 2);
  const data::Split target = data::limit_training_users(my::ring("t", 20, 300, 3), 0.2, 4);
  Model::Config cfg;
  cfg.model.d = 16;
  cfg.model.max_len = 10;
  cfg.backbone.inner = 32;
  cfg.backbone.layers = 1;
  cfg.backbone.dropout = cfg.backbone.attn_dropout = 0.1;
  Model model(cfg, 3);
  const int ka = model.add_domain("a", a.n_items), kb = model.add_domain("b", b.n_items);
  const int kt = model.add_domain("t", target.n_items);
  std::vector<float> before;
  for (auto* p : model.shared_parameters()) before.insert(before.end(), p->value.data(), p->value.data() + p->value.size());

  meta::MetaConfig mc;
  mc.batch_size = 64;
  mc.finetune.epochs = 30;
  mc.finetune.batch_size = 64;
  mc.finetune.lr = 1e-2;
  mc.finetune.patience = 5;
  meta::MetaTransfer<Model, my::LargestSourceFirst> learner(mc, {.epochs = 3});
  const meta::TransferResult r = learner.run(model, {{kb, &b}, {ka, &a}}, kt, target);
  // The log records which source each stage trained on: the larger one (a) first.
  const bool largest_first = r.iterations.size() == 2 && r.iterations[0].weight[1] == 1.0;
  std::printf("largest-first transfer to the ring target (20%% of users): test HR@5 %.3f NDCG@10 %.3f, "
              "stages %zu, largest source first: %s\n",
              r.finetune.test["HR@5"], r.finetune.test["NDCG@10"], r.iterations.size(), largest_first ? "yes" : "no");
  std::vector<float> after;
  for (auto* p : model.shared_parameters()) after.insert(after.end(), p->value.data(), p->value.data() + p->value.size());
  return largest_first && after != before && r.finetune.test["HR@5"] > 0.9 ? 0 : 1;
}
